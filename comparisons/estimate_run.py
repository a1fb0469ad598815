"""The estimate (comparisons.estimate) for a method's config on a data selection, on this device: reads
the model's config.json (no weights), the data's sizes and the device's memory. None when the model's
config cannot be read (e.g. a Hub id offline): the run then says so itself."""

from __future__ import annotations

import sys

import numpy as np

from .data import TweetData
from .estimate import Estimate, Shape, device_rate, finetune_estimate, scoring_estimate

BASELINE_SECONDS_PER_TWEET = 21 / 27_480  # TF-IDF + logistic regression, this CPU (issue measurement)
BASELINE_BYTES_PER_TWEET = 40_000  # sparse word and char n-gram rows plus the vocabularies


def _shape(path: str) -> Shape | None:
    try:
        from transformers import AutoConfig

        return Shape.from_config(AutoConfig.from_pretrained(path, trust_remote_code=False))
    except Exception:  # an unreachable Hub id or an unusual config: no estimate, never an error
        return None


def _device(assume_gpu: str | None = None):
    """(GPU name or None, bytes available to this run, bytes this process holds already). `assume_gpu`: size
    the run for that GPU instead of this process's device (a ZeroGPU call's GPU, seen from the main process)."""
    import psutil

    if assume_gpu:
        return assume_gpu, None, 0.0
    from .device import detect

    caps = detect()
    if caps.cuda:
        import torch

        return caps.name, caps.memory_bytes, float(torch.cuda.memory_allocated())
    rss = float(psutil.Process().memory_info().rss)
    return None, rss + psutil.virtual_memory().available, rss


def mean_tokens(texts, extra: int = 0) -> float:
    """Tokens per text, from words (about 1.4 tokens per word of a tweet) plus a template's tokens."""
    words = np.mean([len(t.split()) for t in texts]) if len(texts) else 0
    return float(words * 1.4 + extra)


def estimate_for(method: str, config, data: TweetData, gpu_name: str | None = None) -> Estimate | None:
    """Peak memory and time of a run before it starts, on this device or on `gpu_name`: memory from the model's
    shape and the batch, time from the run's phases (time_for). None when a model's config cannot be read here."""
    est = _memory_estimate(method, config, data, gpu_name)
    if est is None:
        return None
    try:
        timeline = time_for(method, config, data, gpu_name or _device(None)[0])
    except Exception:  # an estimate must never stop a run it cannot size
        return est
    if timeline is not None:
        est.seconds, est.time_breakdown = timeline.seconds, timeline.breakdown()
        est.assumptions = f"{est.assumptions}; time from {timeline.rates.source}"
    return est


def _memory_estimate(method: str, config, data: TweetData, gpu_name: str | None = None) -> Estimate | None:
    from .device import current_precision

    try:
        if method == "finetune" and config.mode == "head":  # one forward pass over train and eval, no training
            from .models import resolve_lm

            shape = _shape(resolve_lm(config.model).path)
            if shape is None:
                return None
            gpu, room, held = _device(gpu_name)
            return scoring_estimate(shape, n_texts=len(data.train) + len(data.test),
                                    tokens_per_text=mean_tokens(data.train.texts, extra=6),
                                    batch_size=config.eval_batch_size, weight_bytes=4 if gpu is None else 2,
                                    baseline_bytes=held, gpu_name=gpu, device_bytes=room)
        if method == "finetune":
            from .models import resolve_lm

            shape = _shape(resolve_lm(config.model).path)
            if shape is None:
                return None
            gpu, room, held = _device(gpu_name)
            precision = current_precision(config.precision) if gpu_name is None else None
            return finetune_estimate(
                shape, mode=config.mode, batch_size=config.batch_size, max_tokens=config.max_length,
                mean_tokens=mean_tokens(data.train.texts, extra=6), n_train=len(data.train),
                epochs=max(config.epochs, config.min_steps * config.batch_size * config.grad_accum
                           / max(1, len(data.train))),
                lora_r=config.lora_r, activation_bytes=4 if precision and precision.name == "fp32" else 2,
                baseline_bytes=held, gpu_name=gpu, device_bytes=room,
                libraries_loaded="transformers.trainer" in sys.modules and "peft" in sys.modules)
        if method == "adapt":  # continued pretraining on packed blocks, then four perplexity passes
            from .models import resolve_lm

            shape = _shape(resolve_lm(config.model).path)
            if shape is None:
                return None
            gpu, room, held = _device(gpu_name)
            n_texts = len(data.train) if not config.max_texts else min(config.max_texts, len(data.train))
            if config.corpus:  # a corpus file (the CLI's): sized by its cap, or a large corpus when uncapped
                n_texts = config.max_texts or 100_000
            blocks = max(1.0, n_texts * mean_tokens(data.train.texts, extra=1) / config.block_size)
            est = finetune_estimate(shape, mode=config.mode, batch_size=config.batch_size,
                                    max_tokens=config.block_size, mean_tokens=config.block_size, n_train=int(blocks),
                                    epochs=config.epochs, lora_r=config.lora_r,
                                    activation_bytes=4 if gpu is None else 2, baseline_bytes=held, gpu_name=gpu,
                                    device_bytes=room)
            est.seconds += 4 * 2 * shape.params * config.perplexity_tokens / device_rate(gpu)[0]
            return est
        if method == "fewshot" or (method == "rag" and config.mode == "prompt"):
            from .models import resolve_lm

            shape = _shape(resolve_lm(config.model).path)
            if shape is None:
                return None
            gpu, room, held = _device(gpu_name)
            shots = config.shots if method == "fewshot" else (config.k or 8)
            per_text = mean_tokens(data.train.texts, extra=6) * (shots + 1) + 12
            if method == "fewshot" and config.selection != "retrieved" and config.use_cache:
                # one prefix of demonstrations shared by every tweet, encoded once (its KV cache reused): each
                # tweet costs its own tokens only (fewshot.scoring; 6.2x fewer FLOPs measured, bench/RESULTS.md)
                per_text = mean_tokens(data.train.texts, extra=6) + 4
                per_text += (per_text * shots + 12) / max(1, len(data.test))
            calls = 4 if getattr(config, "calibration", "batch") in ("contextual", "both") else 1
            weight_bytes = 2 if gpu_name else (4 if current_precision().name == "fp32" else 2)
            return scoring_estimate(shape, n_texts=len(data.test) * calls, tokens_per_text=per_text,
                                    batch_size=config.batch_size, weight_bytes=weight_bytes, baseline_bytes=held,
                                    gpu_name=gpu, device_bytes=room)
        if method == "rag":
            from .models import resolve_embedder

            resolved = resolve_embedder(config.embedder)
            shape = _shape(resolved.path)
            if shape is None:
                return None
            gpu, room, held = _device(gpu_name)
            n = len(data.train) + len(data.test)
            return scoring_estimate(shape, n_texts=n, tokens_per_text=mean_tokens(data.train.texts, extra=2),
                                    batch_size=config.batch_size, weight_bytes=4, baseline_bytes=held,
                                    gpu_name=gpu, device_bytes=room, extra_rows=n)
        if method == "baseline":
            gpu, room, held = _device(None)  # scikit-learn: always on the CPU
            n = len(data.train)
            return Estimate(held + n * BASELINE_BYTES_PER_TWEET, n * BASELINE_SECONDS_PER_TWEET, room,
                            {"baseline": round(held / 2**20), "features": round(n * BASELINE_BYTES_PER_TWEET / 2**20)},
                            "scikit-learn on the CPU; rates measured on all 27,480 real tweets (21 s)")
        if method == "setfit":
            from .models import resolve_embedder

            shape = _shape(resolve_embedder(config.embedder).path)
            if shape is None:
                return None
            gpu, room, held = _device(gpu_name)
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
    except Exception:  # an estimate must never stop a run it cannot size
        return None
    return None


def saved_model_bytes(method: str, config) -> float | None:
    """What the run's model folder will take on disk, from the model's config (no weights): every parameter in
    fp32 for a full model (or a LoRA merged by adaptation), the adapter and head for LoRA; None for a run that saves
    no model or a model whose config cannot be read here."""
    from .disk import TOKENIZER_BYTES_PER_TOKEN
    from .estimate import lora_params
    from .models import resolve_embedder, resolve_lm

    if not getattr(config, "save_model", True):
        return None
    try:
        if method in ("finetune", "adapt") and getattr(config, "mode", "") in ("full", "lora"):
            shape = _shape(resolve_lm(config.model).path)
            if shape is None:
                return None
            tokenizer = shape.vocab * TOKENIZER_BYTES_PER_TOKEN
            if method == "finetune" and config.mode == "lora":
                return float(lora_params(shape, config.lora_r) * 4 + tokenizer)
            return float(shape.params * 4 + tokenizer)
        if method == "setfit":
            shape = _shape(resolve_embedder(config.embedder).path)
            return None if shape is None else float(shape.params * 4 + shape.vocab * TOKENIZER_BYTES_PER_TOKEN)
    except Exception:  # an unresolvable model: the save itself still checks the caps
        return None
    return None


# ---------------------------------------------------------------- time, phase by phase

DISK_BYTES_PER_SECOND = 300e6  # writing safetensors to local disk
BASELINE_FIXED_SECONDS = 7.6  # TF-IDF + logistic regression: 9.0 s at 1,000 train tweets, 18.6 s at 8,000 (this CPU)
BASELINE_SECONDS_PER_TRAIN_TWEET = 1.37e-3
LINEAR_FIT_SECONDS = (1.0, 1 / 2000)  # logistic regression on embeddings: fixed, per train row
# SetFit's fixed cost before its first step (sentence pairs drawn, sentence-transformers' trainer built): 168.5 s of
# training at 60 steps and 315.9 s at 120 (batch 32, MiniLM, this CPU, 2026-12-02) fit 21 s + 2.46 s a step.
SETFIT_FIXED_SECONDS = 21.0
PROMPT_EXTRA_TOKENS = 12  # an instruction and the label cue around each few-shot prompt


def _embedded(embedder: str, backend: str, texts) -> bool:
    """Whether these texts' embeddings are already in the disk cache (then embedding them costs nothing)."""
    try:
        from rag.embed import Embedder

        return Embedder(embedder or "auto", backend)._cache_path(list(texts)).exists()
    except Exception:  # an unresolvable embedder: assume the work
        return False


def _features_cached(config, texts) -> bool:
    """Whether the frozen LM's features of these texts are on disk already (finetune.head caches them)."""
    try:
        from finetune.head import _cache_path

        from .models import resolve_lm

        return _cache_path(resolve_lm(config.model).path, config, texts).exists()
    except Exception:
        return False


def _encoder_params(embedder: str) -> int | None:
    from rag.embed import _REGISTRY

    if (embedder or "auto") in _REGISTRY:  # a stand-in embedder (tests): no model to run
        return None
    from .models import resolve_embedder

    shape = _shape(resolve_embedder(embedder).path)
    return shape.params if shape else None


def _embed(tl, embedder: str, backend: str, texts_sets) -> None:
    """Loading the encoder and embedding each set of texts not yet cached."""
    params = _encoder_params(embedder)
    todo = [t for t in texts_sets if not _embedded(embedder, backend, t)]
    if params is None or not todo:
        return
    tl.add("load", tl.rates.encoder_load)
    tl.encode("embed", params, sum(len(t) * mean_tokens(t, extra=2) for t in todo))


def time_for(method: str, config, data: TweetData, gpu_name: str | None):
    """The run's phases on this device (`gpu_name` None: this CPU) as a Timeline, from the model's shape, the data's
    sizes and the settings; None when a model's shape cannot be read."""
    import math

    from .estimate import Timeline, lora_params, rates_for

    tl = Timeline(rates_for(gpu_name))
    n_train, n_eval = len(data.train), len(data.test)
    if method == "baseline":  # scikit-learn, on the CPU whatever the device
        return tl.add("fit", BASELINE_FIXED_SECONDS + BASELINE_SECONDS_PER_TRAIN_TWEET * n_train)
    if method == "rag" and config.mode != "prompt":
        _embed(tl, config.embedder, config.backend, [data.train.texts, data.test.texts])
        fixed, per_row = LINEAR_FIT_SECONDS
        return tl.add("fit", fixed + per_row * n_train if config.mode == "linear" else 0.5)
    if method == "setfit":
        params = _encoder_params(config.embedder)
        if params is None:
            return None
        tokens = min(config.max_length, mean_tokens(data.train.texts, extra=2))
        tl.add("load", tl.rates.encoder_load).add("setup", tl.rates.trainer_setup + SETFIT_FIXED_SECONDS)
        tl.add("train", 6 * params * config.max_steps * config.batch_size * 2 * tokens / tl.rates.encoder_train)
        tl.encode("embed", params, (n_train + n_eval) * tokens)
        return tl.add("fit", LINEAR_FIT_SECONDS[0] + LINEAR_FIT_SECONDS[1] * n_train)
    from .models import resolve_lm

    shape = _shape(resolve_lm(config.model).path)
    if shape is None:
        return None
    params = shape.params
    tokens = mean_tokens(data.train.texts, extra=6)
    if method == "finetune" and config.mode == "head":  # the frozen LM's features, each split unless cached
        uncached = [texts for texts in (data.train.texts, data.test.texts) if not _features_cached(config, texts)]
        return tl.load_lm(params).score("features", params, sum(len(t) for t in uncached) * tokens).add(
            "fit", LINEAR_FIT_SECONDS[0] + LINEAR_FIT_SECONDS[1] * n_train)
    if method == "finetune":
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
    if method == "adapt":
        n_texts = n_train if not config.max_texts else min(config.max_texts, n_train)
        if config.corpus:
            n_texts = config.max_texts or 100_000
        corpus_tokens = n_texts * mean_tokens(data.train.texts, extra=1)
        blocks = max(1.0, corpus_tokens / config.block_size)
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
    if method == "fewshot" or (method == "rag" and config.mode == "prompt"):
        shots = config.shots if method == "fewshot" else (config.k or 8)
        retrieved = method == "rag" or config.selection == "retrieved"
        per_text = tokens * (shots + 1) + PROMPT_EXTRA_TOKENS
        if method == "fewshot" and not retrieved and config.use_cache:
            per_text = tokens + 4 + (tokens * shots + PROMPT_EXTRA_TOKENS) / max(1, n_eval)  # the shared prefix once
        contextual = getattr(config, "calibration", "batch") in ("contextual", "both") and \
            getattr(config, "calibrate", True)
        calls = (4 if retrieved else 1) if contextual else 1  # three content-free prompts per demonstration set
        extra = 3 * per_text if contextual and not retrieved else 0
        tl.load_lm(params).score("score", params, n_eval * calls * per_text + extra)
        if retrieved:
            _embed(tl, config.embedder, "torch", [data.train.texts, data.test.texts])
        return tl
    return None
