"""Times the app's Run all on this machine: the same plan as the Compare tab's button
(comparisons.serving.service.run_all_plan, from the configs' named presets), on 1,000 train / 300 eval real tweets
(or the sample), bundled models, a cold embedding cache.

    python bench/run_all.py
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TPR_RUNS_DIR", tempfile.mkdtemp(prefix="bench-runs-"))
os.environ.setdefault("TPR_EMBED_CACHE", tempfile.mkdtemp(prefix="bench-embed-"))  # cold: no cached embeddings

from bench.common import save, stamp  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402
from comparisons.running.api import Selection  # noqa: E402
from comparisons.serving import service as svc  # noqa: E402


def main():
    tweets = settings().tweets
    real = tweets.exists()
    data = svc.load_selection(Selection(source=str(tweets) if real else "sample", train_size=1000 if real else None,
                                        eval_size=300 if real else None, seed=42))
    out = stamp(n_train=len(data.train), n_eval=len(data.test), steps=[])
    t_all = time.perf_counter()
    plan = svc.run_all_plan()
    for method, values, why in plan:
        t0 = time.perf_counter()
        last = None
        for last in svc.stream_run(method, values, data, threading.Event(), svc.runs_store()):
            pass
        record = last.record
        out["steps"].append({"method": method, "settings": values, "why": why,
                             "seconds": round(time.perf_counter() - t0, 1),
                             "status": record.status if record else last.error,
                             "accuracy": round(record.metrics["accuracy"], 4) if record and record.metrics else None})
        print(out["steps"][-1], flush=True)
    out["total_seconds"] = round(time.perf_counter() - t_all, 1)
    save(out, "run_all")


if __name__ == "__main__":
    main()
