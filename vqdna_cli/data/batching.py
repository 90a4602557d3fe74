"""Batches filled to a token budget: pieces sorted by length so padding stays small."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from vqdna_cli.data.alphabet import PAD_CODE


def budget_batches(lengths: Sequence[int], max_tokens: int) -> Iterator[list[int]]:
    """Indices grouped so that (longest piece x count) stays within `max_tokens`.

    Longest first, so a batch that runs out of memory does so at the start. The order is
    fully determined by the lengths (stable sort), so output never depends on chance.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    longest = 0
    for index in order:
        longest_if_added = max(longest, lengths[index])
        if batch and longest_if_added * (len(batch) + 1) > max_tokens:
            yield batch
            batch, longest_if_added = [], lengths[index]
        batch.append(index)
        longest = longest_if_added
    if batch:
        yield batch


def pad(arrays: Sequence[np.ndarray], fill: int = PAD_CODE) -> np.ndarray:
    """Right-pad 1-D (or N-D along axis 0) arrays to one (B, L, ...) array."""
    longest = max(len(a) for a in arrays)
    out = np.full((len(arrays), longest, *arrays[0].shape[1:]), fill, dtype=arrays[0].dtype)
    for row, array in enumerate(arrays):
        out[row, : len(array)] = array
    return out
