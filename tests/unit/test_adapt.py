"""Domain-adaptive pretraining (finetune.adapt) on tiny models, offline."""
import threading

import pytest

from comparisons.cli import main
from comparisons.ground.data import Split, TweetData
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunStore
from comparisons.running.api import make_config, run_method

PATTERN = ("good day happy love", "bad day sad hate", "ok day work home")


def toy(n=60) -> TweetData:
    """A learnable corpus: three phrases, over and over."""
    texts = tuple(PATTERN[i % 3] + " ." for i in range(n))
    labels = tuple(i % 3 for i in range(n))
    test = Split(tuple(PATTERN[i % 3] + " ." for i in range(12)), tuple(i % 3 for i in range(12)))
    return TweetData(Split(texts, labels), test, ["negative", "neutral", "positive"], "toy")


def adapt_values(model, **kw):
    return {"model": model, "mode": "full", "learning_rate": 5e-3, "epochs": 4, "block_size": 16, "batch_size": 4,
            "perplexity_tokens": 256, **kw}


def test_adaptation_lowers_the_lm_loss_and_records_both_perplexities(tmp_path, tiny_gpt2, monkeypatch):
    monkeypatch.setenv("TPR_RUNS_DIR", str(tmp_path))
    record = run_method("adapt", make_config("adapt", adapt_values(tiny_gpt2)), toy(), store=RunStore(tmp_path))
    assert record.status == "completed"
    losses = [h["loss"] for h in record.history if h["event"] == "train"]
    assert len(losses) >= 3 and losses[-1] < 0.7 * losses[0]  # measured: 6.00 -> 3.13
    a = record.diagnostics["adaptation"]
    assert a["after"]["domain"] < 0.5 * a["before"]["domain"]  # the tweets' perplexity falls
    assert a["before"]["general"] > 0 and a["after"]["general"] > 0  # general English measured before and after
    assert a["verdict"].startswith("tweets: ") and "TAPT" in a["corpus"]
    assert (tmp_path / record.run_id / "model" / "model.safetensors").exists()


def test_the_adapted_model_starts_fine_tuning_and_few_shot(tmp_path, tiny_gpt2, monkeypatch):
    monkeypatch.setenv("TPR_RUNS_DIR", str(tmp_path))
    store = RunStore(tmp_path)
    adapted = run_method("adapt", make_config("adapt", adapt_values(tiny_gpt2, mode="lora", epochs=1,
                                                                    perplexity_tokens=0)), toy(), store=store)
    model = f"run:{adapted.run_id}"
    ft = run_method("finetune", make_config("finetune", {"model": model, "mode": "lora", "forgetting_tokens": 0,
                                                         "n_evals": 1, "curve_size": 4, "batch_size": 8}),
                    toy(), store=store)
    fs = run_method("fewshot", make_config("fewshot", {"model": model, "shots": 2, "selection": "balanced",
                                                       "label_words": "bad,ok,good"}), toy(), store=store)
    assert ft.status == fs.status == "completed"
    assert ft.resolved["resolved_model"] == fs.resolved["resolved_model"] == model
    with pytest.raises(UserError, match="no saved model for run 'nope'"):
        run_method("finetune", make_config("finetune", {"model": "run:nope"}), toy(), store=store)


def test_stop_leaves_a_stopped_record_with_its_history(tmp_path, tiny_gpt2):
    stop = threading.Event()

    def on_event(e):
        if e.get("event") == "train":
            stop.set()

    record = run_method("adapt", make_config("adapt", adapt_values(tiny_gpt2, epochs=50, perplexity_tokens=0)),
                        toy(), store=RunStore(tmp_path), on_event=on_event, stop=stop)
    assert record.status == "stopped" and record.history and record.timings["steps"] < 50
    assert RunStore(tmp_path).load(record.run_id).status == "stopped"
    assert "model_dir" not in record.artifacts  # a stopped adaptation is not offered as a starting point


@pytest.mark.parametrize("content, extra, message", [
    (b"", [], "is empty"),
    (b"\x00\x01\x02binary\x00" * 20, [], "looks like a binary file"),
    (b"   \n\n  \t\n", [], "holds only whitespace"),
    (b"body,y\nhello there,1\n", ["--corpus-column", "tweet"], "no column 'tweet'"),
])
def test_a_bad_corpus_exits_2_with_a_message(tmp_path, capsys, tiny_gpt2, content, extra, message):
    name = "corpus.csv" if extra else "corpus.txt"
    (tmp_path / name).write_bytes(content)
    argv = ["run", "--method", "adapt", "--data", "sample", "--model", tiny_gpt2, "--corpus", str(tmp_path / name),
            "--runs-dir", str(tmp_path / "runs"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not list((tmp_path / "runs").glob("*/record.json"))  # nothing ran


def test_the_guide_shows_the_visitors_own_figures(tmp_path, tiny_gpt2, monkeypatch):
    from comparisons.analysis.report import guide_figures
    from ui.guide_tab import guide_markdown

    monkeypatch.setenv("TPR_RUNS_DIR", str(tmp_path))
    store = RunStore(tmp_path)
    adapted = run_method("adapt", make_config("adapt", adapt_values(tiny_gpt2, epochs=1)), toy(), store=store)
    common = {"mode": "lora", "forgetting_tokens": 64, "n_evals": 1, "curve_size": 4, "batch_size": 8}
    base = run_method("finetune", make_config("finetune", {**common, "model": tiny_gpt2}), toy(), store=store)
    start = run_method("finetune", make_config("finetune", {**common, "model": f"run:{adapted.run_id}"}), toy(),
                       store=store)
    head = run_method("finetune", make_config("finetune", {"mode": "head", "model": tiny_gpt2}), toy(), store=store)
    figures = guide_figures(store.list())
    f = start.diagnostics["forgetting"]
    assert figures["Catastrophic forgetting"].startswith(f"your LoRA run: WikiText perplexity {f['before']:.1f} → ")
    gap = 100 * (start.metrics["accuracy"] - base.metrics["accuracy"])
    assert f"({gap:+.1f} points)" in figures["Domain-specific fine-tuning"]
    assert adapted.diagnostics["adaptation"]["verdict"] in figures["Domain-specific fine-tuning"]
    probe = f"head {head.metrics['accuracy']:.3f} with {head.trainable_params:,} trainable"
    assert probe in figures["Transfer learning"]
    assert "> **Your runs:** your adaptation" in guide_markdown(figures)
