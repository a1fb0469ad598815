"""SetFit (contrastive fine-tuning of a small sentence encoder, then a logistic head) as the registry sees it.
Torch-free."""
from __future__ import annotations

from comparisons.ground.registry import Method

# SetFit's fixed cost before its first step (sentence pairs drawn, sentence-transformers' trainer built): 168.5 s of
# training at 60 steps and 315.9 s at 120 (batch 32, MiniLM, this CPU, 2026-12-02) fit 21 s + 2.46 s a step.
FIXED_SECONDS = 21.0
# Why Run all leaves SetFit out on a CPU (said in its summary): measured cost against the 5-minute budget.
LEFT_OUT = ("SetFit was left out on this CPU: even 40 contrastive steps add about a minute, which takes Run all past "
            "its 5-minute budget. Run it from the Peers tab.")


def label(c: dict, resolved: dict) -> str:
    return f"setfit {c.get('max_steps')} steps"


def result_lines(record) -> list[str]:
    from comparisons.ground.runs import inference_line

    t, lines = record.timings, inference_line(record)
    if "train_seconds" in t:
        lines.append(f"- trained {t.get('steps', 0)} contrastive steps in {t['train_seconds']:.0f} s; encoder "
                     f"parameters {record.trainable_params:,}")
    return lines


def summary(record) -> dict:
    from comparisons.ground.runs import training_summary

    return training_summary(record)


def handicaps(record) -> list[str]:
    steps = record.config.get("max_steps") or 250
    return [f"trained {steps} contrastive steps, fewer than the default 250"] if steps < 250 else []


def card(record) -> dict:
    return {"library": "sentence-transformers", "pipeline": "text-classification", "load": [
        "import json; from huggingface_hub import hf_hub_download; from sentence_transformers import "
        "SentenceTransformer",
        'encoder = SentenceTransformer("{repo}")  # the fine-tuned SetFit body',
        'head = json.load(open(hf_hub_download("{repo}", "head.json")))  # logistic head: classes, coef, intercept']}


def memory(config, data, gpu_name):
    from comparisons.ground.estimate import device_rate, finetune_estimate
    from comparisons.ground.estimate_run import device, embedder_shape, mean_tokens

    shape = embedder_shape(config.embedder)
    if shape is None:
        return None
    gpu, room, held = device(gpu_name)
    pair_tokens = 2 * min(config.max_length, mean_tokens(data.train.texts, extra=2))  # a pair: two texts
    train = finetune_estimate(shape, mode="full", batch_size=config.batch_size, max_tokens=config.max_length,
                              mean_tokens=pair_tokens, n_train=config.max_steps * config.batch_size, epochs=1,
                              lora_r=1, activation_bytes=4 if gpu is None else 2, baseline_bytes=held,
                              gpu_name=gpu, device_bytes=room)
    train.breakdown.pop("reference_lm", None)
    train.memory_bytes -= shape.params * 4  # no reference LM for SetFit
    embed = 2 * shape.params * (len(data.train) + len(data.test)) * mean_tokens(data.train.texts, extra=2)
    train.seconds += embed / device_rate(gpu)[0]  # the head's features and the eval split
    return train


def seconds(config, data, gpu_name):
    from comparisons.ground.estimate import Timeline, rates_for
    from comparisons.ground.estimate_run import LINEAR_FIT_SECONDS, mean_tokens
    from rag.estimate import encoder_params

    params = encoder_params(config.embedder)
    if params is None:
        return None
    tl, n_train = Timeline(rates_for(gpu_name)), len(data.train)
    tokens = min(config.max_length, mean_tokens(data.train.texts, extra=2))
    tl.add("load", tl.rates.encoder_load).add("setup", tl.rates.trainer_setup + FIXED_SECONDS)
    tl.add("train", 6 * params * config.max_steps * config.batch_size * 2 * tokens / tl.rates.encoder_train)
    tl.encode("embed", params, (n_train + len(data.test)) * tokens)
    return tl.add("fit", LINEAR_FIT_SECONDS[0] + LINEAR_FIT_SECONDS[1] * n_train)


def saved_bytes(config):
    from comparisons.ground.estimate_run import embedder_shape, model_bytes

    return model_bytes(embedder_shape(config.embedder))


def run_all(gpu: bool) -> list:
    return [({}, "SetFit with its default 250 steps.")] if gpu else []


def left_out(gpu: bool) -> str | None:
    return None if gpu else LEFT_OUT


def try_it(ctx) -> None:
    """The newest saved SetFit run (its encoder and head), with the nearest train tweets in its fine-tuned space."""
    from .setfit_run import load_saved

    record = next((r for r in ctx.records if r.method == METHOD.name and ctx.saved(r)), None)
    if record is None:
        return
    encoder, predict = ctx.warm(("setfit", record.run_id), lambda: load_saved(record.artifacts["model_dir"]))
    ctx.add(f"{record.label} [{record.run_id[-6:]}]", predict([ctx.text], ctx.data.n_labels)[0])
    train = ctx.warm(("setfit-train", record.run_id, ctx.data.train_fingerprint),
                     lambda: encoder.encode(list(ctx.data.train.texts), convert_to_numpy=True,
                                            normalize_embeddings=True))
    query = encoder.encode([ctx.text], convert_to_numpy=True, normalize_embeddings=True)[0]
    sims = train @ query
    ctx.out["setfit_neighbours"] = [
        {"similarity": round(float(sims[i]), 4), "label": ctx.data.label_names[ctx.data.train.labels[i]],
         "text": ctx.data.train.texts[i]} for i in ctx.np.argsort(-sims)[:ctx.k_neighbours]]


METHOD = Method(
    name="setfit", family="peer", title="SetFit", config="peers.config:SetfitConfig", entry="peers.setfit_run",
    prefix="sf", gpu=True,
    blurb="Contrastive fine-tuning of a small sentence encoder (the same MiniLM as RAG) on pairs drawn from the "
          "labelled tweets, then a logistic head on its embeddings (Hugging Face's `setfit`).",
    study_names=("setfit",), display={"setfit": "SetFit"}, board_fields=("max_steps", "batch_size"),
    warm={"setfit": 2, "setfit-train": 4},
    label=label, result_lines=result_lines, summary=summary, handicaps=handicaps, card=card, memory=memory,
    seconds=seconds, saved_bytes=saved_bytes, run_all=run_all, left_out=left_out, try_it=try_it)
