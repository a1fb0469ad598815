"""Pick few-shot settings without looking at the test split.

Each candidate is scored once on a stratified slice of the *train* split (leave-one-out: a dev tweet
retrieves its demonstrations from the rest of train, never itself or an exact duplicate), and all four
calibrations are computed from that one pass. The best candidate is then measured once on the test
tweets with `bench/accuracy.py fewshot --test-tweets all --config '[...]'`.

    python bench/fewshot_select.py                       # the default candidates, 400 dev tweets (~40 min)
    python bench/fewshot_select.py --dev 200 --candidates '[{"shots": 8}]'

A candidate is a JSON object of FewshotConfig settings; `"pick": "nearest-per-class"` instead takes the
nearest shots/3 train tweets of each label (a prototype selection, tried here before it is offered).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import save, stamp  # noqa: E402
from comparisons.ground.data import TweetData, load_data, subset  # noqa: E402
from comparisons.ground.errors import UserError  # noqa: E402
from comparisons.ground.metrics import classification_metrics  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402
from fewshot.run import FewshotClassifier, FewshotConfig  # noqa: E402
from fewshot.scoring import every_calibration  # noqa: E402

SHARED = settings().tweets  # TPR_SHARED_DATA moves it
DEFAULT = [
    {"shots": 6},
    {"shots": 8},
    {"shots": 12},
    {"shots": 16},
    {"shots": 6, "template": "chat"},
    {"shots": 6, "pick": "nearest-per-class"},
    {"shots": 6, "label_words": "bad, neutral, good"},
]


class NearestPerClass(FewshotClassifier):
    """The nearest shots / n_labels train tweets of each label, most similar last."""

    def demonstrations(self, texts, query_vectors=None):
        n_labels, k = len(self.label_names), self.config.shots
        _, ids = self.retriever.neighbours(texts, max(64, 8 * k), query_vectors=query_vectors)
        out = []
        for row in ids:
            taken, chosen = [0] * n_labels, []
            for i in row[row >= 0]:
                c = int(self.train_labels[i])
                if taken[c] < k // n_labels:
                    taken[c] += 1
                    chosen.append(int(i))
            out.append(chosen[::-1])
        return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dev", default="400", help="dev tweets drawn (stratified, seed 7) from train")
    p.add_argument("--candidates", default="", help="a JSON list of settings; default: the list in this file")
    a = p.parse_args()
    # Bad input (data folder, dev size, candidate JSON or setting) is a one-line error before any scoring.
    try:
        data = load_data(str(SHARED))
        dev = subset(data, a.dev, None, seed=7).train  # scored as the eval split; the pool stays all of train
        candidates = json.loads(a.candidates) if a.candidates else DEFAULT
        if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
            raise UserError("--candidates must be a JSON list of objects, e.g. '[{\"shots\": 8}]'.")
        if any(c.get("pick", "nearest-per-class") != "nearest-per-class" for c in candidates):
            raise UserError('"pick" takes one value: "nearest-per-class".')
        configs = [FewshotConfig.from_dict({"selection": "retrieved", "calibrate": True, "calibration": "both",
                                            **{k: v for k, v in c.items() if k != "pick"}}) for c in candidates]
    except json.JSONDecodeError as e:
        p.error(f"--candidates is not valid JSON: {e}")
    except UserError as e:
        p.error(str(e))
    devdata = TweetData(data.train, dev, list(data.label_names), data.source)
    y = np.asarray(dev.labels)
    rows = []
    for cand, config in zip(candidates, configs):
        cls = NearestPerClass if cand.get("pick") == "nearest-per-class" else FewshotClassifier
        clf = cls(config, devdata)
        t0 = time.perf_counter()
        out = clf.score(dev.texts)
        seconds = time.perf_counter() - t0
        row = {"candidate": cand, "seconds": round(seconds, 1),
               "prompt_tokens_mean": round(float(np.mean(out["prompt_tokens"])), 1)}
        predictions = {}  # per calibration, for paired comparisons; saved, not printed
        for name, probs in every_calibration(torch.as_tensor(out["probs_uncalibrated"]),
                                             torch.as_tensor(out["content_free"])).items():
            predictions[name] = probs.argmax(1).numpy()
            m = classification_metrics(y, predictions[name], data.label_names)
            row[name] = {"accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4)}
        print(json.dumps(row), flush=True)
        rows.append({**row, "predictions": {k: v.tolist() for k, v in predictions.items()}})
    best = max(rows, key=lambda r: r["both"]["accuracy"])
    save(
        stamp(dev_tweets=len(dev), dev_seed=7, labels=y.tolist(), results=rows, best=best["candidate"]),
        "fewshot_select",
    )


if __name__ == "__main__":
    main()
