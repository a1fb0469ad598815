"""Every setting read from the environment, in one place: the app, the CLI, the benchmarks and the
tests all call `settings()`. It reads the environment on each call, so a changed variable counts at once.

The variables and their defaults are listed in VARIABLES (and in the README).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# variable -> (default shown in the README, what it does). The README's table lists exactly these.
VARIABLES = {
    "TPR_RUNS_DIR": ("./runs", "run records and trained models (app and CLI alike; `--runs-dir` overrides it)"),
    "TPR_CACHE": ("~/.cache/tune-prompt-retrieve", "the bundled LM's checkpoint, ONNX exports, perplexity memo"),
    "TPR_EMBED_CACHE": ("$TPR_CACHE/embeddings", "cached sentence embeddings"),
    "TPR_WIKITEXT": ("(none)", "a WikiText-2 raw test file for the forgetting probe when the Hub is unreachable"),
    "TPR_SHARED_DATA": ("../shared/data", "the real tweets and WikiText-2 that tests and benchmarks use"),
    "TPR_MAX_UPLOAD_MB": ("50", "the app's upload cap"),
    "TPR_RUNS_MAX_GB": ("20", "cap of the runs folder: the oldest model files are evicted first, records kept "
                              "(0: no cap; a Space's disk is 50 GB)"),
    "TPR_OWNER_MAX_GB": ("3", "cap of one visitor's runs (about five full fine-tunings of the 135M model; 0: no cap)"),
    # What one visitor may ask of a shared instance (comparisons.running.gate); the CLI, the machine owner's, has none.
    "TPR_MAX_JOB_MINUTES": ("30 on a CPU, 20 on a GPU", "the longest job a visitor may start, by its own estimate"),
    "TPR_MAX_STUDY_MINUTES": ("60", "the longest study a visitor may start, by the sum of its cells' estimates"),
    "TPR_MAX_STUDY_CELLS": ("200", "the most cells in a visitor's study"),
    "TPR_MAX_QUEUED_JOBS": ("2", "heavy jobs one visitor may have waiting or running at once"),
    "TPR_MAX_ADDRESS_JOBS": ("64", "heavy jobs one client address may have waiting or running (a workshop room "
                                   "shares one)"),
    "TPR_MAX_RUNS": ("200", "run records one visitor may keep (new runs are refused: delete some)"),
    "TPR_MAX_BOARDS_PER_HOUR": ("5", "boards one visitor may create in an hour (20 per client address)"),
    "TPR_NEW_VISITORS_PER_HOUR": ("120", "new visitor identities one client address may start in an hour"),
    "TPR_SECRET": ("(a random key kept in the runs folder)", "signs the visitor cookie"),
    "TPR_TRUST_PROXY": ("1 on a Space, else 0", "read the client address from X-Forwarded-For (behind a proxy)"),
    "TPR_RAY_ADDRESS": ("(none: a local Ray)", "the Ray cluster studies join with the ray backend (host:port)"),
    "TPR_METHODS": ("(none)", "modules of your own methods, comma-separated, each declaring METHOD (registry)"),
}


@dataclass(frozen=True)
class Settings:
    runs_dir: Path
    cache_dir: Path
    embed_cache: Path
    wikitext: Path | None
    shared_data: Path
    max_upload_mb: float
    runs_max_gb: float | None = None
    owner_max_gb: float | None = None
    max_job_minutes: float | None = None  # None: by the hardware (comparisons.running.gate)
    max_study_minutes: float = 60
    max_study_cells: float = 200
    max_queued_jobs: float = 2
    max_address_jobs: float = 64
    max_runs: float = 200
    max_boards_per_hour: float = 5
    new_visitors_per_hour: float = 120
    secret: str = ""
    trust_proxy: bool = False
    ray_address: str = ""
    methods: str = ""

    @property
    def tweets(self) -> Path:
        return self.shared_data / "tweet_sentiment_extraction"

    @property
    def shared_wikitext(self) -> Path:
        return self.shared_data / "wikitext-2-raw" / "wiki.test.raw"


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else default


def _number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "").strip() or default)
    except ValueError:
        return default


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


def settings() -> Settings:
    cache = _path("TPR_CACHE", Path.home() / ".cache" / "tune-prompt-retrieve")
    wikitext = os.environ.get("TPR_WIKITEXT", "").strip()
    return Settings(
        runs_dir=_path("TPR_RUNS_DIR", Path("runs")),
        cache_dir=cache,
        embed_cache=_path("TPR_EMBED_CACHE", cache / "embeddings"),
        wikitext=Path(wikitext).expanduser() if wikitext else None,
        shared_data=_path("TPR_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"),
        max_upload_mb=_number("TPR_MAX_UPLOAD_MB", 50),
        runs_max_gb=_number("TPR_RUNS_MAX_GB", 20),
        owner_max_gb=_number("TPR_OWNER_MAX_GB", 3),
        max_job_minutes=_number("TPR_MAX_JOB_MINUTES", 0) or None,
        max_study_minutes=_number("TPR_MAX_STUDY_MINUTES", 60),
        max_study_cells=_number("TPR_MAX_STUDY_CELLS", 200),
        max_queued_jobs=_number("TPR_MAX_QUEUED_JOBS", 2),
        max_address_jobs=_number("TPR_MAX_ADDRESS_JOBS", 64),
        max_runs=_number("TPR_MAX_RUNS", 200),
        max_boards_per_hour=_number("TPR_MAX_BOARDS_PER_HOUR", 5),
        new_visitors_per_hour=_number("TPR_NEW_VISITORS_PER_HOUR", 120),
        secret=os.environ.get("TPR_SECRET", "").strip(),
        trust_proxy=_flag("TPR_TRUST_PROXY", default=bool(os.environ.get("SPACE_ID"))),
        ray_address=os.environ.get("TPR_RAY_ADDRESS", "").strip(),
        methods=os.environ.get("TPR_METHODS", "").strip(),
    )


# Each variable's attribute of Settings (the test of this module reads them through it).
ATTRIBUTES = {"TPR_RUNS_DIR": "runs_dir", "TPR_CACHE": "cache_dir", "TPR_EMBED_CACHE": "embed_cache",
              "TPR_WIKITEXT": "wikitext", "TPR_SHARED_DATA": "shared_data", "TPR_MAX_UPLOAD_MB": "max_upload_mb",
              "TPR_RUNS_MAX_GB": "runs_max_gb", "TPR_OWNER_MAX_GB": "owner_max_gb",
              "TPR_MAX_JOB_MINUTES": "max_job_minutes", "TPR_MAX_STUDY_MINUTES": "max_study_minutes",
              "TPR_MAX_STUDY_CELLS": "max_study_cells", "TPR_MAX_QUEUED_JOBS": "max_queued_jobs",
              "TPR_MAX_ADDRESS_JOBS": "max_address_jobs", "TPR_MAX_RUNS": "max_runs",
              "TPR_MAX_BOARDS_PER_HOUR": "max_boards_per_hour", "TPR_NEW_VISITORS_PER_HOUR": "new_visitors_per_hour",
              "TPR_SECRET": "secret", "TPR_TRUST_PROXY": "trust_proxy", "TPR_RAY_ADDRESS": "ray_address",
              "TPR_METHODS": "methods"}
