import json
import os
import subprocess
import sys

import pytest

from comparisons.ground.errors import UserError
from comparisons.ground.metrics import classification_metrics
from comparisons.ground.runs import RunRecord, RunStore, tracked


def test_metrics_against_hand_computed_values():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    m = classification_metrics(y_true, y_pred, ["neg", "neu", "pos"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    # neg: p=1/2 r=1/2 f=1/2; neu: p=2/3 r=1 f=0.8; pos: p=1 r=1/2 f=2/3
    assert m["per_class"]["neg"]["f1"] == pytest.approx(0.5)
    assert m["per_class"]["neu"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["neu"]["f1"] == pytest.approx(0.8)
    assert m["per_class"]["pos"]["recall"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_metrics_with_a_label_never_predicted():
    m = classification_metrics([0, 1], [0, 0], ["a", "b"])
    assert m["per_class"]["b"]["precision"] == 0.0 and m["accuracy"] == 0.5


def test_runstore_round_trip(tmp_path):
    store = RunStore(tmp_path)
    r = RunRecord(method="rag", config={"k": 5}, data={"fingerprint": "abc"}, metrics={"accuracy": 0.5})
    r.status = "completed"
    store.save(r)
    back = store.load(r.run_id)
    assert back.to_dict() == r.to_dict()
    assert [x.run_id for x in store.list()] == [r.run_id]
    store.delete(r.run_id)
    assert store.list() == []
    with pytest.raises(UserError, match="no run"):
        store.load(r.run_id)


def test_dead_process_run_shows_interrupted(tmp_path):
    store = RunStore(tmp_path)
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    r = RunRecord(method="finetune", config={}, data={})
    r.pid, r.host = dead_pid, __import__("socket").gethostname()
    store.save(r)
    alive = RunRecord(method="rag", config={}, data={})
    alive.pid, alive.host = os.getpid(), r.host
    store.save(alive)
    assert store.load(r.run_id).status == "interrupted"
    assert store.load(alive.run_id).status == "running"
    assert store.mark_interrupted() == 1
    raw = json.loads((tmp_path / r.run_id / "record.json").read_text())
    assert raw["status"] == "interrupted" and raw["error"]


def test_tracked_records_failure_with_error(tmp_path):
    store = RunStore(tmp_path)
    r = RunRecord(method="rag", config={}, data={})
    with pytest.raises(RuntimeError):
        with tracked(r, store):
            raise RuntimeError("injected")
    back = store.load(r.run_id)
    assert back.status == "failed" and "injected" in back.error
    assert back.timings["total_seconds"] >= 0 and back.peak_memory_mb > 0


def test_failed_write_leaves_no_half_file(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    r = RunRecord(method="rag", config={}, data={}, metrics={"accuracy": 0.9})
    store.save(r)
    before = (tmp_path / r.run_id / "record.json").read_text()
    r.metrics = {"accuracy": 0.1}

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        store.save(r)
    assert (tmp_path / r.run_id / "record.json").read_text() == before
    assert [p.name for p in (tmp_path / r.run_id).iterdir()] == ["record.json"]
