"""Cutting records into tokenizer chunks and Transformer windows; token-budget batches."""

from __future__ import annotations

import numpy as np
import pytest

from vqdna_cli.config import PRESETS
from vqdna_cli.data.alphabet import PAD_CODE
from vqdna_cli.data.batching import budget_batches, pad
from vqdna_cli.data.windows import context_chunk, tokenizer_chunks, transformer_windows

CHUNK = 16
RADIUS = PRESETS["tiny"].encoder.receptive_radius
WINDOW = PRESETS["tiny"].transformer.max_tokens


def test_tiny_preset_sizes() -> None:
    """The sizes the other tests rely on: stem kernel 5 (2) + 2 blocks of kernel 7 (3 each)."""
    assert RADIUS == 8
    assert WINDOW == 64


# --- tokenizer chunks -------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_chunk_cores_tile_the_record(length: int) -> None:
    chunks = tokenizer_chunks(7, length, CHUNK, RADIUS)
    assert chunks[0].start == 0
    assert chunks[-1].end == length
    for before, after in zip(chunks, chunks[1:]):
        assert before.end == after.start  # no gap, no overlap
    assert sum(c.end - c.start for c in chunks) == length
    assert len(chunks) == -(-length // CHUNK)
    assert all(c.record == 7 for c in chunks)


@pytest.mark.parametrize("length", [1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_chunk_context_within_bounds(length: int) -> None:
    for c in tokenizer_chunks(0, length, CHUNK, RADIUS):
        assert 0 <= c.context_start <= c.start < c.end <= c.context_end <= length
        assert 0 < c.end - c.start <= CHUNK
        # As much context as the record allows, up to the encoder's receptive radius.
        assert c.context_start == max(0, c.start - RADIUS)
        assert c.context_end == min(length, c.end + RADIUS)
        assert c.core_offset == c.start - c.context_start


@pytest.mark.parametrize("start, end", [(0, 10), (3, 20), (30, 47), (0, 47)])
def test_a_chunks_core_on_either_strand(start: int, end: int) -> None:
    """The core's places among the encoded piece's bases, and among those of its reverse
    complement (the reverse strand's bases length - end .. length - start)."""
    length, bases = 47, np.arange(47)
    c = context_chunk(0, start, end, length, RADIUS)
    piece = bases[c.context_start : c.context_end]
    assert piece[c.core].tolist() == list(range(start, end))
    assert piece[::-1][c.reverse_core].tolist() == list(range(end - 1, start - 1, -1))


def test_chunks_of_empty_record() -> None:
    assert tokenizer_chunks(0, 0, CHUNK, RADIUS) == []


# --- Transformer windows ----------------------------------------------------------------------


def covered(windows: list[tuple[int, int]], length: int) -> np.ndarray:
    hits = np.zeros(length, dtype=int)
    for start, end in windows:
        hits[start:end] += 1
    return hits


def test_window_shorter_than_size() -> None:
    assert transformer_windows(10, WINDOW, WINDOW) == [(0, 10)]


def test_window_equal_to_size() -> None:
    assert transformer_windows(WINDOW, WINDOW, WINDOW) == [(0, WINDOW)]


def test_window_one_longer_than_size() -> None:
    assert transformer_windows(WINDOW + 1, WINDOW, WINDOW) == [(0, WINDOW), (1, WINDOW + 1)]


def test_last_window_is_moved_back_to_end_at_length() -> None:
    assert transformer_windows(150, 64, 64) == [(0, 64), (64, 128), (86, 150)]
    assert transformer_windows(128, 64, 64) == [(0, 64), (64, 128)]


def test_stride_smaller_than_size_overlaps() -> None:
    windows = transformer_windows(100, 64, 32)
    assert windows == [(0, 64), (32, 96), (36, 100)]
    assert windows[0][1] > windows[1][0]


@pytest.mark.parametrize("length", [1, 63, 64, 65, 100, 127, 128, 129, 200, 1000])
@pytest.mark.parametrize("stride", [1, 17, 32, 64])
def test_windows_cover_every_base_with_full_size_windows(length: int, stride: int) -> None:
    windows = transformer_windows(length, WINDOW, stride)
    assert windows[0][0] == 0
    assert windows[-1][1] == length
    assert (covered(windows, length) >= 1).all()
    assert all(0 <= s < e <= length for s, e in windows)
    if length > WINDOW:
        assert all(e - s == WINDOW for s, e in windows)  # never a short tail window
    starts = [s for s, _ in windows]
    assert starts == sorted(starts)
    assert len(set(windows)) == len(windows)


# --- token-budget batches ---------------------------------------------------------------------


def test_budget_batches_hand_computed() -> None:
    # Longest first, ties in index order: [1, 3, 2, 0]; 40 * 2 fits 80, 40 * 3 does not.
    assert list(budget_batches([10, 40, 20, 40], 80)) == [[1, 3], [2, 0]]


LENGTHS = [5, 30, 12, 30, 7, 1, 64, 3, 100, 16, 16, 16, 16, 16]


@pytest.mark.parametrize("budget", [16, 64, 100, 256])
def test_budget_batches_respect_the_budget(budget: int) -> None:
    for batch in budget_batches(LENGTHS, budget):
        longest = max(LENGTHS[i] for i in batch)
        assert longest * len(batch) <= budget or len(batch) == 1


@pytest.mark.parametrize("budget", [16, 64, 100, 256])
def test_budget_batches_cover_each_index_once(budget: int) -> None:
    indices = [i for batch in budget_batches(LENGTHS, budget) for i in batch]
    assert sorted(indices) == list(range(len(LENGTHS)))


def test_budget_batches_deterministic() -> None:
    assert list(budget_batches(LENGTHS, 64)) == list(budget_batches(list(LENGTHS), 64))


def test_oversized_piece_gets_its_own_batch() -> None:
    assert list(budget_batches([100, 5, 5], 50)) == [[0], [1, 2]]


def test_longest_piece_comes_first() -> None:
    first = next(iter(budget_batches(LENGTHS, 64)))
    assert LENGTHS.index(max(LENGTHS)) in first


def test_budget_batches_empty() -> None:
    assert list(budget_batches([], 64)) == []


def test_pad_shapes_and_fill() -> None:
    arrays = [np.array([0, 1, 2], np.uint8), np.array([3], np.uint8), np.array([1, 1], np.uint8)]
    out = pad(arrays)
    assert out.shape == (3, 3)
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 1, 2], [3, PAD_CODE, PAD_CODE], [1, 1, PAD_CODE]]


def test_pad_custom_fill_and_trailing_dimensions() -> None:
    arrays = [np.ones((2, 3), np.int64), np.ones((1, 3), np.int64)]
    out = pad(arrays, fill=0)
    assert out.shape == (2, 2, 3)
    assert out[1, 1].tolist() == [0, 0, 0]
    assert out[0].sum() == 6
