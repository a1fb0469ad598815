"""Domain-adaptive pretraining and the frozen-feature probe on the real tweets, bundled SmolLM2.

    python -m bench.adapt [--max-texts 2000] [--sizes 128,1000] [--seeds 3] [--no-probe]
1. TAPT: LoRA on --max-texts train tweets (labels ignored), one epoch; perplexity on the eval tweets and on
   WikiText, before and after (8,192 tokens each).
2. A study: LoRA from the base model vs from the adapted one, at --sizes labelled tweets, --seeds seeds, the same
   300 eval tweets.
3. The frozen-feature probe on 1,000 / 1,000 (seed 42), with its interval (LoRA and full on the same split are in
   bench/RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from comparisons.analysis import study_report  # noqa: E402
from comparisons.ground.runs import RunStore  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402
from comparisons.ground.stats import accuracy_interval  # noqa: E402
from comparisons.running.api import Selection, make_config, run_method  # noqa: E402
from comparisons.running.study import StudySpec, StudyStore, run_study  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
CPU_LORA = {"forgetting_tokens": 0, "n_evals": 1, "curve_size": 32, "train_slice": False, "min_steps": 16,
            "batch_size": 8}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--max-texts", type=int, default=2000, help="unlabelled train tweets to adapt on")
    p.add_argument("--sizes", default="128,1000", help="labelled train sizes of the base-vs-adapted study")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--no-probe", action="store_true", help="skip the frozen-feature probe")
    a = p.parse_args()
    tweets = settings().shared_data / "tweet_sentiment_extraction"
    if not (tweets / "train.csv").exists():
        raise SystemExit(f"the real tweets are not at {tweets} (set TPR_SHARED_DATA)")
    root = Path(tempfile.mkdtemp(prefix="tpr-adapt-bench-"))
    os.environ["TPR_RUNS_DIR"] = str(root)  # run:<id> resolves in this store
    runs = RunStore(root)
    out = {}
    data = Selection(source=str(tweets), train_size=max(1000, a.max_texts), eval_size=300, seed=42).load()
    adapt = run_method("adapt", make_config("adapt", {"mode": "lora", "max_texts": a.max_texts,
                                                      "perplexity_tokens": 8192}), data, store=runs)
    out["adapt"] = {"run_id": adapt.run_id, "adaptation": adapt.diagnostics["adaptation"], "timings": adapt.timings,
                    "trainable_params": adapt.trainable_params}
    print(json.dumps(out["adapt"], indent=1), flush=True)

    spec = StudySpec(methods=["lora"], axis=f"model=auto,run:{adapt.run_id}", axis2=f"train_size={a.sizes}",
                     seeds=a.seeds, eval_size=300, data=str(tweets), settings=CPU_LORA)
    study = run_study(spec, runs=runs)
    v = study_report.view(StudyStore(runs), study)
    out["study"] = study_report.to_json(study, v["table"], v["cells"])
    print(study_report.display_table(v["table"], spec).to_string(index=False), flush=True)
    print("\n".join(v["findings"]), flush=True)

    if a.no_probe:
        OUT.mkdir(exist_ok=True)
        (OUT / f"adapt-{a.max_texts}.json").write_text(json.dumps(out, indent=1, default=str))
        return
    probe_data = Selection(source=str(tweets), train_size=1000, eval_size=1000, seed=42).load()
    probe = run_method("finetune", make_config("finetune", {"mode": "head"}), probe_data, store=runs)
    lo, hi = accuracy_interval(probe)
    out["head"] = {"accuracy": probe.metrics["accuracy"], "ci": [lo, hi], "macro_f1": probe.metrics["macro_f1"],
                   "timings": probe.timings, "trainable_params": probe.trainable_params}
    print(json.dumps(out["head"], indent=1), flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "adapt.json").write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
