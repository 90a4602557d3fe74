"""Scratch files for outputs written at the end of a run (`tokenize`'s and `embed`'s `.npz`):
what each record adds goes to an unnamed temporary file as it comes, spooled (in memory while
small, on disk beside the output once large), and is read back once, a piece at a time, when
the file is written. Memory then grows with the largest record, not with the input."""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vqdna_cli.errors import OutputError
from vqdna_cli.io.writers import ArrayStream, is_special, write_error

# Each scratch file kept in memory up to this size, then moved to disk (small runs touch no disk).
SPOOL_BYTES = 16 << 20
# Bytes read back at a time: bounds the memory of writing, few enough Python calls.
PIECE_BYTES = 4 << 20


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
        self.folder = folder
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
            if self.folder is None:  # stdout's scratch is in the temporary folder, not where a user looks
                raise OutputError(f"cannot write scratch files in {tempfile.gettempdir()} (TMPDIR), where a run "
                                  f"writing to stdout keeps its records until the end: {error.strerror}; set TMPDIR "
                                  "to a folder with room, or give -o FILE") from None
            raise write_error(self.output, error) from None

    def reader(self):
        self._file.seek(0)
        return self._file

    def pieces(self, unit: int = 1) -> Iterator[bytes]:
        """The bytes from the start, about PIECE_BYTES at a time, each piece a whole number of
        `unit` bytes (one row of an array)."""
        size = max(1, PIECE_BYTES // unit) * unit
        stored = self.reader()
        while piece := stored.read(size):
            yield piece

    def close(self) -> None:
        self._file.close()
