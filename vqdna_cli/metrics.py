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
    tp = np.diag(matrix).astype(np.float64)
    precision_den, recall_den = matrix.sum(0), matrix.sum(1)
    f1 = np.where(precision_den + recall_den > 0, 2 * tp / np.maximum(precision_den + recall_den, 1), 0.0)
    return float(f1.mean())


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, classes: int) -> dict:
    matrix = confusion(truth, predicted, classes)
    return {
        "mcc": matthews_corrcoef(matrix),
        "accuracy": float(np.trace(matrix) / max(matrix.sum(), 1)),
        "macro_f1": macro_f1(matrix),
        "n": int(matrix.sum()),
    }
