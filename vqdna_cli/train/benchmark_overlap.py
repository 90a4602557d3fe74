"""Keep benchmark test sequence out of pre-training, even unlabelled.

GUE's test sequences are cut from real genomes, some of them the genomes vqdna pre-trains on
(human chrX and chr22, yeast). `SequenceMask` finds every occurrence of any test sequence,
on either strand, and writes it as N: positions and record lengths stay as they were, so
held-out tails and coordinates mean what they meant, and the window sampler redraws windows
that are mostly N.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from vqdna_cli.data.alphabet import reverse_complement


def gue_test_sequences(gue: Path) -> list[str]:
    """Every sequence of every GUE test split (`*/test.csv.gz`) under `gue`, uppercase."""
    sequences = []
    for path in sorted(Path(gue).rglob("test.csv.gz")):
        with gzip.open(path, "rt") as handle:
            next(handle, None)  # header: sequence,label
            sequences.extend(line.split(",", 1)[0].strip().upper() for line in handle if line.strip())
    return sequences


class SequenceMask:
    """Occurrences of a set of sequences, either strand, written as N.

    Each sequence is indexed by its first `SEED` bases (and those of its reverse complement),
    packed two bits a base into one integer. The genome's `SEED`-mers are packed the same way
    with numpy, a chunk at a time; only positions whose packed value is a seed are compared
    in full, in Python. A sequence shorter than a seed, or with anything but ACGT in its first
    `SEED` bases, is not looked for (GUE's are ACGT throughout)."""

    SEED = 24  # 48 bits: an exact key, no collisions to weed out
    CHUNK = 1 << 22  # genome positions packed at a time

    def __init__(self, sequences: list[str]):
        self.count = len(sequences)
        self._seeds: dict[str, list[str]] = {}
        for seq in sequences:
            for strand in dict.fromkeys((seq.upper(), reverse_complement(seq.upper()))):  # in one order, unlike a set
                if len(strand) >= self.SEED and set(strand[: self.SEED]) <= set("ACGT"):
                    self._seeds.setdefault(strand[: self.SEED], []).append(strand)
        self._keys = np.sort(np.array([_pack(seed) for seed in self._seeds], dtype=np.int64))

    def occurrences(self, seq: str) -> list[tuple[int, str]]:
        """(start, the sequence as it reads there: given or reverse complement) of every
        occurrence in `seq` (uppercase), by start."""
        return [(start, strand) for start in self._candidates(seq)
                for strand in self._seeds.get(seq[start : start + self.SEED], ()) if seq.startswith(strand, start)]

    def apply(self, seq: str) -> tuple[str, int]:
        """`seq` (uppercase) with every occurrence written as N; and how many there were."""
        hidden = [(start, start + len(strand)) for start, strand in self.occurrences(seq)]
        if not hidden:
            return seq, 0
        bases = bytearray(seq, "ascii")
        for start, end in hidden:
            bases[start:end] = b"N" * (end - start)
        return bases.decode("ascii"), len(hidden)

    def _candidates(self, seq: str) -> list[int]:
        """Positions whose next SEED bases, all ACGT, pack to a seed's key."""
        if not len(self._keys) or len(seq) < self.SEED:
            return []
        codes = _BASE_CODE[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
        found = []
        for begin in range(0, len(codes) - self.SEED + 1, self.CHUNK):
            piece = codes[begin : begin + self.CHUNK + self.SEED - 1]
            count = len(piece) - self.SEED + 1
            packed = np.zeros(count, dtype=np.int64)
            other = np.zeros(count, dtype=bool)  # a base that is not ACGT in the window
            for offset in range(self.SEED):
                window = piece[offset : offset + count]
                packed = (packed << 2) | (window & 3)
                other |= window > 3
            hits = np.isin(packed, self._keys, assume_unique=False) & ~other
            found.extend((begin + np.flatnonzero(hits)).tolist())
        return found


_BASE_CODE = np.full(256, 4, dtype=np.int64)
for _code, _base in enumerate("ACGT"):
    _BASE_CODE[ord(_base)] = _code


def _pack(seed: str) -> int:
    value = 0
    for base in seed:
        value = (value << 2) | "ACGT".index(base)
    return value


def write_fasta_gz(records: list[tuple[str, str]], path: Path | str, line: int = 60) -> None:
    """(name, sequence) records as gzip FASTA, written atomically; gzip's time stamp is fixed,
    so the same records give the same bytes."""
    from vqdna_cli.io.writers import atomic_file

    with atomic_file(path) as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:
        for name, seq in records:
            out.write(f">{name}\n".encode())
            for start in range(0, len(seq), line):
                out.write(seq[start : start + line].encode() + b"\n")
