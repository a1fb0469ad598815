"""Studies on Ray: each cell a Ray task, on a local Ray started in this process or on a cluster at an address. The
driver puts the study's data into Ray's object store once; a task builds its cell's subset, runs the method with no
run store (workers need neither the data path nor the runs folder), and returns the record, the node it ran on
included (and, only when the cell's settings ask to save the model, the model folder as a tar through the object
store: the worker writes it in a scratch folder it then removes); the driver writes it into the visitor's store (the
model under the disk caps, with its model card), so ownership, Compare, boards and the decision card see
cells as from the local backend. A worker that dies mid-cell is retried by Ray (`max_retries`); Stop cancels the
queued and running tasks and keeps finished cells; resume runs the unfinished ones on either backend. Live events come
back through a Ray queue. Ray is an optional extra (`pip install .[ray]`): nothing here imports it at module level."""
from __future__ import annotations

import contextlib
import math
import os
import re
import time
import traceback

from comparisons.ground.errors import UserError

MAX_RETRIES = 4  # a worker (or node) that dies mid-cell: Ray reruns the task this many times
STOP_GRACE_S = 5.0  # Stop interrupts running tasks, then kills those still running after this long
_CONNECTED: str | None = None  # the address this process joined ("local": a Ray it started), kept between studies
ADDRESS = re.compile(r"^(auto|ray://[\w.\-]+:\d{1,5}|[\w.\-]+:\d{1,5})$")


def ray_module():
    try:
        import ray
    except ImportError:
        raise UserError("the ray backend needs Ray: pip install '.[ray]' (or requirements-ray.txt).") from None
    return ray


def connect(address: str | None = None) -> dict:
    """Join the cluster at `address` (host:port, ray://host:port, or auto), or start a local Ray with this machine's
    CPUs and GPUs. Returns where the study runs: {"address", "cpus", "gpus", "nodes"}. A bad or unreachable address is
    a one-line UserError, before any cell runs."""
    ray = ray_module()
    from comparisons.ground.settings import settings

    address = (address or settings().ray_address or "").strip() or None
    if address and not ADDRESS.fullmatch(address):
        raise UserError(f"a Ray address looks like host:port, ray://host:port or auto; got {address[:80]!r}.")
    if address and address != "auto":
        _check_reachable(address)
    global _CONNECTED
    if ray.is_initialized() and _CONNECTED != (address or "local"):  # joined elsewhere before: leave it first
        ray.shutdown()
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
            else:
                from comparisons.ground.device import detect

                caps = detect()
                # address="local": a new Ray of this process's own, never a cluster `ray start` left on the machine
                ray.init(address="local", num_cpus=os.cpu_count() or 1, num_gpus=1 if caps.cuda else 0,
                         include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        except Exception as e:  # ConnectionError, a timeout, a version mismatch: said in one line
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise UserError(f"cannot reach the Ray cluster at {address}: {first}") from None
        _CONNECTED = address or "local"
    res = ray.cluster_resources()
    return {"address": address or "local", "cpus": int(res.get("CPU", 0)), "gpus": int(res.get("GPU", 0)),
            "nodes": len([n for n in ray.nodes() if n.get("Alive")])}


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    """A TCP connection to the cluster's port first: Ray's own connect waits minutes on an address nobody answers."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise UserError(f"cannot reach the Ray cluster at {address}: {e.strerror or e} (is `ray start --head` "
                        "running there, and the port open?)") from None


def where_text(info: dict) -> str:
    if info["address"] == "local":
        return f"a local Ray on this machine ({info['cpus']} CPUs, {info['gpus']} GPUs)"
    return (f"the Ray cluster at {info['address']} ({info['nodes']} nodes, {info['cpus']} CPUs, "
            f"{info['gpus']} GPUs)")


def _cell_task(full, cell, eval_size, eval_seed: int, queue, base: dict) -> tuple[dict, bytes | None]:
    """One cell on a Ray worker: its subset (as comparisons.running.study.cell_data draws it: the cell's seed for
    train, the study's eval seed), its config, the method; the record as a dict, and the saved model folder as tar
    bytes when the cell's config asks to save it (else None: the method runs with no store at all)."""
    import shutil
    import tempfile

    import ray

    from comparisons.ground.data import subset
    from comparisons.ground.runs import RunStore, study_tag
    from comparisons.running.api import make_config, run_method

    data = subset(full, cell.train_size, eval_size, seed=cell.seed, eval_seed=eval_seed)
    config = make_config(cell.method.method, cell.values)

    def on_event(e):
        if queue is not None and e.get("event") in ("phase", "progress", "estimate", "done", "end"):
            try:
                queue.put_nowait({**e, **base})
            except Exception:  # a full queue drops live events, never the cell
                pass

    scratch = tempfile.mkdtemp(prefix="tpr-ray-cell-") if getattr(config, "save_model", False) else None
    try:
        with study_tag(base["study_id"], cell.key), _exit_if_interrupted_mid_import():
            record = run_method(cell.method.method, config, data, store=RunStore(scratch) if scratch else None,
                                on_event=on_event)
        folder = record.artifacts.pop("model_dir", None)
        record.artifacts.pop("model_bytes", None)
        model = pack_folder(folder) if scratch and folder else None
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    context = ray.get_runtime_context()
    record.hardware = {**record.hardware, "node": context.get_node_id()[:12]}
    record.diagnostics["ray"] = {"node_id": context.get_node_id(), "attempt": context.get_task_id()}
    return record.to_dict(), model


@contextlib.contextmanager
def _exit_if_interrupted_mid_import():
    """Stop interrupts a running cell with a KeyboardInterrupt so that its worker lives on, warm; but an interrupt
    that lands inside an import (a method loads torch, transformers or its model's code lazily) can leave modules
    half-initialised in that worker, and the next cell there would fail on them. Such a worker exits instead, and
    Ray starts a fresh one, as a forced cancel would have."""
    try:
        yield
    except KeyboardInterrupt as e:
        frames = traceback.extract_tb(e.__traceback__)
        if any(f.filename.startswith("<frozen importlib") for f in frames):
            os._exit(1)
        raise


def pack_folder(folder) -> bytes:
    """A model folder as an uncompressed tar (safetensors do not compress), its files at the top."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(folder, arcname=".")
    return buffer.getvalue()


def unpack_folder(blob: bytes, folder) -> None:
    """Into `folder` (made here), with tarfile's "data" filter: no absolute paths, links out or device files."""
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        tar.extractall(folder, filter="data")


def save_cell_model(runs, record, blob: bytes) -> None:
    """The cell's model, sent back by its worker, saved under the visitor's disk caps with its model card; a full
    disk or a cap keeps the record and says why the model is not there."""
    from comparisons.ground.disk import save_model_folder

    try:
        save_model_folder(runs, record, lambda folder: unpack_folder(blob, folder), len(blob))
    except UserError as e:
        record.notices.append(f"The model was not saved: {e}")
    runs.save(record)


def _options(cell, full, info: dict) -> dict:
    """Resources of a cell's task: a GPU for a method that uses one where the cluster has GPUs, one CPU otherwise;
    memory from the project's estimate (capped at what the cluster has, so that it can be scheduled)."""
    from comparisons.ground import registry
    from comparisons.ground.estimate_run import estimate_for
    from comparisons.running.api import make_config

    method = registry.get(cell.method.method)
    out = {"num_cpus": 1, "max_retries": MAX_RETRIES}
    if method.gpu and info["gpus"] > 0:
        out["num_gpus"] = 1
    try:
        est = estimate_for(cell.method.method, make_config(cell.method.method, cell.values), full)
    except Exception:
        est = None
    if est is not None and est.memory_bytes:
        import ray

        room = ray.cluster_resources().get("memory", 0) / max(1, info["nodes"])
        out["memory"] = int(min(memory_request(est.memory_bytes), 0.8 * room)) if room else None
        if not out["memory"]:
            out.pop("memory")
    return out


def memory_request(estimate: int) -> int:
    """The estimate rounded up to a power of two GiB (1 GiB at least). Ray gives each distinct resource shape its own
    scheduling class, and a worker that ran one class is not handed a task of another: with every cell's own
    estimate (305 MB, 422 MB, 511 MB ...) each cell waited for a fresh worker and its imports, 12 s for four small
    cells that take 2 s on warm workers (measured here); rounded, the cheap cells share one class and its workers."""
    gib = 2 ** 30
    return gib * 2 ** max(0, math.ceil(math.log2(max(1, estimate) / gib)))


def run_cells(spec, full, todo: list, study, runs, *, emit, stop, on_record, info: dict) -> bool:
    """Run `todo` cells as Ray tasks; `on_record(cell, record_or_None, error)` as each finishes (in any order).
    Returns True if stopped."""
    ray = ray_module()
    from ray.util.queue import Queue

    from comparisons.ground.runs import RunRecord

    task = ray.remote(_cell_task)
    full_ref = ray.put(full)  # once; every task reads it from the object store
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    queue = Queue(maxsize=1000, actor_options={"num_cpus": 0, "scheduling_strategy": here})  # the driver's node

    def drain():
        try:
            while not queue.empty():
                emit(queue.get_nowait())
        except ray.exceptions.RayError:  # live events are a courtesy: a lost queue never stops the study
            pass

    pending = {}
    for i, cell in todo:
        base = {"study_id": study.study_id, "cell": cell.key, "index": i, "total": study.n_cells}
        ref = task.options(**_options(cell, full, info)).remote(full_ref, cell, spec.eval_size, spec.seed + 1, queue,
                                                                base)
        pending[ref] = (cell, base)
        emit({"event": "cell", "skipped": False, "queued": True, "done": len(study.cells), **base})
    def collect(ref) -> None:
        cell, base = pending.pop(ref)
        try:
            out, model = ray.get(ref)
            record = RunRecord.from_dict(out)
            record.study = {"study_id": study.study_id, "cell": cell.key}
            runs.save(record)
            if model is not None:
                save_cell_model(runs, record, model)
            on_record(cell, record, None)
        except ray.exceptions.TaskCancelledError:
            if not stopping:  # a task cancelled by Stop stays unfinished: resume runs it
                on_record(cell, None, RuntimeError("its Ray task was cancelled"))
        except ray.exceptions.RayTaskError as e:
            cause = e.cause if getattr(e, "cause", None) is not None else e
            if not (stopping and isinstance(cause, KeyboardInterrupt)):  # Stop's interrupt is no failure
                on_record(cell, None, cause)
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as e:  # out of retries
            if not stopping:
                on_record(cell, None, RuntimeError(f"its Ray worker was lost ({type(e).__name__})"))

    stopping = False
    try:
        while pending:
            drain()
            if stop is not None and stop.is_set():
                stopping = True
                for ref in ready_after_cancel(ray, list(pending)):  # kept if it finished meanwhile; collect()
                    collect(ref)  # passes over what Stop cancelled or interrupted
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                collect(ref)
    finally:
        drain()
        try:
            queue.shutdown()
        except ray.exceptions.RayError:
            pass
    return stopping


def ready_after_cancel(ray, refs: list, grace: float = STOP_GRACE_S) -> list:
    """Stop: queued tasks are dropped and running ones interrupted (a KeyboardInterrupt in the task, so that its
    worker lives on, warm for the resume: a killed worker costs the next task its imports, about 10 s here); a task
    still running after `grace` seconds (inside a long native call) is killed with its worker. Returns the refs that
    are done (finished, failed or cancelled)."""
    for ref in refs:
        ray.cancel(ref, force=False)
    done, left = ray.wait(refs, num_returns=len(refs), timeout=grace)
    for ref in left:
        ray.cancel(ref, force=True)
    return done


def shutdown() -> None:
    ray = ray_module()
    if ray.is_initialized():
        ray.shutdown()


def wait_for_nodes(n: int, timeout: float = 60) -> None:
    """Until the cluster has n live nodes (tests start a head and a worker as separate processes)."""
    ray = ray_module()
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len([x for x in ray.nodes() if x.get("Alive")]) >= n:
            return
        time.sleep(0.5)
    raise UserError(f"the Ray cluster has fewer than {n} live nodes after {timeout:.0f} s.")
