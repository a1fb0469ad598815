"""Every method at 96 / 1,000 / all 27,480 labelled train tweets, each evaluated on all 3,534 real test tweets
(seed 42), through the app's path, where this CPU allows; accuracy with its 95 % Wilson interval and seconds.
Rows are written as they finish (bench/out/methods_table.json), so a long run keeps what it measured.

    python bench/methods_table.py [--methods baseline,rag-knn,rag-linear,lora,full] [--sizes 96,1000,all]

Fine-tuning on all 27,480 tweets is left out on a CPU (~2.5 h a run at ~3 tweets/s); few-shot is left out
(scoring 3,534 prompts is about an hour a cell: bench/RESULTS.md has its full-split figure); SetFit's cells come
from bench/peers.py.
"""

from __future__ import annotations

import argparse
import os

from bench.common import save, stamp
from bench.peers import wilson

SETTINGS = {
    "baseline": ("baseline", {}),
    "rag-knn": ("rag", {"mode": "knn"}),
    "rag-linear": ("rag", {"mode": "linear"}),
    # One epoch is the default; on 96 tweets that is 6 steps, so the smallest size trains 5 epochs (30 steps).
    "lora": ("finetune", {"mode": "lora", "forgetting_tokens": 0, "save_model": False}),
    "full": ("finetune", {"mode": "full", "forgetting_tokens": 0, "save_model": False}),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--methods", default="baseline,rag-knn,rag-linear,lora,full")
    p.add_argument("--sizes", default="96,1000,all")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from comparisons.ground.data import load_data, subset
    from comparisons.ground.settings import settings
    from comparisons.running.api import make_config, run_method

    full = load_data(str(settings().tweets))
    rows = []
    for size in a.sizes.split(","):
        n_train = "all" if size == "all" else int(size)
        data = subset(full, n_train, "all", seed=42)
        for name in a.methods.split(","):
            method, values = SETTINGS[name]
            if method == "finetune" and n_train == "all":
                rows.append({"method": name, "train": len(data.train), "skipped": "about 2.5 h a run on this CPU"})
                continue
            if method == "finetune" and n_train == 96:
                values = {**values, "epochs": 5}
            record = run_method(method, make_config(method, {**values, "seed": 42}), data, store=None)
            acc, n = record.metrics["accuracy"], record.metrics["n"]
            rows.append({"method": name, "train": len(data.train), "test": n, "settings": values,
                         "accuracy": round(acc, 4), "ci95": wilson(acc, n),
                         "macro_f1": round(record.metrics["macro_f1"], 4),
                         "seconds": record.timings["total_seconds"]})
            print(rows[-1], flush=True)
            save(stamp(rows=rows), "methods_table")


if __name__ == "__main__":
    main()
