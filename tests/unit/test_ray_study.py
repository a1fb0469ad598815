"""Studies on Ray (comparisons.running.ray_backend): the same cells and metrics as the local backend; cells on two Ray
nodes (a head and a worker started as separate `ray start` processes, one CPU each), and a study that completes when the
worker node is killed mid-study; Stop and resume under Ray; bad and unreachable addresses said in one line before the
study exists."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from comparisons.analysis.study_report import cell_frame, display_table, summary_table
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunStore
from comparisons.running.study import StudySpec, StudyStore, run_study
from tests.conftest import free_port

ray = pytest.importorskip("ray", reason="the ray extra is not installed (scripts/setup.sh --test installs it)")
RAY = str(Path(sys.executable).with_name("ray"))


@pytest.fixture(scope="module", autouse=True)
def _ray_env():
    """One local Ray for the module's studies (started by the first, joined by the others, as the app keeps it); the
    two-node test leaves it for its own cluster (connect() leaves a Ray it did not ask for)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")  # a test cluster on localhost; a real one keeps Ray's tokens
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        yield
        if ray.is_initialized():
            ray.shutdown()


def spec(methods=("baseline",), sizes="40,80,160", seeds=2):
    return StudySpec(methods=list(methods), axis=f"train_size={sizes}", seeds=seeds, eval_size=60, data="sample")


def frame(store: RunStore, study):
    return cell_frame(study, StudyStore(store).records(study)).sort_values(["method", "x", "seed"])


def test_ray_and_local_give_the_same_cells_and_metrics(tmp_path):
    s = spec(methods=("baseline", "rag:knn"), sizes="40,160", seeds=1)
    local, on_ray = RunStore(tmp_path / "local"), RunStore(tmp_path / "ray")
    a = run_study(s, runs=local)
    events = []
    b = run_study(s, runs=on_ray, backend="ray", on_event=events.append)
    assert a.status == b.status == "completed" and b.where.startswith("a local Ray on this machine")
    fa, fb = frame(local, a), frame(on_ray, b)
    assert list(fa["accuracy"]) == list(fb["accuracy"]) and list(fa["train_size"]) == list(fb["train_size"])
    assert fb["node"].str.len().min() == 12  # every cell says the Ray node it ran on
    shown = {name: display_table(summary_table(x, StudyStore(st).records(x)), s, x.where)
             for name, x, st in (("local", a, local), ("ray", b, on_ray))}
    assert shown["ray"]["ran on (Ray nodes)"].str.len().min() >= 12  # the Studies table says where each row ran
    assert "ran on (Ray nodes)" not in shown["local"]
    assert {"cell", "progress", "done"} <= {e["event"] for e in events}  # live events came back through the queue
    assert all(r.owner == "" and r.study["study_id"] == b.study_id for r in on_ray.list())  # in the driver's store


def test_stop_cancels_the_queue_keeps_finished_cells_and_resume_runs_the_rest(tmp_path):
    store, stop = RunStore(tmp_path), threading.Event()
    first = run_study(spec(sizes="40,80,120,160"), runs=store, backend="ray", stop=stop,
                      on_cell=lambda study, record: stop.set())
    assert first.status == "stopped" and 1 <= len(first.cells) < first.n_cells
    kept = set(first.cells.values())
    resumed = run_study(runs=store, resume=first.study_id, backend="ray")
    assert resumed.status == "completed" and len(resumed.cells) == resumed.n_cells == 8
    assert kept <= set(resumed.cells.values())  # the finished cells were not rerun


def test_a_cell_asked_to_save_its_model_sends_it_back_and_the_driver_saves_it_with_its_card(tmp_path, tiny_gpt2):
    settings = {"model": tiny_gpt2, "forgetting_tokens": 0, "n_evals": 1, "curve_size": 8, "batch_size": 8}
    store = RunStore(tmp_path)
    kept = run_study(StudySpec(methods=["lora"], axis="train_size=24", seeds=1, eval_size=16, data="sample",
                               settings={**settings, "save_model": True}), runs=store, backend="ray")
    record = next(iter(StudyStore(store).records(kept).values()))
    folder = Path(record.artifacts["model_dir"])
    assert kept.status == "completed" and folder == store.run_dir(record.run_id) / "model"
    assert (folder / "adapter_model.safetensors").stat().st_size > 0 and (folder / "README.md").exists()
    assert record.artifacts["model_bytes"] > 0 and "tpr-ray-cell-" not in str(record.to_dict())  # no worker path
    default = run_study(StudySpec(methods=["lora"], axis="train_size=24", seeds=1, eval_size=16, data="sample",
                                  settings=settings), runs=store, backend="ray")
    plain = next(iter(StudyStore(store).records(default).values()))
    assert "model_dir" not in plain.artifacts and not (store.run_dir(plain.run_id) / "model").exists()


def test_cells_of_a_method_share_one_memory_request_so_they_share_warm_workers():
    """Ray gives each resource shape its own scheduling class and its own workers: the cells' memory requests are
    the estimates rounded up to a power of two GiB, so a study's cells ask for a few requests (not one each), never
    less than the estimate nor twice it."""
    from comparisons.ground.estimate_run import estimate_for
    from comparisons.running.api import make_config
    from comparisons.running.ray_backend import memory_request
    from comparisons.running.study import load_full, plan

    s = StudySpec(methods=["baseline", "rag:knn", "rag:linear", "lora"], axis="train_size=40,250", seeds=1,
                  eval_size=60, data="sample")
    full = load_full(s)
    asked = {}
    for cell in plan(s, full):
        est = estimate_for(cell.method.method, make_config(cell.method.method, cell.values), full).memory_bytes
        asked.setdefault(cell.method.method, set()).add(memory_request(est))
        assert est <= memory_request(est) < 2 * max(est, 2 ** 30)
        assert memory_request(est) // 2 ** 30 in (1, 2, 4, 8, 16, 32)  # a power of two GiB
    # 8 cells with 8 different estimates: about one request a method (one more if a method's sizes straddle a power)
    shapes = set().union(*asked.values())
    assert len(shapes) <= len(asked) + 1, asked  # (the sizes themselves include this process's memory in use)


@pytest.mark.parametrize("address, message", [("not an address!", "looks like host:port"),
                                              ("127.0.0.1:59999", "cannot reach the Ray cluster at 127.0.0.1:59999")])
def test_bad_and_unreachable_addresses_are_one_line_errors_and_nothing_is_lost(tmp_path, address, message):
    store = RunStore(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(UserError, match=message) as e:
        run_study(spec(), runs=store, backend="ray", address=address)
    assert "\n" not in str(e.value) and time.perf_counter() - t0 < 30  # not Ray's minutes-long wait
    assert StudyStore(store).list() == []  # said before the study exists


def _raylets() -> set[int]:
    import psutil

    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "raylet"}


def _stop_ray_started_since(before: set[int]) -> None:
    """Stop the Ray processes this test started (its head and worker nodes, their workers and agents), and only
    those: `ray stop --force` would also end any other Ray on the machine, another test run's driver included."""
    import psutil

    def is_ray(p):
        cmd = " ".join(p.info["cmdline"] or [])
        return p.info["name"] in ("raylet", "gcs_server") or p.info["name"].startswith("ray::") or "/ray/" in cmd

    mine = [p for p in psutil.process_iter(["name", "cmdline"]) if p.pid not in before and is_ray(p)]
    for p in mine:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    # The raylet, the GCS and the runtime-env agent outlive SIGTERM by more than 10 s (measured): the test's own
    # throwaway cluster holds nothing to keep, so what is left after 2 s is killed.
    _, alive = psutil.wait_procs(mine, timeout=2)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def test_cells_run_on_two_nodes_and_a_killed_worker_node_does_not_stop_the_study(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           # the head notices a dead node in about 3 s instead of Ray's default half a minute
           "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
           "RAY_health_check_failure_threshold": "3"}
    import psutil

    port = free_port()
    address = f"127.0.0.1:{port}"
    before, processes = _raylets(), set(psutil.pids())
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"],
                   env=env, check=True, capture_output=True, timeout=120)
    try:
        head = _raylets() - before
        subprocess.run([RAY, "start", f"--address={address}", "--num-cpus=1"], env=env, check=True,
                       capture_output=True, timeout=120)
        worker = _raylets() - before - head
        assert len(head) == len(worker) == 1
        store = RunStore(tmp_path)

        left_at_kill = []

        def kill_worker_node(study, record):
            """Once the worker node has finished a cell (so the records can show both nodes), while cells are left
            (the node has taken the next already): its raylet killed. Which node finishes first varies, so the
            kill waits for the worker's first record rather than for a count of cells."""
            heads = {n["NodeID"][:12] for n in ray.nodes() if "node:__internal_head__" in n["Resources"]}
            if not left_at_kill and record.hardware["node"] not in heads:
                left_at_kill.append(study.n_cells - len(study.cells))
                os.kill(next(iter(worker)), signal.SIGKILL)

        survived = run_study(spec(sizes="40,80,120,160", seeds=2), runs=store, backend="ray", address=address,
                             on_cell=kill_worker_node)
        assert survived.status == "completed" and len(survived.cells) == 8 and not survived.failed, survived.failed
        assert left_at_kill and left_at_kill[0] > 0, left_at_kill  # the node died with the study unfinished
        assert "2 nodes, 2 CPUs" in survived.where
        assert frame(store, survived)["node"].nunique() == 2  # the records say both nodes ran cells
    finally:
        if ray.is_initialized():
            ray.shutdown()
        _stop_ray_started_since(processes)
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"  # what `ray start` wrote, as `ray stop`
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()
