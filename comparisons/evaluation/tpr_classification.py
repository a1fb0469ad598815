"""An `evaluate` module of this project (loaded with `evaluate.load(<this file>)`, no Hub): accuracy,
macro-F1, per-class precision/recall/F1/support and the confusion matrix, over integer labels. The
one place where this project's metrics are defined; scikit-learn computes them, as the Hub's own
`accuracy` and `f1` modules do.

Keep the imports one per line: evaluate scans them to check the module's dependencies."""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

_DESCRIPTION = "Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix."
_INPUTS = """
Args:
    predictions (list of int): predicted label ids.
    references (list of int): gold label ids.
    label_names (list of str): the name of each label id; every id in range(len(label_names)) is reported.
Returns:
    accuracy, macro_f1, per_class {name: {precision, recall, f1, support}}, confusion_matrix (rows: gold,
    columns: predicted), n.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class TprClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, label_names=None):
        y_pred, y_true = np.asarray(predictions, dtype=int), np.asarray(references, dtype=int)
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
