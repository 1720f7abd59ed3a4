"""Accuracy, macro-F1 and the confusion matrix against hand-computed values."""

import numpy as np
import pytest

from micronas.metrics import accuracy, confusion_matrix, macro_f1


def test_confusion_matrix_counts_true_by_predicted():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_macro_f1_is_the_unweighted_mean_of_per_class_f1():
    y_true, y_pred = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0]
    # class 0: tp 1, fp 1, fn 1 -> 0.5; class 1: tp 1, fp 1, fn 0 -> 2/3; class 2: tp 2, fp 0, fn 1 -> 0.8
    assert macro_f1(y_true, y_pred, 3) == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_macro_f1_ignores_classes_absent_from_both_and_punishes_missed_ones():
    assert macro_f1([0, 0, 1], [0, 0, 1], 5) == 1.0
    assert macro_f1([0, 0, 1], [0, 0, 0], 2) == pytest.approx((0.8 + 0.0) / 2)
    assert np.isnan(accuracy([], []))


def test_the_metrics_agree_with_a_direct_count_on_random_labels():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 6, 500), rng.integers(0, 5, 500)   # class 5 is never predicted
    matrix = confusion_matrix(y_true, y_pred, 7)                        # class 6 appears nowhere
    expected = np.array([[np.sum((y_true == t) & (y_pred == p)) for p in range(7)] for t in range(7)])
    assert matrix.tolist() == expected.tolist()
    tp, support, predicted = np.diag(expected), expected.sum(1), expected.sum(0)
    present = (support + predicted) > 0
    f1 = 2 * tp[present] / (support + predicted)[present]
    assert macro_f1(y_true, y_pred, 7) == pytest.approx(f1.mean())
    assert accuracy(y_true, y_pred) == pytest.approx(np.mean(y_true == y_pred))


def test_a_label_outside_the_classes_is_refused_not_counted_in_another_class():
    with pytest.raises(ValueError, match=r"a true label of -1 is outside the classes 0..2"):
        confusion_matrix([-1, 0], [0, 0], 3)
    with pytest.raises(ValueError, match=r"a predicted label of 3 is outside the classes 0..2"):
        macro_f1([0, 1], [0, 3], 3)
