"""Classification metrics: MCC (binary and multi-class), accuracy and macro F1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vqdna_cli.metrics import classification_metrics, confusion, macro_f1, matthews_corrcoef


def mcc(truth: list[int], predicted: list[int], classes: int = 2) -> float:
    return matthews_corrcoef(confusion(np.array(truth), np.array(predicted), classes))


def test_confusion_rows_are_truth_columns_prediction() -> None:
    assert confusion(np.array([0, 0, 1]), np.array([1, 0, 1]), 2).tolist() == [[1, 1], [0, 1]]


def test_mcc_perfect() -> None:
    assert mcc([0, 1, 1, 0, 1], [0, 1, 1, 0, 1]) == pytest.approx(1.0)


def test_mcc_inverted() -> None:
    assert mcc([0, 1, 1, 0, 1], [1, 0, 0, 1, 0]) == pytest.approx(-1.0)


def test_mcc_constant_prediction_is_zero() -> None:
    """Undefined (a zero denominator): reported as 0, not NaN."""
    assert mcc([0, 1, 1, 0, 1], [1, 1, 1, 1, 1]) == 0.0
    assert mcc([1, 1, 1], [1, 1, 1]) == 0.0


def test_mcc_hand_computed_binary() -> None:
    truth = [1, 1, 1, 0, 0, 0, 0, 0]
    predicted = [1, 1, 0, 0, 0, 0, 0, 1]
    tp, tn, fp, fn = 2, 4, 1, 1
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert expected == pytest.approx(7 / 15)
    assert mcc(truth, predicted) == pytest.approx(expected)


def test_mcc_multiclass_perfect() -> None:
    assert mcc([0, 1, 2, 2, 1, 0], [0, 1, 2, 2, 1, 0], classes=3) == pytest.approx(1.0)


def test_mcc_multiclass_matches_correlation_of_one_hot_labels() -> None:
    """Gorodkin's R_K equals the Pearson correlation of the one-hot truth and prediction
    matrices (taken over all entries, centred per class column)."""
    truth = np.array([0, 0, 1, 1, 2, 2, 2, 0, 1, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0, 2, 0, 2, 2])
    x, y = np.eye(3)[truth], np.eye(3)[predicted]
    x, y = x - x.mean(0), y - y.mean(0)
    expected = (x * y).sum() / math.sqrt((x * x).sum() * (y * y).sum())
    assert mcc(truth.tolist(), predicted.tolist(), classes=3) == pytest.approx(expected)


def test_macro_f1_hand_computed() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    # F1 = 2TP / (2TP + FP + FN): class 0: 2/4, class 1: 4/5, class 2: 2/3.
    expected = (2 / 4 + 4 / 5 + 2 / 3) / 3
    assert macro_f1(confusion(truth, predicted, 3)) == pytest.approx(expected)


def test_macro_f1_leaves_out_a_class_that_never_occurs() -> None:
    """A head of 4 classes scored on rows of 3: the fourth, neither true nor predicted, has no
    F1 (scikit-learn's macro average agrees); a class predicted but never true scores 0."""
    truth = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    assert macro_f1(confusion(truth, predicted, 4)) == pytest.approx((2 / 4 + 4 / 5 + 2 / 3) / 3)
    predicted_a_fourth = np.array([0, 1, 1, 1, 2, 3])
    assert macro_f1(confusion(truth, predicted_a_fourth, 4)) == pytest.approx((2 / 3 + 4 / 5 + 2 / 3 + 0) / 4)
    assert macro_f1(np.zeros((3, 3), dtype=np.int64)) == 0.0


def test_classification_metrics_summary() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    metrics = classification_metrics(truth, predicted, 3)
    assert metrics["n"] == 6
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["macro_f1"] == pytest.approx((2 / 4 + 4 / 5 + 2 / 3) / 3)
    assert -1 <= metrics["mcc"] <= 1


def test_perfect_metrics() -> None:
    labels = np.array([0, 1, 1, 0])
    assert classification_metrics(labels, labels, 2) == pytest.approx({"mcc": 1.0, "accuracy": 1.0, "macro_f1": 1.0, "n": 4})


def test_mcc_hand_computed_binary_with_unequal_margins() -> None:
    """tp + fp differs from tp + fn here, so a formula that pairs the wrong totals shows."""
    tp, tn, fp, fn = 1, 3, 0, 2
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert expected == pytest.approx(3 / math.sqrt(45))
    assert mcc([1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]) == pytest.approx(expected)
