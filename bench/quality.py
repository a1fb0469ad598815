"""The data-quality report on the real tweets, and what dropping its suspects does.

    python -m bench.quality report     # all 27,480 train tweets: time (embeddings cached), counts, and the 50
                                       # top-ranked suspects + 50 random rows to read by hand (bench/out/)
    python -m bench.quality drop       # 1,000 train / 1,000 test, seeds 42-44: LoRA and RAG linear before and
                                       # after dropping the suspects, with intervals and the paired test
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from comparisons.analysis.quality import quality_report, rows_to_drop  # noqa: E402
from comparisons.ground.data import drop_train_rows
from comparisons.ground.runs import RunStore  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402
from comparisons.ground.stats import accuracy_interval, paired_records  # noqa: E402
from comparisons.running.api import Selection, make_config, run_method  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def tweets() -> str:
    path = settings().shared_data / "tweet_sentiment_extraction"
    if not (path / "train.csv").exists():
        raise SystemExit(f"the real tweets are not at {path} (set TPR_SHARED_DATA)")
    return str(path)


def cmd_report() -> None:
    data = Selection(source=tweets(), train_size="all", eval_size="all").load()
    t0 = time.perf_counter()
    quality_report(data)  # fills the embedding cache
    cold = time.perf_counter() - t0
    report = quality_report(data)
    by = {f["key"]: f for f in report["findings"]}
    rng = np.random.RandomState(0)
    random_rows = sorted(rng.choice(len(data.train), 50, replace=False).tolist())
    suspects = by["label_suspects"]["detail"][:50]
    out = {"cold_seconds": round(cold, 1), "warm_seconds": report["seconds"], "n_train": report["n_train"],
           "probe_accuracy": report["probe_accuracy"], "summary": report["summary"],
           "counts": {k: f["n_rows"] for k, f in by.items()},
           "top_suspects": suspects,
           "random_rows": [{"row": i, "text": data.train.texts[i], "label": data.label_names[data.train.labels[i]]}
                           for i in random_rows]}
    OUT.mkdir(exist_ok=True)
    (OUT / "quality_report.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k not in ("top_suspects", "random_rows")}, indent=1))
    for d in suspects:
        print(f"S {d['row']:>6} {d['label']:>8} -> {d['suggested']:<8} {d['label_quality']:.3f} {d['text'].strip()!r}")
    for d in out["random_rows"]:
        print(f"R {d['row']:>6} {d['label']:>8} {d['text'].strip()!r}")


def cmd_drop(seeds=(42, 43, 44)) -> None:
    runs = RunStore(tempfile.mkdtemp(prefix="tpr-drop-"))
    rows = []
    for seed in seeds:
        data = Selection(source=tweets(), train_size=1000, eval_size=1000, seed=seed).load()
        report = quality_report(data)
        clean = drop_train_rows(data, rows_to_drop(report, ["suspects"]))
        for method, values in (("rag", {"mode": "linear"}), ("finetune", {"mode": "lora", "forgetting_tokens": 0,
                                                                         "save_model": False})):
            pair = []
            for name, d in (("before", data), ("after", clean)):
                r = run_method(method, make_config(method, {**values, "seed": seed}), d, store=runs)
                lo, hi = accuracy_interval(r)
                pair.append(r)
                rows.append({"seed": seed, "method": r.label, "data": name, "n_train": len(d.train),
                             "accuracy": round(r.metrics["accuracy"], 4), "ci": [round(lo, 4), round(hi, 4)],
                             "macro_f1": round(r.metrics["macro_f1"], 4),
                             "seconds": r.timings.get("total_seconds")})
                print(rows[-1], flush=True)
            test = paired_records(pair[1], pair[0])
            rows.append({"seed": seed, "method": pair[0].label, "paired": test.to_dict()})
            print(test.verdict(), flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "quality_drop.json").write_text(json.dumps(rows, indent=1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["report", "drop"])
    args = p.parse_args()
    {"report": cmd_report, "drop": cmd_drop}[args.what]()


if __name__ == "__main__":
    main()
