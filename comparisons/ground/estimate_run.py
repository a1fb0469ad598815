"""The estimate (comparisons.ground.estimate) for a method's config on a data selection, on this device: each method's
`memory`, `seconds` and `saved_bytes` hooks (registry) sized with the helpers here, which read the model's
config.json (no weights), the data's sizes and the device's memory. None when the model's config cannot be read
(e.g. a Hub id offline): the run then says so itself."""

from __future__ import annotations

import numpy as np

from comparisons.ground.data import TweetData
from comparisons.ground.estimate import Estimate, Shape, scoring_estimate


def shape_of(path: str) -> Shape | None:
    try:
        from transformers import AutoConfig

        return Shape.from_config(AutoConfig.from_pretrained(path, trust_remote_code=False))
    except Exception:  # an unreachable Hub id or an unusual config: no estimate, never an error
        return None


def device(assume_gpu: str | None = None):
    """(GPU name or None, bytes available to this run, bytes this process holds already). `assume_gpu`: size
    the run for that GPU instead of this process's device (a ZeroGPU call's GPU, seen from the main process)."""
    if assume_gpu:
        return assume_gpu, None, 0.0
    from comparisons.ground.device import detect

    caps = detect()
    if caps.cuda:
        import torch

        return caps.name, caps.memory_bytes, float(torch.cuda.memory_allocated())
    return cpu_room()


def cpu_room():
    """`device()` for a run that is on the CPU whatever the machine has (scikit-learn): without asking torch, whose
    import alone costs a fresh process 2 s."""
    import psutil

    rss = float(psutil.Process().memory_info().rss)
    return None, rss + psutil.virtual_memory().available, rss


def mean_tokens(texts, extra: int = 0) -> float:
    """Tokens per text, from words (about 1.4 tokens per word of a tweet) plus a template's tokens."""
    words = np.mean([len(t.split()) for t in texts]) if len(texts) else 0
    return float(words * 1.4 + extra)


def estimate_for(method: str, config, data: TweetData, gpu_name: str | None = None) -> Estimate | None:
    """Peak memory and time of a run before it starts, on this device or on `gpu_name`: memory from the method's
    `memory` hook (the model's shape and the batch), time from its `seconds` hook (the run's phases as a Timeline).
    None when the method cannot size the run here (a model's config unreadable offline)."""
    from comparisons.ground.registry import get

    m = get(method)
    try:
        est = m.memory(config, data, gpu_name)
    except Exception:  # an estimate must never stop a run it cannot size
        return None
    if est is None:
        return None
    try:
        timeline = m.seconds(config, data, gpu_name or (device(None)[0] if m.gpu else None))
    except Exception:  # an estimate must never stop a run it cannot size
        return est
    if timeline is not None:
        est.seconds, est.time_breakdown = timeline.seconds, timeline.breakdown()
        est.assumptions = f"{est.assumptions}; time from {timeline.rates.source}"
    return est


def time_for(method: str, config, data: TweetData, gpu_name: str | None):
    """The run's phases on this device (`gpu_name` None: this CPU) as a Timeline; None when it cannot be sized."""
    from comparisons.ground.registry import get

    return get(method).seconds(config, data, gpu_name)


def saved_model_bytes(method: str, config) -> float | None:
    """What the run's model folder will take on disk (the method's `saved_bytes` hook, from the model's config, no
    weights); None for a run that saves no model or a model whose config cannot be read here."""
    from comparisons.ground.registry import get

    if not getattr(config, "save_model", True):
        return None
    try:
        return get(method).saved_bytes(config)
    except Exception:  # an unresolvable model: the save itself still checks the caps
        return None


def lm_shape(model: str) -> Shape | None:
    from comparisons.ground.models import resolve_lm

    return shape_of(resolve_lm(model).path)


def embedder_shape(embedder: str) -> Shape | None:
    from comparisons.ground.models import resolve_embedder

    return shape_of(resolve_embedder(embedder).path)


def model_bytes(shape: Shape | None, params: float | None = None) -> float | None:
    """A saved model folder: `params` (default: all the model's) in fp32 and the tokenizer."""
    from comparisons.ground.disk import TOKENIZER_BYTES_PER_TOKEN

    if shape is None:
        return None
    return float((shape.params if params is None else params) * 4 + shape.vocab * TOKENIZER_BYTES_PER_TOKEN)


def prompt_memory(config, data: TweetData, gpu_name: str | None, shots: int, shared_prefix: bool) -> Estimate | None:
    """Scoring prompts of `shots` demonstrations each with a causal LM; `shared_prefix`: one prefix of
    demonstrations shared by every tweet, encoded once (its KV cache reused), so each tweet costs its own tokens
    only (fewshot.scoring; 6.2x fewer FLOPs measured)."""
    from comparisons.ground.device import current_precision

    shape = lm_shape(config.model)
    if shape is None:
        return None
    gpu, room, held = device(gpu_name)
    per_text = mean_tokens(data.train.texts, extra=6) * (shots + 1) + 12
    if shared_prefix:
        per_text = mean_tokens(data.train.texts, extra=6) + 4
        per_text += (per_text * shots + 12) / max(1, len(data.test))
    calls = 4 if getattr(config, "calibration", "batch") in ("contextual", "both") else 1
    weight_bytes = 2 if gpu_name else (4 if current_precision().name == "fp32" else 2)
    return scoring_estimate(shape, n_texts=len(data.test) * calls, tokens_per_text=per_text,
                            batch_size=config.batch_size, weight_bytes=weight_bytes, baseline_bytes=held,
                            gpu_name=gpu, device_bytes=room)


def embedding_memory(embedder: str, batch_size: int, data: TweetData, gpu_name: str | None) -> Estimate | None:
    """Embedding both splits with a sentence encoder, plus their rows in an index."""
    shape = embedder_shape(embedder)
    if shape is None:
        return None
    gpu, room, held = device(gpu_name)
    n = len(data.train) + len(data.test)
    return scoring_estimate(shape, n_texts=n, tokens_per_text=mean_tokens(data.train.texts, extra=2),
                            batch_size=batch_size, weight_bytes=4, baseline_bytes=held,
                            gpu_name=gpu, device_bytes=room, extra_rows=n)


# ---------------------------------------------------------------- time, phase by phase

DISK_BYTES_PER_SECOND = 300e6  # writing safetensors to local disk
LINEAR_FIT_SECONDS = (1.0, 1 / 2000)  # logistic regression on embeddings: fixed, per train row
PROMPT_EXTRA_TOKENS = 12  # an instruction and the label cue around each few-shot prompt


