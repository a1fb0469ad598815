"""The ONNX Runtime embedding backends on the bundled all-MiniLM-L6-v2 (exported here, no Hub)."""
import numpy as np
import pytest

pytestmark = pytest.mark.integration

TEXTS = ["i love this so much", "worst day ever, everything broke", "going to the shop later",
         "Happy mothers day to all the moms out there!!", "ugh. monday again", "ok"]


@pytest.fixture()
def onnx_cache(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from rag import embed, onnx_backend

    monkeypatch.setattr(onnx_backend, "cache_root", lambda: tmp_path)
    monkeypatch.setattr(onnx_backend, "_SESSIONS", {})
    monkeypatch.setattr(embed, "_EMBEDDERS", embed.LRU(embed.MAX_EMBEDDERS))  # a fresh process: nothing loaded yet
    return tmp_path


def test_onnx_matches_torch_and_int8_stays_close(onnx_cache):
    from comparisons.ground.models import load_embedder, resolve_embedder
    from rag.onnx_backend import load_onnx_encoder

    resolved = resolve_embedder("auto")
    ref = load_embedder(resolved, "torch").encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    fp32 = load_onnx_encoder(resolved, "onnx").encode(TEXTS, batch_size=4)
    int8 = load_onnx_encoder(resolved, "onnx-int8").encode(TEXTS, batch_size=4)
    assert fp32.shape == int8.shape == ref.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1, atol=1e-4)
    # fp32 export: the same function (measured min cosine 0.999999 on 4,000 real tweets).
    assert ((fp32 * ref).sum(1) > 0.9999).all()
    # int8 weights: measured mean cosine 0.989, min 0.946 on 4,000 real tweets.
    cos = (int8 * ref).sum(1)
    assert cos.mean() > 0.97 and cos.min() > 0.9
    assert len(list(onnx_cache.rglob("*.onnx"))) == 2


def test_export_is_cached_on_disk(onnx_cache, monkeypatch):
    from comparisons.ground.models import resolve_embedder
    from rag import onnx_backend

    resolved = resolve_embedder("auto")
    first = onnx_backend.load_onnx_encoder(resolved, "onnx").encode(TEXTS)
    (path,) = onnx_cache.rglob("onnx.onnx")
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(onnx_backend, "_SESSIONS", {})  # a new process: the session is rebuilt, the file reused
    monkeypatch.setattr(onnx_backend, "_export", lambda *a, **k: pytest.fail("exported twice"))
    monkeypatch.setattr("comparisons.ground.models.load_embedder", lambda *a, **k: pytest.fail("torch model loaded"))
    again = onnx_backend.load_onnx_encoder(resolved, "onnx")
    assert path.stat().st_mtime_ns == stamp
    assert np.allclose(again.encode(TEXTS), first, atol=1e-6)  # the tokenizer alone serves a cached export


def test_rag_run_with_onnx_backend(onnx_cache):
    """Through the public path: the RAG run on the bundled sample with backend onnx."""
    from comparisons.running.api import Selection
    from comparisons.serving.service import load_selection
    from rag.run import RagConfig, run

    data = load_selection(Selection(source="sample", seed=0))
    record = run(RagConfig(mode="knn", backend="onnx", k=5), data)
    assert record.status == "completed"
    assert record.metrics["accuracy"] > 0.4
    # The one-time export is reported apart from embedding time (measured: ~7 s export, ~160 tweets/s here).
    assert record.timings["embedder_load_seconds"] > 0.5
    assert record.timings["embed_tweets_per_second"] > 30
