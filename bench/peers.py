"""The peers through the app's own path (comparisons.running.api.run_method), on the real tweets, all 3,534 test tweets:
the TF-IDF baseline on all 27,480 and on 1,000 train tweets, SetFit on 1,000 (250 steps) and on 96 (32 per
label, 100 steps). Accuracy with its 95 % Wilson interval, and seconds.

    python bench/peers.py [--only baseline|setfit]
"""

from __future__ import annotations

import argparse
import os

from bench.common import save, stamp


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return round(centre - half, 4), round(centre + half, 4)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from comparisons.ground.data import load_data, subset
    from comparisons.ground.settings import settings
    from comparisons.running.api import make_config, run_method

    full = load_data(str(settings().tweets))
    plan = [("baseline", "all", {}), ("baseline", 1000, {}),
            ("setfit", 1000, {"max_steps": 250}), ("setfit", 96, {"max_steps": 100})]
    rows = []
    for method, n_train, values in plan:
        if a.only and method != a.only:
            continue
        data = subset(full, n_train, "all", seed=42)
        record = run_method(method, make_config(method, {**values, "seed": 42}), data, store=None)
        acc, n = record.metrics["accuracy"], record.metrics["n"]
        rows.append({"method": method, "train": len(data.train), "test": n, "settings": values,
                     "accuracy": round(acc, 4), "ci95": wilson(acc, n),
                     "macro_f1": round(record.metrics["macro_f1"], 4),
                     "train_seconds": record.timings.get("train_seconds", record.timings.get("fit_seconds")),
                     "total_seconds": record.timings["total_seconds"]})
        print(rows[-1], flush=True)
    save(stamp(rows=rows), "peers")


if __name__ == "__main__":
    main()
