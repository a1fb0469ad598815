"""Sentence embeddings: normalised, batched in length order, cached on disk by (embedder, texts).

A second run over the same texts with the same embedder reads the cache and embeds nothing.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from comparisons.ground.lru import LRU
from comparisons.ground.models import folder_fingerprint, load_embedder, resolve_embedder
from comparisons.ground.settings import settings

# Named embedders that are not sentence-transformers models (tests register a deterministic one).
_REGISTRY: dict[str, Callable[[], object]] = {}
_LOCK = threading.Lock()


def register_embedder(name: str, factory: Callable[[], object]) -> None:
    """`factory()` returns an object with `encode(texts, batch_size) -> np.ndarray` (normalised)."""
    _REGISTRY[name] = factory


def texts_fingerprint(texts) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\x00")
    return h.hexdigest()[:20]


class Embedder:
    """One embedder, loaded lazily once; `encode` goes through the disk cache."""

    def __init__(self, requested: str = "auto", backend: str = "torch", cache_dir: Path | None = None):
        self.requested, self.backend = requested, backend
        if requested in _REGISTRY:
            self.name, self.notice, self._model = requested, None, _REGISTRY[requested]()
        else:
            resolved = resolve_embedder(requested)
            self.name, self.notice, self._resolved, self._model = resolved.name, resolved.notice, resolved, None
        self.cache_dir = Path(cache_dir or settings().embed_cache)
        self.calls = 0  # texts actually embedded (not served from the cache)
        self.last_seconds = 0.0
        self.last_cache_hit = False
        self.load_seconds = 0.0  # loading the model (and, for onnx, exporting it once): not embedding time

    @property
    def model(self):
        if self._model is None:
            t0 = time.perf_counter()
            self._load()
            self.load_seconds += time.perf_counter() - t0
        return self._model

    def _load(self):
        if self.backend.startswith("onnx"):
            from .onnx_backend import load_onnx_encoder

            self._model = load_onnx_encoder(self._resolved, self.backend)
        else:
            self._model = load_embedder(self._resolved, self.backend)

    def _cache_path(self, texts) -> Path:
        # The model folder's files are part of the key: an embedder retrained in place embeds anew.
        files = folder_fingerprint(self._resolved.path) if self.requested not in _REGISTRY else None
        key = hashlib.sha256(f"{self.name}|{self.backend}|{files or ''}".encode()).hexdigest()[:12]
        return self.cache_dir / f"{key}-{texts_fingerprint(texts)}.npy"

    def encode(self, texts, *, batch_size: int = 32, use_cache: bool = True, on_progress=None, stop=None) -> np.ndarray:
        texts = list(texts)
        path = self._cache_path(texts)
        t0 = time.perf_counter()
        if use_cache and path.exists():
            vectors = np.load(path)
            self.last_cache_hit, self.last_seconds = True, time.perf_counter() - t0
            return vectors
        vectors = self._embed(texts, batch_size, on_progress, stop)
        self.calls += len(texts)
        self.last_cache_hit, self.last_seconds = False, time.perf_counter() - t0
        if use_cache:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp.npy")  # processes too (Ray workers)
            np.save(tmp, vectors)
            tmp.replace(path)
        return vectors

    def _embed(self, texts, batch_size, on_progress, stop) -> np.ndarray:
        """Sorted by length so that each batch pads little; returned in the input order."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = None
        for start in range(0, len(texts), batch_size):
            if stop is not None and stop.is_set():
                raise InterruptedError("stopped while embedding")
            idx = order[start: start + batch_size]
            with _LOCK:
                vecs = self.model.encode([texts[i] for i in idx], batch_size=batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False) \
                    if self.requested not in _REGISTRY else self.model.encode([texts[i] for i in idx], batch_size)
            vecs = np.asarray(vecs, dtype=np.float32)
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
            if on_progress is not None:
                on_progress(min(start + batch_size, len(texts)), len(texts))
        return out if out is not None else np.zeros((0, 1), dtype=np.float32)


# Embedders are shared within a process (one model load each), the most recently used few: a MiniLM holds ~90 MB
# and a visitor can name any Hub embedder, so the least recently used goes when a fourth is asked for.
MAX_EMBEDDERS = 3
_EMBEDDERS = LRU(MAX_EMBEDDERS)


def get_embedder(requested: str = "auto", backend: str = "torch") -> Embedder:
    return _EMBEDDERS.get_or_create((requested, backend), lambda: Embedder(requested, backend))
