"""The peers: a TF-IDF baseline and SetFit, with the same entry-point shape, the same selection and split,
in Compare and Try it, stoppable, and bad settings answered with a message."""

import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

from comparisons.ground.data import Split, TweetData
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunStore
from comparisons.serving import service as svc
from peers.config import BaselineConfig, SetfitConfig
from tests.conftest import ROOT

WORDS = {0: "awful", 1: "okay", 2: "lovely"}


def planted(n_train=90, n_eval=30, seed=0) -> TweetData:
    """Each tweet's label is carried by one keyword among neutral filler words."""
    rng = np.random.RandomState(seed)
    filler = "the day went on and then we saw it at home today".split()

    def split(n):
        labels = rng.randint(0, 3, n)
        texts = [" ".join(rng.choice(filler, 5).tolist() + [WORDS[y]] + rng.choice(filler, 3).tolist())
                 for y in labels]
        return Split(tuple(texts), tuple(int(y) for y in labels))

    return TweetData(split(n_train), split(n_eval), ["negative", "neutral", "positive"], "planted")


def test_baseline_learns_a_planted_keyword_rule(tmp_path):
    from peers.baseline import run

    record = run(BaselineConfig(), planted(), store=RunStore(tmp_path))
    assert record.status == "completed" and record.metrics["accuracy"] >= 0.95
    assert record.timings["fit_seconds"] >= 0 and record.trainable_params > 0
    assert len(record.predictions["probs"]) == 30 and record.label.startswith("baseline tf-idf")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A tiny random BERT saved as a sentence-transformers model (mean pooling)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    from tests.tiny import make_tokenizer

    raw = tmp_path_factory.mktemp("tiny-bert")
    data = planted()
    tok = make_tokenizer(raw, list(data.train.texts) + list(data.test.texts))
    tok.pad_token = "<pad>"
    tok.save_pretrained(raw)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(raw)
    st = SentenceTransformer(modules=[models.Transformer(str(raw), max_seq_length=32), models.Pooling(32, "mean")],
                             device="cpu")
    out = tmp_path_factory.mktemp("tiny-st")
    st.save(str(out))
    return str(out)


def test_setfit_lowers_its_loss_and_beats_the_majority_class(tiny_encoder, tmp_path):
    from peers.setfit_run import run

    data = planted()
    record = run(SetfitConfig(embedder=tiny_encoder, max_steps=60, batch_size=16, body_learning_rate=1e-3,
                              num_iterations=5), data, store=RunStore(tmp_path))
    losses = [h["loss"] for h in record.history if "loss" in h]
    assert record.status == "completed" and len(losses) >= 2 and losses[-1] < losses[0]
    assert record.metrics["accuracy"] > data.majority_rate() + 0.1
    folder = record.artifacts["model_dir"]
    assert (ROOT / folder).exists() if not os.path.isabs(folder) else os.path.exists(folder)
    assert not [f for f in os.listdir(folder) if f.endswith((".pkl", ".bin", ".pt"))]  # safetensors + JSON only
    from peers.setfit_run import load_saved

    _, predict = load_saved(folder)
    assert predict(list(data.test.texts), 3).argmax(1).tolist() == record.predictions["y_pred"]


def test_both_stop_on_stop_with_a_stopped_record(tiny_encoder, tmp_path):
    from peers.baseline import run as baseline_run
    from peers.setfit_run import run as setfit_run

    stop = threading.Event()
    stop.set()
    assert baseline_run(BaselineConfig(), planted(), stop=stop, store=RunStore(tmp_path)).status == "stopped"
    record = setfit_run(SetfitConfig(embedder=tiny_encoder, max_steps=500, batch_size=8), planted(), stop=stop,
                        store=RunStore(tmp_path))
    assert record.status == "stopped" and record.timings["steps"] < 500 and record.metrics


def test_peers_appear_in_compare_and_try_it(tiny_encoder, tmp_path):
    from comparisons.analysis.report import comparison_rows, peer_verdicts
    from comparisons.running.api import make_config, run_method

    data, store = planted(), RunStore(tmp_path)
    run_method("baseline", make_config("baseline", {}), data, store=store)
    run_method("setfit", make_config("setfit", {"embedder": tiny_encoder, "max_steps": 20, "batch_size": 8}), data,
               store=store)
    rows, fp, _ = comparison_rows(store.list())
    assert {r["method"] for r in rows} == {"baseline", "setfit"} and fp == data.fingerprint
    out = svc.try_it("what a lovely day", data, store)
    methods = " ".join(out["table"]["method"])
    assert "baseline tf-idf" in methods and "setfit" in methods and out["setfit_neighbours"]
    assert out["table"].set_index("method").loc[[m for m in out["table"]["method"] if "baseline" in m][0],
                                                "label"] == "positive"
    assert peer_verdicts(store.list()) == []  # no language-model run yet: nothing to weigh against them


def test_try_it_keeps_every_kind_warm_between_calls(tiny_encoder, tiny_gpt2, tmp_path, monkeypatch):
    """Five kinds of run (TF-IDF, SetFit, RAG, few-shot, a retriever) used to share four warm slots, so TF-IDF was
    refitted and SetFit re-encoded the train split on every call."""
    import peers.baseline
    import peers.setfit_run
    from comparisons.running.api import make_config, run_method
    from rag.embed import register_embedder
    from tests.stand_in import HashEmbedder

    register_embedder("test-hash", HashEmbedder)
    monkeypatch.setattr(svc, "_CLASSIFIERS", svc.WarmCache())
    data, store = planted(), RunStore(tmp_path)
    run_method("baseline", make_config("baseline", {}), data, store=store)
    run_method("setfit", make_config("setfit", {"embedder": tiny_encoder, "max_steps": 4, "batch_size": 8}), data,
               store=store)
    run_method("rag", make_config("rag", {"embedder": "test-hash", "k": 3}), data, store=store)
    run_method("fewshot", make_config("fewshot", {"model": tiny_gpt2, "shots": 2, "selection": "balanced"}), data,
               store=store)
    built, loaded = [], []
    build, load_saved = peers.baseline.build, peers.setfit_run.load_saved
    monkeypatch.setattr(peers.baseline, "build", lambda config: built.append(1) or build(config))
    monkeypatch.setattr(peers.setfit_run, "load_saved", lambda folder: loaded.append(1) or load_saved(folder))
    for text in ("what a lovely day", "such an awful day", "the day at home"):
        svc.try_it(text, data, store)
    assert built == [1] and loaded == [1]


@pytest.mark.parametrize("args, message", [
    (["--method", "baseline", "--word-ngrams", "3-1"], "word_ngrams must satisfy"),
    (["--method", "baseline", "--char-ngrams", "two-five"], "char_ngrams must look like"),
    (["--method", "baseline", "--word-ngrams", "", "--char-ngrams", ""], "give word n-grams, character n-grams"),
    (["--method", "setfit", "--max-steps", "0"], "max_steps must be >= 1"),
    (["--method", "setfit", "--batch-size", "0"], "batch_size must be >= 1"),
    (["--method", "baseline", "--max-steps", "5"], "--max-steps is not an option of --method baseline"),
])
def test_bad_peer_settings_exit_2_with_a_message(args, message, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "comparisons", "run", *args, "--data", "sample", "--runs-dir",
                          str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr[-800:]


def test_setfit_refuses_an_embedder_that_is_not_a_sentence_encoder(tiny_gpt2):
    from peers.setfit_run import run

    with pytest.raises(UserError, match="is not a sentence encoder"):
        run(SetfitConfig(embedder=tiny_gpt2, max_steps=5), planted())


def test_run_all_has_the_baseline_and_says_why_setfit_is_left_out_on_a_cpu(tmp_path):
    from comparisons.running.api import make_config, run_method

    cpu, gpu = svc.run_all_plan(gpu=False), svc.run_all_plan(gpu=True)
    assert "baseline" in [m for m, _, _ in cpu] and "setfit" not in [m for m, _, _ in cpu]
    assert "setfit" in [m for m, _, _ in gpu]
    data, store = planted(), RunStore(tmp_path)
    peer = run_method("baseline", make_config("baseline", {}), data, store=store)
    from rag.embed import register_embedder
    from tests.stand_in import HashEmbedder

    register_embedder("test-hash", HashEmbedder)
    lm = run_method("rag", make_config("rag", {"embedder": "test-hash", "k": 3}), data, store=store)
    summary = svc.run_all_summary([lm, peer], 12.0)
    assert "SetFit was left out on this CPU" in summary
    gap = 100 * (lm.metrics["accuracy"] - peer.metrics["accuracy"])
    assert (f"{abs(gap):.1f} points {'over' if gap > 0 else 'to'} the TF-IDF baseline" in summary
            or "matches the TF-IDF baseline" in summary)


def test_a_cost_comparison_charges_the_embedding_a_cache_served(tmp_path, monkeypatch):
    """RAG kNN embedded the tweets and was charged for it; RAG linear read the same embeddings from the cache and
    was shown 'at 0x its time'. Both are charged for the embedding now, and the cache is named; a tie reads as one."""
    import rag.embed
    from comparisons.analysis.report import peer_verdicts, times_text
    from comparisons.running.api import make_config, run_method
    from rag.embed import register_embedder
    from tests.stand_in import HashEmbedder

    monkeypatch.setenv("TPR_EMBED_CACHE", str(tmp_path / "cold-cache"))
    monkeypatch.setattr(rag.embed, "_EMBEDDERS", rag.embed.LRU(rag.embed.MAX_EMBEDDERS))  # none with a warm cache
    register_embedder("test-hash", HashEmbedder)
    data, store = planted(), RunStore(tmp_path / "runs")
    peer = run_method("baseline", make_config("baseline", {}), data, store=store)
    knn = run_method("rag", make_config("rag", {"embedder": "test-hash", "k": 3}), data, store=store)
    linear = run_method("rag", make_config("rag", {"embedder": "test-hash", "mode": "linear"}), data, store=store)
    assert not knn.diagnostics["cache_hit"] and linear.diagnostics["cache_hit"]
    lines = peer_verdicts([peer, knn, linear])
    served = next(line for line in lines if line.startswith(linear.label))
    assert f"embedding that the cache served it, as measured by {knn.label} [{knn.run_id[-6:]}]" in served
    assert not re.search(r"at 0x|(buys|loses) 0\.0 points", " ".join(lines))
    assert times_text(0.02) == "1/50 of" and times_text(1.44) == "1.4x" and times_text(12.4) == "12x"
    from comparisons.analysis.report import accuracy_text, duration_text

    assert [duration_text(v) for v in (None, 4.24, 37.4, 150)] == ["", "4.2 s", "37 s", "2.5 min"]
    assert accuracy_text(0.8123, 0.781, 0.84) == "0.812 (0.781–0.840)" and accuracy_text(0.5) == "0.500"
    # Same accuracy: "matches", never "loses 0.0 points".
    linear.metrics["accuracy"] = peer.metrics["accuracy"]
    assert any(line.startswith(f"{linear.label} matches the TF-IDF baseline") for line in peer_verdicts([peer, linear]))


def test_json_leaves_only_json_on_stdout_even_for_setfit(tiny_encoder, tmp_path):
    """SetFit's trainer printed its loss dictionaries on stdout before the JSON line, so `| jq` failed."""
    import json

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TPR_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "comparisons", "run", "--method", "setfit", "--embedder", tiny_encoder,
           "--max-steps", "4", "--batch-size", "8", "--data", "sample", "--train-size", "30", "--eval-size", "12",
           "--json"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("\n") == 1 and json.loads(out.stdout)["method"] == "setfit", out.stdout[:500]
    assert "loss" in out.stderr  # the trainer's log went to stderr, not away
