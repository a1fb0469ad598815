"""Classification metrics for every method, through the project's own `evaluate` module
(comparisons/evaluation/tpr_classification.py, loaded from its path: nothing is fetched from the Hub).
The Trainer's `compute_metrics` and every method's final metrics both come from here."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

MODULE = Path(__file__).parent.parent / "evaluation" / "tpr_classification.py"
_LOCK = threading.Lock()


def load_metric():
    """A fresh `evaluate` metric object (cheap after the first load); one per computation, so that two
    threads never add batches to the same object."""
    import evaluate

    with _LOCK:
        return evaluate.load(str(MODULE), keep_in_memory=True)


def classification_metrics(y_true, y_pred, label_names: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix
    (rows: true label, columns: predicted label)."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if len(y_true) == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "per_class": {}, "confusion_matrix": [], "n": 0}
    return load_metric().compute(predictions=y_pred.tolist(), references=y_true.tolist(), label_names=list(label_names))


def trainer_metrics(eval_pred) -> dict:
    """`compute_metrics` for transformers.Trainer: accuracy from the same module."""
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    y_pred = np.argmax(logits, -1)
    out = load_metric().compute(predictions=y_pred.tolist(), references=np.asarray(labels).tolist())
    return {"accuracy": out["accuracy"]}
