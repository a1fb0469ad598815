"""Every GPU entry point of the app (ui.workers) run the way ZeroGPU runs it (tests.zerogpu: a daemonic forked
worker, pickled arguments and results, a duration that kills, the GPU preset's process settings), on tiny models:
each method's run, Run all, the k-sweep, a study, the quality report, Try it, the neighbour viewer, a tweet's
details, near duplicates, and a workshop board's runs. Each completes."""
from __future__ import annotations

import threading
import time

import pytest

import comparisons.running.gate
from comparisons.serving import service as svc
from rag.embed import register_embedder
from tests.stand_in import HashEmbedder
from tests.unit.test_peers import tiny_encoder  # noqa: F401 (a fixture)
from tests.zerogpu import GPUTaskAborted, emulated

register_embedder("test-hash", HashEmbedder)
DATA = dict(source=svc.SOURCE_SAMPLE, upload=None, text_column="", label_column="", train_size="48",
            eval_size="15", seed=5, drop_leaked=False, drop_rows="")
FAST_TUNE = dict(epochs=1, batch_size=8, learning_rate=5e-3, curve_size=8, n_evals=1, forgetting_tokens=64,
                 warmup_ratio=0.0, input_template="{text}", head_init="random")


@pytest.fixture
def zerogpu(tmp_path, monkeypatch):
    """The emulator on, each test with its own runs folder; visitors may use the tiny local models here (a folder
    on the server is a CLI option: test_gate checks that rule)."""
    import fewshot.run  # noqa: F401 (loaded at start-up, as the ZeroGPU documentation advises)
    import finetune.adapt  # noqa: F401
    import finetune.train  # noqa: F401
    import peers.setfit_run  # noqa: F401
    import rag.run  # noqa: F401

    monkeypatch.setenv("TPR_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(comparisons.running.gate, "check_visitor_models", lambda config, store: None)
    with emulated() as emulator:
        yield emulator


def visitor(name="ada"):
    return svc.Visitor(f"b:{name}", name, f"session-{name}")


def finished(updates) -> svc.RunUpdate:
    updates = list(updates)
    assert updates, "the worker sent nothing back"
    return updates[-1]


def test_the_emulator_is_as_strict_as_zerogpu(zerogpu):
    """A DataLoader with workers, or a process pool, fails inside the worker; a call past its duration is killed;
    what does not pickle cannot cross."""
    with pytest.raises(AssertionError, match="daemonic processes are not allowed to have children"):
        zerogpu.GPU(duration=20)(_pool_in_worker)()
    with pytest.raises(GPUTaskAborted, match="ran past the 1 s"):
        zerogpu.GPU(duration=1)(time.sleep)(30)
    with pytest.raises(Exception, match="pickle"):
        zerogpu.GPU(duration=5)(len)(threading.Lock())
    assert zerogpu.GPU(duration=5)(_daemonic)()


def _daemonic() -> bool:
    import multiprocessing

    return multiprocessing.current_process().daemon


def _pool_in_worker():
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(2) as pool:
        return pool.map(abs, [-1, -2])


@pytest.mark.parametrize("mode", ["lora", "full", "head"])
def test_fine_tuning_runs_in_a_zerogpu_worker(zerogpu, tiny_gpt2, mode):
    last = finished(zerogpu_job(zerogpu, "run", "finetune", {**FAST_TUNE, "model": tiny_gpt2, "mode": mode}))
    assert last.error is None and last.record.status == "completed", last.error
    assert zerogpu.calls[-1].name == "run_job" and zerogpu.calls[-1].outcome == "returned"
    if mode != "head":  # the GPU preset asks for loader workers: none inside the worker, which may have no children
        assert last.record.metrics["accuracy"] is not None


def zerogpu_job(emulator, kind, method, settings, who=None, data=DATA):
    from ui import workers

    return workers.run_job(kind, method, settings, dict(data) if isinstance(data, dict) else data, who or visitor())


@pytest.mark.parametrize("method,settings", [
    ("fewshot", {"shots": 2, "selection": "balanced"}),
    ("fewshot", {"shots": 2, "selection": "retrieved", "embedder": "test-hash"}),
    ("rag", {"mode": "knn", "embedder": "test-hash"}),
    ("rag", {"mode": "linear", "embedder": "test-hash"}),
    ("rag", {"mode": "prompt", "embedder": "test-hash", "k": 2}),
    ("baseline", {}),
    ("adapt", {"mode": "lora", "epochs": 1, "block_size": 16, "batch_size": 4, "perplexity_tokens": 64}),
])
def test_every_method_runs_in_a_zerogpu_worker(zerogpu, tiny_gpt2, method, settings):
    values = {**settings, **({"model": tiny_gpt2} if method in ("fewshot", "adapt") or settings.get("mode") == "prompt"
                             else {})}
    last = finished(zerogpu_job(zerogpu, "run", method, values))
    assert last.error is None and last.record.status == "completed", last.error
    assert 20 <= zerogpu.calls[-1].requested <= 300


def test_setfit_runs_in_a_zerogpu_worker(zerogpu, tiny_encoder):  # noqa: F811
    last = finished(zerogpu_job(zerogpu, "run", "setfit", {"embedder": tiny_encoder, "max_steps": 4, "batch_size": 8}))
    assert last.error is None and last.record.status == "completed", last.error


def test_the_k_sweep_and_run_all_run_in_a_zerogpu_worker(zerogpu, tiny_gpt2, tiny_encoder, monkeypatch):  # noqa: F811
    sweep = list(zerogpu_job(zerogpu, "sweep", "fewshot", {"model": tiny_gpt2, "selection": "balanced"}))
    assert sweep[-1].error is None and len(sweep[-1].records) == 6  # k = 0, 1, 2, 4, 8, 16
    tiny = {"finetune": {**FAST_TUNE, "model": tiny_gpt2}, "fewshot": {"model": tiny_gpt2, "embedder": "test-hash"},
            "rag": {"embedder": "test-hash"}, "baseline": {},
            "setfit": {"embedder": tiny_encoder, "max_steps": 4, "batch_size": 8}}
    plan = svc.run_all_plan
    monkeypatch.setattr(svc, "run_all_plan", lambda gpu=None: [(m, {**v, **tiny[m]}, why) for m, v, why in plan(gpu)])
    everything = list(zerogpu_job(zerogpu, "all", "", {}))
    assert everything[-1].error is None and len(everything[-1].records) == len(plan(False))  # the worker is a CPU
    assert all(r.status == "completed" for r in everything[-1].records)


def test_a_study_runs_in_a_zerogpu_worker(zerogpu):
    from ui import workers

    spec = {"methods": ["baseline", "rag:knn"], "axis": "train_size=16,32", "seeds": 1, "eval_size": 15,
            "data": "sample", "settings": {"embedder": "test-hash"}}
    updates = list(workers.run_study(spec, None, visitor()))
    assert updates[-1].finished and updates[-1].error is None and updates[-1].study_id
    assert zerogpu.calls[-1].name == "run_study"


def test_the_lookups_and_reports_run_in_a_zerogpu_worker(zerogpu):
    from ui import workers

    who = visitor("bob")
    finished(zerogpu_job(zerogpu, "run", "rag", {"mode": "knn", "embedder": "test-hash"}, who))
    report = workers.quality_report(dict(DATA))  # cleanlab would start a process pool: none in the worker
    assert report["n_train"] == 48 and report["findings"]
    assert not workers.try_it("so happy today", dict(DATA), who)["table"].empty
    assert len(workers.neighbours("so happy today", "test-hash", dict(DATA), who)) == 10
    assert workers.tweet_details(0, dict(DATA), who)["text"]
    assert workers.near_duplicates(0.95, dict(DATA)) is not None
    assert {c.name for c in zerogpu.calls} >= {"quality_report", "try_it", "neighbours", "tweet_details",
                                               "near_duplicates"}


def test_a_workshop_boards_runs_come_from_zerogpu_workers(zerogpu):
    host, guest = visitor("host"), visitor("guest")
    svc.session(host.session).selection = svc.selection_from_ui(**DATA)
    board = svc.create_board(host, "Host", "Tuesday", fix_selection=True)
    svc.join_board(guest, board["code"], "Guest")
    run = finished(zerogpu_job(zerogpu, "run", "baseline", {}, guest, data=svc.current_selection(guest.session)))
    assert run.record.status == "completed"
    assert [e["name"] for e in svc.board_json(board["code"], host)["entries"]] == ["Guest"]


def test_stop_reaches_the_zerogpu_worker(zerogpu, tiny_gpt2):
    who = visitor("stopper")
    stop_soon = threading.Timer(6.0, svc.request_stop, args=(who.session,))
    stop_soon.start()
    try:
        last = finished(zerogpu_job(zerogpu, "run", "finetune", {**FAST_TUNE, "model": tiny_gpt2, "min_steps": 100_000,
                                                                  "forgetting_tokens": 0}, who))
    finally:
        stop_soon.cancel()
    assert last.record.status == "stopped"
