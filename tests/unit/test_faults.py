"""Faults: an exception inside a method, CUDA out-of-memory, SIGKILL mid-run and restart, and the
app's handlers answering bad input with a visible error while the app keeps serving."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
import torch

from comparisons.ground.data import load_data, subset
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunRecord, RunStore
from comparisons.serving import service as svc
from rag.embed import register_embedder
from tests.conftest import ROOT
from tests.stand_in import HashEmbedder

register_embedder("test-hash", HashEmbedder)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("TPR_RUNS_DIR", str(tmp_path / "runs"))
    s = RunStore(tmp_path / "runs")
    kept = RunRecord(method="rag", config={}, data={"fingerprint": "x"}, metrics={"accuracy": 0.5}, status="completed")
    s.save(kept)
    return s, kept


def _drain(gen):
    """(events, record, error) of a streamed run's last update."""
    last = None
    for last in gen:
        pass
    return last.events, last.record, last.error


def test_exception_inside_a_method_is_a_failed_record(store, monkeypatch):
    s, kept = store
    rag_run = sys.modules["rag.run"]
    original = rag_run.knn_probs

    def boom(*a, **k):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(rag_run, "knn_probs", boom)
    data = subset(load_data("sample"), 60, 20, seed=0)
    events, record, error = _drain(svc.stream_run("rag", {"embedder": "test-hash"}, data, threading.Event(), s))
    assert record is None and "injected failure" in error
    failed = [r for r in s.list() if r.status == "failed"]
    assert len(failed) == 1 and "RuntimeError: injected failure" in failed[0].error
    assert s.load(kept.run_id).status == "completed"
    monkeypatch.setattr(rag_run, "knn_probs", original)
    _, record, error = _drain(svc.stream_run("rag", {"embedder": "test-hash"}, data, threading.Event(), s))
    assert record.status == "completed" and error is None  # still serving


def test_cuda_out_of_memory_suggests_smaller_batch(store, monkeypatch, tiny_gpt2):
    s, kept = store
    from transformers import Trainer

    def oom(self, *a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "train", oom)
    data = subset(load_data("sample"), 40, 10, seed=0)
    _, record, error = _drain(svc.stream_run("finetune", {"model": tiny_gpt2, "batch_size": 64, "max_length": 512},
                                             data, threading.Event(), s))
    assert "out of memory" in error and "smaller batch size" in error and "64" in error
    assert [r.status for r in s.list() if r.method == "finetune"] == ["failed"]
    assert s.load(kept.run_id).status == "completed"


def test_bad_setting_from_the_ui_is_a_message_not_a_crash(store):
    s, _ = store
    data = subset(load_data("sample"), 40, 10, seed=0)
    with pytest.raises(UserError, match="learning_rate must be > 0"):
        _drain(svc.stream_run("finetune", {"learning_rate": -1}, data, threading.Event(), s))
    with pytest.raises(UserError, match="epochs must be > 0"):
        _drain(svc.stream_run("finetune", {"epochs": 0}, data, threading.Event(), s))


def test_sigkill_mid_run_then_restart_shows_interrupted(tmp_path, tiny_gpt2):
    runs = tmp_path / "runs"
    store = RunStore(runs)
    kept = RunRecord(method="rag", config={}, data={"fingerprint": "x"}, metrics={"accuracy": 0.5}, status="completed")
    store.save(kept)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "comparisons", "run", "--method", "finetune", "--model", tiny_gpt2,
                             "--data", "sample", "--epochs", "50", "--batch-size", "4", "--forgetting-tokens", "0",
                             "--runs-dir", str(runs)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    running = None
    while time.time() < deadline and running is None:
        for p in runs.glob("*-finetune-*/record.json"):
            if json.loads(p.read_text()).get("status") == "running":
                running = p
        time.sleep(0.5)
    assert running is not None, proc.stderr.read() if proc.poll() is not None else "no running record"
    time.sleep(2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    restarted = RunStore(runs)
    assert restarted.mark_interrupted() == 1
    statuses = {r.run_id: r.status for r in restarted.list()}
    assert statuses[kept.run_id] == "completed"
    assert statuses[running.parent.name] == "interrupted"
    assert restarted.load(kept.run_id).to_dict() == kept.to_dict()


def test_app_handlers_show_errors_and_keep_serving(tmp_path, monkeypatch):
    monkeypatch.setenv("TPR_RUNS_DIR", str(tmp_path / "runs"))
    from ui.data_tab import load_overview

    def fields(source, upload, train_size, eval_size):
        return dict(source=source, upload=upload, text_column="", label_column="", train_size=train_size,
                    eval_size=eval_size, seed=42, drop_leaked=False)

    bad = tmp_path / "bad.csv"
    bad.write_text("body,y\nhello,1\nbye,0\n")
    out = load_overview(**fields(svc.SOURCE_UPLOAD, str(bad), "10", "5"))
    assert out["notice"].startswith("**Error:**") and "no text column" in out["notice"]
    assert set(out) == {"notice", "overview"}  # plots keep what they showed
    out = load_overview(**fields(svc.SOURCE_UPLOAD, None, "10", "5"))
    assert "choose a file to upload first" in out["notice"]
    out = load_overview(**fields(svc.SOURCE_SAMPLE, None, "10000", "5"))
    assert "larger than the train split" in out["notice"]
    out = load_overview(**fields(svc.SOURCE_SAMPLE, None, "60", "20"))
    assert out["notice"].count("Error") == 0 and "60 rows" in out["overview"]
    shown = out["distribution"]  # an update that shows the chart (hidden until there is something to draw)
    assert shown["visible"] and isinstance(shown["value"], pd.DataFrame)
    assert set(shown["value"]["split"]) == {"train", "test"}


def test_ui_reads_no_server_paths():
    # The UI's sources are the Hub, the bundled sample and uploads; a server path is never a field.
    sel = svc.selection_from_ui(svc.SOURCE_SAMPLE, "/etc/passwd", "", "", "", "", 1, False)
    assert sel.source == "sample"
    sel = svc.selection_from_ui(svc.SOURCE_HUB, "/etc/passwd", "", "", "", "", 1, False)
    assert sel.source is None


def test_a_closed_page_stops_its_run_before_the_next_job(store, tiny_gpt2):
    store, _ = store
    """A browser that disconnects closes the handler's generator: the run is stopped (and recorded so) within a step,
    instead of training on beside the next visitor's job on the same device."""
    values = {"model": tiny_gpt2, "mode": "lora", "min_steps": 100_000, "batch_size": 4, "forgetting_tokens": 0,
              "curve_size": 4, "n_evals": 1000, "input_template": "{text}", "head_init": "random"}
    stop = threading.Event()
    updates = svc.stream_run("finetune", values, subset(load_data("sample", seed=0), 24, 8, seed=0), stop, store,
                             poll=0.1)
    seen = 0
    for update in updates:
        seen += any(e.get("max_steps") for e in update.events)
        if seen >= 2:
            break
    t0 = time.perf_counter()
    updates.close()  # what Gradio does when the page goes away
    assert stop.is_set() and time.perf_counter() - t0 < 30
    assert not any(t.name == "tpr-run" and t.is_alive() for t in threading.enumerate())
    assert [r.status for r in store.list() if r.method == "finetune"] == ["stopped"]
