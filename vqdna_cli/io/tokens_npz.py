"""`tokenize`'s `.npz`, written without holding the tokens in memory.

A whole genome holds billions of tokens: kept in memory until the end, they needed about 11
bytes a base, more than a laptop has for a human genome. Each record's tokens go instead to a
scratch file as they come (spooled: in memory while small, on disk beside the output once
large) and are copied into the `.npz` at the end, a megabyte at a time; each token's genome
coordinate is worked out at that point from the record's start, or read back for the
aligned reads whose bases are not consecutive on the reference. Record IDs and contig names go
to scratch too, so that millions of reads cost a few tens of bytes each (their start and
length). Memory then grows with the largest record (its sequence and tokens while it is
tokenized), not with the input.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from vqdna_cli.io.writers import AMBIGUITY_POLICY, ArrayStream, is_special, write_error, write_npz

# Each scratch file kept in memory up to this size, then moved to disk (small runs touch no disk).
SPOOL_BYTES = 16 << 20
# Values copied to the archive at a time: bounds the memory of writing, few enough Python calls.
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
        self.ids = TextColumn(Scratch(folder, output))
        self.chroms = TextColumn(Scratch(folder, output))

    def __enter__(self) -> TokensNpz:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for scratch in (self._tokens, self._positions, self.ids.scratch, self.chroms.scratch):
            scratch.close()

    def add_all(self, tokenized: Iterable[tuple[object, np.ndarray]]) -> None:
        """`add` each (record, tokens); none of them is held once it is added (not even the
        last: a chromosome's tokens are most of the memory)."""
        for record, tokens in tokenized:
            self.add(record, tokens)

    def add(self, record, tokens: np.ndarray) -> None:
        tokens = np.ascontiguousarray(tokens, dtype=np.uint16)
        positions = getattr(record, "reference_positions", None)
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


def scratch_folder(output: Path | str | None) -> Path | None:
    """Beside the output, which has room for the tokens anyway (a cluster's /tmp often has
    little); the temporary folder for stdout or a device."""
    if output is None or str(output) == "-" or is_special(output):
        return None
    return Path(output).parent  # "." for a bare file name


class TextColumn:
    """Strings appended, written as numpy's fixed-width unicode array of them (the type
    `np.array(strings, dtype=str)` gives). They go to scratch as UTF-8 in blocks of PIECE
    strings (one write per block, not per read), with each string's length in characters
    kept to cut a block's text apart again."""

    PIECE = 1 << 16  # strings per block: written, then read back and decoded, at a time

    def __init__(self, scratch: Scratch):
        self.scratch = scratch
        self.lengths = array("I")  # each string's characters
        self.block_bytes = array("q")  # each written block's UTF-8 bytes
        self.widest = 1  # numpy's width for no strings or empty ones too
        self._pending: list[str] = []

    def append(self, text: str) -> None:
        self._pending.append(text)
        if len(self._pending) >= self.PIECE:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        lengths = list(map(len, self._pending))
        encoded = "".join(self._pending).encode()
        self.scratch.append(np.frombuffer(encoded, dtype=np.uint8))
        self.block_bytes.append(len(encoded))
        self.lengths.extend(lengths)
        self.widest = max(self.widest, max(lengths))
        self._pending = []

    def stream(self) -> ArrayStream:
        self._flush()
        return ArrayStream(np.dtype(f"<U{self.widest}"), (len(self.lengths),), self._pieces)

    def _pieces(self) -> Iterator[np.ndarray]:
        stored = self.scratch.reader()
        first = 0
        for size in self.block_bytes:
            text = stored.read(size).decode()
            texts, at = [], 0
            for length in self.lengths[first:first + self.PIECE]:
                texts.append(text[at:at + length])
                at += length
            first += len(texts)
            yield np.array(texts, dtype=f"<U{self.widest}")


class Scratch:
    """Bytes appended, then read back once from the start. An unnamed temporary file: nothing
    is left behind, even by a killed run. A full disk is the output's OutputError."""

    def __init__(self, folder: Path | None, output: Path | str | None):
        self.output = output if output is not None else "-"
        self.size = 0
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=folder, prefix=".vqdna-")

    def append(self, array: np.ndarray) -> None:
        if array.size == 0:  # an empty record: nothing to store (and no bytes to view)
            return
        self.size += array.nbytes
        try:
            if self.size > SPOOL_BYTES:  # to disk before, not after, copying a large record into memory
                self._file.rollover()
            self._file.write(memoryview(array).cast("B"))
        except OSError as error:
            raise write_error(self.output, error) from None

    def reader(self):
        self._file.seek(0)
        return self._file

    def pieces(self) -> Iterator[bytes]:
        stored = self.reader()
        while piece := stored.read(4 * PIECE_VALUES):  # PIECE_VALUES tokens of two uint16 levels
            yield piece

    def close(self) -> None:
        self._file.close()
