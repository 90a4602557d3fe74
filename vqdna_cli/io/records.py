"""The one record type every reader yields and every pipeline consumes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SequenceRecord:
    """A DNA sequence and where it came from.

    `name` is the ID written to outputs (FASTA ID, read name, or `chrom:start-end` for a
    region). `chrom` and `offset` place base 0 of `seq` on the source sequence (0-based),
    so every token and window can be mapped back to genome coordinates.
    """

    name: str
    seq: str
    chrom: str
    offset: int = 0

    def __len__(self) -> int:
        return len(self.seq)
