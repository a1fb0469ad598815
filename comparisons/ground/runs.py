"""Run records: one JSON file per run, written atomically, listed and loaded by the Compare view.

A method's `run()` wraps its work in `tracked(...)`, which saves the record as `running`, then as
`completed`, `stopped` or `failed` (with the error), and measures time and peak memory. A record left
`running` by a process that has died is shown as `interrupted`.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as _dt
import json
import os
import platform
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from comparisons.ground.errors import UserError

STATUSES = ("running", "completed", "stopped", "failed", "interrupted")
# What a run resolved or chose (outputs), kept apart from `config` (what was asked for). Records written
# before `resolved` existed kept these keys inside config; `RunRecord.from_dict` moves them.
RESOLVED_KEYS = ("resolved_model", "resolved_template", "resolved_embedder", "k_used")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def library_versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "peft", "sentence-transformers", "faiss-cpu", "datasets", "gradio"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


@dataclass
class RunRecord:
    method: str
    config: dict  # exactly what was asked for: round-trips through the method's Config.from_dict
    data: dict
    run_id: str = ""
    resolved: dict = field(default_factory=dict)  # what the run resolved or chose: model used, k picked
    status: str = "running"
    label_names: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    predictions: dict = field(default_factory=dict)  # y_true, y_pred, probs (eval split order)
    timings: dict = field(default_factory=dict)
    peak_memory_mb: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    diagnostics: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    error: str | None = None
    device: str = "cpu"
    hardware: dict = field(default_factory=dict)  # GPU name and capability, precision, torch and CUDA versions
    study: dict = field(default_factory=dict)  # {"study_id", "cell"} when the run is a cell of a study
    owner: str = ""  # the visitor who made it ("hf:<user>" or an opaque browser id); "" for the machine's owner (CLI)
    owner_name: str = ""  # how the owner is shown (their Hugging Face name; boards keep nicknames)
    versions: dict = field(default_factory=dict)
    created_at: str = ""
    finished_at: str | None = None
    pid: int = 0
    host: str = ""

    def __post_init__(self):
        if not self.run_id:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            self.run_id = f"{stamp}-{self.method}-{uuid.uuid4().hex[:6]}"
        # milliseconds: runs made within one second (a study's cells, a workshop) still have an order
        self.created_at = self.created_at or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")

    @property
    def label(self) -> str:
        """A short human name: method and its key settings."""
        return self._label() + (" (cleaned)" if self.data.get("cleaning") else "")

    def _label(self) -> str:
        from comparisons.ground.registry import find

        method = find(self.method)  # None: a record of a method no longer installed still loads, by its name
        return method.short(self.config, self.resolved) if method is not None else self.method

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        config = dict(d.get("config") or {})
        moved = {k: config.pop(k) for k in RESOLVED_KEYS if k in config}
        if moved:
            d["config"], d["resolved"] = config, {**moved, **(d.get("resolved") or {})}
        return cls(**d)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # what run ids look like: never a path


class RunStore:
    """Run records as `<root>/<run_id>/record.json`; each run's artefacts live beside its record.

    `owner=None` is the machine's owner (the CLI, benchmarks): every run. A visitor's store
    (`store.for_owner(id)`) lists, loads and deletes only that visitor's runs, and stamps the runs it saves as
    theirs; another visitor's run reads exactly like one that does not exist."""

    def __init__(self, root: str | Path = "runs", owner: str | None = None, owner_name: str = ""):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.owner, self.owner_name = owner, owner_name
        self._lock = _ROOT_LOCKS.setdefault(str(self.root.resolve()), threading.Lock())

    def for_owner(self, owner: str, owner_name: str = "") -> RunStore:
        if not owner:
            raise ValueError("a visitor's store needs an owner id")
        return RunStore(self.root, owner, owner_name)

    def visible(self, record: RunRecord) -> bool:
        return self.owner is None or record.owner == self.owner

    def run_dir(self, run_id: str) -> Path:
        d = self.root / _checked_id(run_id)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def save(self, record: RunRecord) -> Path:
        if self.owner is not None:
            if record.owner and record.owner != self.owner:
                raise UserError(f"no run '{record.run_id}'.")  # never overwrite another visitor's run
            record.owner, record.owner_name = self.owner, record.owner_name or self.owner_name
        path = self.run_dir(record.run_id) / "record.json"
        with self._lock:
            write_json_atomic(path, record.to_dict())
        return path

    def load(self, run_id: str) -> RunRecord:
        run_id = (run_id or "").strip()
        path = self.root / run_id / "record.json"
        if not RUN_ID.fullmatch(run_id) or not path.exists():
            raise UserError(f"no run '{run_id}'.")  # never the server's folder: visitors see this
        record = RunRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        _remember_owner(path, record.owner)
        if not self.visible(record):
            raise UserError(f"no run '{run_id}'.")  # another visitor's run reads as no run at all
        if record.status == "running" and not (record.host == socket.gethostname() and _pid_alive(record.pid)):
            record.status = "interrupted"
        return record

    def list(self) -> list[RunRecord]:
        """Every readable record this store may see, newest first; records of dead processes show as interrupted."""
        out = []
        for p in sorted(self.root.glob("*/record.json")):
            if self.owner is not None and _known_owner(p) not in (None, self.owner):
                continue  # another visitor's record, unchanged since it was read: not parsed again
            try:
                out.append(self.load(p.parent.name))
            except (OSError, ValueError, TypeError, UserError):
                continue  # a foreign or damaged file, or another visitor's run, is skipped, never fatal
        return sorted(out, key=lambda r: r.created_at, reverse=True)

    def count(self) -> int:
        """How many records this store may see, reading only the records whose owner is not yet known."""
        n = 0
        for p in self.root.glob("*/record.json"):
            owner = _known_owner(p)
            if owner is None:
                try:
                    owner = json.loads(p.read_text(encoding="utf-8")).get("owner")
                except (OSError, ValueError, AttributeError):
                    continue
                _remember_owner(p, owner)
            n += self.owner is None or owner == self.owner
        return n

    def mark_interrupted(self) -> int:
        """Persist `interrupted` for records whose process is gone (called at start-up)."""
        n = 0
        for r in self.list():
            path = self.root / r.run_id / "record.json"
            raw = json.loads(path.read_text(encoding="utf-8"))
            if r.status == "interrupted" and raw.get("status") == "running":
                r.error = r.error or "the process running it ended before it finished"
                RunStore(self.root).save(r)
                n += 1
        return n

    def delete(self, run_id: str) -> None:
        record = self.load(run_id)  # checks the id and that this store may see it
        if record.status == "running":
            raise UserError(f"run '{record.run_id}' is still running: stop it first.")
        shutil.rmtree(self.root / record.run_id)


_ROOT_LOCKS: dict[str, threading.Lock] = {}  # one write lock per runs folder, shared by its owners' views


# path -> ((mtime_ns, size), owner): a visitor's list() skips the records it has seen belong to others (a
# workshop's folder holds hundreds, each with thousands of predictions); bounded, and stale on any change.
_OWNERS: dict[str, tuple[tuple[int, int], str]] = {}
_OWNERS_MAX = 20_000


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _remember_owner(path: Path, owner: str) -> None:
    stamp = _stamp(path)
    if stamp is not None:
        if len(_OWNERS) >= _OWNERS_MAX:
            _OWNERS.pop(next(iter(_OWNERS)))
        _OWNERS[str(path)] = (stamp, owner)


def _known_owner(path: Path) -> str | None:
    hit = _OWNERS.get(str(path))
    return hit[1] if hit is not None and hit[0] == _stamp(path) else None


def _checked_id(run_id: str) -> str:
    if not RUN_ID.fullmatch(run_id or ""):
        raise UserError(f"no run '{run_id}'.")
    return run_id


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON atomically: a temporary file in the same folder, fsynced, then renamed over."""
    payload = json.dumps(obj, indent=1, default=_json_default)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".record-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


class PeakMemory:
    """Peak resident memory (MB) of this process while a run works, sampled in a thread; on CUDA
    the peak allocated device memory as well."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak_rss = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        import psutil

        proc = psutil.Process()
        while True:  # at least one sample, however short the run
            self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            if self._stop.wait(self.interval):
                break

    def __enter__(self):
        torch = sys.modules.get("torch")  # not imported yet: CUDA has not started, its peak starts at zero anyway
        if torch is not None and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def result(self) -> dict:
        torch = sys.modules.get("torch")  # a run that never imported torch (scikit-learn) used no CUDA memory
        out = {"peak_rss_mb": round(self.peak_rss / 2**20, 1)}
        if torch is not None and torch.cuda.is_available():
            out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return out


def finish_predictions(record: RunRecord, y_true, probs, label_names, seconds: float) -> None:
    """What every method records at the end: metrics (comparisons.ground.metrics), each eval tweet's gold label,
    prediction and probabilities, and the inference rate over `seconds`."""
    import numpy as np

    from comparisons.ground.metrics import classification_metrics

    probs = np.asarray(probs, dtype=float)
    y_true = [int(v) for v in y_true]
    y_pred = probs.argmax(1)
    record.metrics = classification_metrics(y_true, y_pred, label_names)
    record.predictions = {"y_true": y_true, "y_pred": y_pred.tolist(), "probs": np.round(probs, 4).tolist()}
    record.timings["inference_tweets_per_second"] = round(len(y_true) / max(seconds, 1e-9), 2)


# The study cell that the runs started in this context belong to (comparisons.running.study sets it around each cell),
# so that a record is tagged from its first save: a cell killed mid-run is still known as the study's.
_STUDY_TAG: contextvars.ContextVar[dict | None] = contextvars.ContextVar("tpr_study_tag", default=None)


@contextlib.contextmanager
def study_tag(study_id: str, cell: str):
    token = _STUDY_TAG.set({"study_id": study_id, "cell": cell})
    try:
        yield
    finally:
        _STUDY_TAG.reset(token)


def new_record(method: str, config, data, precision: str | None = None) -> RunRecord:
    """A run's record before it starts. `precision`: what the method computes in when it is not the device
    policy's (an embedder, a frozen LM read in fp32, scikit-learn): the record says what ran, not what might have.
    A registered method that never uses a GPU (its `gpu` False: scikit-learn, rules) is recorded on the CPU without
    asking torch."""
    from comparisons.ground.device import device_info
    from comparisons.ground.registry import find

    registered = find(method)
    hardware = device_info(on_cpu=registered is not None and not registered.gpu)
    if precision:
        hardware["precision"] = precision
    return RunRecord(method=method, config=config.to_dict(), data=data.describe(), label_names=list(data.label_names),
                     notices=list(data.notices), device=hardware["device"], hardware=hardware,
                     versions=library_versions(), pid=os.getpid(), host=socket.gethostname(),
                     study=dict(_STUDY_TAG.get() or {}))


@contextlib.contextmanager
def tracked(record: RunRecord, store: RunStore | None, on_event=None):
    """Save the record as running; on exit save it completed (or stopped, if the method said so),
    or failed with the error. Measures wall time and peak memory."""
    if store is not None:
        store.save(record)
    t0 = time.perf_counter()
    mem = PeakMemory()
    try:
        with mem:
            yield record
        if record.status == "running":
            record.status = "completed"
    except BaseException as e:
        record.status = "failed"
        record.error = f"{type(e).__name__}: {e}"
        raise
    finally:
        record.timings["total_seconds"] = round(time.perf_counter() - t0, 3)
        peak = mem.result()
        record.peak_memory_mb = peak.get("peak_cuda_mb", peak["peak_rss_mb"])
        record.diagnostics.setdefault("memory", peak)
        record.finished_at = _now()
        if store is not None:
            store.save(record)
        if on_event is not None:
            on_event({"event": "end", "status": record.status, "run_id": record.run_id})


def training_summary(record: RunRecord) -> dict:
    """The CLI JSON's training keys of a method that fits once (TF-IDF, SetFit): its fit or train time, parameters."""
    t = record.timings
    return dict(train_seconds=t.get("train_seconds", t.get("fit_seconds")), trainable_params=record.trainable_params,
                total_params=record.total_params)


def inference_line(record: RunRecord) -> list[str]:
    t = record.timings
    if "inference_tweets_per_second" not in t:
        return []
    return [
        f"- inference {t['inference_tweets_per_second']:.1f} tweets/s; peak memory {record.peak_memory_mb:.0f} MB; "
        f"total {t.get('total_seconds', 0):.0f} s"
    ]
