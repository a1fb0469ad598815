"""What the app's handlers do, without Gradio: hold each visitor's session (stop flag, data selection),
load the data selection, stream a method's run (or a k-sweep, or Run all) from a worker thread as
`RunUpdate`s, answer Try it and neighbour look-ups. The face only wires these to components; the
presentation they return comes from comparisons.analysis.report."""

from __future__ import annotations

import hashlib
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from comparisons.analysis import report
from comparisons.ground import registry
from comparisons.ground.data import TweetData
from comparisons.ground.device import on_zerogpu
from comparisons.ground.errors import UserError
from comparisons.ground.exports import export_folder
from comparisons.ground.lru import LRU
from comparisons.ground.runs import RunRecord, RunStore
from comparisons.ground.settings import settings
from comparisons.running.api import Selection, make_config, run_method, summary_json
from comparisons.running.identity import COOKIE

SOURCE_HUB = "Hub: mteb/tweet_sentiment_extraction"
SOURCE_SAMPLE = "Bundled sample"
SOURCE_UPLOAD = "Uploaded file"
SOURCES = (SOURCE_HUB, SOURCE_SAMPLE, SOURCE_UPLOAD)
UI_DEFAULT_TRAIN, UI_DEFAULT_EVAL = 1000, 300  # the app's default sizes (capped at a smaller split)
SESSION_TTL_SECONDS = 6 * 3600  # a visitor idle this long starts afresh
MAX_SESSIONS = 512
ABANDONED_JOIN_SECONDS = 60  # how long an abandoned run is given to stop (within one step or batch) before moving on


def max_upload_mb() -> float:
    return settings().max_upload_mb


# ---------------------------------------------------------------- sessions


class StopFlag:
    """A visitor's Stop, visible across processes: a file named after the session. On a ZeroGPU Space the
    work runs in a forked child that never sees the main process's memory; the file it does see. It
    pickles (it is only a path), and the methods call only is_set/set/clear, as on a threading.Event."""

    def __init__(self, key: str):
        digest = hashlib.sha256((key or "default").encode()).hexdigest()[:24]
        self.path = Path(tempfile.gettempdir()) / "tpr-stop" / digest

    def set(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def is_set(self) -> bool:
        return self.path.exists()


@dataclass
class Session:
    """Per-visitor state that must not live in widgets: the stop flag of their run and the data
    selection their runs use (set by Load data; the app's defaults until then)."""

    stop: StopFlag
    selection: Selection | None = None


_SESSIONS = LRU(MAX_SESSIONS, ttl=SESSION_TTL_SECONDS)


def session(key: str | None) -> Session:
    key = key or "default"
    return _SESSIONS.get_or_create(key, lambda: Session(StopFlag(key)))


def request_stop(key: str | None) -> str:
    session(key).stop.set()
    return "stopping…"


def default_selection() -> Selection:
    return Selection(source=None, default_train=UI_DEFAULT_TRAIN, default_eval=UI_DEFAULT_EVAL)


def current_selection(key: str | None) -> Selection:
    return session(key).selection or default_selection()


def runs_store(visitor: Visitor | None = None) -> RunStore:
    """The runs folder as `visitor` may see it (their own runs only); the machine owner's view (every run) when
    None, which only the CLI, benchmarks and start-up use."""
    store = RunStore(settings().runs_dir)
    return store.for_owner(visitor.id, visitor.name) if visitor is not None else store


@dataclass(frozen=True)
class Visitor:
    """Who is asking: the owner of the runs they make. `id` is "hf:<user>" when logged in with Hugging Face
    (OAuth on a Space), else "b:" + a hash of the id in the browser's cookie, which the server minted and signed
    (comparisons.running.identity; it survives a page reload and a server restart), else "s:" + a hash of the page
    session (an API client). The hashes are one-way: an id in a record or a board never lets anyone act as its owner.
    `session` keys the page's stop flag and data selection; `address` is the client's (rate limits only)."""

    id: str
    name: str
    session: str
    logged_in: bool = False
    address: str = ""
    tier: str = "anonymous"  # ZeroGPU's quota tier: anonymous, signed in, PRO (from the login)

    @classmethod
    def of(cls, session: str | None, cookie: str | None = None, hf_user: str | None = None,
           address: str = "", pro: bool = False) -> Visitor:
        from comparisons.running.identity import hashed, verify

        session = session or "default"
        if hf_user:
            return cls(f"hf:{hf_user}", hf_user, session, logged_in=True, address=address,
                       tier="PRO" if pro else "signed in")
        raw = verify(cookie)  # a cookie this server signed; anything else is ignored
        secret, kind = (raw, "b") if raw else (session, "s")
        digest = hashed(secret)
        return cls(f"{kind}:{digest}", f"visitor-{digest[:4]}", session, address=address)

    def store(self) -> RunStore:
        return runs_store(self)


VISITOR_COOKIE = COOKIE  # minted, signed and set by the server (comparisons.running.identity), HttpOnly


# ---------------------------------------------------------------- data


def parse_drop(text: str | None) -> dict | None:
    """'suspects: 1,5,9; conflicts: 3,4' (the Data tab's dropped rows) -> {"suspects": [1, 5, 9], ...}."""
    from comparisons.analysis.quality import DROP_KINDS

    out = {}
    for part in [p.strip() for p in (text or "").split(";") if p.strip()]:
        kind, sep, rows = part.partition(":")
        kind = kind.strip()
        if not sep or kind not in DROP_KINDS:
            raise UserError(f"dropped rows: write them as 'suspects: 1,5; conflicts: 3', got {part!r}.")
        try:
            out[kind] = [int(r) for r in rows.split(",") if r.strip()]
        except ValueError:
            raise UserError(f"dropped rows: {kind} takes row numbers, got {rows.strip()!r}.") from None
    return out or None


def drop_text(drop: dict) -> str:
    return "; ".join(f"{k}: {','.join(map(str, v))}" for k, v in drop.items() if v)


def selection_from_ui(source: str, upload: str | None, text_column: str, label_column: str, train_size, eval_size,
                      seed, drop_leaked: bool, drop_rows: str = "") -> Selection:
    """The UI reads only the Hub, the bundled sample and files the user uploaded: no server paths."""
    if source == SOURCE_UPLOAD:
        if not upload:
            raise UserError("choose a file to upload first (CSV, TSV, JSONL, JSON or Parquet).")
        src = str(upload)
    elif source == SOURCE_SAMPLE:
        src = "sample"
    else:
        src = None  # the Hub dataset, or the bundled sample with a notice when offline
    from comparisons.ground.config import SEED_MAX

    try:
        seed = int(seed)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"seed must be a whole number, got {str(seed)[:40]!r}.") from None
    if not 0 <= seed <= SEED_MAX:
        raise UserError(f"seed must be from 0 to {SEED_MAX:,}, got {seed}.")
    return Selection(source=src, text_column=(text_column or "").strip() or None,
                     label_column=(label_column or "").strip() or None,
                     train_size=_size(train_size), eval_size=_size(eval_size), seed=seed, drop_leaked=bool(drop_leaked),
                     default_train=UI_DEFAULT_TRAIN, default_eval=UI_DEFAULT_EVAL, drop=parse_drop(drop_rows))


def _size(v):
    if v is None or str(v).strip() == "":
        return None
    return str(v).strip()


_DATA_CACHE = LRU(8)  # loaded selections; a real split is a few MB


def load_selection(sel: Selection) -> TweetData:
    key = (sel.source, sel.text_column, sel.label_column, str(sel.train_size), str(sel.eval_size), sel.seed,
           sel.drop_leaked, _mtime(sel.source), str(sel.drop))
    limit = max_upload_mb() if sel.source not in (None, "sample") else None
    return _DATA_CACHE.get_or_create(key, lambda: sel.load(limit))


def _mtime(source):
    try:
        return Path(source).stat().st_mtime if source and source != "sample" else 0
    except OSError:
        return 0


def near_duplicate_table(data: TweetData, threshold: float = 0.95, embedder: str = "auto") -> pd.DataFrame:
    from rag.embed import get_embedder
    from rag.run import near_duplicates

    emb = get_embedder(embedder)
    found = near_duplicates(emb.encode(data.train.texts), emb.encode(data.test.texts), threshold)
    return pd.DataFrame([{"similarity": p["similarity"], "test text": data.test.texts[p["test_index"]],
                          "train text": data.train.texts[p["train_index"]]} for p in found["pairs"]],
                        columns=["similarity", "test text", "train text"])


# ---------------------------------------------------------------- streaming runs


@dataclass
class RunUpdate:
    """One step of a streamed run: the events so far, and at the end the record (or the error).
    `step` names the step of a multi-run job (a k of the sweep, a method of Run all)."""

    events: list[dict]
    record: RunRecord | None = None
    error: str | None = None
    finished: bool = False
    step: str = ""
    records: list[RunRecord] = field(default_factory=list)  # the job's finished runs so far

    @property
    def progress(self) -> tuple[float, str]:
        return progress_of(self.events)

    @property
    def status(self) -> str:
        if self.error and self.record is None:
            return "error"
        line = (self.record.status if self.record else "finished") if self.finished else self.progress[1]
        return f"{self.step}: {line}" if self.step else line

    @property
    def markdown(self) -> str:
        return report.result_markdown(self.record, self.error)


def _in_worker(work, stop, poll: float):
    """Run work(on_event) in a thread; yield (events so far, finished, result, error, failed)."""
    events: queue.Queue = queue.Queue()
    box: dict = {}

    def target():
        try:
            box["result"] = work(events.put)
        except UserError as e:
            box["error"] = str(e)
        except Exception as e:  # recorded as failed by the method; the app keeps serving
            box["error"] = f"{type(e).__name__}: {e}"

    stop.clear()
    thread = threading.Thread(target=target, daemon=True, name="tpr-run")
    thread.start()
    seen: list[dict] = []
    try:
        while thread.is_alive():
            thread.join(poll)
            fresh = []
            while not events.empty():
                fresh.append(events.get())
            if fresh:
                seen.extend(fresh)
                yield seen, False, None, None
        while not events.empty():
            seen.append(events.get())
        yield seen, True, box.get("result"), box.get("error")
    finally:
        if thread.is_alive():  # the visitor went away (a closed page, a dropped client): stop the work, so it
            stop.set()  # never runs on beside the next visitor's job on the same device; it is recorded as stopped
            thread.join(ABANDONED_JOIN_SECONDS)


def stream_run(method: str, values: dict, data: TweetData, stop, store: RunStore | None = None,
               poll: float = 0.5):
    """Run a method in a worker thread, yielding RunUpdates; the last one holds the finished record
    (completed, stopped or failed). A bad setting raises UserError here, before any work. `stop` is a
    StopFlag or a threading.Event."""
    config = make_config(method, values)
    if on_zerogpu() and getattr(config, "torch_compile", False):
        raise UserError("torch.compile is not available on a ZeroGPU Space (the GPU is lent per call); untick it.")
    store = store or runs_store()
    work = lambda on_event: run_method(method, config, data, store=store, on_event=on_event, stop=stop)  # noqa: E731
    for events, finished, record, error in _in_worker(work, stop, poll):
        yield RunUpdate(events, record, error, finished, records=[record] if record else [])


def stream_sweep(method: str, values: dict, data: TweetData, stop, shots=None, store: RunStore | None = None,
                 poll: float = 0.5):
    """A method's sweep over one setting (the few-shot k-sweep) in a worker thread: one record per value, each
    reported as it finishes, so the chart fills in; Stop ends it after the current value."""
    m = registry.get(method)
    if m.sweep is None:
        raise UserError(f"{m.title} has no sweep.")
    points = list(shots or m.sweep_values)
    config = make_config(method, values)
    store = store or runs_store()
    done: list[RunRecord] = []

    def work(on_event):
        return m.sweep(config, data, points, on_event=on_event, stop=stop, store=store, on_record=done.append)

    for events, finished, _, error in _in_worker(work, stop, poll):
        at = points[min(len(done), len(points) - 1)]
        yield RunUpdate(events, done[-1] if done else None, error, finished, step=f"{m.sweep_field}={at}",
                        records=list(done))


def run_all_plan(gpu: bool | None = None) -> list[tuple[str, dict, str]]:
    """Run all's sequence: (method, settings, why), each method's steps from its `run_all` hook (named presets with
    their reasons). On a CPU the fine-tunings are trimmed and retrieved few-shot gets 2 demonstrations."""
    if gpu is None:
        from comparisons.ground.models import device_name

        gpu = device_name() == "cuda"
    return [(m.name, values, why) for m in registry.all_methods() for values, why in m.run_all(gpu)]


def stream_run_all(data: TweetData, stop, store: RunStore | None = None, seed: int | None = None,
                   poll: float = 0.5):
    """Every step of run_all_plan, one after another; each update names its step. Stops after a
    Stop or a failed step."""
    plan = run_all_plan()
    done: list[RunRecord] = []
    for i, (method, values, _) in enumerate(plan):
        values = {**values, **({"seed": seed} if seed is not None else {})}
        step = f"{i + 1}/{len(plan)} {method} {values.get('mode', values.get('selection', ''))}".strip()  # no "x **"
        last = None
        for update in stream_run(method, values, data, stop, store, poll):
            update.step, last = step, update
            if update.record is not None:
                done.append(update.record)
            update.records = list(done)
            yield update
        if stop.is_set() or last is None or last.error:
            break


def run_all_summary(records: list[RunRecord], seconds: float, verdict: bool = True) -> str:
    """Each step's outcome; with `verdict`, what they found. The app says the verdict once, under Compare's table
    (over every run on the split), so it asks for none here."""
    lines = [f"Run all finished in {seconds:.0f} s."]
    for r in records:
        acc = r.metrics.get("accuracy")
        lines.append(f"- {r.label}: {r.status}" + (f", accuracy {acc:.3f}" if acc is not None else ""))
    ran = {r.method for r in records}
    lines += [f"- _{why}_" for m in registry.all_methods() if m.name not in ran and (why := m.left_out(False))]
    if verdict:
        lines.append("\n**What it found**")
        lines += [f"- {v}" for v in report.comparison_verdict(records) + report.peer_verdicts(records)]
    else:
        lines.append("\nThe verdict, over every run on this eval split, is under the table.")
    return "\n".join(lines)


# ---------------------------------------------------------------- studies


@dataclass
class StudyUpdate:
    """One step of a streamed study: the cells' events so far, which cell runs, and at the end the study."""

    events: list[dict]
    study_id: str = ""
    finished: bool = False
    error: str | None = None
    cell_finished: bool = False  # a cell ended since the previous update: redraw the chart

    @property
    def cell(self) -> dict:
        return next((e for e in reversed(self.events) if e.get("event") == "cell"), {})

    @property
    def progress(self) -> tuple[float, str]:
        """(fraction of cells, one line): the cells done plus the current cell's own progress."""
        cell = self.cell
        if not cell:
            return 0.0, "checking the study and loading the data"
        total = max(1, cell["total"])
        since = self.events[len(self.events) - 1 - self.events[::-1].index(cell):]
        frac, line = progress_of(since)
        done = cell["done"] + (frac if not cell.get("skipped") else 0)
        return min(1.0, done / total), f"cell {cell['index'] + 1}/{total} {cell['cell']}: {line}"


def plan_study(spec, resume: str | None = None, store: RunStore | None = None):
    """(spec, whole data, cells, cells already done) with everything checked; a UserError means nothing ran. A
    visitor's study (a store with an owner) passes the visitor's gate too: no owner-only setting or axis, no model
    they may not use, and its cells and estimated minutes under the caps (comparisons.running.gate)."""
    from comparisons.running import gate
    from comparisons.running.study import (
        MAX_CELLS,
        StudySpec,
        StudyStore,
        estimate_seconds,
        field_names,
        finished_cells,
        load_full,
        plan,
    )

    store = store or runs_store()
    visitor = store.owner is not None
    done = {}
    if resume:
        study = StudyStore(store).load(resume)
        if study.status == "running":
            raise UserError(f"study {study.study_id} is running already.")
        spec = StudySpec.from_dict(study.spec)
        done = finished_cells(StudyStore(store), study)
    limits = gate.Limits.current() if visitor else None
    if visitor:  # settings and axes by any spelling (--forgetting-text, corpus) before any file is touched
        from comparisons.running.api import config_class
        from comparisons.running.study import MethodSpec, axis_text

        every = [MethodSpec(m, m, {}) for m in registry.names()]  # a setting may name any method's field
        spelled = field_names(every)
        named = [spelled.get(k, k) for k in spec.settings or {}]
        named += [spelled.get(axis_text(a).partition("=")[0].strip(), "") for a in (spec.axis, spec.axis2) if a]
        gate.check_visitor_names(named, [config_class(m) for m in registry.names()], "study")
    full = load_full(spec)
    cells = plan(spec, full, max_cells=limits.study_cells if visitor else MAX_CELLS)
    if visitor:
        from comparisons.running.api import make_config

        for cell in cells:
            gate.check_visitor_config(make_config(cell.method.method, cell.values), store)
        todo = [c for c in cells if c.key not in done]
        gate.check_study_size(len(todo), estimate_seconds(spec, full, cells, skip=set(done)), limits)
    return spec, full, cells, done


def study_estimate_text(spec, resume: str | None = None, store: RunStore | None = None) -> str:
    """The study's size and estimated time before it starts (the sum of its cells' estimates)."""
    from comparisons.running.study import estimate_seconds

    spec, full, cells, done = plan_study(spec, resume, store)
    seconds = estimate_seconds(spec, full, cells, skip=set(done))
    todo = len([c for c in cells if c.key not in done])
    when = "cannot be estimated here (a model's config is unreadable)" if seconds is None else \
        f"about {seconds / 60:.0f} min" if seconds >= 90 else f"about {seconds:.0f} s"
    resumed = f", {len(done)} done already" if done else ""
    return (f"{len(cells)} cells ({todo} to run{resumed}) on {spec.eval_size} eval tweets: estimated {when} on "
            "this device.")


def stream_study(spec, stop, store: RunStore | None = None, resume: str | None = None, poll: float = 0.5):
    """Run or resume a study in a worker thread, yielding StudyUpdates; the spec is checked (and the data
    loaded) before anything runs, so a bad spec raises UserError here."""
    from comparisons.running.study import run_study

    store = store or runs_store()
    spec, full, _, _ = plan_study(spec, resume, store)
    backend = "ray" if settings().ray_address else "local"  # TPR_RAY_ADDRESS: the app's studies run on that cluster
    work = lambda on_event: run_study(None if resume else spec, runs=store, resume=resume, on_event=on_event,  # noqa: E731
                                      stop=stop, full=full, backend=backend)
    ended = 0
    for events, finished, study, error in _in_worker(work, stop, poll):
        ends = sum(1 for e in events if e.get("event") == "end" and e.get("cell"))
        study_id = study.study_id if study else next((e["study_id"] for e in events if e.get("study_id")), "")
        yield StudyUpdate(list(events), study_id, finished, error, cell_finished=ends > ended or finished)
        ended = ends


def progress_of(events: list[dict]) -> tuple[float, str]:
    """(fraction done, one status line) from the newest events."""
    for e in reversed(events):
        if e.get("max_steps"):
            frac = min(1.0, e["step"] / max(1, e["max_steps"]))
            eta = e.get("eta_seconds", 0)
            return frac, (f"step {e['step']}/{e['max_steps']} · epoch {e.get('epoch', 0):.2f} · "
                          f"{e.get('tweets_per_second', 0):.1f} tweets/s · ETA {int(eta // 60)}m{int(eta % 60):02d}s")
        if e.get("event") == "phase":  # what the run is doing now, before and between its counted steps
            return float(e.get("fraction") or 0.0), e["stage"]
        if e.get("event") == "progress" and e.get("total"):
            stage = e.get("stage", "scoring")
            done = min(e["done"], e["total"])
            return done / e["total"], f"{stage}: {done}/{e['total']}"
        if e.get("event") == "forgetting":
            return 1.0, "measuring forgetting (perplexity on general English)"
        if e.get("event") == "estimate":
            return 0.0, f"starting · {estimate_line(e)}"
    return 0.0, "starting (loading the model on first use)"


def estimate_line(e: dict) -> str:
    """An estimate (comparisons.ground.estimate.Estimate.to_dict) in words."""
    room = f" of {e['device_bytes'] / 2**30:.1f} GB" if e.get("device_bytes") else ""
    return f"estimated peak memory {e['memory_bytes'] / 2**30:.2f} GB{room}, about " + report.duration_text(
        e.get("seconds") or 0)


def job_seconds(kind: str, method: str, settings: dict, data: TweetData, gpu_name: str | None = None,
                store: RunStore | None = None) -> float | None:
    """The estimated seconds of a job (a run, a k-sweep, Run all) on this device, or on `gpu_name` (a ZeroGPU
    call's GPU); None when a step cannot be sized. A visitor's settings (a store with an owner) pass their gate
    first, so that an estimate never reads a model they may not use."""
    from comparisons.ground.estimate_run import estimate_for
    from comparisons.running import gate

    if kind == "all":
        steps = [(m, v) for m, v, _ in run_all_plan(gpu=True if gpu_name else None)]
    elif kind == "sweep":
        m = registry.get(method)
        steps = [(method, {**settings, m.sweep_field: v}) for v in m.sweep_values]
    else:
        steps = [(method, settings)]
    total = 0.0
    for m, values in steps:
        config = make_config(m, values)
        if store is not None and store.owner is not None:
            gate.check_visitor_config(config, store)
        est = estimate_for(m, config, data, gpu_name=gpu_name)
        if est is None:
            return None
        total += est.seconds
    return total


def admit_job(visitor: Visitor, kind: str, method: str, settings: dict, data: TweetData | None,
              claim: bool = False) -> int:
    """Before a heavy job is queued (a run, a k-sweep, Run all, a data report): the visitor's identity, their
    records cap and their share of the heavy queue (comparisons.serving.jobs). The page's announcement (claim False, in
    the light queue) also sizes the job and refuses it over the ceiling, so that the visitor hears it at once; the
    queue's own admission (claim True) stays cheap, and the job's settings, models and ceiling are checked again
    when it starts, before any work (check_job). Returns the job's id; a UserError says why it cannot be queued."""
    from comparisons.running import gate
    from comparisons.serving.jobs import HEAVY_JOBS

    limits = gate.Limits.current()
    gate.check_identity(visitor, limits)
    store = visitor.store()
    gate.check_run_count(store, limits)
    seconds = None
    if not claim and kind in ("run", "sweep", "all") and data is not None:
        seconds = job_seconds(kind, method, settings, data, store=store)
        gate.check_job_seconds(seconds, limits, what="Run all" if kind == "all" else f"this {method or kind} job")
    return HEAVY_JOBS.admit(visitor.session, f"{kind} {method}".strip(), seconds, visitor=visitor.id,
                            address=visitor.address, max_per_visitor=limits.queued_jobs,
                            max_per_address=limits.address_jobs, claim=claim)


def check_job(kind: str, method: str, settings: dict, data: TweetData, store: RunStore) -> None:
    """When a visitor's job starts, before any work: its settings and models (the visitor's gate) and its whole
    estimate under the ceiling. Each run of it is checked again by run_method."""
    from comparisons.running import gate

    if store.owner is None:
        return
    seconds = job_seconds(kind, method, settings, data, store=store)
    gate.check_job_seconds(seconds, what="Run all" if kind == "all" else f"this {method or kind} job")


def admit_study(visitor: Visitor, claim: bool = True) -> int:
    """A study's place in the heavy queue (its plan passes the visitor's gate when it starts: plan_study)."""
    from comparisons.running import gate
    from comparisons.serving.jobs import HEAVY_JOBS

    limits = gate.Limits.current()
    gate.check_identity(visitor, limits)
    gate.check_run_count(visitor.store(), limits)
    return HEAVY_JOBS.admit(visitor.session, "study", None, visitor=visitor.id, address=visitor.address,
                            max_per_visitor=limits.queued_jobs, max_per_address=limits.address_jobs, claim=claim)


def estimate_text(method: str, values: dict, data: TweetData, gpu_name: str | None = None,
                  store: RunStore | None = None) -> str:
    """The estimate for a run before it starts, for the method tabs' Estimate button (`gpu_name`: size it for
    that GPU instead of this process's device, e.g. a ZeroGPU call's); a visitor's settings pass their gate first."""
    from comparisons.ground.estimate_run import estimate_for
    from comparisons.running import gate

    config = make_config(method, values)
    if store is not None and store.owner is not None:
        gate.check_visitor_config(config, store)
    est = estimate_for(method, config, data, gpu_name=gpu_name)
    if est is None:
        return "No estimate: the model's config cannot be read here (a Hub id offline?)."
    verdict = "fits" if est.fits else "does NOT fit: it would be refused"
    line = estimate_line(est.to_dict())
    return f"{line[0].upper()}{line[1:]} — {verdict}. _{est.assumptions}._"


def model_archive(record: RunRecord | None) -> str | None:
    """A zip of a fine-tuned run's adapter or model folder, for download."""
    from comparisons.ground.disk import saved_model

    folder = saved_model(record) if record is not None else None
    if folder is None:
        return None
    return shutil.make_archive(str(export_folder("model") / f"{record.run_id}-model"), "zip",
                               folder)


def own_model_run(visitor: Visitor, run_id: str | None) -> RunRecord:
    """One of the visitor's own runs that has a saved model (another visitor's run reads as no run at all)."""
    if not run_id:
        raise UserError("choose one of your runs first.")
    from comparisons.ground.disk import require_saved_model

    record = visitor.store().load(run_id)
    require_saved_model(record)
    return record


def push_model(visitor: Visitor, run_id: str | None, repo: str, oauth_token: str | None, private: bool = True) -> str:
    """Push one of the visitor's models to the Hub with their own login's token, and only that: the machine's
    HF_TOKEN is its owner's (the CLI's), never a visitor's, on a Space or off it."""
    from comparisons.serving.push import push

    record = own_model_run(visitor, run_id)
    return push(record, repo, oauth_token or None, private=private)


def compare_json(store: RunStore, fingerprint: str | None = None) -> dict:
    """The comparison as the CLI's `compare --json` prints it."""
    rows, fp, fps = report.comparison_rows(store.list(), fingerprint or None)
    return {"fingerprint": fp, "fingerprints": fps, "runs": rows}


def record_summary(record: RunRecord | None, error: str | None = None) -> dict:
    """A finished run as the CLI's `run --json` prints it (or the error)."""
    if record is None:
        return {"status": "error", "error": error}
    return summary_json(record)


# ---------------------------------------------------------------- try it

class WarmCache:
    """What Try it and the disagreement browser keep warm between calls, bounded per kind: one LRU for all of them
    (four entries) evicted the TF-IDF pipeline and SetFit's train embeddings on every call of a visitor with five
    kinds of run, refitting them each time (21 s for TF-IDF on all tweets). A few-shot classifier holds a language
    model, so fewer of those are kept."""

    SHARED = {"retriever": 4}  # the selection's train retriever (RAG's kNN, retrieved demonstrations, neighbours)
    DEFAULT = 2  # a kind no method declared

    def __init__(self):
        self._kinds: dict[str, LRU] = {}
        self._lock = threading.Lock()

    def sizes(self) -> dict[str, int]:
        return {**self.SHARED, **{kind: n for m in registry.all_methods() for kind, n in m.warm.items()}}

    def get_or_create(self, key: tuple, make):
        with self._lock:
            if key[0] not in self._kinds:
                self._kinds[key[0]] = LRU(self.sizes().get(key[0], self.DEFAULT))
            kind = self._kinds[key[0]]
        return kind.get_or_create(key, make)

    @property
    def maxsize(self) -> int:
        return sum(self.sizes().values())


_CLASSIFIERS = WarmCache()  # few-shot classifiers, TF-IDF pipelines, SetFit encoders, retrievers for Try it


@dataclass
class TryContext:
    """What a method's `try_it` or `details` hook gets: the text (a visitor's, or one eval tweet), the selection, the
    visitor's finished runs on its eval split (newest first), where to add its row and what it shows beside it."""
    text: str
    data: TweetData
    records: list
    out: dict
    rows: list = field(default_factory=list)
    k_neighbours: int = 5
    np: object = np  # for hooks, so that a method module stays import-light

    def newest(self, method: str):
        return next((r for r in self.records if r.method == method), None)

    def add(self, name: str, probs) -> None:
        p = np.asarray(probs, dtype=float)
        names = self.data.label_names
        self.rows.append({"method": name, "label": names[int(p.argmax())],
                          **{n: round(float(v), 3) for n, v in zip(names, p)}})

    def warm(self, key: tuple, make):
        return _CLASSIFIERS.get_or_create(key, make)

    def retriever(self, embedder: str = "auto"):
        return train_retriever(self.data, embedder)

    @staticmethod
    def saved(record) -> bool:
        from comparisons.ground.disk import saved_model

        return saved_model(record) is not None


def try_it(text: str, data: TweetData, store: RunStore, k_neighbours: int = 5) -> dict:
    """Each available method's label and probabilities for one text (each method's `try_it` hook), with what
    methods show beside it: RAG's neighbours, the few-shot prompt, SetFit's neighbours in its own space."""
    text = (text or "").strip()
    if not text:
        raise UserError("type a tweet first.")
    records, _ = report.comparable(store.list(), data.fingerprint)
    ctx = TryContext(text[:2000], data, records, {"neighbours": [], "prompt": "", "setfit_neighbours": []},
                     k_neighbours=k_neighbours)
    for m in registry.all_methods():
        m.try_it(ctx)
    ctx.out["table"] = pd.DataFrame(ctx.rows)
    return ctx.out


# ---------------------------------------------------------------- disagreements


def disagreements(data: TweetData, store: RunStore, kind: str = "all", a: str | None = None, b: str | None = None,
                  threshold: float = 0.9, gold: str | None = None, query: str = "") -> dict:
    """The disagreement browser on the selection's eval split: the filtered rows as a table, every filter's count,
    and the runs (for the A/B pickers)."""
    from comparisons.analysis.disagreement import FILTERS, browser

    records, _ = report.comparable(store.list(), data.fingerprint)
    b_ = browser(records, data)
    rows = b_.rows(kind, a, b, threshold, gold, query)
    counts = b_.counts(a, b, threshold, gold, query)
    names = dict(zip((r.run_id for r in b_.records), b_.names))
    words = {k: v.replace("run A", names.get(a, "A")).replace("run B", names.get(b, "B")) for k, v in FILTERS.items()}
    lines = [f"{words[k]}: **{n}** tweets" for k, n in counts.items()]
    return {"table": b_.frame(rows), "counts": counts, "markdown": " · ".join(lines),
            "runs": [(name, r.run_id) for name, r in zip(b_.names, b_.records)]}


def tweet_details(row: int, data: TweetData, store: RunStore, k: int = 5) -> dict:
    """One eval tweet as each method saw it: every run's label probabilities, RAG's nearest train tweets, and
    the few-shot prompt with its probabilities before and after calibration."""
    records, _ = report.comparable(store.list(), data.fingerprint)
    if not 0 <= int(row) < len(data.test):
        raise UserError(f"row {row} is not a row of this eval split (0-{len(data.test) - 1}).")
    row = int(row)
    text, names = data.test.texts[row], data.label_names
    probs = pd.DataFrame([{"run": f"{r.label} [{r.run_id[-6:]}]", "predicted": names[int(np.argmax(r.predictions[
        "probs"][row]))], **{n: round(float(p), 3) for n, p in zip(names, r.predictions["probs"][row])}}
        for r in records if (r.predictions or {}).get("probs")])
    out = {"text": text, "gold": names[data.test.labels[row]], "probs": probs, "neighbours": pd.DataFrame(),
           "prompt": "", "prompt_probs": pd.DataFrame()}
    ctx = TryContext(text, data, records, out, k_neighbours=k)
    for m in registry.all_methods():
        m.details(ctx)
    return out


def train_retriever(data: TweetData, embedder: str = "auto"):
    """A retriever over the selection's train split, kept warm per (train rows, embedder)."""
    from rag.retrieval import Retriever

    key = ("retriever", data.train_fingerprint, embedder or "auto")
    return _CLASSIFIERS.get_or_create(key, lambda: Retriever(embedder or "auto").fit(data.train.texts,
                                                                                     data.train.labels))


def neighbours_table(text: str, data: TweetData, embedder: str = "auto", k: int = 10,
                     store: RunStore | None = None) -> pd.DataFrame:
    """The train tweets nearest to `text` under `embedder` (a visitor's embedder passes their gate first)."""
    from comparisons.running import gate
    from rag.run import explain

    if store is not None and store.owner is not None:
        gate.check_model_name("embedder", embedder, store)
    if not (text or "").strip():
        raise UserError("type a tweet first.")
    return pd.DataFrame(explain(train_retriever(data, embedder), text, k, data.label_names))


def wait_seconds(t0: float) -> str:
    return f"{time.perf_counter() - t0:.0f} s"


# ---------------------------------------------------------------- workshop boards


def board_store():
    from comparisons.serving.board import BoardStore

    return BoardStore(runs_store())


def create_board(visitor: Visitor, nickname: str = "", title: str = "", fix_selection: bool = False) -> dict:
    """A new board hosted by the visitor; with `fix_selection`, their current data selection is everyone's, so
    that all entries are scored on one eval split. Rate-limited per visitor and per client address."""
    from dataclasses import asdict

    from comparisons.ground.data import display_source
    from comparisons.running import gate
    from comparisons.serving.board import check_nickname, to_json

    name = check_nickname(nickname, visitor.name)
    gate.check_identity(visitor)
    gate.check_board_rate(visitor)
    selection, fingerprint, text = {}, "", ""
    if fix_selection:
        sel = current_selection(visitor.session)
        data = load_selection(sel)
        selection, fingerprint = asdict(sel), data.fingerprint
        text = f"{display_source(data.source)}, {len(data.train)} train / {len(data.test)} eval tweets, seed {sel.seed}"
    board = board_store().create(visitor.id, name, title, selection, fingerprint, text)
    return to_json(board, [], visitor.id)


def join_board(visitor: Visitor, code: str, nickname: str = "") -> dict:
    """Join a board; a board with a fixed selection becomes the visitor's data selection."""
    from comparisons.running import gate
    from comparisons.serving.board import to_json

    store = board_store()
    gate.check_identity(visitor)
    board = store.join(code, visitor.id, nickname, visitor.name)
    if board.selection:
        session(visitor.session).selection = Selection(**board.selection)
    return to_json(board, store.rows(board), visitor.id)


def board_json(code: str, visitor: Visitor | None) -> dict:
    """A board's leaderboard for one of its members (run ids for its host only); None: the machine's owner."""
    from comparisons.serving.board import to_json

    store = board_store()
    board = store.load(code)
    if visitor is not None and visitor.id not in board.members:
        raise UserError(f"join board {board.code} first (Workshop → Join) to see its leaderboard.")
    return to_json(board, store.rows(board), None if visitor is None else visitor.id)
