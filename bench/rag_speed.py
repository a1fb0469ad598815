"""RAG speed on this machine: embedding tweets/s per backend (torch, ONNX Runtime fp32 and int8; cold cache),
the repeat run served from the cache, index build, and query latency (batched per query; single
p50/p99) at the full train set.

    python bench/rag_speed.py [--tweets 4000]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from bench.common import save, stamp  # noqa: E402
from comparisons.ground.data import load_data  # noqa: E402
from rag.embed import Embedder  # noqa: E402
from rag.index import build_index, query_latency, recall_at_k  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "tweet_sentiment_extraction"


def embed_rate(backend: str, texts, batch_size: int, sort: bool) -> dict:
    emb = Embedder("auto", backend=backend, cache_dir=Path(tempfile.mkdtemp()))
    _ = emb.model  # load outside the timing
    emb.encode(texts[:64], use_cache=False)  # warm up
    t0 = time.perf_counter()
    if sort:
        vecs = emb.encode(texts, batch_size=batch_size)
    else:
        vecs = np.asarray(emb.model.encode(texts, batch_size=batch_size, normalize_embeddings=True))
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    if sort:
        emb.encode(texts, batch_size=batch_size)  # the repeat run, served from the cache
    warm = time.perf_counter() - t0
    return {"backend": backend, "batch_size": batch_size, "length_sorted": sort,
            "tweets_per_second": round(len(texts) / cold, 1), "cold_seconds": round(cold, 2),
            "cache_seconds": round(warm, 4), "cache_speedup": round(cold / max(warm, 1e-9), 1) if sort else None,
            "vectors": vecs}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tweets", type=int, default=4000)
    p.add_argument("--backends", default="torch,onnx,onnx-int8")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "rag_speed.json"))
    a = p.parse_args()
    data = load_data(str(SHARED)) if SHARED.exists() else load_data("sample")
    rng = np.random.RandomState(0)
    texts = [data.train.texts[i] for i in rng.choice(len(data.train), min(a.tweets, len(data.train)), replace=False)]
    out = stamp(tweets=len(texts), embedding=[])
    base = None
    for backend in a.backends.split(","):
        for batch, sort in ((32, False), (128, True)) if backend == "torch" else ((32, True), (128, True)):
            try:
                r = embed_rate(backend, texts, batch, sort)
            except Exception as e:  # a backend whose extra is not installed
                out["embedding"].append({"backend": backend, "error": f"{type(e).__name__}: {str(e)[:200]}"})
                continue
            vecs = r.pop("vectors")
            if base is None:
                base = vecs
            r["cosine_vs_torch_min"] = round(float((vecs * base).sum(1).min()), 5)
            r["cosine_vs_torch_mean"] = round(float((vecs * base).sum(1).mean()), 5)
            out["embedding"].append(r)
    # Index and query at the full train set, on the cached (or freshly made) embeddings.
    emb = Embedder("auto")
    t0 = time.perf_counter()
    train_vecs = emb.encode(list(data.train.texts))
    out["full_train_embed_seconds"] = round(time.perf_counter() - t0, 2)
    out["full_train_cache_hit"] = emb.last_cache_hit
    queries = emb.encode(list(data.test.texts))
    for kind in ("flat", "hnsw", "ivf"):
        t0 = time.perf_counter()
        index = build_index(train_vecs, kind)
        build = time.perf_counter() - t0
        lat = query_latency(index, queries, 15)
        entry = {"build_seconds": round(build, 3), **lat, "vectors": int(index.ntotal)}
        if kind != "flat":
            entry["recall_at_10"] = round(recall_at_k(index, build_index(train_vecs), queries, 10), 4)
        out[f"index_{kind}"] = entry
    save(out, a.out)


if __name__ == "__main__":
    main()
