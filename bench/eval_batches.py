"""Evaluation batches on a CPU, the new recipe against the one it replaced, side by side in one process on real
tweets: a LoRA run at the CLI's defaults for its evaluations (3 curve evaluations of 128 eval and 128 train tweets,
then the whole eval split), short training. Former recipe: curve slices in index order (each batch padded to its
longest tweet, most batches to about the slice's longest). New: curve slices in length order
(finetune.train.by_length). Tried and not kept: eval batches of 16 instead of 64 (faster on one core for 64 tweets,
slower on two cores for 256). Same seed, same tweets, same training: the table gives each phase's
seconds (median over repeats, interleaved), the ratio, and both accuracies.

    python -m bench.eval_batches [--train 96] [--eval 256] [--repeats 2]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from comparisons.ground.data import load_data, subset

from .common import save, stamp


def main() -> None:
    import finetune.train as T
    from comparisons.ground.runs import RunStore
    from comparisons.ground.settings import settings
    from finetune import FinetuneConfig

    p = argparse.ArgumentParser()
    p.add_argument("--train", type=int, default=96)
    p.add_argument("--eval", type=int, default=256)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    data = subset(load_data(str(settings().shared_data / "tweet_sentiment_extraction")), a.train, a.eval, seed=42)
    new_order = T.by_length
    recipes = {"former (64, index order)": (64, lambda ds, idx: sorted(int(i) for i in idx)),
               "new (64, length order)": (64, new_order),
               "tried (16, length order)": (16, new_order)}
    out = {name: {"train_s": [], "eval_s": [], "total_s": [], "accuracy": []} for name in recipes}
    for _ in range(a.repeats):
        for name, (batch, order) in recipes.items():
            T.by_length = order
            config = FinetuneConfig(mode="lora", epochs=1, batch_size=16, n_evals=3, curve_size=128,
                                    forgetting_tokens=0, eval_batch_size=batch)
            t0 = time.perf_counter()
            record = T.run(config, data, store=RunStore(tempfile.mkdtemp()))
            o = out[name]
            o["total_s"].append(time.perf_counter() - t0)
            o["train_s"].append(record.timings["train_seconds"])  # includes the 3 curve evaluations
            o["eval_s"].append(record.timings["eval_seconds"])
            o["accuracy"].append(record.metrics["accuracy"])
    T.by_length = new_order
    rows = [{"recipe": name, **{k: round(statistics.median(v), 2) if k != "accuracy" else v for k, v in o.items()}}
            for name, o in out.items()]
    old = rows[0]
    ratios = {r["recipe"]: {k: round(old[k] / r[k], 2) for k in ("train_s", "eval_s", "total_s")} for r in rows[1:]}
    save(stamp(train=a.train, eval=a.eval, repeats=a.repeats, rows=rows, former_over_new=ratios), "eval_batches")


if __name__ == "__main__":
    main()
