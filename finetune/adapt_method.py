"""Domain-adaptive pretraining (TAPT on the selection's tweets, DAPT on a corpus) as the registry sees it: a language
model, not a classifier, so it has no accuracy, no study cells and no leaderboard entries. Torch-free."""
from __future__ import annotations

import math

from comparisons.ground.registry import Method


def label(c: dict, resolved: dict) -> str:
    kind = "DAPT" if c.get("corpus") else "TAPT"
    return f"adapt {c.get('mode', '')} {kind} ({c.get('model', '')})"


def result_lines(record) -> list[str]:
    a, t = record.diagnostics.get("adaptation", {}), record.timings
    lines = []
    if a:
        lines.append(f"- corpus: {a['corpus']} ({a['blocks']} blocks of {a['block_size']} tokens)")
        lines.append(f"- **{a['verdict']}**")
    if "train_seconds" in t:
        lines.append(f"- trained {t['steps']} steps in {t['train_seconds']:.0f} s ({t.get('tokens_per_second', 0):.0f} "
                     f"tokens/s); trainable parameters {record.trainable_params:,} of {record.total_params:,}")
    if record.artifacts.get("model_dir"):
        lines.append(f"- start fine-tuning or few-shot from it: model **run:{record.run_id}**")
    return lines


def summary(record) -> dict:
    return dict(train_seconds=record.timings.get("train_seconds"), trainable_params=record.trainable_params,
                total_params=record.total_params, adaptation=record.diagnostics.get("adaptation"),
                model=f"run:{record.run_id}" if record.artifacts.get("model_dir") else None)


def findings(done, newest) -> dict:
    """The newest adaptation's verdict, and a fine-tuning started from it against the same from the base model."""
    adapt = newest(lambda r: r.method == METHOD.name and r.diagnostics.get("adaptation", {}).get("after"))
    if adapt is None:
        return {}
    text = f"your adaptation [{adapt.run_id[-6:]}]: {adapt.diagnostics['adaptation']['verdict']}."
    model = f"run:{adapt.run_id}"

    def tuned(r) -> bool:  # a fine-tuning run of this package's (the same folder: finetune/)
        return r.method == "finetune"

    def base_of(r):  # the same fine-tuning from the base model: same mode, split and train size
        return newest(lambda b: tuned(b) and b.config.get("mode") == r.config.get("mode")
                      and b.config.get("model") != model and b.data.get("fingerprint") == r.data.get("fingerprint")
                      and b.data.get("n_train") == r.data.get("n_train"))

    pairs = [(r, base_of(r)) for r in done if tuned(r) and r.config.get("model") == model]
    pairs = [(a, b) for a, b in pairs if b is not None]
    if pairs:
        a, b = pairs[0]
        text += (f" From it, {a.config.get('mode')} on {a.data.get('n_train')} labelled tweets scores "
                 f"{a.metrics['accuracy']:.3f} against {b.metrics['accuracy']:.3f} from the base model "
                 f"({100 * (a.metrics['accuracy'] - b.metrics['accuracy']):+.1f} points).")
    return {"Domain-specific fine-tuning": text}


def card(record) -> dict:
    return {"library": "transformers", "pipeline": "text-generation", "load": [
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        'model = AutoModelForCausalLM.from_pretrained("{repo}")',
        'tokenizer = AutoTokenizer.from_pretrained("{repo}")']}


def _texts(config, data) -> float:
    n_texts = len(data.train) if not config.max_texts else min(config.max_texts, len(data.train))
    if config.corpus:  # a corpus file (the CLI's): sized by its cap, or a large corpus when uncapped
        n_texts = config.max_texts or 100_000
    return n_texts


def memory(config, data, gpu_name):
    """Continued pretraining on packed blocks, then four perplexity passes."""
    from comparisons.ground.estimate import device_rate, finetune_estimate
    from comparisons.ground.estimate_run import device, lm_shape, mean_tokens

    shape = lm_shape(config.model)
    if shape is None:
        return None
    gpu, room, held = device(gpu_name)
    blocks = max(1.0, _texts(config, data) * mean_tokens(data.train.texts, extra=1) / config.block_size)
    est = finetune_estimate(shape, mode=config.mode, batch_size=config.batch_size, max_tokens=config.block_size,
                            mean_tokens=config.block_size, n_train=int(blocks), epochs=config.epochs,
                            lora_r=config.lora_r, activation_bytes=4 if gpu is None else 2, baseline_bytes=held,
                            gpu_name=gpu, device_bytes=room)
    est.seconds += 4 * 2 * shape.params * config.perplexity_tokens / device_rate(gpu)[0]
    return est


def seconds(config, data, gpu_name):
    from comparisons.ground.estimate import Timeline, lora_params, rates_for
    from comparisons.ground.estimate_run import DISK_BYTES_PER_SECOND, lm_shape, mean_tokens

    shape = lm_shape(config.model)
    if shape is None:
        return None
    tl, params = Timeline(rates_for(gpu_name)), shape.params
    blocks = max(1.0, _texts(config, data) * mean_tokens(data.train.texts, extra=1) / config.block_size)
    steps = max(1, math.ceil(blocks / config.batch_size * config.epochs))
    trainable = params if config.mode == "full" else lora_params(shape, config.lora_r)
    tl.load_lm(params)
    # held-out tweets (at most perplexity_tokens) before and after; general English after (the base's memoised)
    held = len(data.test) * mean_tokens(data.test.texts, extra=1) if not config.corpus else config.perplexity_tokens
    domain = min(config.perplexity_tokens, held)
    tl.perplexity("perplexity", params, 2 * domain + config.perplexity_tokens)
    tl.train(params, trainable, steps * config.batch_size * config.block_size, steps, kind="lm")
    if config.save_model:
        tl.add("save", params * 4 / DISK_BYTES_PER_SECOND)
    return tl


def saved_bytes(config):
    """The whole language model in fp32 (a LoRA is merged before saving)."""
    from comparisons.ground.estimate_run import lm_shape, model_bytes

    return model_bytes(lm_shape(config.model)) if config.mode in ("full", "lora") else None


METHOD = Method(
    name="adapt", family="adapt", title="Adapt", config="finetune.adapt_config:AdaptConfig", entry="finetune.adapt",
    classifier=False, tab="ui.adapt_tab:build", gpu=True, board_fields=("mode", "lr", "max_texts"),
    label=label, result_lines=result_lines, summary=summary, findings=findings, card=card, memory=memory,
    seconds=seconds, saved_bytes=saved_bytes, data_parallel=lambda config: True)
