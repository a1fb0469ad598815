"""Classification metrics for every method: one definition (`classification_report`, over scikit-learn), published
as the project's own `evaluate` module (comparisons/evaluation/tpr_classification.py, loaded from its path: nothing
is fetched from the Hub), which the Trainer's `compute_metrics` goes through.

A method's final metrics call the definition directly: `import evaluate` imports torch, `datasets` and
transformers' pipelines (6-10 s of CPU in a fresh process, measured 2026-12-03), which a TF-IDF run, a CLI call or a
Ray worker that needs none of them paid before its first number; inside a fine-tuning process it adds 0.7 s."""

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


def classification_report(y_true, y_pred, label_names: list[str] | None = None) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: true label, columns:
    predicted label) over integer labels; every id in range(len(label_names)) is reported (ids from the data when no
    names are given). The evaluate module's `_compute` is this function."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    y_pred, y_true = np.asarray(y_pred, dtype=int), np.asarray(y_true, dtype=int)
    names = list(label_names) if label_names else [str(i) for i in range(int(max(y_true.max(), y_pred.max())) + 1)]
    labels = list(range(len(names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n": int(len(y_true)),
    }


def classification_metrics(y_true, y_pred, label_names: list[str]) -> dict:
    """A method's final metrics (classification_report; nan with no eval rows)."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if len(y_true) == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "per_class": {}, "confusion_matrix": [], "n": 0}
    return classification_report(y_true, y_pred, list(label_names))


def trainer_metrics(eval_pred) -> dict:
    """`compute_metrics` for transformers.Trainer: accuracy from the same module."""
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    y_pred = np.argmax(logits, -1)
    out = load_metric().compute(predictions=y_pred.tolist(), references=np.asarray(labels).tolist())
    return {"accuracy": out["accuracy"]}
