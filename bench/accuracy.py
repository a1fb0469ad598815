"""Accuracy of each method on the real tweets, with the bundled models on this machine.

python bench/accuracy.py finetune --mode lora      # 1,000 train / 1,000 test, seed 42
python bench/accuracy.py fewshot                   # 300 test tweets: zero-shot, balanced, retrieved (+/- calibration)
python bench/accuracy.py fewshot --test-tweets all # the same on all 3,534 test tweets
python bench/accuracy.py rag                       # full train index, all 3,534 test tweets
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import save, stamp  # noqa: E402
from comparisons.ground.data import load_data, parse_size, subset  # noqa: E402
from comparisons.ground.errors import UserError  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402

SHARED = settings().tweets  # TPR_SHARED_DATA moves it


def _row(record, **extra):
    return {
        "label": record.label,
        "status": record.status,
        "accuracy": round(record.metrics.get("accuracy", 0), 4),
        "macro_f1": round(record.metrics.get("macro_f1", 0), 4),
        "seconds": record.timings.get("total_seconds"),
        **extra,
    }


def finetune(args):
    from finetune import FinetuneConfig
    from finetune.train import run

    data = subset(load_data(str(SHARED)), 1000, 1000, seed=42)
    values = json.loads(args.config) if args.config else {}
    record = run(FinetuneConfig(mode=args.mode, **values), data)
    return [
        _row(
            record,
            train_seconds=record.timings.get("train_seconds"),
            timings=record.timings,
            fit=record.diagnostics["fit"]["verdict"],
            forgetting=record.diagnostics.get("forgetting"),
            config=values,
            history=[h for h in record.history if h["event"] == "eval"],
        )
    ]


def fewshot(args):
    from fewshot import FewshotConfig
    from fewshot.run import run

    # 300 stratified test tweets by default (a few minutes a setting); --test-tweets all: all 3,534.
    data = subset(load_data(str(SHARED)), "all", args.test_tweets, seed=42)
    rows = []
    settings = (
        {"shots": 0, "template": "chat"},
        {"shots": 0, "template": "plain"},
        {"shots": 6, "selection": "balanced", "template": "plain"},
        {"shots": 6, "selection": "retrieved", "template": "plain"},
    )
    if args.config:  # a JSON list of settings to run instead
        settings = json.loads(args.config)
    for kw in settings:
        record = run(FewshotConfig(**{"calibrate": True, **kw}), data)
        rows.append(
            _row(
                record,
                settings=kw,
                calibrated=record.metrics["accuracy"],
                uncalibrated=round(record.diagnostics["accuracy_uncalibrated"], 4),
                tweets_per_second=record.timings["inference_tweets_per_second"],
            )
        )
        print(rows[-1], flush=True)
    return rows


def rag(args):
    from rag import RagConfig
    from rag.run import run

    data = load_data(str(SHARED))
    rows = []
    extra = json.loads(args.config) if args.config else {}  # e.g. {"backend": "onnx-int8"}
    for kw in ({"mode": "knn", **extra}, {"mode": "linear", **extra}):
        record = run(RagConfig(**kw), data)
        rows.append(_row(record, settings=kw, **{**record.diagnostics["summary"], "k": record.config.get("k_used")}))
        print(rows[-1], flush=True)
    return rows


def _test_tweets(value: str) -> str:
    """The project's own size check ('all' or a positive count), as a one-line argparse error."""
    try:
        parse_size(value)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def main():
    p = argparse.ArgumentParser()
    p.add_argument("method", choices=["finetune", "fewshot", "rag"])
    p.add_argument("--mode", default="lora")
    p.add_argument(
        "--config",
        default="",
        help="finetune/rag: extra settings as a JSON object; "
        "fewshot: a JSON list of settings to run instead of the default four",
    )
    p.add_argument(
        "--test-tweets",
        type=_test_tweets,
        default="300",
        help="fewshot: how many test tweets (stratified, seed 42), or 'all'",
    )
    a = p.parse_args()
    rows = {"finetune": finetune, "fewshot": fewshot, "rag": rag}[a.method](a)
    name = (
        a.method
        + (f"_{a.mode}" if a.method == "finetune" else "")
        + ("_custom" if a.config else "")
        + (f"_test{a.test_tweets}" if a.method == "fewshot" and a.test_tweets != "300" else "")
    )
    save(stamp(results=rows), f"accuracy_{name}")


if __name__ == "__main__":
    main()
