"""Label-budget forecasts against measured accuracy on the real tweets (issue: the forecast at 4,096 and at all 27,480
labelled tweets within 3 and 5 points of the measured accuracy, each inside its 95 % interval). A study of the TF-IDF
baseline and RAG's linear probe at 64, 256 and 1,024 labelled tweets x 3 seeds on all 3,534 test tweets; the curves
fitted (comparisons.analysis.forecast); then both methods measured at 4,096 (3 seeds, as a study) and at all 27,480.

    python -m bench.forecast_backtest [--methods baseline,rag:linear] [--sizes 64,256,1024] [--at 4096,all]
    python -m bench.forecast_backtest --cells bench/out/forecast_backtest_cells.csv   # refit the saved cells only
    python -m bench.forecast_backtest --methods lora --preset cpu --sizes 32,128,512 --at 2048 --eval-size 1000 \
        --out bench/out/forecast_backtest_lora.json

Every cell (method, train size, seed, accuracy; fitted or measured) is saved beside the JSON, so that a change to the
fit or its intervals is judged on the same measurements without running them again.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from comparisons.analysis import forecast, study_report  # noqa: E402
from comparisons.ground.runs import RunStore  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402
from comparisons.running.study import STUDY_PRESETS, StudySpec, StudyStore, load_full, run_study  # noqa: E402

from .common import save, stamp  # noqa: E402

HERE = Path(__file__).resolve().parent


def study_cells(methods, sizes, seeds, tweets, runs, eval_size, settings_=None):
    spec = StudySpec(methods=methods, axis=f"train_size={sizes}", seeds=seeds, eval_size=eval_size, data=str(tweets),
                     settings=settings_ or {})
    study = run_study(spec, runs=runs, full=load_full(spec))
    return study_report.cell_frame(study, StudyStore(runs).records(study))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--methods", default="baseline,rag:linear")
    p.add_argument("--sizes", default="64,256,1024")
    p.add_argument("--at", default="4096,all")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--eval-size", default="all")
    p.add_argument("--out", default=str(HERE / "out" / "forecast_backtest.json"))
    p.add_argument("--cells", help="a CSV saved by an earlier run: refit its cells, run nothing")
    p.add_argument("--preset", choices=["cpu", "gpu"],
                   help="the settings of a study preset (cpu: LoRA's CPU recipe of the Studies tab)")
    p.add_argument("--at-seeds", type=int, help="seeds of the measured sizes (default: --seeds)")
    args = p.parse_args()
    t0 = time.perf_counter()
    if args.cells:
        import pandas as pd

        saved = pd.read_csv(args.cells)
        fitted = saved[saved["role"] == "fitted"]
        measured = [saved[saved["role"] == "measured"]]
        report(fitted, measured, args, t0)
        return
    tweets = settings().shared_data / "tweet_sentiment_extraction"
    if not (tweets / "train.csv").exists():
        raise SystemExit(f"the real tweets are not at {tweets} (set TPR_SHARED_DATA)")
    runs = RunStore(tempfile.mkdtemp(prefix="tpr-forecast-"))
    methods = [m.strip() for m in args.methods.split(",")]
    shared = STUDY_PRESETS[args.preset].spec["settings"] if args.preset else {}
    fitted = study_cells(methods, args.sizes, args.seeds, tweets, runs, args.eval_size, shared)
    print(f"[{time.perf_counter() - t0:.0f} s] study done: {len(fitted)} cells", flush=True)
    measured = []
    for at in args.at.split(","):
        seeds = 1 if at == "all" else (args.at_seeds or args.seeds)  # all the train tweets: every seed the same rows
        cells = study_cells(methods, at, seeds, tweets, runs, args.eval_size, shared)
        measured.append(cells)
        print(f"[{time.perf_counter() - t0:.0f} s] measured at {at}: {len(cells)} cells", flush=True)
    import pandas as pd

    columns = ["method", "train_size", "seed", "accuracy"]
    pd.concat([fitted[columns].assign(role="fitted"), *(m[columns].assign(role="measured") for m in measured)]).to_csv(
        Path(args.out).with_name(Path(args.out).stem + "_cells.csv"), index=False)
    report(fitted, measured, args, t0)


def report(fitted, measured, args, t0) -> None:
    sizes_at = sorted({int(n) for cells in measured for n in cells["train_size"]})
    entries = forecast.forecasts(fitted, at=sizes_at)
    rows = []
    for e in entries:
        for f in e.get("forecast", []):
            truth = [c for cells in measured for c in cells.itertuples() if c.method == e["method"]
                     and int(c.train_size) == f["n"]]
            mean = sum(c.accuracy for c in truth) / len(truth)
            rows.append({"method": e["method"], "n": f["n"], "forecast": f["mean"], "low": f["low"],
                         "high": f["high"], "measured": round(mean, 4),
                         "error_points": round(100 * (f["mean"] - mean), 2),
                         "inside": f["low"] <= mean <= f["high"], "reach": f["reach"]})
    for r in rows:
        print(r, flush=True)
    print("\n".join(forecast.forecast_lines(entries)))
    save(stamp(wall_seconds=round(time.perf_counter() - t0, 1), sizes=args.sizes, seeds=args.seeds,
               eval_size=args.eval_size, refit_of=args.cells, rows=rows, fits=entries), args.out)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
