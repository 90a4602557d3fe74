"""`tokenize`'s `.npz`, written without holding the tokens in memory.

A whole genome holds billions of tokens: kept in memory until the end, they needed about 11
bytes a base, more than a laptop has for a human genome. Each record's tokens go instead to a
scratch file as they come (spooled: in memory while small, on disk beside the output once
large) and are copied into the `.npz` at the end, a megabyte at a time; each token's genome
coordinate is worked out at that point from the record's start, or read back for the
aligned reads whose bases are not consecutive on the reference. Record IDs and contig names go
to scratch too, so that millions of reads cost a few tens of bytes each (their start and
length). A chromosome comes a few megabases at a time (`runner.tokenize_records`), each part
`add`ed as it is tokenized, so memory grows with the largest record's sequence alone, not
with the input.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from vqdna_cli.io.scratch import Scratch, TextColumn, scratch_folder, warn_if_wide
from vqdna_cli.io.writers import AMBIGUITY_POLICY, ArrayStream, write_npz

# Coordinates made at a time: bounds the memory of writing, few enough Python calls.
PIECE_VALUES = 1 << 20

COORDINATES = ("0-based; token j of record i covers base positions[offsets[i] + j] of chroms[i]; a base of an "
               "aligned read that is not on the reference (soft-clipped or inserted) has the largest value of "
               "positions' type")


class TokensNpz:
    """`tokenize`'s `.npz`: the tokens of every record in one ragged array (schema:
    docs/outputs.md). Records are added as they come; `write` makes the file. `output`: where
    the file will go, whose folder takes the scratch files (None or stdout: the temporary
    folder). Use it as a context manager, or call `close`, so the scratch files go at once."""

    FORMAT = {"format": "vqdna-tokens", "format_version": 1}
    QUICK = ("positions",)  # deflated at the fastest level (`write_npz`); merged shards too

    def __init__(self, levels: int, output: Path | str | None = None):
        self.levels = levels
        self.output = output
        self.starts = array("q")
        self.lengths = array("q")
        self.aligned = array("q")  # numbers of the records whose base positions are in scratch
        self.end = 0  # one past the largest genome coordinate of any token
        folder = scratch_folder(output)
        self._tokens = Scratch(folder, output)
        self._positions = Scratch(folder, output)  # int64, -1 off the reference
        self.ids = TextColumn(Scratch(folder, output), "ids")
        self.chroms = TextColumn(Scratch(folder, output), "chroms")

    def __enter__(self) -> TokensNpz:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for scratch in (self._tokens, self._positions, self.ids.scratch, self.chroms.scratch):
            scratch.close()

    def add_all(self, tokenized: Iterable[tuple[object, np.ndarray, bool]]) -> None:
        """`add` each (record, tokens, continued); none of them is held once it is added (not
        even the last: a chromosome's tokens are most of the memory)."""
        for record, tokens, continued in tokenized:
            self.add(record, tokens, continued)

    def add(self, record, tokens: np.ndarray, continued: bool = False) -> None:
        """A record's tokens; `continued`: the next part of the record added last (a
        chromosome, or a read of several Mb, tokenized a part at a time), its tokens appended
        to that record's. An aligned read's positions are the whole read's, stored with its
        first part."""
        tokens = np.ascontiguousarray(tokens, dtype=np.uint16)
        positions = getattr(record, "reference_positions", None)
        if continued:
            if not self.lengths:
                raise ValueError("a record's tokens come in parts after its first part")
            self.lengths[-1] += len(tokens)
            self.end = max(self.end, record.offset + self.lengths[-1])
            self._tokens.append(tokens)
            return
        if positions is not None:
            self.aligned.append(len(self.starts))
            self._positions.append(np.ascontiguousarray(positions, dtype=np.int64))
            self.end = max(self.end, int(positions.max(initial=-1)) + 1)
        self.end = max(self.end, record.offset + len(tokens))
        self.ids.append(record.name)
        self.chroms.append(record.chrom)
        self.starts.append(record.offset)
        self.lengths.append(len(tokens))
        self._tokens.append(tokens)

    def write(self, path: Path | str, metadata: dict, compress: bool = True) -> dict:
        """`metadata`: the model's and the input's; the layout's own keys are added here."""
        warn_if_wide([self.ids, self.chroms], path)
        lengths = np.array(self.lengths, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        total = int(offsets[-1])
        position_type = np.dtype(np.uint32 if self.end < 2**32 - 1 else np.int64)  # half of int64 where it fits
        metadata = {**self.FORMAT, **metadata, "records": len(self.starts), "tokens": total,
                    "coordinates": COORDINATES, "ambiguous_bases": AMBIGUITY_POLICY}
        arrays = {
            "tokens": ArrayStream(np.dtype(np.uint16), (total, self.levels), self._tokens.pieces),
            "offsets": offsets,
            "ids": self.ids.stream(),
            "chroms": self.chroms.stream(),
            "starts": np.frombuffer(self.starts, dtype=np.int64),
            "positions": ArrayStream(position_type, (total,), lambda: self._position_pieces(position_type)),
        }
        try:
            write_npz(path, arrays, metadata, compress, quick=self.QUICK)
        finally:
            self.close()
        return {"records": len(self.starts), "bases": total}

    def _position_pieces(self, dtype: np.dtype) -> Iterator[np.ndarray]:
        """The genome coordinate of every token, in order, about PIECE_VALUES at a time:
        consecutive from a record's start, or read back for an aligned read (its bases off the
        reference get the type's largest value)."""
        pieces, held = [], 0
        for piece in self._record_position_pieces(dtype):
            pieces.append(piece)
            held += len(piece)
            if held >= PIECE_VALUES or len(pieces) >= 4096:  # many short reads: few, large pieces
                yield np.concatenate(pieces)
                pieces, held = [], 0
        if pieces:
            yield np.concatenate(pieces)

    def _record_position_pieces(self, dtype: np.dtype) -> Iterator[np.ndarray]:
        """Each record's coordinates, a long record's in parts of at most PIECE_VALUES."""
        off_reference = np.iinfo(dtype).max
        aligned = iter(self.aligned)
        next_aligned = next(aligned, None)
        stored = self._positions.reader()
        for number, (start, length) in enumerate(zip(self.starts, self.lengths)):
            if number == next_aligned:  # a read: no longer than its few hundred bases
                bases = np.frombuffer(stored.read(8 * length), dtype=np.int64)
                yield np.where(bases >= 0, bases, off_reference).astype(dtype)
                next_aligned = next(aligned, None)
            else:
                for at in range(start, start + length, PIECE_VALUES):
                    yield np.arange(at, min(at + PIECE_VALUES, start + length), dtype=dtype)
