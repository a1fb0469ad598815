"""What the disagreement browser shows on the real tweets: a LoRA, a few-shot and a RAG run on one eval split
(1,000 train / 1,000 test, seed 42), each filter's size, examples, and the eval-label suspects.

    python -m bench.disagreements [--runs-dir DIR]   # reuses LoRA / RAG runs on that split found in DIR
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from comparisons.analysis import report  # noqa: E402
from comparisons.analysis.disagreement import browser  # noqa: E402
from comparisons.analysis.quality import eval_suspects  # noqa: E402
from comparisons.ground.runs import RunStore  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402
from comparisons.running.api import Selection, make_config, run_method  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
PLAN = (("finetune", {"mode": "lora", "forgetting_tokens": 0, "save_model": False}),
        ("fewshot", {"selection": "balanced", "shots": 6}), ("rag", {"mode": "linear"}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs-dir", default=None)
    args = p.parse_args()
    tweets = settings().shared_data / "tweet_sentiment_extraction"
    runs = RunStore(args.runs_dir or tempfile.mkdtemp(prefix="tpr-disagree-"))
    data = Selection(source=str(tweets), train_size=1000, eval_size=1000, seed=42).load()
    records = []
    for method, values in PLAN:
        found = [r for r in report.comparable(runs.list(), data.fingerprint)[0] if r.method == method
                 and all(r.config.get(k) == v for k, v in values.items()) and not r.data.get("cleaning")]
        records.append(found[0] if found else run_method(method, make_config(method, {**values, "seed": 42}), data,
                                                          store=runs))
    b = browser(records, data)
    lora, fewshot, rag = (r.run_id for r in records)
    out = {"runs": [{"label": r.label, "run_id": r.run_id, "accuracy": r.metrics["accuracy"]} for r in records],
           "counts": {"all_wrong": len(b.rows("all_wrong")), "disagree": len(b.rows("disagree")),
                      "lora_right_fewshot_wrong": len(b.rows("a_right_b_wrong", lora, fewshot)),
                      "fewshot_right_lora_wrong": len(b.rows("a_right_b_wrong", fewshot, lora)),
                      "lora_right_rag_wrong": len(b.rows("a_right_b_wrong", lora, rag)),
                      "rag_right_lora_wrong": len(b.rows("a_right_b_wrong", rag, lora)),
                      "confident_errors_0.9": len(b.rows("confident_errors", threshold=0.9))}}
    for name, rows in (("all_wrong", b.rows("all_wrong")), ("fewshot_right_lora_wrong", b.rows("a_right_b_wrong",
                                                                                                fewshot, lora)),
                       ("confident_errors", b.rows("confident_errors", threshold=0.9))):
        out[f"examples_{name}"] = b.frame(rows[:12]).to_dict("records")
    out["eval_suspects"] = eval_suspects(records, data, top=20)
    OUT.mkdir(exist_ok=True)
    (OUT / "disagreements.json").write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps({k: out[k] for k in ("runs", "counts")}, indent=1))
    for key in ("examples_all_wrong", "examples_fewshot_right_lora_wrong", "examples_confident_errors"):
        print(f"\n{key}")
        for row in out[key]:
            print(" | ".join(str(v)[:90] for v in row.values()))
    print("\neval suspects:", out["eval_suspects"]["n_suspects"])
    for s in out["eval_suspects"]["suspects"]:
        print(f"  {s['row']:>4} {s['gold']:>8} -> {s['suggested']:<8} {s['label_quality']:.3f} {s['text'][:90]!r}")
    print(json.dumps(out["eval_suspects"]["accuracy_if_mislabelled"], indent=1))


if __name__ == "__main__":
    main()
