"""Per-sample summaries and the lineage measurements.

Genome embedding of a sample, per HRQ level: the sum over its variants of each variant's
code gains and losses (`SiteEffect.delta`), a vector of codebook size. The reference itself
is the zero vector; two genomes with the same variants get the same vector. Distances are
Euclidean. With labels:

- accuracy: leave-one-out nearest neighbour (each genome gets the label of its nearest
  other genome; ties go to the genome listed first);
- silhouette: the mean over genomes of (b - a) / max(a, b), a the mean distance to the
  genome's own lineage, b to the nearest other lineage (0 for a lineage of one genome).

The same two numbers are computed on the called variants themselves (a genome as the set
of its variants, Euclidean distance between indicator vectors) as a baseline that uses no
model, so the token levels can be read against it.
"""

from __future__ import annotations

import numpy as np


def embedding_matrix(samples: list[str], deltas: dict[str, list[dict[int, int]]], level: int, size: int) -> np.ndarray:
    matrix = np.zeros((len(samples), size), dtype=np.float64)
    for row, sample in enumerate(samples):
        for code, count in deltas[sample][level].items():
            matrix[row, code] += count
    return matrix


def variant_matrix(samples: list[str], site_sets: dict[str, set]) -> np.ndarray:
    columns = {site: i for i, site in enumerate(sorted(set().union(*site_sets.values())))}
    matrix = np.zeros((len(samples), len(columns)), dtype=np.float64)
    for row, sample in enumerate(samples):
        for site in site_sets[sample]:
            matrix[row, columns[site]] = 1.0
    return matrix


def distances(matrix: np.ndarray) -> np.ndarray:
    squared = (matrix**2).sum(axis=1)
    d2 = squared[:, None] + squared[None, :] - 2.0 * matrix @ matrix.T
    d = np.sqrt(np.clip(d2, 0.0, None))
    np.fill_diagonal(d, 0.0)
    return d


def nearest_neighbour_accuracy(d: np.ndarray, labels: list[str]) -> float:
    d = d.copy()
    np.fill_diagonal(d, np.inf)
    nearest = np.argmin(d, axis=1)  # first minimum: ties go to the earlier genome
    return float(np.mean([labels[i] == labels[j] for i, j in enumerate(nearest.tolist())]))


def silhouette(d: np.ndarray, labels: list[str]) -> float:
    names = sorted(set(labels))
    index = np.array([names.index(label) for label in labels])
    scores = []
    for i in range(len(labels)):
        own = (index == index[i])
        own[i] = False
        if not own.any():
            scores.append(0.0)
            continue
        a = d[i, own].mean()
        b = min(d[i, index == k].mean() for k in range(len(names)) if k != index[i])
        scores.append(0.0 if max(a, b) == 0 else (b - a) / max(a, b))
    return float(np.mean(scores))


def lineage_scores(matrix: np.ndarray, labels: list[str]) -> dict:
    d = distances(matrix)
    return {"nearest_neighbour_accuracy": round(nearest_neighbour_accuracy(d, labels), 4),
            "silhouette": round(silhouette(d, labels), 4)}


def projection(matrix: np.ndarray) -> np.ndarray:
    """A 2-D map (principal components) of the genomes, for the plot."""
    centred = matrix - matrix.mean(axis=0)
    if not centred.any():
        return np.zeros((len(matrix), 2))
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    # A component of rounding error alone (two genomes span one axis) is drawn flat, not as noise
    coords = u[:, :2] * np.where(s[:2] > s[0] * 1e-9, s[:2], 0.0)
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords
