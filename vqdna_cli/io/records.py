"""The one record type every reader yields and every pipeline consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SequenceRecord:
    """A DNA sequence and where it came from.

    `name` is the ID written to outputs (FASTA ID, read name, or `chrom:start-end` for a
    region). `chrom` and `offset` place base 0 of `seq` on the source sequence (0-based),
    so every token and window can be mapped back to genome coordinates: base i lies at
    `offset + i`, unless `reference_positions` is given. An aligned read whose CIGAR clips
    or has indels has one: base i lies at `reference_positions[i]`, -1 for a base that is
    not on the reference (soft-clipped or inserted), and `offset` is its first aligned base.
    """

    name: str
    seq: str
    chrom: str
    offset: int = 0
    reference_positions: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.seq)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The 0-based half-open stretch of `chrom` that bases [start, end) cover: for an
        aligned read, from its first to its last base there on the reference (deletions
        inside count; clipped or inserted bases at the ends do not). A stretch holding no
        aligned base is empty, where the next aligned base lies (or after the last one)."""
        if self.reference_positions is None:
            return self.offset + start, self.offset + end
        positions = self.reference_positions
        inside = positions[start:end]
        aligned = inside[inside >= 0]
        if aligned.size:
            return int(aligned.min()), int(aligned.max()) + 1
        later = positions[end:][positions[end:] >= 0]
        earlier = positions[:start][positions[:start] >= 0]
        at = int(later.min()) if later.size else int(earlier.max()) + 1 if earlier.size else self.offset
        return at, at
