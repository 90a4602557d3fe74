"""benchmarks/memory.py: the reads it classifies."""

from __future__ import annotations

from pathlib import Path


def test_memory_benchmark_reads_are_seeded_30_bp_fasta(tmp_path: Path) -> None:
    from benchmarks import memory

    memory.write_reads(tmp_path / "a.fa", 5)
    memory.write_reads(tmp_path / "b.fa", 5)
    text = (tmp_path / "a.fa").read_text()
    assert text == (tmp_path / "b.fa").read_text()
    lines = text.splitlines()
    assert lines[0] == ">r0" and len(lines) == 10 and all(len(s) == 30 and set(s) <= set("ACGT") for s in lines[1::2])


def test_records_are_grouped_by_bases_and_by_count() -> None:
    """Short reads go through in groups of bounded size: what a group keeps per record must
    not grow with the number of reads in the input."""
    from vqdna_cli.runner import grouped
    from vqdna_cli.io.records import SequenceRecord

    reads = [SequenceRecord(f"r{i}", "ACGT" * 5, f"r{i}") for i in range(25)]
    assert [len(g) for g in grouped(reads, max_bases=1000, max_records=10)] == [10, 10, 5]
    assert [len(g) for g in grouped(reads, max_bases=100, max_records=1000)] == [5, 5, 5, 5, 5]
    assert [r.name for g in grouped(reads, max_records=7) for r in g] == [r.name for r in reads]
