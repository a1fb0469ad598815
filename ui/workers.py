"""The work that needs a device, as module-level functions of plain, picklable arguments that yield or return
plain, picklable values (RunUpdate, DataFrames, dicts). On a ZeroGPU Space each runs inside `spaces.GPU` in a
forked child, for a duration estimated from the job (comparisons.ground.estimate); elsewhere they are plain calls.
The tabs turn what these return into component updates, in the main process."""

from __future__ import annotations

import functools
import inspect

from comparisons.ground.device import on_zerogpu
from comparisons.serving import service as svc

try:  # the `spaces` package exists on Hugging Face Spaces; it is inert off a ZeroGPU Space
    import spaces  # type: ignore
except ImportError:
    spaces = None

# What the estimate assumes a ZeroGPU call gets: a slice of an H200, sized as an A100 (~40 % of a whole H200's
# throughput), so that the duration asked is a safe one.
ZEROGPU_GPU = "A100"
# ZeroGPU's quotas: the GPU seconds a visitor may use in a day, by who they are (Hugging Face's public material, read
# 2026-12-02: anonymous ~2 min, signed in ~3.5 min, PRO 25 min); no call may ask for more than ZEROGPU_CALL_CEILING.
ZEROGPU_TIERS = {"anonymous": 120, "signed in": 210, "PRO": 1500}
ZEROGPU_CALL_CEILING = 300
ZEROGPU_SAFETY = 1.3  # a call asks for its estimate and 30 % more (measured estimates land within ±30 %), plus:
ZEROGPU_MARGIN_SECONDS = 10  # the worker's start
ZEROGPU_MIN_SECONDS = 20
LOOKUP_SECONDS = 30  # Try it, neighbours, near duplicates


def gpu(duration):
    """spaces.GPU(duration=...) on a ZeroGPU Space, else the function itself. `duration`: seconds, or a
    callable taking the function's arguments (the dynamic duration of the ZeroGPU documentation)."""
    def wrap(fn):
        if spaces is None or not on_zerogpu():
            return fn
        return spaces.GPU(duration=duration)(in_worker(fn))
    return wrap


def in_worker(fn):
    """`fn` as a ZeroGPU worker must run it: the worker is forked from the app's process, whose OpenMP threads do not
    survive the fork (the first parallel CPU operation there would wait forever), so CPU work there uses one thread
    (comparisons.ground.device.forked_worker_threads). Keeps a generator function a generator function, as spaces
    needs."""
    from comparisons.ground.device import forked_worker_threads

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            forked_worker_threads()
            yield from fn(*args, **kwargs)
        return generator

    @functools.wraps(fn)
    def regular(*args, **kwargs):
        forked_worker_threads()
        return fn(*args, **kwargs)
    return regular


def _data(source):
    """The TweetData of the Data tab's fields (a dict) or of an API client's Selection."""
    selection = svc.selection_from_ui(**source) if isinstance(source, dict) else source
    return svc.load_selection(selection)


def job_seconds(kind: str, method: str, settings: dict, data_fields: dict) -> float | None:
    """The estimated seconds of a job on a ZeroGPU call's GPU (None when it cannot be sized)."""
    return svc.job_seconds(kind, method, settings, _data(data_fields), gpu_name=ZEROGPU_GPU)


def tier_of(visitor) -> str:
    """The visitor's ZeroGPU quota tier, from their login where the Space has one (anonymous otherwise)."""
    tier = getattr(visitor, "tier", "") or ("signed in" if getattr(visitor, "logged_in", False) else "anonymous")
    return tier if tier in ZEROGPU_TIERS else "anonymous"


def call_ceiling(visitor) -> int:
    """The longest call this visitor may ask ZeroGPU for."""
    return min(ZEROGPU_CALL_CEILING, ZEROGPU_TIERS[tier_of(visitor)])


def requested_seconds(estimate: float | None, visitor=None) -> int:
    """The duration a call asks for: the estimate × the safety factor plus the worker's start, within the ceiling."""
    if estimate is None:
        return min(120, call_ceiling(visitor))
    wanted = estimate * ZEROGPU_SAFETY + ZEROGPU_MARGIN_SECONDS
    return int(min(call_ceiling(visitor), max(ZEROGPU_MIN_SECONDS, wanted)))


def zerogpu_duration(kind: str, method: str, settings: dict, data_fields: dict, visitor) -> int:
    """What a ZeroGPU call asks for (spaces.GPU's dynamic duration): sized to the job, within the visitor's tier."""
    return requested_seconds(job_seconds(kind, method, settings, data_fields), visitor)


def refusal(seconds: float, visitor, what: str = "this job") -> str | None:
    """Why a job of `seconds` (its estimate) cannot run in one ZeroGPU call for this visitor, or None."""
    needed = seconds * ZEROGPU_SAFETY + ZEROGPU_MARGIN_SECONDS
    ceiling, tier = call_ceiling(visitor), tier_of(visitor)
    if needed <= ceiling:
        return None
    better = {"anonymous": "Sign in with Hugging Face for a larger share (PRO accounts have the most), or use",
              "signed in": "A PRO account has a larger share; or use", "PRO": "Use"}[tier]
    return (f"{what} needs about {needed / 60:.1f} minutes of GPU (its estimate, {seconds / 60:.1f} min, with a "
            f"{ZEROGPU_SAFETY - 1:.0%} margin), more than one ZeroGPU call allows a visitor who is {tier} "
            f"({ceiling / 60:.1f} min). {better} fewer tweets or epochs, or LoRA.")


def check_fits_zerogpu(kind: str, method: str, settings: dict, data_fields: dict, visitor=None) -> None:
    """On a ZeroGPU Space, refuse before it starts a job that one call cannot hold for this visitor's tier."""
    if not on_zerogpu():
        return
    seconds = job_seconds(kind, method, settings, data_fields)
    why = refusal(seconds, visitor) if seconds is not None else None
    if why:
        raise svc.UserError(why)


@gpu(duration=zerogpu_duration)
def run_job(kind: str, method: str, settings: dict, data_fields: dict, visitor: svc.Visitor):
    """Stream a run ("run"), a k-sweep ("sweep") or Run all ("all") as RunUpdates, on the Data tab's fields
    (a dict) or an API client's Selection; the runs are the visitor's."""
    data = _data(data_fields)
    stop, store = svc.session(visitor.session).stop, visitor.store()
    svc.check_job(kind, method, settings, data, store)  # the visitor's gate and the job's ceiling, before any work
    if kind == "sweep":
        yield from svc.stream_sweep(method, settings, data, stop, store=store)
    elif kind == "all":
        seed = data_fields.get("seed") if isinstance(data_fields, dict) else data_fields.seed
        yield from svc.stream_run_all(data, stop, store=store, seed=seed)
    else:
        yield from svc.stream_run(method, settings, data, stop, store=store)


def study_seconds(spec: dict | None, resume: str | None, visitor: svc.Visitor | None = None) -> float | None:
    from comparisons.running.study import StudySpec, estimate_seconds

    spec_obj, full, cells, done = svc.plan_study(StudySpec.from_dict(spec) if spec else None, resume,
                                                 visitor.store() if visitor else None)
    return estimate_seconds(spec_obj, full, cells, skip=set(done), gpu_name=ZEROGPU_GPU)


def check_study_fits_zerogpu(spec: dict | None, resume: str | None, visitor: svc.Visitor | None = None) -> None:
    """A study is many runs: on a ZeroGPU Space it must fit one call, else it belongs to the CLI or a dedicated GPU."""
    if not on_zerogpu():
        return
    seconds = study_seconds(spec, resume, visitor)
    why = refusal(seconds, visitor, "this study") if seconds is not None else None
    if why:
        raise svc.UserError(f"{why} A study too long for ZeroGPU runs with `python -m comparisons study` on a "
                            "dedicated GPU.")


def _study_duration(spec, resume, visitor) -> int:
    return requested_seconds(study_seconds(spec, resume, visitor), visitor)


@gpu(duration=_study_duration)
def run_study(spec: dict | None, resume: str | None, visitor: svc.Visitor):
    """Stream a study (or resume one) as StudyUpdates; the visitor's Stop ends it after the cell in flight."""
    from comparisons.running.study import StudySpec

    yield from svc.stream_study(StudySpec.from_dict(spec) if spec else None, svc.session(visitor.session).stop,
                                store=visitor.store(), resume=resume)


@gpu(duration=LOOKUP_SECONDS)
def try_it(text: str, data_fields: dict, visitor: svc.Visitor) -> dict:
    out = svc.try_it(text, _data(data_fields), visitor.store())
    return {"table": out["table"], "neighbours": out["neighbours"], "prompt": out["prompt"],
            "setfit_neighbours": out["setfit_neighbours"]}


@gpu(duration=LOOKUP_SECONDS)
def neighbours(text: str, embedder: str, data_fields: dict, visitor: svc.Visitor):
    return svc.neighbours_table(text, _data(data_fields), embedder or "auto", store=visitor.store())


@gpu(duration=120)
def quality_report(data_fields) -> dict:
    from comparisons.analysis.quality import quality_report as report

    return report(_data(data_fields))


@gpu(duration=LOOKUP_SECONDS)
def tweet_details(row: int, data_fields, visitor: svc.Visitor) -> dict:
    return svc.tweet_details(row, _data(data_fields), visitor.store())


@gpu(duration=LOOKUP_SECONDS)
def near_duplicates(threshold: float, data_fields: dict):
    return svc.near_duplicate_table(_data(data_fields), threshold)


def preload_models() -> None:
    """On a ZeroGPU Space, load the default LM and embedder once in the main process, as the ZeroGPU
    documentation recommends (models placed on 'cuda' at start-up are shared with every call), instead of
    reloading them inside each call from the visitor's quota."""
    from comparisons.ground.models import load_causal_lm, resolve_lm
    from rag.embed import get_embedder

    load_causal_lm(resolve_lm("auto"))
    _ = get_embedder("auto").model
