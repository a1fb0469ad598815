"""The bundled pretrained models and, where ../shared/data is present, the real tweets."""
import json
import subprocess
import sys

import numpy as np
import pytest

from comparisons.ground.data import load_data, subset
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_cli_data_reports_real_counts_and_leakage(real_tweets):
    out = subprocess.run([sys.executable, "-m", "comparisons", "data", "--data", str(real_tweets), "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["splits"]["train"]["rows"] == 27480 and report["splits"]["test"]["rows"] == 3534
    assert report["splits"]["train"]["labels"] == {"negative": 7781, "neutral": 11117, "positive": 8582}
    assert report["splits"]["test"]["labels"] == {"negative": 1001, "neutral": 1430, "positive": 1103}
    assert report["leakage"]["n_leaked"] == 26


def test_bundled_model_and_embedder_load_offline():
    from comparisons.ground.models import load_causal_lm, resolve_embedder, resolve_lm
    from rag.embed import get_embedder

    lm = resolve_lm("auto")
    assert lm.is_bundled and "Offline" in lm.notice
    model, tok = load_causal_lm(lm)
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    assert tok.pad_token is not None
    emb = resolve_embedder("auto")
    assert emb.is_bundled
    vecs = get_embedder("auto").encode(["i love this", "i hate this", "I love this!"], use_cache=False)
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
    assert vecs[0] @ vecs[2] > vecs[0] @ vecs[1]


def test_explicit_hub_model_offline_is_an_error_not_a_swap():
    from comparisons.ground.errors import UserError
    from comparisons.ground.models import resolve_lm

    with pytest.raises(UserError, match="cannot load the model 'gpt2' from the Hub"):
        resolve_lm("gpt2")


def test_short_lora_run_beats_majority_rate(real_tweets, tmp_path):
    from comparisons.ground.runs import RunStore
    from finetune import FinetuneConfig
    from finetune.train import run

    # 48 train / 64 eval tweets, 6 steps of 8 at twice LoRA's default learning rate, eval batches of 16 (inside the
    # parallel suite a worker has one core, where 64 tweets scored as one batch took 14.4 s and as four length-sorted
    # batches of 16, 6.8 s). Measured 2026-12-03 against a majority rate of 0.406 on three train subsets (seeds 42, 7,
    # 1): 0.516, 0.578, 0.594, 20-30 s each on two cores. 80 tweets in 5 steps of 16 gave 0.531, 0.688, 0.609 but
    # took 65-87 s inside the suite; 160 tweets at the default 1e-3, 94-123 s.
    data = subset(load_data(str(real_tweets)), 48, 64, seed=42)
    record = run(FinetuneConfig(mode="lora", epochs=1, batch_size=8, learning_rate=2e-3, forgetting_tokens=256,
                                n_evals=1, curve_size=16, eval_batch_size=16), data, store=RunStore(tmp_path))
    assert record.status == "completed"
    assert record.metrics["accuracy"] > data.majority_rate() + 0.05, record.metrics
    f = record.diagnostics["forgetting"]
    assert f["adapter_disabled_equals_base"] and "WikiText-2" in f["text"]


def test_retrieved_calibrated_fewshot_beats_zero_shot(real_tweets):
    from fewshot import FewshotConfig
    from fewshot.run import run

    # 500 train tweets to retrieve from and 48 test tweets, so that the test stays well under a minute on a cold cache
    # (5,000 / 300 took 838 s on a fresh machine). Measured: zero-shot 0.281, retrieved 4-shot calibrated 0.562 at
    # 500 / 64 (45 s cold, 2026-12-02); 0.292 and 0.521 at 500 / 48, 0.292 and 0.458 at 300 / 48 (2026-12-03).
    data = subset(load_data(str(real_tweets)), 500, 48, seed=42)
    zero = run(FewshotConfig(shots=0, calibrate=False, template="plain"), data)
    best = run(FewshotConfig(shots=4, selection="retrieved", calibrate=True, template="plain"), data)
    assert best.metrics["accuracy"] > zero.metrics["accuracy"] + 0.05, (
        zero.metrics["accuracy"],
        best.metrics["accuracy"],
    )


def test_knn_beats_majority_by_a_wide_margin_and_hnsw_recall(real_tweets):
    from rag import RagConfig
    from rag.run import run

    # 2,000 / 300 on a cold cache, 29 s (2026-12-02: accuracy 0.587 against a majority rate of 0.403, recall@10
    # 0.996); 5,000 / 500 took a minute of embedding on a fresh machine.
    data = subset(load_data(str(real_tweets)), 2000, 300, seed=42)
    record = run(RagConfig(mode="knn", index="hnsw"), data)
    assert record.metrics["accuracy"] > data.majority_rate() + 0.15
    assert record.diagnostics["recall_at_10"] >= 0.95


def test_embedding_cache_is_keyed_by_the_model_files(tmp_path):
    """A second run is served from the cache; new weights in the same folder are embedded anew."""
    import os
    import shutil

    from comparisons.ground.models import resolve_embedder
    from rag.embed import Embedder

    folder = tmp_path / "minilm"
    shutil.copytree(resolve_embedder("auto").path, folder)
    texts = ["i love this", "worst day ever", "on the bus"]
    emb = Embedder(str(folder), cache_dir=tmp_path / "cache")
    emb.encode(texts)
    emb.encode(texts)
    assert emb.calls == 3 and emb.last_cache_hit
    weights = next(folder.glob("*.safetensors"))
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    emb.encode(texts)
    assert emb.calls == 6 and not emb.last_cache_hit


def test_a_real_study_learns_with_data_on_one_eval_split(real_tweets, tmp_path):
    """TF-IDF and RAG's linear probe at 32 and 512 real tweets, 2 seeds: both gain from data, the cells share
    the eval split a single run with the same seed and eval size uses (so Compare can set them side by side),
    and every interval holds its mean."""
    from comparisons.analysis import study_report
    from comparisons.ground.runs import RunStore
    from comparisons.running.study import StudySpec, StudyStore, run_study

    spec = StudySpec(methods=["baseline", "rag:linear"], axis="train_size=32,512", seeds=2, eval_size=300,
                     data=str(real_tweets))
    runs = RunStore(tmp_path)
    study = run_study(spec, runs=runs)
    assert study.status == "completed" and len(study.cells) == 8
    single = subset(load_data(str(real_tweets)), 1000, 300, seed=42)
    assert study.eval_fingerprint == single.fingerprint
    table = study_report.summary_table(study, StudyStore(runs).records(study)).set_index(["method", "x"])
    for method in ("TF-IDF", "RAG linear"):
        assert table.loc[(method, "512"), "mean"] > table.loc[(method, "32"), "mean"] + 0.05, table
    assert ((table["ci_low"] <= table["mean"]) & (table["mean"] <= table["ci_high"])).all()
    assert table.loc[("RAG linear", "512"), "mean"] > 0.55  # measured 0.63 at 1,000 tweets (bench/RESULTS.md)


def test_short_tapt_on_real_tweets_lowers_held_out_tweet_perplexity(real_tweets, tmp_path):
    """TAPT with the bundled SmolLM2: 120 real train tweets, one epoch of LoRA; the eval tweets' perplexity falls."""
    from comparisons.ground.runs import RunStore
    from comparisons.running.api import make_config, run_method

    data = subset(load_data(str(real_tweets)), 120, 100, seed=42)
    config = make_config("adapt", {"mode": "lora", "max_texts": 120, "epochs": 1, "block_size": 64, "batch_size": 8,
                                   "learning_rate": 2e-3, "perplexity_tokens": 1024, "save_model": False})
    record = run_method("adapt", config, data, store=RunStore(tmp_path))
    a = record.diagnostics["adaptation"]
    assert record.status == "completed", record.error
    print(a, record.timings)
    assert a["after"]["domain"] < 0.95 * a["before"]["domain"], a
    assert a["before"]["general"] > 1 and a["after"]["general"] > 1
