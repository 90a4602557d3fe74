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


FAR_REPEATS = {  # a repeat more than a batch (65,536 names) after the first
    "reads.fa": ("".join(f">r{i}\nACGT\n" for i in range(70_000)) + ">r5\nACGT\n", "r5"),
    "reads.fq": ("".join(f"@r{i}\nACGT\n+\nIIII\n" for i in range(70_000)) + "@r7\nAC\n+\nII\n", "r7"),
}


@pytest.mark.parametrize("name", sorted(FAR_REPEATS))
def test_readers_refuse_a_repeat_more_than_a_batch_of_records_later(tmp_path, name):
    text, repeated = FAR_REPEATS[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=f"duplicate record ID '{repeated}'"):
        for _ in open_sequences(str(path)):
            pass
