"""The classic baseline: TF-IDF over word and character n-grams, then logistic regression (scikit-learn).
What a practitioner fits first, in seconds, before any language model."""

from __future__ import annotations

import threading
import time

import numpy as np

from comparisons.ground.data import TweetData
from comparisons.ground.runs import RunRecord, RunStore, finish_predictions, new_record, tracked

from .config import BaselineConfig, ngram_range


def build(config: BaselineConfig):
    """The scikit-learn pipeline: word and/or char_wb TF-IDF features side by side, logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    limit = config.max_features or None
    parts = []
    if config.word_ngrams.strip():
        parts.append(("words", TfidfVectorizer(ngram_range=ngram_range(config.word_ngrams, "word_ngrams"),
                                               min_df=config.min_df, max_features=limit, sublinear_tf=True)))
    if config.char_ngrams.strip():
        parts.append(("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range(config.char_ngrams,
                                                                                          "char_ngrams"),
                                               min_df=config.min_df, max_features=limit, sublinear_tf=True)))
    clf = LogisticRegression(C=config.C, max_iter=3000, random_state=config.seed)
    return Pipeline([("features", FeatureUnion(parts)), ("clf", clf)])


def run(config: BaselineConfig, data: TweetData, *, on_event=None, stop: threading.Event | None = None,
        store: RunStore | None = None) -> RunRecord:
    """Fit on data.train, evaluate on data.test; returns the finished RunRecord."""
    record = new_record("baseline", config, data, precision="fp32")  # scikit-learn
    emit = on_event or (lambda e: None)
    with tracked(record, store, on_event=on_event):
        emit({"event": "start", "run_id": record.run_id, "notices": list(record.notices)})
        if stop is not None and stop.is_set():
            record.status = "stopped"
            record.notices.append("Stopped by the user before fitting.")
            return record
        pipeline = build(config)
        t0 = time.perf_counter()
        emit({"event": "progress", "stage": "fit", "done": 0, "total": 1})
        pipeline.fit(list(data.train.texts), np.asarray(data.train.labels))
        fit_seconds = time.perf_counter() - t0
        emit({"event": "progress", "stage": "fit", "done": 1, "total": 1})
        t0 = time.perf_counter()
        probs = np.zeros((len(data.test), data.n_labels))
        clf = pipeline.named_steps["clf"]
        probs[:, clf.classes_] = pipeline.predict_proba(list(data.test.texts))
        finish_predictions(record, data.test.labels, probs, data.label_names, time.perf_counter() - t0)
        n_features = sum(len(v.vocabulary_) for _, v in pipeline.named_steps["features"].transformer_list)
        record.trainable_params = int(clf.coef_.size + clf.intercept_.size)
        record.total_params = record.trainable_params
        record.timings["fit_seconds"] = round(fit_seconds, 3)
        record.diagnostics["summary"] = {"fit_seconds": round(fit_seconds, 3), "features": n_features}
        emit({"event": "done", "accuracy": record.metrics["accuracy"], "macro_f1": record.metrics["macro_f1"]})
    return record

