"""What a task head reads of the model's vectors, as its head.json (`HeadInfo`) says.

Every head reads each window's pooled Transformer vector; a frozen-model head also the
window's code frequencies and, where it was trained with them, the HRQ embeddings of tokens
at a fixed place of the window, or one row for a whole record. Training a head and every
caller of one build its features here, so they cannot drift apart. An `all_layers` head reads
the pooled vector of every Transformer layer, side by side, instead of the last one's; a head
with `segments` also the mean Transformer output of each of that many parts of the window.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import torch

from vqdna_cli.data.windows import transformer_windows
from vqdna_cli.head_info import HeadInfo, HeadReads
from vqdna_cli.window_request import WindowRequest

if TYPE_CHECKING:
    from vqdna_cli.runner import Runner, WindowVectors


def strand_span(length: int, start: int, end: int, flipped: bool) -> tuple[int, int]:
    """Where forward bases [start, end) of a record of `length` lie on the strand read: on
    the reverse-complement strand (`flipped`), [length - end, length - start), backwards."""
    return (length - end, length - start) if flipped else (start, end)


def training_window_lengths(lengths: Iterable[int], window: int | None) -> list[int]:
    """[shortest, longest] window (bases) that a head's training sequences of these lengths
    give, laid out as `classify` lays out its input (`window` None: whole sequences, for a
    `whole_record` head); recorded in head.json."""
    lengths = list(lengths)
    sizes = lengths if window is None else [end - start for length in lengths
                                            for start, end in transformer_windows(length, window, window)]
    return [min(sizes), max(sizes)]


def outside_training_lengths(info: HeadInfo, length: int) -> bool:
    """Whether a head reads a window (a whole sequence, for a `whole_record` head) of
    `length` bases far from those it trained on, where its probabilities are extrapolations:
    shorter than half its shortest training window or longer than twice its longest, or, for
    a head that reads tokens at a fixed place (a TSS at base 249), any other length than it
    trained on. False for heads that did not record their training lengths (trained before
    vqdna recorded them)."""
    if info.train_window_lengths is None:
        return False
    shortest, longest = info.train_window_lengths
    if info.reads.center_tokens:
        return not shortest <= length <= longest
    return not shortest / 2 <= length <= 2 * longest


def lengths_text(lengths: tuple[int, int] | list[int]) -> str:
    """A head's training window lengths as said to a user: "300 bp", "290-500 bp"."""
    shortest, longest = lengths
    return f"{shortest} bp" if shortest == longest else f"{shortest}-{longest} bp"


def unlike_training(info_lengths: tuple[int, int] | list[int], fixed_place: bool, task: str) -> str:
    """How windows differ from a head's training windows, for its warnings: any other length,
    for a head that reads bases at a fixed place (299 bp is not "far" from 300, but every
    base it reads is one off), else far from the lengths it trained on."""
    shortest, longest = info_lengths
    lengths = lengths_text(info_lengths)
    if fixed_place:
        unlike = "not of the length" if shortest == longest else "outside the lengths"
        return f"{unlike} the {task} head was trained on ({lengths}), and it reads bases at a fixed place of each window"
    return f"far from the lengths the {task} head was trained on ({lengths})"


def spans_unlike_training(info: HeadInfo, record, windows: list[tuple[int, int]]) -> tuple[int, int, int]:
    """What a head reads of `record` (the whole record for a `whole_record` head, else its
    `windows`): (spans, those far from its training lengths, those mostly N or other IUPAC
    codes), for `classify` and `evaluate` to warn of."""
    from vqdna_cli.scan import mostly_bases

    spans = [(0, len(record))] if info.reads.whole_record else windows
    far = sum(outside_training_lengths(info, end - start) for start, end in spans)
    ambiguous = sum(not mostly_bases(record.seq[start:end]) for start, end in spans)
    return len(spans), far, ambiguous


def head_inputs(info: HeadInfo, reverse_complement: bool = False) -> WindowRequest:
    """What `embed_records` must compute for a task head (`feature_inputs`)."""
    return feature_inputs(info.frozen, info.reads, reverse_complement)


def feature_inputs(frozen: bool, reads: HeadReads, reverse_complement: bool = False) -> WindowRequest:
    """What `embed_records` must compute for a head (`frozen`: of the frozen-model kind) that
    reads `reads`: frozen-model heads read code frequencies (each window's, or the whole
    record's for a `whole_record` head), some also the embeddings of tokens at a fixed place,
    and a head trained on both strands always gets both (whatever `reverse_complement` asks)."""
    return WindowRequest(with_code_frequencies=frozen and not reads.whole_record,
                         with_record_frequencies=reads.whole_record, center_tokens=reads.center_tokens,
                         center_at=reads.center_at, reverse_complement=reverse_complement or reads.both_strands,
                         all_layers=reads.all_layers, segments=reads.segments)


def head_features(info: HeadInfo, result: WindowVectors) -> np.ndarray:
    """What a task head reads for each window of a record (`features_of`)."""
    return features_of(info.frozen, info.reads, result)


def features_of(frozen: bool, reads: HeadReads, result: WindowVectors) -> np.ndarray:
    """What a head (`frozen`: of the frozen-model kind) that reads `reads` reads for each
    window of a record: the pooled vector; for a frozen-model head also the window's code
    frequencies and, where the head was trained with them, the HRQ embeddings of its central
    tokens (model/heads.py, FeatureHead). A `whole_record` head reads one row for the whole
    record instead: the windows' pooled vectors averaged (weighted by their lengths) and the
    record's code frequencies. For a sequence longer than one window (SARS-CoV-2's 1,000 bp
    fragments in 512-token windows) that keeps the evidence of every part in one vector,
    where scoring each window alone and averaging their probabilities loses it (measured on
    the variant head: weights/default/TRAINING.md, sixth round)."""
    inputs = feature_inputs(frozen, reads)
    if reads.whole_record:
        pooled = record_vector(result.windows, result.pooled).reshape(1, -1)
        return np.concatenate([pooled, result.record_frequencies[None, :]], axis=1).astype(np.float32)
    # (windows, W), or (windows, layers, W) for an `all_layers` head: the layers side by side
    parts = [result.pooled.reshape(len(result.pooled), -1)]
    if inputs.with_code_frequencies:
        parts.append(result.code_frequencies)
    if inputs.center_tokens:
        parts.append(result.center)
    if inputs.segments:
        parts.append(result.segments)
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def record_vector(windows: list[tuple[int, int]], pooled: np.ndarray, pooling: str = "mean") -> np.ndarray:
    """One vector for a record from its windows' pooled vectors (n_windows, ...): their mean
    weighted by window length (what a `whole_record` head reads; a short last window counts
    for its bases only), or with `pooling` "max" their maximum, which is the maximum over
    all the record's tokens."""
    pool = RecordPool(pooling)
    pool.add(windows, pooled)
    return pool.vector()


class RecordPool:
    """`record_vector` of a record whose windows come a run at a time (a chromosome embedded
    in parts): their length-weighted sum (or maximum) kept as they come. Given all the
    windows at once, the same arithmetic as it always was."""

    def __init__(self, pooling: str = "mean") -> None:
        self.pooling = pooling
        self.total: np.ndarray | None = None
        self.bases = np.float32(0)

    def add(self, windows: list[tuple[int, int]], pooled: np.ndarray) -> None:
        if self.pooling == "max":
            part = pooled.max(axis=0)
            self.total = part if self.total is None else np.maximum(self.total, part)
            return
        lengths = np.array([end - start for start, end in windows], dtype=np.float32)
        part = (lengths @ pooled.reshape(len(lengths), -1)).reshape(pooled.shape[1:])
        self.total = part if self.total is None else self.total + part
        self.bases += lengths.sum()

    def vector(self) -> np.ndarray:
        return self.total if self.pooling == "max" else self.total / self.bases


def head_feature_count(cfg, reads: HeadReads) -> int:
    """Length of a frozen-model head's feature vector (`head_features`) for a model config."""
    vectors = (cfg.transformer.layers + 1 if reads.all_layers else 1) + reads.segments  # W wide each
    return vectors * cfg.transformer.width + sum(cfg.quantizer.codebook_sizes) + reads.center_tokens * cfg.encoder.width


def central_span(length: int, count: int, at: int | None = None) -> tuple[slice, int]:
    """The `count` positions centred on base `at` of a window of `length` (default: its
    middle): the slice of the window, and where it starts among the `count` places (places
    outside the window stay empty)."""
    start = (length // 2 if at is None else at) - count // 2
    first, last = max(start, 0), min(start + count, length)
    return slice(first, max(first, last)), first - start


def central_embeddings(runner: Runner, windows: list[np.ndarray], count: int, at: int | None = None) -> np.ndarray:
    """(T, levels) tokens of each window -> (windows, count * D): the HRQ embeddings (the
    vectors the Transformer reads) of its `count` tokens centred on base `at` (default: the
    middle), in order; zeros where a window has no token. A site at a fixed place in
    fixed-length inputs (a splice junction at base 200 of 400) lands on the same features in
    every sequence, which the pooled vector and the code frequencies cannot say. The
    embeddings, not the Transformer's outputs: with the shipped model they scored higher on
    splice-site validation rows (weights/default/TRAINING.md)."""
    levels = runner.model.cfg.quantizer.levels
    ids = np.zeros((len(windows), count, levels), dtype=np.int64)
    present = np.zeros((len(windows), count), dtype=bool)
    for row, tokens in enumerate(windows):
        span, offset = central_span(len(tokens), count, at)
        central = tokens[span]
        ids[row, offset : offset + len(central)] = central
        present[row, offset : offset + len(central)] = True
    with torch.inference_mode():  # all windows in one lookup
        vectors = runner.model.embed_tokens(torch.from_numpy(ids).to(runner.device)).float().cpu().numpy()
    vectors[~present] = 0
    return vectors.reshape(len(windows), -1)


def segment_means(hidden: np.ndarray, count: int) -> np.ndarray:
    """(T, W) Transformer output of one window -> (count * W,): the mean of each of `count`
    equal parts of its tokens, in order (zeros for a part a short window leaves empty)."""
    bounds = [part * len(hidden) // count for part in range(count + 1)]
    means = [hidden[a:b].mean(0) if b > a else np.zeros(hidden.shape[-1], hidden.dtype)
             for a, b in zip(bounds[:-1], bounds[1:])]
    return np.concatenate(means)


def code_frequencies(tokens: np.ndarray, codebook_sizes: tuple[int, ...]) -> np.ndarray:
    """(T, levels) tokens -> (sum of sizes,) the share of the window's tokens that are each code."""
    counts = [np.bincount(tokens[:, level], minlength=size) for level, size in enumerate(codebook_sizes)]
    return (np.concatenate(counts) / max(len(tokens), 1)).astype(np.float32)


def window_frequencies(tokens: np.ndarray, windows: list[tuple[int, int]], sizes: tuple[int, ...],
                       flipped: bool) -> np.ndarray:
    """(windows, sum of sizes): the code frequencies of each forward window of one strand's
    tokens (`flipped`: the reverse-complement strand's)."""
    spans = [strand_span(len(tokens), start, end, flipped) for start, end in windows]
    return np.stack([code_frequencies(tokens[s:e], sizes) for s, e in spans])


def window_centers(runner: Runner, tokens: np.ndarray, windows: list[tuple[int, int]], count: int,
                   at: int | None, flipped: bool) -> np.ndarray:
    """`central_embeddings` of each forward window of one strand's tokens (`flipped`: the
    reverse-complement strand's, read backwards so that a window reads 5' to 3' on it)."""
    spans = [strand_span(len(tokens), start, end, flipped) for start, end in windows]
    return central_embeddings(runner, [tokens[s:e][::-1] if flipped else tokens[s:e] for s, e in spans], count, at)
