"""The estimate's embedding side, where it needs this package's embedder: whether texts' embeddings are cached
already, the encoder's size, and the time of embedding (RAG, SetFit) or of retrieved-demonstration prompts (few-shot,
RAG's LM mode). The ground's helpers (comparisons.ground.estimate_run) size everything else."""
from __future__ import annotations

from comparisons.ground.data import TweetData
from comparisons.ground.estimate import Timeline, rates_for
from comparisons.ground.estimate_run import PROMPT_EXTRA_TOKENS, lm_shape, mean_tokens, shape_of


def embedded(embedder: str, backend: str, texts) -> bool:
    """Whether these texts' embeddings are already in the disk cache (then embedding them costs nothing)."""
    try:
        from rag.embed import Embedder

        return Embedder(embedder or "auto", backend)._cache_path(list(texts)).exists()
    except Exception:  # an unresolvable embedder: assume the work
        return False


def encoder_params(embedder: str) -> int | None:
    from rag.embed import _REGISTRY

    if (embedder or "auto") in _REGISTRY:  # a stand-in embedder (tests): no model to run
        return None
    from comparisons.ground.models import resolve_embedder

    shape = shape_of(resolve_embedder(embedder).path)
    return shape.params if shape else None


def embed_time(tl, embedder: str, backend: str, texts_sets) -> None:
    """Loading the encoder and embedding each set of texts not yet cached."""
    params = encoder_params(embedder)
    todo = [t for t in texts_sets if not embedded(embedder, backend, t)]
    if params is None or not todo:
        return
    tl.add("load", tl.rates.encoder_load)
    tl.encode("embed", params, sum(len(t) * mean_tokens(t, extra=2) for t in todo))


def prompt_time(config, data: TweetData, gpu_name: str | None, shots: int, retrieved: bool,
                shared_prefix: bool):
    """Scoring `shots`-demonstration prompts with a causal LM (and embedding the splits when the demonstrations are
    retrieved) as a Timeline."""
    shape = lm_shape(config.model)
    if shape is None:
        return None
    tl, n_eval = Timeline(rates_for(gpu_name)), len(data.test)
    tokens = mean_tokens(data.train.texts, extra=6)
    per_text = tokens * (shots + 1) + PROMPT_EXTRA_TOKENS
    if shared_prefix:
        per_text = tokens + 4 + (tokens * shots + PROMPT_EXTRA_TOKENS) / max(1, n_eval)  # the shared prefix once
    contextual = getattr(config, "calibration", "batch") in ("contextual", "both") and \
        getattr(config, "calibrate", True)
    calls = (4 if retrieved else 1) if contextual else 1  # three content-free prompts per demonstration set
    extra = 3 * per_text if contextual and not retrieved else 0
    tl.load_lm(shape.params).score("score", shape.params, n_eval * calls * per_text + extra)
    if retrieved:
        embed_time(tl, config.embedder, "torch", [data.train.texts, data.test.texts])
    return tl
