"""Scratch files for outputs written at the end of a run (`tokenize`'s and `embed`'s `.npz`):
what each record adds goes to an unnamed temporary file as it comes, spooled (in memory while
small, on disk beside the output once large), and is read back once, a piece at a time, when
the file is written. Memory then grows with the largest record, not with the input."""

from __future__ import annotations

import tempfile
import warnings
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vqdna_cli.errors import OutputError, VqdnaWarning
from vqdna_cli.io.writers import ArrayStream, is_stream_output, write_error

# Each scratch file kept in memory up to this size, then moved to disk (small runs touch no disk).
SPOOL_BYTES = 16 << 20
# Bytes read back at a time: bounds the memory of writing, few enough Python calls.
PIECE_BYTES = 4 << 20
# A text array larger than this once loaded (numpy pads every entry to the longest) is warned of.
WIDE_ARRAY_BYTES = 1 << 30


def scratch_folder(output: Path | str | None) -> Path | None:
    """Beside the output, which has room for the tokens anyway (a cluster's /tmp often has
    little); the temporary folder for stdout or a device."""
    if output is None or is_stream_output(output):
        return None
    return Path(output).parent  # "." for a bare file name


class TextColumn:
    """Strings appended, written as numpy's fixed-width unicode array of them (the type
    `np.array(strings, dtype=str)` gives). They go to scratch as UTF-8 in blocks of at most
    PIECE strings or PIECE_BYTES characters (one write per block, not per read), with each
    string's length in characters kept to cut a block's text apart again.

    Every entry of the array is as wide as the longest string (4 bytes a character): the
    array goes out in slices of about PIECE_BYTES, so that one long ID among many short ones
    does not make the writing hold them all at its width."""

    PIECE = 1 << 16  # strings per block: written, then read back and decoded, at a time

    def __init__(self, scratch: Scratch, name: str):
        self.scratch = scratch
        self.name = name  # the array's in the .npz, for `warn_if_wide`
        self.lengths = array("I")  # each string's characters
        self.block_bytes = array("q")  # each written block's UTF-8 bytes
        self.block_strings = array("q")  # each written block's strings
        self.widest = 1  # numpy's width for no strings or empty ones too
        self._pending: list[str] = []
        self._pending_characters = 0

    def append(self, text: str) -> None:
        self._pending.append(text)
        self._pending_characters += len(text)
        if len(self._pending) >= self.PIECE or self._pending_characters >= PIECE_BYTES:
            self._flush()

    @property
    def array_bytes(self) -> int:
        """The size of the written array once loaded."""
        self._flush()
        return len(self.lengths) * self.widest * 4

    def _flush(self) -> None:
        if not self._pending:
            return
        lengths = list(map(len, self._pending))
        encoded = "".join(self._pending).encode()
        self.scratch.append(np.frombuffer(encoded, dtype=np.uint8))
        self.block_bytes.append(len(encoded))
        self.block_strings.append(len(lengths))
        self.lengths.extend(lengths)
        self.widest = max(self.widest, max(lengths))
        self._pending, self._pending_characters = [], 0

    def stream(self) -> ArrayStream:
        self._flush()
        return ArrayStream(np.dtype(f"<U{self.widest}"), (len(self.lengths),), self._pieces)

    def _pieces(self) -> Iterator[np.ndarray]:
        stored = self.scratch.reader()
        per_slice = max(1, PIECE_BYTES // (4 * self.widest))
        first = 0
        for size, strings in zip(self.block_bytes, self.block_strings):
            text = stored.read(size).decode()
            texts, at = [], 0
            for length in self.lengths[first:first + strings]:
                texts.append(text[at:at + length])
                at += length
            first += strings
            for start in range(0, len(texts), per_slice):
                yield np.array(texts[start:start + per_slice], dtype=f"<U{self.widest}")


def warn_if_wide(columns: list[TextColumn], output: Path | str | None) -> None:
    """Said once per file: numpy pads every entry of a text array to the longest, so one long
    record ID makes an array of many short ones large to load."""
    wide = [column for column in columns if column.array_bytes > WIDE_ARRAY_BYTES]
    if wide:
        column = max(wide, key=lambda c: c.array_bytes)
        warnings.warn(f"{' and '.join(c.name for c in wide)} of {'stdout' if output in (None, '-') else output} take "
                      f"{column.array_bytes / 1e9:,.1f} GB once loaded: each of their {len(column.lengths):,} entries "
                      f"is as wide as the longest ({column.widest:,} characters); shorter record names keep it small",
                      VqdnaWarning, stacklevel=2)


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
