"""The CPU study preset on the real tweets (issue: it finishes in <= 20 minutes on 2 cores): LoRA, few-shot
with balanced demonstrations, RAG kNN and RAG linear at 32 / 128 / 512 labelled tweets, 3 seeds, 300 eval
tweets, bundled models. Writes the chart to bench/study_cpu.png and everything to bench/out/study_cpu.json.

    python -m bench.study_cpu [--preset cpu] [--resume STUDY_ID]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from comparisons.analysis import study_report  # noqa: E402
from comparisons.ground.runs import RunStore  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402
from comparisons.running.study import StudyStore, estimate_seconds, load_full, plan, preset_spec, run_study  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="cpu")
    p.add_argument("--resume", default=None)
    p.add_argument("--runs-dir", default=None)
    args = p.parse_args()
    tweets = settings().shared_data / "tweet_sentiment_extraction"
    if not (tweets / "train.csv").exists():
        raise SystemExit(f"the real tweets are not at {tweets} (set TPR_SHARED_DATA)")
    runs = RunStore(args.runs_dir or tempfile.mkdtemp(prefix="tpr-study-bench-"))
    spec = preset_spec(args.preset, data=str(tweets))
    full = load_full(spec)
    cells = plan(spec, full)
    estimate = estimate_seconds(spec, full, cells)
    print(f"{len(cells)} cells, estimated {estimate / 60:.1f} min; runs in {runs.root}", flush=True)
    t0 = time.perf_counter()
    per_cell = []

    def on_cell(study, record):
        per_cell.append({"cell": record.study.get("cell"), "seconds": record.timings.get("total_seconds"),
                         "estimate_seconds": record.diagnostics.get("estimate", {}).get("seconds"),
                         "accuracy": record.metrics.get("accuracy"), "status": record.status})
        print(f"[{time.perf_counter() - t0:7.1f} s] {per_cell[-1]}", flush=True)

    study = run_study(None if args.resume else spec, runs=runs, resume=args.resume, full=full, on_cell=on_cell)
    wall = time.perf_counter() - t0
    v = study_report.view(StudyStore(runs), study, len(full.train))
    png = HERE / f"study_{args.preset}.png"
    v["figure"].savefig(png)
    out = {"wall_seconds": round(wall, 1), "estimated_seconds": round(estimate, 1), "cells": per_cell,
           "findings": v["findings"], **study_report.to_json(study, v["table"], v["cells"], len(full.train))}
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / f"study_{args.preset}.json").write_text(json.dumps(out, indent=1, default=str))
    print(study_report.display_table(v["table"], spec).to_string(index=False))
    print("\n".join(v["findings"]))
    print(f"wall {wall / 60:.1f} min (estimate {estimate / 60:.1f} min); chart {png}")


if __name__ == "__main__":
    main()
