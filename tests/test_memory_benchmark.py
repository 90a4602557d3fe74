"""benchmarks/memory.py: the reads it classifies."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def test_memory_benchmark_reads_are_seeded_30_bp_fasta(tmp_path: Path) -> None:
    import memory

    memory.write_reads(tmp_path / "a.fa", 5)
    memory.write_reads(tmp_path / "b.fa", 5)
    text = (tmp_path / "a.fa").read_text()
    assert text == (tmp_path / "b.fa").read_text()
    lines = text.splitlines()
    assert lines[0] == ">r0" and len(lines) == 10 and all(len(s) == 30 and set(s) <= set("ACGT") for s in lines[1::2])
