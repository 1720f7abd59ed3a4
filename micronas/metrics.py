"""Classification metrics shared by search, retraining and reports: accuracy, macro-F1, confusion.

scikit-learn computes them (maintained, tested, and the definitions readers know); these wrappers fix
the label set to 0..K-1 and refuse labels outside it, which scikit-learn would leave out silently."""

import numpy as np
from sklearn import metrics


def _labels(y_true, y_pred, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    for name, y in (("true", y_true), ("predicted", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"a {name} label of {int(y.min() if y.min() < 0 else y.max())} is outside the "
                             f"classes 0..{num_classes - 1}")
    return y_true, y_pred


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """`[true class, predicted class]` counts, int64, for classes 0..num_classes-1."""
    y_true, y_pred = _labels(y_true, y_pred, num_classes)
    return metrics.confusion_matrix(y_true, y_pred, labels=np.arange(num_classes)).astype(np.int64)


def accuracy(y_true, y_pred) -> float:
    """Share of correct predictions (NaN for no predictions)."""
    return float(metrics.accuracy_score(y_true, y_pred)) if len(y_true) else float("nan")


def macro_f1(y_true, y_pred, num_classes: int) -> float:
    """The unweighted mean of per-class F1 over the classes present in `y_true` or `y_pred` (a class
    never predicted scores 0); NaN for no predictions."""
    y_true, y_pred = _labels(y_true, y_pred, num_classes)
    if not y_true.size:
        return float("nan")
    return float(metrics.f1_score(y_true, y_pred, average="macro", zero_division=0))
