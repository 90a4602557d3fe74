"""Classification metrics without extra dependencies: MCC (multi-class, Gorodkin's R_K),
accuracy and macro F1."""

from __future__ import annotations

import numpy as np


def confusion(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth), np.asarray(predicted)), 1)
    return matrix


def matthews_corrcoef(matrix: np.ndarray) -> float:
    """MCC from a confusion matrix (rows truth, columns prediction); 0 when undefined."""
    c = matrix.astype(np.float64)
    total = c.sum()
    correct = np.trace(c)
    truth_totals, predicted_totals = c.sum(1), c.sum(0)
    numerator = correct * total - truth_totals @ predicted_totals
    denominator = np.sqrt((total**2 - predicted_totals @ predicted_totals) * (total**2 - truth_totals @ truth_totals))
    return float(numerator / denominator) if denominator > 0 else 0.0


def macro_f1(matrix: np.ndarray) -> float:
    """Mean F1 over the classes that occur, in the truth or the predictions (as scikit-learn's
    average='macro' without a label list): a class absent from both has no F1 and does not
    pull the mean down. 0 for an empty matrix."""
    tp = np.diag(matrix).astype(np.float64)
    occurring = matrix.sum(0) + matrix.sum(1)
    if not occurring.any():
        return 0.0
    return float((2 * tp[occurring > 0] / occurring[occurring > 0]).mean())


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, classes: int) -> dict:
    matrix = confusion(truth, predicted, classes)
    return {
        "mcc": matthews_corrcoef(matrix),
        "accuracy": float(np.trace(matrix) / max(matrix.sum(), 1)),
        "macro_f1": macro_f1(matrix),
        "n": int(matrix.sum()),
    }
