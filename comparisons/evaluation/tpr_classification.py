"""An `evaluate` module of this project (loaded with `evaluate.load(<this file>)`, no Hub): accuracy,
macro-F1, per-class precision/recall/F1/support and the confusion matrix, over integer labels. The
metrics are defined once, in comparisons.ground.metrics.classification_report (scikit-learn computes them, as the
Hub's own `accuracy` and `f1` modules do); this module publishes that function through `evaluate`.

Keep the imports one per line: evaluate scans them to check the module's dependencies."""

import datasets
import evaluate

from comparisons.ground.metrics import classification_report

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
        return classification_report(references, predictions, label_names)
