"""Few-shot scoring speed: plain batched scoring against the shared-prefix KV-cache path, same
model (the bundled SmolLM2-135M-Instruct), same tweets, same demonstrations, one run.

    python bench/fewshot_speed.py [--tweets 200] [--shots 6]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import save, stamp  # noqa: E402
from comparisons.ground.data import load_data, subset  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402
from fewshot import FewshotConfig  # noqa: E402
from fewshot.run import FewshotClassifier  # noqa: E402

SHARED = settings().tweets  # TPR_SHARED_DATA moves it


def timed(clf, texts, use_cache: bool, repeats: int) -> tuple[list[float], torch.Tensor]:
    clf.config.use_cache = use_cache
    demos = clf.demonstrations(texts)
    prompts = clf.prompts(texts, demos)
    rates, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = clf._logprobs(prompts)
        rates.append(len(texts) / (time.perf_counter() - t0))
    return rates, out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tweets", type=int, default=200)
    p.add_argument("--shots", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--templates", default="plain,chat")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "fewshot_speed.json"))
    a = p.parse_args()
    source = str(SHARED) if SHARED.exists() else "sample"
    data = subset(load_data(source), "all", a.tweets if SHARED.exists() else None, seed=42)
    texts = list(data.test.texts)
    result = stamp(torch_threads=torch.get_num_threads(), tweets=len(texts), shots=a.shots, data=source)
    for template in a.templates.split(","):
        clf = FewshotClassifier(FewshotConfig(shots=a.shots, selection="balanced", template=template, calibrate=False,
                                              batch_size=a.batch_size), data)
        # Interleave the two paths so that machine noise hits both alike; report medians.
        plain_rates, cached_rates = [], []
        for _ in range(a.repeats):
            r, plain = timed(clf, texts, False, 1)
            plain_rates += r
            r, cached = timed(clf, texts, True, 1)
            cached_rates += r
        result[template] = {
            "prompt_tokens_mean": round(
                float(np.mean([len(p.ids()) for p in clf.prompts(texts, clf.demonstrations(texts))])), 1
            ),
            "plain_tweets_per_second": round(float(np.median(plain_rates)), 2),
            "cached_tweets_per_second": round(float(np.median(cached_rates)), 2),
            "ratio": round(float(np.median(cached_rates) / np.median(plain_rates)), 2),
            "max_abs_logprob_difference": float((plain - cached).abs().max()),
        }
    save(result, a.out)


if __name__ == "__main__":
    main()
