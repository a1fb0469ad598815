"""The disagreement browser: one row per eval tweet over the finished runs on one eval split (the text, the gold
label, each run's prediction and confidence), the filters that answer "where do the methods differ?", their
counts, and what one tweet looked like to each method (RAG's neighbours, the few-shot prompt with its label
probabilities before and after calibration, the fine-tuned model's probabilities)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from comparisons.ground.data import TweetData
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunRecord

FILTERS = {
    "all": "every tweet",
    "all_wrong": "every run wrong",
    "a_right_b_wrong": "run A right, run B wrong",
    "disagree": "the runs disagree",
    "confident_errors": "confident errors (wrong with confidence ≥ threshold)",
}


def run_name(r: RunRecord) -> str:
    return f"{r.label} [{r.run_id[-6:]}]"


@dataclass
class Browser:
    data: TweetData
    records: list[RunRecord]
    y: np.ndarray  # gold labels
    pred: np.ndarray  # runs × tweets
    conf: np.ndarray  # runs × tweets: the probability of the predicted label

    @property
    def names(self) -> list[str]:
        return [run_name(r) for r in self.records]

    def index(self, run_id: str | None) -> int:
        for i, r in enumerate(self.records):
            if run_id and r.run_id == run_id:
                return i
        raise UserError(f"run '{run_id}' is not among the finished runs on this eval split.")

    def rows(self, kind: str = "all", a: str | None = None, b: str | None = None, threshold: float = 0.9,
             gold: str | None = None, query: str = "") -> np.ndarray:
        """Eval rows passing the filter, narrowed by a gold label and a text search (case-insensitive)."""
        right = self.pred == self.y[None, :]
        if kind == "all":
            mask = np.ones(len(self.y), dtype=bool)
        elif kind == "all_wrong":
            mask = ~right.any(0)
        elif kind == "a_right_b_wrong":
            if not a or not b or a == b:
                raise UserError("choose two different runs as A and B.")
            mask = right[self.index(a)] & ~right[self.index(b)]
        elif kind == "disagree":
            mask = (self.pred != self.pred[:1]).any(0)
        elif kind == "confident_errors":  # any run wrong with at least that confidence
            mask = ((~right) & (self.conf >= threshold)).any(0)
        else:
            raise UserError(f"unknown filter '{kind}'. Filters: {', '.join(FILTERS)}.")
        if gold:
            if gold not in self.data.label_names:
                raise UserError(f"gold label must be one of {', '.join(self.data.label_names)}, got {gold!r}.")
            mask &= self.y == self.data.label_names.index(gold)
        if query and query.strip():
            q = query.strip().casefold()
            mask &= np.array([q in t.casefold() for t in self.data.test.texts])
        return np.flatnonzero(mask)

    def counts(self, a: str | None = None, b: str | None = None, threshold: float = 0.9, gold: str | None = None,
               query: str = "") -> dict[str, int]:
        """Each filter's size under the same narrowing, e.g. {"a_right_b_wrong": 84, ...}."""
        out = {}
        for kind in FILTERS:
            if kind == "a_right_b_wrong" and (not a or not b or a == b):
                continue
            out[kind] = int(len(self.rows(kind, a, b, threshold, gold, query)))
        return out

    def frame(self, rows) -> pd.DataFrame:
        """Row, gold label, each run's prediction (✓/✗, label, confidence), then the text: what a person reads
        first stays on screen; the text wraps last."""
        names = self.data.label_names
        out = pd.DataFrame({"row": rows, "gold": [names[self.y[i]] for i in rows]})
        for j, name in enumerate(self.names):
            out[name] = [f"{'✓' if self.pred[j, i] == self.y[i] else '✗'} {names[self.pred[j, i]]} "
                         f"{self.conf[j, i]:.2f}" for i in rows]
        out["text"] = [self.data.test.texts[i] for i in rows]
        return out


def browser(records: list[RunRecord], data: TweetData) -> Browser:
    """The finished runs with predictions on this selection's eval split; runs of another split are an error."""
    done = [r for r in records if (r.predictions or {}).get("probs")]
    if not done:
        raise UserError("no finished run with predictions: run two methods first.")
    splits = {r.data.get("fingerprint") for r in done}
    if len(splits) > 1:
        raise UserError(f"these runs were evaluated on different eval splits ({', '.join(sorted(map(str, splits)))}); "
                        "a disagreement filter needs runs on one split.")
    if splits != {data.fingerprint}:
        raise UserError(f"the runs were evaluated on eval split {splits.pop()}, not on the selection's "
                        f"{data.fingerprint}: load the data selection they used (Data tab).")
    y = np.asarray(data.test.labels)
    probs = np.stack([np.asarray(r.predictions["probs"], dtype=float) for r in done])
    pred = probs.argmax(2)
    return Browser(data, done, y, pred, np.take_along_axis(probs, pred[..., None], 2)[..., 0])
