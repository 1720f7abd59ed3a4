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
