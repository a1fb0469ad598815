"""The time estimate (comparisons.ground.estimate_run) against the measured time of each method at two sizes, on this
machine, with the app's settings (its "app" presets) and the real tweets (or the sample). Each run in its own
process with an empty embedding cache, as a visitor's first run of a selection: what the estimate says before the
run starts, what the run took, and their ratio. Also the run's own timings, from which the fixed costs are read.

    python -m bench.estimate_time [--only finetune-lora,rag-knn] [--out estimate_time]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import save, stamp

# name -> (method, settings over the app's defaults, [(n_train, n_eval), (n_train, n_eval)])
CASES = {
    "finetune-lora": ("finetune", {"mode": "lora"}, [(200, 200), (800, 200)]),
    "finetune-full": ("finetune", {"mode": "full"}, [(200, 200), (800, 200)]),
    "finetune-head": ("finetune", {"mode": "head"}, [(200, 200), (800, 200)]),
    "fewshot-balanced": ("fewshot", {"selection": "balanced"}, [(800, 100), (800, 300)]),
    "fewshot-retrieved": ("fewshot", {"selection": "retrieved"}, [(800, 60), (800, 180)]),
    "rag-knn": ("rag", {"mode": "knn"}, [(1000, 200), (4000, 200)]),
    "rag-linear": ("rag", {"mode": "linear"}, [(1000, 200), (4000, 200)]),
    "rag-prompt": ("rag", {"mode": "prompt"}, [(800, 60), (800, 180)]),
    "baseline": ("baseline", {}, [(1000, 300), (8000, 300)]),
    "setfit-60": ("setfit", {"max_steps": 60}, [(200, 200)]),
    "setfit-120": ("setfit", {"max_steps": 120}, [(800, 200)]),
    "adapt": ("adapt", {}, [(200, 100), (800, 100)]),
}


# Other sizes, to check the rates fitted on CASES out of sample (and SetFit, whose first runs failed to start).
VALIDATION = {
    "finetune-lora": ("finetune", {"mode": "lora"}, [(400, 150)]),
    "finetune-full": ("finetune", {"mode": "full"}, [(400, 150)]),
    "finetune-head": ("finetune", {"mode": "head"}, [(500, 150)]),
    "fewshot-balanced": ("fewshot", {"selection": "balanced"}, [(800, 200)]),
    "fewshot-retrieved": ("fewshot", {"selection": "retrieved"}, [(800, 120)]),
    "rag-knn": ("rag", {"mode": "knn"}, [(2000, 200)]),
    "rag-linear": ("rag", {"mode": "linear"}, [(2000, 200)]),
    "rag-prompt": ("rag", {"mode": "prompt"}, [(800, 120)]),
    "baseline": ("baseline", {}, [(4000, 300)]),
    "setfit-60": ("setfit", {"max_steps": 60}, [(200, 200)]),
    "setfit-120": ("setfit", {"max_steps": 120}, [(800, 200)]),
    "setfit-90": ("setfit", {"max_steps": 90}, [(400, 150)]),  # after SetFit was calibrated on the two above
    "adapt": ("adapt", {}, [(400, 100)]),
}


def one(method: str, values: dict, n_train: int, n_eval: int) -> dict:
    import sys as _sys

    from comparisons.ground.data import load_data, subset
    from comparisons.ground.settings import settings
    from comparisons.running.api import make_config, run_method

    config_module = _sys.modules[type(make_config(method, {})).__module__]
    presets = getattr(config_module, "PRESETS", {})
    app = presets["app"].values if "app" in presets else {}
    source = str(settings().tweets) if settings().tweets.exists() else "sample"
    full = load_data(source)
    data = subset(full, min(n_train, len(full.train)), min(n_eval, len(full.test)), seed=42)
    config = make_config(method, {**app, **values, "save_model": False} if method in ("finetune", "adapt")
                         else {**app, **values})
    record = run_method(method, config, data, store=None)
    est = record.diagnostics.get("estimate", {})
    return {"method": method, "settings": values, "n_train": len(data.train), "n_eval": len(data.test),
            "status": record.status, "estimate_seconds": round(est.get("seconds") or 0, 1),
            "measured_seconds": record.timings.get("total_seconds"),
            "ratio": round((est.get("seconds") or 0) / max(record.timings.get("total_seconds") or 1e-9, 1e-9), 3),
            "timings": record.timings, "estimate_breakdown": est.get("time_breakdown", {})}


def replay(path: str) -> list[dict]:
    """The current estimate for each measured row of an earlier run of this benchmark, with each run's cache state
    reproduced: an empty embedding cache, and the frozen LM's features of an eval split cached once an earlier row
    of the same method had read it (as they were). The measured times stay those of the runs."""
    import sys as _sys
    from unittest import mock

    import finetune.head
    from comparisons.ground.data import load_data, subset
    from comparisons.ground.estimate_run import estimate_for
    from comparisons.ground.settings import settings
    from comparisons.running.api import make_config

    source = str(settings().tweets) if settings().tweets.exists() else "sample"
    full = load_data(source)
    features = tempfile.mkdtemp(prefix="tpr-features-")
    rows = []
    for row in json.load(open(path))["rows"]:
        if "measured_seconds" not in row:
            continue
        method, values = row["method"], row["settings"]
        presets = getattr(_sys.modules[type(make_config(method, {})).__module__], "PRESETS", {})
        app = presets["app"].values if "app" in presets else {}
        data = subset(full, row["n_train"], row["n_eval"], seed=42)
        config = make_config(method, {**app, **values, **({"save_model": False} if method in ("finetune", "adapt")
                                                           else {})})
        with mock.patch.dict(os.environ, {"TPR_EMBED_CACHE": tempfile.mkdtemp(prefix="tpr-embed-")}), \
                mock.patch.object(finetune.head, "cache_root", lambda: Path(features)):
            est = estimate_for(method, config, data)
            if method == "finetune" and values.get("mode") == "head":  # what the run left in the features cache
                for texts in (data.train.texts, data.test.texts):
                    target = finetune.head._cache_path("x", config, texts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.touch()
        rows.append({"case": row["case"], "n_train": row["n_train"], "n_eval": row["n_eval"],
                     "estimate_seconds": round(est.seconds, 1), "measured_seconds": row["measured_seconds"],
                     "ratio": round(est.seconds / row["measured_seconds"], 3), "phases": est.time_breakdown})
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="", help="comma-separated case names (default: all)")
    p.add_argument("--out", default="estimate_time")
    p.add_argument("--one", default="", help=argparse.SUPPRESS)  # a JSON case, run in a child process
    p.add_argument("--validation", action="store_true", help="the VALIDATION sizes instead of CASES")
    p.add_argument("--replay", default="", help="a JSON this benchmark wrote: today's estimates of its measured runs")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.replay:
        rows = replay(a.replay)
        for r in rows:
            print(json.dumps({k: v for k, v in r.items() if k != "phases"}))
        save(stamp(replayed=a.replay, rows=rows, within_30_percent=sum(0.7 <= r["ratio"] <= 1.3 for r in rows),
                   of=len(rows)), a.out)
        return
    if a.one:
        case = json.loads(a.one)
        print(json.dumps(one(case["method"], case["values"], case["n_train"], case["n_eval"]), default=str))
        return
    rows = []
    cases = VALIDATION if a.validation else CASES
    names = [n for n in a.only.split(",") if n] or list(cases)
    for name in names:
        method, values, sizes = cases[name]
        for n_train, n_eval in sizes:
            env = {**os.environ, "TPR_EMBED_CACHE": tempfile.mkdtemp(prefix="tpr-embed-")}
            case = json.dumps({"method": method, "values": values, "n_train": n_train, "n_eval": n_eval})
            out = subprocess.run([sys.executable, "-m", "bench.estimate_time", "--one", case], capture_output=True,
                                 text=True, env=env)
            if out.returncode != 0:
                rows.append({"case": name, "n_train": n_train, "n_eval": n_eval, "error": out.stderr[-800:]})
            else:
                rows.append({"case": name, **json.loads(out.stdout.strip().splitlines()[-1])})
            print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("timings", "estimate_breakdown")}),
                  flush=True)
    ok = [r for r in rows if "ratio" in r]
    save(stamp(rows=rows, within_30_percent=sum(0.7 <= r["ratio"] <= 1.3 for r in ok), of=len(ok)), a.out)


if __name__ == "__main__":
    main()
