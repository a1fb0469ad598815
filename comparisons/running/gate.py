"""What a visitor may ask of a shared instance, checked in one place. Every path a visitor's values take (the
app's tabs, the public API, a study's settings and axes, Run all, boards) goes through these checks; the CLI, run by
the machine's owner, passes no visitor and is not limited.

- Fields: a visitor sets only the fields the app shows (`place` main, more or data); a field placed "cli" names a
  file on the server (a DAPT corpus, the forgetting probe's text) and is the owner's alone.
- Models: a visitor names Hub ids, 'auto', the bundled models, or `run:<id>` of one of their own runs; never a
  folder on the server (another visitor's model lives in one), wherever a model is named.
- Ceilings: every job's own estimate under TPR_MAX_JOB_MINUTES before it starts; a study under its cells and
  minutes caps; a visitor's records under TPR_MAX_RUNS (new runs are refused, records are never deleted for them).
The limits come from comparisons.ground.settings; each message says the limit and what to change.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from comparisons.ground.errors import UserError
from comparisons.ground.settings import settings

VISITOR_PLACES = ("main", "more", "data")
CPU_JOB_MINUTES, GPU_JOB_MINUTES = 30, 20  # a CPU Space is not an H200: its default ceiling is longer in minutes


@dataclass(frozen=True)
class Limits:
    job_seconds: float
    study_seconds: float
    study_cells: int
    queued_jobs: int
    address_jobs: int
    runs: int
    boards_per_hour: int
    new_visitors_per_hour: int

    @classmethod
    def current(cls, gpu: bool | None = None) -> Limits:
        from comparisons.ground.device import gpu_present

        s = settings()
        gpu = gpu_present() if gpu is None else gpu
        job_minutes = s.max_job_minutes or (GPU_JOB_MINUTES if gpu else CPU_JOB_MINUTES)
        return cls(job_seconds=job_minutes * 60, study_seconds=s.max_study_minutes * 60,
                   study_cells=int(s.max_study_cells), queued_jobs=max(1, int(s.max_queued_jobs)),
                   address_jobs=max(1, int(s.max_address_jobs)), runs=int(s.max_runs),
                   boards_per_hour=int(s.max_boards_per_hour), new_visitors_per_hour=int(s.new_visitors_per_hour))


def minutes(seconds: float) -> str:
    return f"{seconds / 60:,.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


# ---------------------------------------------------------------- fields


def cli_only_fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("place") not in VISITOR_PLACES}


def _cli_only_message(name: str) -> str:
    return (f"'{name}' is a command-line setting (it names a file on the server); the app and its API do not take "
            "it. Leave it out.")


def check_visitor_values(cls, values: dict, what: str = "") -> None:
    """Refuse, naming the field, any value a visitor gives to a field that is not theirs to set."""
    owner_only = cli_only_fields(cls)
    for name, value in values.items():
        if name in owner_only and value not in (None, "") and value != owner_only[name].default:
            raise UserError(_cli_only_message(name) if not what else f"{what}: {_cli_only_message(name)}")


def check_visitor_config(config, store) -> None:
    """A built config that a visitor's job will run: no owner-only field moved from its default, and every model it
    names one the visitor may use."""
    for name, f in cli_only_fields(type(config)).items():
        if getattr(config, name) != f.default:
            raise UserError(_cli_only_message(name))
    check_visitor_models(config, store)


def check_visitor_names(names, configs, what: str) -> None:
    """Study settings and axes name fields by spelling: refuse those that are owner-only in any method."""
    for name in names:
        for cls in configs:
            if name in cli_only_fields(cls):
                raise UserError(f"{what}: {_cli_only_message(name)}")


# ---------------------------------------------------------------- models


def check_model_name(name: str, value: str | None, store) -> None:
    """One model name a visitor gave (a config's model or embedder, the neighbour viewer's embedder)."""
    from comparisons.ground.modelcard import hub_id

    value = str(value or "").strip()
    if not value or value == "auto" or value.startswith("bundled:"):
        return
    if value.startswith("run:"):
        store.load(value[4:].strip())  # another visitor's run reads as no run at all
        return
    if hub_id(value) is None or os.path.lexists(value):
        raise UserError(f"{name} '{value[:80]}': give a Hub id, 'auto', the bundled model, or run:<id> of one of "
                        "your adaptation runs; folders on the server are a command-line option.")


def check_visitor_models(config, store) -> None:
    """A visitor's models are Hub ids, 'auto', the bundled ones, or `run:<id>` of their own runs: never a server
    folder (another visitor's model lives in one), which stays a CLI option."""
    for name in ("model", "embedder"):
        if hasattr(config, name):
            check_model_name(name, getattr(config, name), store)


# ---------------------------------------------------------------- ceilings


def check_job_seconds(seconds: float | None, limits: Limits | None = None, what: str = "this job") -> None:
    """Refuse a job whose own estimate passes the ceiling, with both in words and what to change."""
    limits = limits or Limits.current()
    if seconds is not None and seconds > limits.job_seconds:
        raise UserError(f"{what} would take about {minutes(seconds)} by its own estimate, more than the "
                        f"{minutes(limits.job_seconds)} one job may take here (TPR_MAX_JOB_MINUTES). Use fewer "
                        "tweets, epochs or steps, or run it from the command line on your own machine.")


def check_study_size(n_cells: int, seconds: float | None, limits: Limits | None = None) -> None:
    limits = limits or Limits.current()
    if n_cells > limits.study_cells:
        raise UserError(f"this study has {n_cells:,} cells, more than the {limits.study_cells:,} a study may have "
                        "here (TPR_MAX_STUDY_CELLS). Use fewer sizes, methods or seeds.")
    if seconds is not None and seconds > limits.study_seconds:
        raise UserError(f"this study would take about {minutes(seconds)} by its cells' estimates, more than the "
                        f"{minutes(limits.study_seconds)} a study may take here (TPR_MAX_STUDY_MINUTES). Use fewer "
                        "cells or smaller sizes, or run it with `python -m comparisons study` on your own machine.")


def check_run_count(store, limits: Limits | None = None) -> None:
    """A visitor keeps at most `limits.runs` records: new runs are refused until they delete some."""
    limits = limits or Limits.current()
    if store is None or store.owner is None or limits.runs <= 0:
        return
    n = store.count()
    if n >= limits.runs:
        raise UserError(f"you have {n:,} runs, the most one visitor may keep here (TPR_MAX_RUNS): delete some of your "
                        "runs (Compare → Your runs) to start new ones.")


# ---------------------------------------------------------------- identities and rates

ADDRESS_BOARDS_FACTOR = 4  # a client address may create this many times a visitor's hourly boards (a shared room)
BOARDS_BY_VISITOR = None  # comparisons.running.identity.Window instances, made on first use
BOARDS_BY_ADDRESS = None


def check_identity(visitor, limits: Limits | None = None) -> None:
    """Refuse work from an identity that its client address started beyond TPR_NEW_VISITORS_PER_HOUR (an API
    client names its own page sessions; a logged-in Hugging Face user is not counted)."""
    from comparisons.running.identity import IDENTITIES

    limits = limits or Limits.current()
    if visitor is None or visitor.logged_in or not visitor.address:
        return
    if not IDENTITIES.admit(visitor.address, visitor.id, limits.new_visitors_per_hour):
        raise UserError(f"more than {limits.new_visitors_per_hour} new visitors came from your network in the last "
                        "hour (TPR_NEW_VISITORS_PER_HOUR); keep one session, or try again later.")


def check_board_rate(visitor, limits: Limits | None = None) -> None:
    """A visitor creates at most TPR_MAX_BOARDS_PER_HOUR boards an hour, a client address four times that."""
    global BOARDS_BY_VISITOR, BOARDS_BY_ADDRESS
    from comparisons.running.identity import Window

    limits = limits or Limits.current()
    if BOARDS_BY_VISITOR is None:
        BOARDS_BY_VISITOR, BOARDS_BY_ADDRESS = Window(), Window()
    per_address = limits.boards_per_hour * ADDRESS_BOARDS_FACTOR
    if visitor.address and BOARDS_BY_ADDRESS.count(visitor.address) >= per_address > 0:
        raise UserError(f"{per_address} boards were created from your network in the last hour, the most allowed here "
                        "(TPR_MAX_BOARDS_PER_HOUR); join one of them, or try again later.")
    if not BOARDS_BY_VISITOR.allow(visitor.id, limits.boards_per_hour):
        raise UserError(f"you created {limits.boards_per_hour} boards in the last hour, the most allowed here "
                        "(TPR_MAX_BOARDS_PER_HOUR); use one of them, or try again later.")
    if visitor.address:
        BOARDS_BY_ADDRESS.allow(visitor.address, 0)
