"""Refusing duplicate record IDs in memory that barely grows with the number of records.

A set of the names themselves costs about 100 bytes per name: a FASTQ or BAM of ten million
reads would hold a gigabyte just to check that its names are unique. `SeenNames` keeps the
last names met in a dict and older ones as 16-byte digests in sorted arrays.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _digest(name: str) -> bytes:
    """128 bits of BLAKE2b: two distinct names of one input sharing a digest is beyond any
    real input (about 1e-20 for a billion names)."""
    return hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _halves(digests: bytes) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.frombuffer(digests, dtype=">u8").astype(np.uint64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


class _Packed:
    """Digests sorted by their first half. The second halves only need to follow their first
    halves (a lookup compares all second halves of a matching first half), which lets a merge
    insert into the larger array instead of sorting both again: less memory at its peak."""

    def __init__(self, high: np.ndarray, low: np.ndarray):
        order = np.argsort(high, kind="stable")
        self.high, self.low = high[order], low[order]

    def __len__(self) -> int:
        return len(self.high)

    def merge(self, smaller: "_Packed") -> "_Packed":
        at = np.searchsorted(self.high, smaller.high)
        self.high = np.insert(self.high, at, smaller.high)
        self.low = np.insert(self.low, at, smaller.low)
        return self

    def holds(self, high: np.ndarray, low: np.ndarray) -> np.ndarray:
        """Which of the digests (high, low) are here: one vectorised search for the batch."""
        first = np.searchsorted(self.high, high, side="left")
        last = np.searchsorted(self.high, high, side="right")
        found = np.zeros(len(high), dtype=bool)
        for i in np.flatnonzero(last > first):  # first halves shared: a duplicate, almost surely
            found[i] = bool(np.any(self.low[first[i] : last[i]] == low[i]))
        return found


class SeenNames:
    """The record IDs met so far.

    A name repeated among the last `batch` names is caught at once. Older names are checked
    a batch at a time (one vectorised search, not one per record), so a repeat of an old name
    is reported up to `batch` records late: readers call `finish()` at the end of the input,
    and a duplicate fails the run either way, before any output is in place."""

    def __init__(self, batch: int = 1 << 16):
        self._recent: dict[bytes, str] = {}
        self._packed: list[_Packed] = []
        self._batch = batch

    def add(self, name: str) -> str | None:
        """Remember `name`; returns a name met twice (this one or an earlier one), else None."""
        digest = _digest(name)
        if digest in self._recent:
            return name
        self._recent[digest] = name
        return self._pack() if len(self._recent) >= self._batch else None

    def finish(self) -> str | None:
        """The end of the input: a name met twice among those not yet checked, else None."""
        return self._pack() if self._recent else None

    def _pack(self) -> str | None:
        recent, self._recent = self._recent, {}
        high, low = _halves(b"".join(recent))
        for packed in self._packed:
            found = packed.holds(high, low)
            if found.any():
                return list(recent.values())[int(np.flatnonzero(found)[0])]
        batch = _Packed(high, low)
        while self._packed and len(self._packed[-1]) <= 2 * len(batch):  # similar sizes merge: few arrays
            batch = self._packed.pop().merge(batch)
        self._packed.append(batch)
        return None
