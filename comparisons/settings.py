"""Every setting read from the environment, in one place: the app, the CLI, the benchmarks and the
tests all call `settings()`. It reads the environment on each call, so a changed variable counts at once.

The variables and their defaults are listed in VARIABLES (and in the README).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

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
    )
