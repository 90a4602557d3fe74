"""`embed`'s `.npz`, written without holding the vectors in memory.

Kept in memory until the end, each read cost about half a kilobyte (its vector, and Python
objects for its name, window and numbers): a BAM of millions of reads needed gigabytes. Each
record's vectors go instead to scratch files as they come (`io.scratch`: in memory while small,
on disk beside the output once large), its names too, and they are copied into the `.npz` at
the end, a few megabytes at a time. Memory then grows with the largest record, not with the
number of records; the file is the same, byte for byte.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vqdna_cli.io.scratch import Scratch, TextColumn, scratch_folder, warn_if_wide
from vqdna_cli.io.writers import AMBIGUITY_POLICY, ArrayStream, write_npz

COORDINATES = "0-based half-open window_starts/window_ends on chroms"


class EmbeddingsNpz:
    """`embed`'s `.npz` (schema: docs/outputs.md): pooled rows with the window each covers,
    and optionally per-token vectors. `layers`: the Transformer layers each row holds (None:
    the last one alone); `all_layers` (`--layer all`) also writes them all as
    `layer_embeddings`. `output`: where the file will go, whose folder takes the scratch files
    (None or stdout: the temporary folder). Use it as a context manager, or call `close`, so
    the scratch files go at once."""

    FORMAT = {"format": "vqdna-embeddings", "format_version": 1}

    def __init__(self, width: int, layers: tuple[int, ...] | None, all_layers: bool, per_token: bool,
                 output: Path | str | None = None):
        self.width, self.all_layers, self.per_token = width, all_layers, per_token
        self.row_shape = (len(layers), width) if layers else (width,)  # one pooled row's
        self.starts = array("q")
        self.lengths = array("q")
        self.window_counts = array("q")
        self.window_ranges = array("q")  # start, end of every window, on the contig
        folder = scratch_folder(output)
        self._rows = Scratch(folder, output)  # float32, row_shape each
        self._token_vectors = Scratch(folder, output)  # float32, width each
        self.ids = TextColumn(Scratch(folder, output), "ids")
        self.chroms = TextColumn(Scratch(folder, output), "chroms")

    @property
    def records(self) -> int:
        return len(self.starts)

    def __enter__(self) -> EmbeddingsNpz:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for scratch in (self._rows, self._token_vectors, self.ids.scratch, self.chroms.scratch):
            scratch.close()

    def add(self, record, rows, spans: list[tuple[int, int]], token_vectors: np.ndarray | None = None,
            continued: bool = False) -> None:
        """One record: its rows and the spans (record coordinates) they cover. `continued`: the
        next windows of the record added last (a chromosome embedded a part at a time)."""
        rows = np.ascontiguousarray(rows, dtype=np.float32).reshape(-1, *self.row_shape)
        if continued:
            if not self.records or self.per_token:
                raise ValueError("only pooled rows come in parts, after the record's first part")
            self.window_counts[-1] += len(spans)
        else:
            self.ids.append(record.name)
            self.chroms.append(record.chrom)
            self.starts.append(record.offset)
            self.lengths.append(len(record))
            self.window_counts.append(len(spans))
        self._rows.append(rows)
        for start, end in spans:
            self.window_ranges.extend(record.span(start, end))
        if self.per_token:
            self._token_vectors.append(np.ascontiguousarray(token_vectors, dtype=np.float32))

    def write(self, path: Path | str, metadata: dict) -> None:
        """`metadata`: the model's and the input's; the layout's own keys are added here."""
        warn_if_wide([self.ids, self.chroms], path)
        ranges = np.frombuffer(self.window_ranges, dtype=np.int64).reshape(-1, 2)
        lengths = np.frombuffer(self.lengths, dtype=np.int64)
        float32 = np.dtype(np.float32)
        rows = len(ranges)
        arrays = {
            "embeddings": ArrayStream(float32, (rows, self.width), self._primary_layer),
            "window_offsets": np.concatenate([[0], np.cumsum(self.window_counts)]).astype(np.int64),
            "window_starts": ranges[:, 0], "window_ends": ranges[:, 1],
            "ids": self.ids.stream(), "chroms": self.chroms.stream(),
            "starts": np.frombuffer(self.starts, dtype=np.int64), "lengths": lengths,
        }
        if self.all_layers:
            arrays["layer_embeddings"] = ArrayStream(float32, (rows, *self.row_shape), self._rows.pieces)
        if self.per_token:
            arrays["token_embeddings"] = ArrayStream(float32, (int(lengths.sum()), self.width),
                                                     self._token_vectors.pieces)
            arrays["token_offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        metadata = {**self.FORMAT, **metadata, "records": self.records, "coordinates": COORDINATES,
                    "ambiguous_bases": AMBIGUITY_POLICY}
        try:
            write_npz(path, arrays, metadata)
        finally:
            self.close()

    def _primary_layer(self) -> Iterator[bytes | np.ndarray]:
        """What `embeddings` holds: the rows as stored, or, where each row holds several
        layers, the one asked for (the last one with all layers), read a few rows at a time."""
        if len(self.row_shape) == 1:
            yield from self._rows.pieces()
            return
        row_bytes = int(np.prod(self.row_shape)) * np.dtype(np.float32).itemsize
        layer = -1 if self.all_layers else 0
        for piece in self._rows.pieces(unit=row_bytes):
            yield np.frombuffer(piece, dtype=np.float32).reshape(-1, *self.row_shape)[:, layer]
