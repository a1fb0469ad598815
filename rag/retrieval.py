"""A retriever over the train split: embeddings (cached) + a FAISS index, and neighbour look-ups
that never return the query itself or an exact duplicate of it."""
from __future__ import annotations

import time

import numpy as np

from comparisons.ground.data import normalise_text

from .embed import get_embedder
from .index import build_index, search


class Retriever:
    def __init__(self, embedder: str = "auto", index_kind: str = "flat", backend: str = "torch"):
        self.embedder = get_embedder(embedder, backend)
        self.index_kind = index_kind
        self.texts: list[str] = []
        self.labels = np.zeros(0, dtype=int)
        self.vectors = None
        self.index = None
        self.timings: dict = {}

    def fit(self, texts, labels, *, on_progress=None, stop=None) -> Retriever:
        self.texts, self.labels = list(texts), np.asarray(labels, dtype=int)
        self._norm = {}
        for i, t in enumerate(self.texts):
            self._norm.setdefault(normalise_text(t), []).append(i)
        t0 = time.perf_counter()
        self.vectors = self.embedder.encode(self.texts, on_progress=on_progress, stop=stop)
        self.timings["embed_seconds"] = round(time.perf_counter() - t0, 3)
        self.timings["cache_hit"] = self.embedder.last_cache_hit
        t0 = time.perf_counter()
        self.index = build_index(self.vectors, self.index_kind)
        self.timings["index_build_seconds"] = round(time.perf_counter() - t0, 4)
        return self

    def embed(self, texts, **kw) -> np.ndarray:
        return self.embedder.encode(list(texts), **kw)

    def neighbours(self, query_texts, k: int, query_vectors: np.ndarray | None = None):
        """(sims, ids), each [n, k]: nearest train rows, leaving out rows whose normalised text equals
        the query's (the item itself, or an exact duplicate of it). Missing slots have id -1."""
        query_texts = list(query_texts)
        if query_vectors is None:
            query_vectors = self.embed(query_texts, use_cache=len(query_texts) > 50)
        excluded = [set(self._norm.get(normalise_text(t), ())) for t in query_texts]
        extra = max((len(e) for e in excluded), default=0)
        sims, ids = search(self.index, query_vectors, k + extra)
        k = min(k, len(self.texts))
        out_s = np.zeros((len(query_texts), k), dtype=np.float32)
        out_i = np.full((len(query_texts), k), -1, dtype=np.int64)
        for q in range(len(query_texts)):
            kept = [(s, i) for s, i in zip(sims[q], ids[q]) if i >= 0 and i not in excluded[q]][:k]
            for j, (s, i) in enumerate(kept):
                out_s[q, j], out_i[q, j] = s, i
        return out_s, out_i
