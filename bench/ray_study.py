"""A study on Ray against the same study run locally, on the real tweets (issue: 12 cells of fast methods, Ray with 2
CPUs at least 1.6x faster than local sequential on this machine). Each backend runs in its own process with its own
empty embedding cache, so neither reuses the other's work; the cells' accuracies are compared too.

    python -m bench.ray_study [--methods baseline,rag:knn,rag:linear] [--sizes 500,1000,2000,4000] [--eval-size 1000]
    python -m bench.ray_study --methods lora,baseline,rag:linear --preset cpu --sizes 64,256 --eval-size 300 \
        --out bench/out/ray_study_mixed.json   # a mixed study: LoRA cells beside cheap ones
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import save, stamp

HERE = Path(__file__).resolve().parent

ONE = """
import json, sys, time
from comparisons.ground.runs import RunStore
from comparisons.running.study import StudySpec, StudyStore, run_study
from comparisons.analysis.study_report import cell_frame
spec = StudySpec(methods={methods!r}, axis="train_size={sizes}", seeds={seeds}, eval_size={eval_size!r}, data={data!r},
                 settings={settings!r})
t0 = time.perf_counter()
store = RunStore({runs!r})
study = run_study(spec, runs=store, backend={backend!r})
wall = time.perf_counter() - t0
cells = cell_frame(study, StudyStore(store).records(study))
print("RESULT " + json.dumps({{"wall": wall, "status": study.status, "where": study.where,
      "accuracy": {{f"{{r.method}}|{{r.x}}|{{r.seed}}": r.accuracy for r in cells.itertuples()}},
      "nodes": sorted(set(cells["node"]))}}))
"""


def settings_of(args) -> dict:
    if not args.preset:
        return {}
    from comparisons.running.study import STUDY_PRESETS

    return STUDY_PRESETS[args.preset].spec["settings"]


def run(backend: str, args, data: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TPR_EMBED_CACHE": tempfile.mkdtemp(prefix=f"emb-{backend}-"),
           "TPR_CACHE": tempfile.mkdtemp(prefix=f"cache-{backend}-"), "RAY_USAGE_STATS_ENABLED": "0"}
    code = ONE.format(methods=args.methods.split(","), sizes=args.sizes, seeds=args.seeds, eval_size=args.eval_size,
                      data=data, runs=tempfile.mkdtemp(prefix=f"runs-{backend}-"), backend=backend,
                      settings=settings_of(args))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=3600)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{backend} failed: {out.stderr[-2000:]}")
    result = json.loads(line[7:])
    result["process_wall"] = time.perf_counter() - t0
    print(backend, {k: v for k, v in result.items() if k != "accuracy"}, flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--methods", default="baseline,rag:knn,rag:linear")
    p.add_argument("--sizes", default="500,1000,2000,4000")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--eval-size", default="1000")
    p.add_argument("--out", default=str(HERE / "out" / "ray_study.json"))
    p.add_argument("--preset", choices=["cpu", "gpu"],
                   help="the shared settings of a study preset (cpu: LoRA's CPU recipe)")
    args = p.parse_args()
    from comparisons.ground.settings import settings

    tweets = settings().shared_data / "tweet_sentiment_extraction"
    if not (tweets / "train.csv").exists():
        raise SystemExit(f"the real tweets are not at {tweets} (set TPR_SHARED_DATA)")
    local = run("local", args, str(tweets))
    on_ray = run("ray", args, str(tweets))
    same = local["accuracy"] == on_ray["accuracy"]
    save(stamp(methods=args.methods, preset=args.preset, sizes=args.sizes, seeds=args.seeds, eval_size=args.eval_size,
               cells=len(local["accuracy"]), local_seconds=round(local["wall"], 1),
               ray_seconds=round(on_ray["wall"], 1), speedup=round(local["wall"] / on_ray["wall"], 2),
               ray_where=on_ray["where"], identical_accuracies=same,
               differences={k: (local["accuracy"][k], on_ray["accuracy"].get(k)) for k in local["accuracy"]
                            if local["accuracy"][k] != on_ray["accuracy"].get(k)}), args.out)


if __name__ == "__main__":
    main()
