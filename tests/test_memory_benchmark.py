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


def test_the_first_groups_are_small_so_that_the_first_results_come_soon() -> None:
    """classify to a pipe wrote its first row once a whole group of 4,096 reads was done:
    `| head -1` waited almost the whole run. The first group is a share of that, and each
    next one twice the last, up to the full size."""
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.runner import grouped

    reads = [SequenceRecord(f"r{i}", "ACGT" * 5, f"r{i}") for i in range(25)]
    assert [len(g) for g in grouped(reads, max_bases=1000, max_records=8, first_share=4)] == [2, 4, 8, 8, 3]
    assert [len(g) for g in grouped(reads, max_bases=80, max_records=1000, first_share=4)] == [1, 2, 4, 4, 4, 4, 4, 2]
    assert [r.name for g in grouped(reads, max_records=7, first_share=16) for r in g] == [r.name for r in reads]


def test_classify_writes_rows_before_it_has_read_every_record(tiny_model_dir: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    import io
    import sys

    from conftest import fasta_text, random_dna

    from vqdna_cli import api
    from vqdna_cli.options import InputSpec, RunOptions

    fasta = tmp_path / "reads.fa"
    fasta.write_text(fasta_text({f"r{i}": random_dna(30, 900 + i) for i in range(2000)}))
    stdout, seen = io.StringIO(), []
    monkeypatch.setattr(sys, "stdout", stdout)
    done = 0

    def progress(bases: int) -> None:
        nonlocal done
        done += bases
        seen.append((done, stdout.getvalue().count("\n")))

    api.classify(InputSpec(str(fasta)), None, "toy", RunOptions(tiny_model_dir, threads=1), progress=progress)
    assert done == 2000 * 30 and stdout.getvalue().count("\n") == 1 + 2000
    assert any(lines > 1 for bases, lines in seen if bases < done / 2)  # rows out before half the bases were read
