"""Fine-tuning (a classification head on a causal LM: frozen features, LoRA or every weight) as the registry sees
it: its label, result lines, estimates, Try-it classifier, model card, Run all steps and study names. Torch-free."""
from __future__ import annotations

import math
import sys

from comparisons.ground.registry import Method


def label(c: dict, resolved: dict) -> str:
    if c.get("mode") == "head":
        return f"finetune head (frozen {c.get('model', '')})"
    return f"finetune {c.get('mode', '')} ({c.get('model', '')})"


def result_lines(record) -> list[str]:
    from comparisons.ground.runs import inference_line

    t, d, lines = record.timings, record.diagnostics, []
    if record.config.get("mode") == "head" and "features" in d:
        n = record.data.get("n_train")
        lines.append(f"- frozen LM: features of {n} train tweets in {t['feature_seconds']:.0f} s ("
                     f"{'from the cache' if d['features']['train_from_cache'] else 'computed'}), a logistic head "
                     f"fitted in {t['fit_seconds']:.1f} s; trainable parameters {record.trainable_params:,} of "
                     f"{record.total_params:,} (train accuracy {d.get('train_accuracy', 0):.3f})")
        return lines + inference_line(record) + [f"- forgetting: {d['forgetting']['text']}"]
    if "train_seconds" in t:
        lines.append(f"- trained {t['steps']} steps in {t['train_seconds']:.0f} s ({t['tweets_per_second']:.1f} "
                     f"tweets/s); trainable parameters {record.trainable_params:,} of {record.total_params:,}")
    lines += inference_line(record)
    if "fit" in d:
        lines.append(f"- **fit: {d['fit']['verdict']}** — {d['fit']['reason']} (rule: {d['fit']['rule']})")
    if "forgetting" in d:
        f = d["forgetting"]
        extra = (f"; with the adapter disabled the model equals the base: {f['adapter_disabled_equals_base']}"
                 if "adapter_disabled_equals_base" in f else "")
        lines.append(f"- **forgetting**: perplexity on {f['text']} ({f['tokens']} tokens) {f['before']:.2f} → "
                     f"{f['after']:.2f} (×{f['ratio']:.3f}){extra}")
    return lines


def summary(record) -> dict:
    t, d = record.timings, record.diagnostics
    fit = d.get("fit", {})
    return dict(train_seconds=t.get("train_seconds"), tweets_per_second=t.get("tweets_per_second"),
                trainable_params=record.trainable_params, total_params=record.total_params,
                overfitting={"verdict": fit.get("verdict"), "gap_loss": fit.get("final_gap_loss"),
                             "gap_accuracy": fit.get("final_gap_accuracy"), "best_step": fit.get("best_step")},
                forgetting={k: v for k, v in d.get("forgetting", {}).items()
                            if k in ("before", "after", "difference", "ratio", "after_adapter_disabled", "text")})


def handicaps(record) -> list[str]:
    c, t, d, out = record.config, record.timings, record.diagnostics, []
    n_train = max(1, record.data.get("n_train") or 1)
    seen = (t.get("steps") or 0) * (c.get("batch_size") or 1) * (c.get("grad_accum") or 1)
    if seen and seen < n_train:
        out.append(f"trained on {seen / n_train:.2f} of an epoch ({t.get('steps')} steps), less than the default "
                   "one epoch")
    if d.get("fit", {}).get("verdict") == "underfitting":
        out.append("underfit by its own fit verdict")
    return out


def _mine(r) -> bool:
    return r.method == METHOD.name


def findings(done, newest) -> dict:
    """Forgetting of the newest LoRA and full runs, over- and underfitting, and the three modes side by side."""
    out = {}

    def pct(a, b):
        return f"{100 * (b / a - 1):+.1f} %"

    lines = []
    for mode, name in (("lora", "LoRA"), ("full", "full")):
        r = newest(lambda r, m=mode: _mine(r) and r.config.get("mode") == m
                   and "after" in r.diagnostics.get("forgetting", {}))
        if r is not None:
            f = r.diagnostics["forgetting"]
            lines.append(f"your {name} run: WikiText perplexity {f['before']:.1f} → {f['after']:.1f} "
                         f"({pct(f['before'], f['after'])})")
    if lines:
        out["Catastrophic forgetting"] = "; ".join(lines) + "."
    for concept, verdict in (("Overfitting", "overfitting"), ("Underfitting", "underfitting")):
        r = newest(lambda r, v=verdict: _mine(r) and r.diagnostics.get("fit", {}).get("verdict") == v)
        if r is not None:
            out[concept] = f"your {r.config.get('mode')} run [{r.run_id[-6:]}]: {r.diagnostics['fit']['reason']}."
    modes = {m: newest(lambda r, m=m: _mine(r) and r.config.get("mode") == m and r.metrics)
             for m in ("head", "lora", "full")}
    shown = [f"{m} {r.metrics['accuracy']:.3f} with {r.trainable_params:,} trainable parameters in "
             f"{r.timings.get('train_seconds', 0):.0f} s" for m, r in modes.items() if r is not None]
    if modes["head"] is not None:
        out["Transfer learning"] = "your runs: " + "; ".join(shown) + "."
    return out


def card(record) -> dict:
    if record.config.get("mode") == "lora":
        return {"library": "peft", "pipeline": "text-classification", "load": [
            "from peft import AutoPeftModelForSequenceClassification; from transformers import AutoTokenizer",
            'model = AutoPeftModelForSequenceClassification.from_pretrained("{repo}")',
            'tokenizer = AutoTokenizer.from_pretrained("{repo}")']}
    return {}  # the default: a transformers sequence classifier


def memory(config, data, gpu_name):
    from comparisons.ground.device import current_precision
    from comparisons.ground.estimate import finetune_estimate, scoring_estimate
    from comparisons.ground.estimate_run import device, lm_shape, mean_tokens

    shape = lm_shape(config.model)
    if shape is None:
        return None
    gpu, room, held = device(gpu_name)
    if config.mode == "head":  # one forward pass over train and eval, no training
        return scoring_estimate(shape, n_texts=len(data.train) + len(data.test),
                                tokens_per_text=mean_tokens(data.train.texts, extra=6),
                                batch_size=config.eval_batch_size, weight_bytes=4 if gpu is None else 2,
                                baseline_bytes=held, gpu_name=gpu, device_bytes=room)
    precision = current_precision(config.precision) if gpu_name is None else None
    return finetune_estimate(
        shape, mode=config.mode, batch_size=config.batch_size, max_tokens=config.max_length,
        mean_tokens=mean_tokens(data.train.texts, extra=6), n_train=len(data.train),
        epochs=max(config.epochs, config.min_steps * config.batch_size * config.grad_accum / max(1, len(data.train))),
        lora_r=config.lora_r, activation_bytes=4 if precision and precision.name == "fp32" else 2,
        baseline_bytes=held, gpu_name=gpu, device_bytes=room,
        libraries_loaded="transformers.trainer" in sys.modules and "peft" in sys.modules)


def features_cached(config, texts) -> bool:
    """Whether the frozen LM's features of these texts are on disk already (finetune.head caches them)."""
    try:
        from comparisons.ground.models import resolve_lm

        from .head import _cache_path

        return _cache_path(resolve_lm(config.model).path, config, texts).exists()
    except Exception:
        return False


def seconds(config, data, gpu_name):
    from comparisons.ground.estimate import Timeline, lora_params, rates_for
    from comparisons.ground.estimate_run import DISK_BYTES_PER_SECOND, LINEAR_FIT_SECONDS, lm_shape, mean_tokens

    shape = lm_shape(config.model)
    if shape is None:
        return None
    tl, params = Timeline(rates_for(gpu_name)), shape.params
    n_train, n_eval = len(data.train), len(data.test)
    tokens = mean_tokens(data.train.texts, extra=6)
    if config.mode == "head":  # the frozen LM's features, each split unless cached
        uncached = [texts for texts in (data.train.texts, data.test.texts) if not features_cached(config, texts)]
        return tl.load_lm(params).score("features", params, sum(len(t) for t in uncached) * tokens).add(
            "fit", LINEAR_FIT_SECONDS[0] + LINEAR_FIT_SECONDS[1] * n_train)
    per_step = config.batch_size * config.grad_accum
    steps = max(math.ceil(math.ceil(n_train / per_step) * config.epochs), config.min_steps)
    trainable = params if config.mode == "full" else lora_params(shape, config.lora_r)
    tl.load_lm(params, times=2)  # the classifier, and the LM its head starts from (and the probe reads)
    tl.train(params, trainable, steps * per_step * tokens, steps, kind="full" if config.mode == "full" else "lora")
    curve = min(config.curve_size or n_eval, n_eval)
    curve_rows = curve + (min(curve, n_train) if config.train_slice else 0)
    evaluations = min(config.n_evals if not config.eval_steps else max(1, steps // config.eval_steps), steps)
    tl.trainer_eval(params, evaluations * curve_rows * tokens, lora=config.mode == "lora")  # the curves
    tl.score("evaluate", params, n_eval * tokens)  # the whole eval split, at the end
    if config.forgetting_tokens:  # the fine-tuned model (the base model's figure is memoised)
        tl.perplexity("forgetting", params, config.forgetting_tokens)
    if config.save_model:
        tl.add("save", (params if config.mode == "full" else trainable) * 4 / DISK_BYTES_PER_SECOND)
    return tl


def saved_bytes(config):
    """Every parameter in fp32 for a full model; the adapter and head for LoRA; none for the frozen probe."""
    from comparisons.ground.estimate import lora_params
    from comparisons.ground.estimate_run import lm_shape, model_bytes

    if config.mode not in ("full", "lora"):
        return None
    shape = lm_shape(config.model)
    if shape is None:
        return None
    return model_bytes(shape, lora_params(shape, config.lora_r) if config.mode == "lora" else None)


def data_parallel(config) -> bool:
    return config.mode in ("lora", "full")


def advice(config) -> str:
    tips = ["a smaller batch size", f"a shorter max length (now {config.max_length})"]
    if config.mode == "full":
        tips.append("LoRA instead of full fine-tuning")
    return "Try " + ", ".join(tips[:-1]) + " or " + tips[-1] + "."


def run_all(gpu: bool) -> list:
    from .config import PRESETS

    tune = PRESETS["run_all_gpu" if gpu else "run_all_cpu"]
    return [(tune.apply({"mode": "lora"}), tune.why), (tune.apply({"mode": "full"}), tune.why)]


def try_it(ctx) -> None:
    """Each saved fine-tuned model of the visitor's (the newest four), loaded from its folder."""
    from .saved import predict_texts

    for r in [r for r in ctx.records if _mine(r) and ctx.saved(r)][:4]:
        ctx.add(f"{r.label} [{r.run_id[-6:]}]", predict_texts(r.artifacts["model_dir"], [ctx.text])[0].numpy())


METHOD = Method(
    name="finetune", family="tune", title="Fine-tune", config="finetune.config:FinetuneConfig",
    entry="finetune.train", tab="ui.finetune_tab:build", gpu=True,
    study_names=("lora", "full", "head"),
    study_aliases={"lora": {"mode": "lora"}, "full": {"mode": "full"}, "head": {"mode": "head"}},
    display={"lora": "LoRA", "full": "full fine-tuning", "head": "frozen-feature probe"},
    board_fields=("mode", "lr", "epochs", "batch_size", "lora_r"),
    label=label, result_lines=result_lines, summary=summary, handicaps=handicaps, findings=findings, card=card,
    memory=memory, seconds=seconds, saved_bytes=saved_bytes, data_parallel=data_parallel, advice=advice,
    run_all=run_all, try_it=try_it)
