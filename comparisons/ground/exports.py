"""Files the app hands a visitor (a model's zip, CSV/Markdown/PNG exports, confusion-matrix images) are written
into one folder inside Gradio's own file cache, which Gradio serves in place (no second copy), and each is removed
an hour after it was made: a public Space's temporary folder does not fill up with downloads."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

EXPORT_TTL_SECONDS = 3600


def gradio_cache() -> Path:
    """Where Gradio keeps the files it serves (GRADIO_TEMP_DIR, else <tmp>/gradio), without importing gradio."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def exports_root() -> Path:
    return gradio_cache() / "tpr-exports"


def sweep(root: Path | None = None, now: float | None = None, ttl: float = EXPORT_TTL_SECONDS) -> int:
    """Remove the export folders older than `ttl` seconds; returns how many went."""
    root = root or exports_root()
    now = time.time() if now is None else now
    removed = 0
    for folder in root.iterdir() if root.is_dir() else []:
        try:
            if now - folder.stat().st_mtime > ttl:
                shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink()
                removed += 1
        except OSError:
            continue  # another worker removed it first
    return removed


def export_folder(prefix: str = "export") -> Path:
    """A fresh folder for one export (older ones swept first)."""
    root = exports_root()
    root.mkdir(parents=True, exist_ok=True)
    sweep(root)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=root))
