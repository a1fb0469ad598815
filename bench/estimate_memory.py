"""The memory estimate (comparisons.ground.estimate) against the measured peak, on this machine: LoRA and full
fine-tuning of the bundled 135M model at two batch sizes, real tweets (or the sample), a few steps each.
On a CPU the measured peak is the process's resident memory (what the estimate's baseline starts from).
Each run in its own process, so that one run's cached models do not count in the next one's baseline.

    python bench/estimate_memory.py [--batches 16,64] [--tweets 256]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from bench.common import save, stamp


def one(mode: str, batch: int, tweets: int) -> dict:
    from comparisons.ground.data import load_data, subset
    from comparisons.ground.settings import settings
    from comparisons.running.api import run_method
    from finetune.config import FinetuneConfig

    source = str(settings().tweets) if settings().tweets.exists() else "sample"
    data = subset(load_data(source), min(tweets, 250 if source == "sample" else tweets), 64, seed=42)
    config = FinetuneConfig(mode=mode, batch_size=batch, epochs=1, forgetting_tokens=0, save_model=False, n_evals=1,
                            curve_size=32)
    record = run_method("finetune", config, data, store=None)
    est = record.diagnostics["estimate"]
    return {"mode": mode, "batch_size": batch, "tweets": len(data.train), "estimate_mb": est["memory_mb"],
            "measured_peak_mb": est["measured_peak_mb"], "ratio": round(est["memory_mb"] / est["measured_peak_mb"], 3),
            "breakdown_mb": est["breakdown"], "estimate_seconds": round(est["seconds"], 1),
            "measured_seconds": record.timings["total_seconds"], "train_seconds": record.timings["train_seconds"]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batches", default="16,64")
    p.add_argument("--tweets", type=int, default=256)
    p.add_argument("--one", default="", help=argparse.SUPPRESS)  # mode:batch, run in a child process
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.one:
        mode, batch = a.one.split(":")
        print(json.dumps(one(mode, int(batch), a.tweets)))
        return
    rows = []
    for mode in ("lora", "full"):
        for batch in [int(b) for b in a.batches.split(",")]:
            out = subprocess.run([sys.executable, "-m", "bench.estimate_memory", "--one", f"{mode}:{batch}",
                                  "--tweets", str(a.tweets)], capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    save(stamp(rows=rows, within_30_percent=all(0.7 <= r["ratio"] <= 1.3 for r in rows)), "estimate_memory")


if __name__ == "__main__":
    main()
