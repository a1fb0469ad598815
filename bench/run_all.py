"""Times the app's Run all on this machine: the same sequence and defaults as the Compare tab's
button (app.RUN_ALL), on 1,000 train / 300 eval real tweets (or the sample), bundled models.

    python bench/run_all.py
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TPR_RUNS_DIR", tempfile.mkdtemp(prefix="bench-runs-"))
os.environ.setdefault("TPR_EMBED_CACHE", tempfile.mkdtemp(prefix="bench-embed-"))  # cold: no cached embeddings

from bench.common import save, stamp  # noqa: E402
from comparisons import service as svc  # noqa: E402
from comparisons.api import Selection  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "tweet_sentiment_extraction"


def main():
    from app import run_all_plan

    source = str(SHARED) if SHARED.exists() else "sample"
    data = svc.load_selection(Selection(source=source, train_size=1000 if SHARED.exists() else None,
                                        eval_size=300 if SHARED.exists() else None, seed=42))
    store = svc.runs_store()
    stop = threading.Event()
    out = stamp(n_train=len(data.train), n_eval=len(data.test), steps=[])
    t_all = time.perf_counter()
    for method, values in run_all_plan():
        t0 = time.perf_counter()
        record = None
        for _, record, error in svc.stream_run(method, values, data, stop, store):
            pass
        out["steps"].append({"method": method, "settings": values, "seconds": round(time.perf_counter() - t0, 1),
                             "status": record.status if record else error,
                             "accuracy": round(record.metrics["accuracy"], 4) if record and record.metrics else None})
        print(out["steps"][-1], flush=True)
    out["total_seconds"] = round(time.perf_counter() - t_all, 1)
    save(out, "run_all")


if __name__ == "__main__":
    main()
