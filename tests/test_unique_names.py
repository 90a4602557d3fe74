"""Duplicate record IDs are refused however far apart they are, in little memory per record."""

from __future__ import annotations

import pytest

from vqdna_cli.errors import InputError
from vqdna_cli.io.sequences import open_sequences
from vqdna_cli.io.unique import SeenNames


def test_a_repeat_among_recent_names_is_caught_at_once():
    seen = SeenNames(batch=100)
    assert seen.add("r1") is None and seen.add("r2") is None
    assert seen.add("r1") == "r1"


def test_a_repeat_of_an_old_name_is_caught_by_the_end_of_the_input():
    seen = SeenNames(batch=8)
    found = [seen.add(f"r{i}") for i in range(50)] + [seen.add("r3")]
    found += [seen.add(f"s{i}") for i in range(20)] + [seen.finish()]
    assert [name for name in found if name is not None] == ["r3"]


def test_many_distinct_names_are_never_called_duplicates():
    seen = SeenNames(batch=64)  # small batches: many packed arrays, many merges
    assert all(seen.add(f"read_{i}") is None for i in range(20_000))
    assert seen.finish() is None
    assert seen.add("read_123") is None and seen.finish() == "read_123"


def test_unusual_names_are_kept_apart():
    seen = SeenNames(batch=2)
    names = ["a", "A", "a ", "\u00e9", "e\u0301", "x" * 1000, "chr1:1-10", "chr1:1-100"]
    assert all(seen.add(name) is None for name in names) and seen.finish() is None


def test_fasta_refuses_a_repeat_more_than_a_batch_of_records_later(tmp_path):
    path = tmp_path / "reads.fa"
    with open(path, "w") as handle:
        handle.writelines(f">r{i}\nACGT\n" for i in range(70_000))
        handle.write(">r5\nACGT\n")
    with pytest.raises(InputError, match="duplicate record ID 'r5'"):
        for _ in open_sequences(str(path)):
            pass


def test_fastq_refuses_a_repeat_more_than_a_batch_of_records_later(tmp_path):
    path = tmp_path / "reads.fq"
    with open(path, "w") as handle:
        handle.writelines(f"@r{i}\nACGT\n+\nIIII\n" for i in range(70_000))
        handle.write("@r69999x\nACGT\n+\nIIII\n@r7\nAC\n+\nII\n")
    with pytest.raises(InputError, match="duplicate record ID 'r7'"):
        for _ in open_sequences(str(path)):
            pass
