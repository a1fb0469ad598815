"""FAISS indexes over normalised embeddings (inner product = cosine): exact flat by default,
HNSW and IVF for large sets with their recall@k against exact reported."""
from __future__ import annotations

import time

import faiss
import numpy as np

from comparisons.ground.config import one_of

from .config import INDEX_KINDS as KINDS


def build_index(vectors: np.ndarray, kind: str = "flat", *, seed: int = 42):
    one_of("index", kind, KINDS)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    d = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 64
    else:
        nlist = max(1, min(int(4 * np.sqrt(len(vectors))), len(vectors) // 39 or 1))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(vectors)
        index.nprobe = min(nlist, 16)
    index.add(vectors)
    return index


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, index.ntotal)
    sims, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return sims, ids


def recall_at_k(index, exact, queries: np.ndarray, k: int = 10) -> float:
    """Share of the exact top-k that the approximate index also returns."""
    _, approx_ids = search(index, queries, k)
    _, exact_ids = search(exact, queries, k)
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx_ids, exact_ids))
    return hits / max(1, exact_ids.size)


def query_latency(index, queries: np.ndarray, k: int, n_single: int = 200) -> dict:
    """Batched: all queries in one call, per query. Single: one query a call, p50/p99."""
    t0 = time.perf_counter()
    search(index, queries, k)
    batched = (time.perf_counter() - t0) * 1000 / max(1, len(queries))
    singles = []
    for q in queries[:n_single]:
        t0 = time.perf_counter()
        search(index, q[None, :], k)
        singles.append((time.perf_counter() - t0) * 1000)
    return {"batched_ms_per_query": round(batched, 4), "single_p50_ms": round(float(np.percentile(singles, 50)), 4),
            "single_p99_ms": round(float(np.percentile(singles, 99)), 4)}
