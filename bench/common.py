"""What every benchmark writes: the date and machine beside its figures, as JSON under bench/out/."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def stamp(**figures) -> dict:
    """A result dict that starts with when and where it was measured."""
    return {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), **figures}


def save(result: dict, path: str | Path) -> None:
    """Write `result` as JSON (to a bare name: bench/out/<name>.json) and print it."""
    path = Path(path)
    if not path.suffix:
        path = OUT / f"{path}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps(result, indent=1, default=str))
