"""tokenize's `.npz` writer: the tokens go to scratch as they come, the file is the one the
whole arrays in memory would give, and nothing is left behind."""

from __future__ import annotations

import errno
import gc
import re
import weakref
from types import SimpleNamespace

import numpy as np
import pytest

from vqdna_cli.errors import OutputError
from vqdna_cli.io import scratch, tokens_npz
from vqdna_cli.io.tokens_npz import COORDINATES, TokensNpz
from vqdna_cli.io.writers import AMBIGUITY_POLICY, write_npz


def record(name: str, offset: int, positions: list[int] | None = None, chrom: str = "chr1"):
    return SimpleNamespace(name=name, chrom=chrom, offset=offset,
                           reference_positions=None if positions is None else np.array(positions, dtype=np.int64))


def some_records(rng: np.random.Generator, count: int) -> list[tuple[SimpleNamespace, np.ndarray]]:
    """Contigs and aligned reads (some with clipped or inserted bases, -1), mixed."""
    added = []
    for number in range(count):
        length = int(rng.integers(0, 300))
        start = int(rng.integers(0, 10_000))
        positions = None
        if number % 3 == 1:
            positions = (start + np.arange(length)).tolist()
            for clipped in rng.integers(0, max(length, 1), size=min(length, 4)):
                positions[int(clipped)] = -1
        tokens = rng.integers(0, 512, size=(length, 2)).astype(np.uint16)
        added.append((record(f"r{number}", start, positions, chrom=f"chr{number % 4}"), tokens))
    return added


def written_in_memory(path, added, metadata: dict, compress: bool = True) -> None:
    """The file as it was made before the scratch files: every array whole in memory."""
    lengths = np.array([len(t) for _, t in added], dtype=np.int64)
    starts = np.array([r.offset for r, _ in added], dtype=np.int64)
    positions = np.concatenate(
        [np.where(r.reference_positions >= 0, r.reference_positions, np.iinfo(np.uint32).max).astype(np.uint32)
         if r.reference_positions is not None else np.arange(r.offset, r.offset + len(t), dtype=np.uint32)
         for r, t in added])
    arrays = {"tokens": np.concatenate([t for _, t in added]),
              "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
              "ids": np.array([r.name for r, _ in added], dtype=str),
              "chroms": np.array([r.chrom for r, _ in added], dtype=str),
              "starts": starts, "positions": positions}
    metadata = {**TokensNpz.FORMAT, **metadata, "records": len(added), "tokens": int(lengths.sum()),
                "coordinates": COORDINATES, "ambiguous_bases": AMBIGUITY_POLICY}
    write_npz(path, arrays, metadata, compress, quick=TokensNpz.QUICK)


def write_table(path, added, compress: bool = True) -> dict:
    with TokensNpz(2, path) as table:
        for rec, tokens in added:
            table.add(rec, tokens)
        return table.write(path, {"made_by": "test"}, compress)


@pytest.mark.parametrize("compress", [True, False])
def test_the_file_is_byte_for_byte_the_in_memory_one(tmp_path, compress) -> None:
    added = some_records(np.random.default_rng(1), 200)
    summary = write_table(tmp_path / "streamed.npz", added, compress)
    written_in_memory(tmp_path / "whole.npz", added, {"made_by": "test"}, compress)

    assert (tmp_path / "streamed.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
    assert summary == {"records": 200, "bases": sum(len(t) for _, t in added)}


def test_large_inputs_spill_to_disk_and_are_copied_a_piece_at_a_time(tmp_path, monkeypatch) -> None:
    """Small spool and pieces: the scratch moves to a file beside the output, records are
    split over pieces and pieces hold several records; the file is still the same."""
    monkeypatch.setattr(scratch, "SPOOL_BYTES", 1_000)
    monkeypatch.setattr(tokens_npz, "PIECE_VALUES", 64)
    monkeypatch.setattr(scratch, "PIECE_BYTES", 256)
    added = some_records(np.random.default_rng(2), 120)
    table = TokensNpz(2, tmp_path / "streamed.npz")
    for rec, tokens in added:
        table.add(rec, tokens)
    assert table._tokens._file._rolled and table._positions._file._rolled  # on disk now
    table.write(tmp_path / "streamed.npz", {"made_by": "test"})
    written_in_memory(tmp_path / "whole.npz", added, {"made_by": "test"})

    assert (tmp_path / "streamed.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.npz", "whole.npz"]  # no scratch left


def test_the_table_keeps_no_tokens_in_memory(tmp_path) -> None:
    tokens = np.zeros((1_000, 2), dtype=np.uint16)
    watched = weakref.ref(tokens)
    with TokensNpz(2, tmp_path / "t.npz") as table:
        table.add(record("a", 0), tokens)
        del tokens
        gc.collect()
        assert watched() is None


def test_coordinates_past_uint32_are_written_as_int64(tmp_path) -> None:
    far = 2**32 + 5
    added = [(record("near", 10), np.ones((3, 2), np.uint16)), (record("far", far), np.ones((2, 2), np.uint16))]
    write_table(tmp_path / "t.npz", added)
    positions = np.load(tmp_path / "t.npz")["positions"]
    assert positions.dtype == np.int64 and positions.tolist() == [10, 11, 12, far, far + 1]


def test_an_interrupted_table_leaves_nothing(tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt), TokensNpz(2, tmp_path / "t.npz") as table:
        table.add(record("a", 0), np.ones((5, 2), np.uint16))
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_holding_tokens_is_one_output_error(tmp_path, monkeypatch) -> None:
    table = TokensNpz(2, tmp_path / "t.npz")

    def no_space(data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(table._tokens._file, "write", no_space)
    with pytest.raises(OutputError, match=r"cannot write .*t\.npz: No space left on device"):
        table.add(record("a", 0), np.ones((5, 2), np.uint16))
    table.close()


def test_a_full_temporary_folder_under_stdout_is_named_as_such(tmp_path, monkeypatch) -> None:
    """-o -: the scratch is in TMPDIR; "cannot write the output" sent users to look at stdout."""
    import tempfile

    table = TokensNpz(2, "-")

    def no_space(data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(table._tokens._file, "write", no_space)
    with pytest.raises(OutputError, match=rf"^cannot write scratch files in {re.escape(tempfile.gettempdir())} "
                                          r"\(TMPDIR\), .*No space left on device; set TMPDIR"):
        table.add(record("a", 0), np.ones((5, 2), np.uint16))
    table.close()


def test_stdout_and_devices_keep_scratch_in_the_temporary_folder(tmp_path) -> None:
    assert scratch.scratch_folder("-") is None and scratch.scratch_folder("/dev/null") is None
    assert scratch.scratch_folder(tmp_path / "t.npz") == tmp_path
    assert str(scratch.scratch_folder("t.npz")) == "."


def test_ids_and_contig_names_of_any_width_and_script_are_kept(tmp_path, monkeypatch) -> None:
    """Names go through scratch as UTF-8 and come back, a few at a time, as numpy's
    fixed-width unicode array of them: the file is the in-memory one."""
    monkeypatch.setattr(scratch, "SPOOL_BYTES", 10)
    monkeypatch.setattr(scratch.TextColumn, "PIECE", 7)
    names = ["a", "réad_α/1", "读段", "x" * 40, "chr1:100-250", "b"] * 5
    added = [(record(f"{name}{number}", number * 10, chrom=f"contig_é{number % 3}"), np.ones((4, 2), np.uint16))
             for number, name in enumerate(names)]
    write_table(tmp_path / "streamed.npz", added)
    written_in_memory(tmp_path / "whole.npz", added, {"made_by": "test"})

    assert (tmp_path / "streamed.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
    with np.load(tmp_path / "streamed.npz") as npz:
        assert npz["ids"].tolist() == [r.name for r, _ in added]


def test_each_record_costs_a_few_bytes_of_memory_not_its_name_and_numbers(tmp_path, monkeypatch) -> None:
    """Millions of reads: what stays in memory per record is its start and length and its
    names' sizes (arrays), not Python objects."""
    import tracemalloc

    monkeypatch.setattr(scratch, "SPOOL_BYTES", 1)  # scratch on disk from the first byte
    monkeypatch.setattr(scratch.TextColumn, "PIECE", 1_000)  # names wait in blocks of at most this many
    tokens = np.ones((3, 2), np.uint16)
    with TokensNpz(2, tmp_path / "t.npz") as table:
        for number in range(1_000):
            table.add(record(f"read_{number:08d}/1", 10_000 + number), tokens)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for number in range(1_000, 21_000):
            table.add(record(f"read_{number:08d}/1", 10_000 + number), tokens)
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    assert grown / 20_000 < 64


def test_a_long_records_coordinates_are_made_a_piece_at_a_time(tmp_path, monkeypatch) -> None:
    """A chromosome in one record: its coordinates never exist whole in memory."""
    monkeypatch.setattr(tokens_npz, "PIECE_VALUES", 64)
    with TokensNpz(2, tmp_path / "t.npz") as table:
        table.add(record("chrX", 500), np.ones((1_000, 2), np.uint16))
        pieces = list(table._position_pieces(np.dtype(np.uint32)))
    assert max(map(len, pieces)) < 2 * 64
    assert np.concatenate(pieces).tolist() == list(range(500, 1_500))


def test_adding_all_records_holds_none_of_their_tokens_after(tmp_path) -> None:
    tokens = [np.zeros((100, 2), dtype=np.uint16) for _ in range(3)]
    watched = [weakref.ref(array) for array in tokens]
    with TokensNpz(2, tmp_path / "t.npz") as table:
        table.add_all((record(f"r{number}", 0), tokens.pop(0), False) for number in range(3))
        gc.collect()
        assert [ref() for ref in watched] == [None, None, None]


def test_a_record_added_in_parts_is_one_record(tmp_path) -> None:
    """A chromosome tokenized a part at a time: the file of the record added whole."""
    rng = np.random.default_rng(5)
    tokens = rng.integers(0, 512, size=(1_000, 2)).astype(np.uint16)
    short = (record("read", 3, [3, 4, -1, 5]), np.ones((4, 2), np.uint16))
    with TokensNpz(2, tmp_path / "parts.npz") as table:
        table.add(*short)
        table.add(record("chrX", 500), tokens[:300])
        table.add(record("chrX", 500), tokens[300:900], continued=True)
        table.add(record("chrX", 500), tokens[900:], continued=True)
        table.write(tmp_path / "parts.npz", {"made_by": "test"})
    written_in_memory(tmp_path / "whole.npz", [short, (record("chrX", 500), tokens)], {"made_by": "test"})
    assert (tmp_path / "parts.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()


def test_a_later_part_that_crosses_uint32_makes_the_coordinates_int64(tmp_path) -> None:
    """The first part ends below 2**32, the record's end lies past it: the coordinates of
    the whole record must fit, so they are written as int64."""
    start = 2**32 - 100
    with TokensNpz(2, tmp_path / "t.npz") as table:
        table.add(record("chrBig", start), np.zeros((50, 2), np.uint16))
        table.add(record("chrBig", start), np.zeros((100, 2), np.uint16), continued=True)
        table.write(tmp_path / "t.npz", {"made_by": "test"})
    positions = np.load(tmp_path / "t.npz")["positions"]
    assert positions.dtype == np.int64
    assert (int(positions[0]), int(positions[-1]), len(positions)) == (start, 2**32 + 49, 150)


def test_a_part_comes_after_its_first_part(tmp_path) -> None:
    with TokensNpz(2, tmp_path / "t.npz") as table:
        with pytest.raises(ValueError, match="after its first part"):
            table.add(record("chrX", 0), np.ones((3, 2), np.uint16), continued=True)


def test_an_aligned_read_added_in_parts_is_one_read_with_its_positions(tmp_path) -> None:
    """A read of several Mb with a soft clip or an indel is tokenized a part at a time, as a
    contig is: it was refused with a traceback."""
    rng = np.random.default_rng(6)
    tokens = rng.integers(0, 512, size=(700, 2)).astype(np.uint16)
    positions = [-1] * 10 + list(range(500, 790)) + list(range(800, 1_200))  # clip, match, deletion, match
    read = record("read", 500, positions)
    with TokensNpz(2, tmp_path / "parts.npz") as table:
        table.add(read, tokens[:250])
        table.add(read, tokens[250:600], continued=True)
        table.add(read, tokens[600:], continued=True)
        table.write(tmp_path / "parts.npz", {"made_by": "test"})
    written_in_memory(tmp_path / "whole.npz", [(read, tokens)], {"made_by": "test"})
    assert (tmp_path / "parts.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()


def test_one_long_id_among_many_is_written_in_bounded_slices_and_warned_of(tmp_path, monkeypatch) -> None:
    """numpy pads every ID to the longest: the writer held blocks of 65,536 IDs at that width
    (gigabytes for one 20 kb header among 100,000 reads), and the size was never said."""
    from vqdna_cli.errors import VqdnaWarning

    monkeypatch.setattr(scratch, "PIECE_BYTES", 4_096)
    monkeypatch.setattr(scratch, "WIDE_ARRAY_BYTES", 100_000)
    long_name = "x" * 500
    added = [(record(long_name if n == 7 else f"r{n}", n), np.ones((3, 2), np.uint16)) for n in range(300)]
    column = scratch.TextColumn(scratch.Scratch(None, None), "ids")
    for rec, _ in added:
        column.append(rec.name)
    slices = list(column.stream().pieces())
    assert max(piece.nbytes for piece in slices) <= 4_096 and len(slices) > 1
    assert np.concatenate(slices).tolist() == [rec.name for rec, _ in added]
    with pytest.warns(VqdnaWarning, match=r"^ids and chroms of .*t\.npz take 0\.0 GB once loaded: each of their 300 "
                                          r"entries is as wide as the longest \(500 characters\)"):
        write_table(tmp_path / "t.npz", [(record(r.name, r.offset, chrom=r.name), t) for r, t in added])
    written_in_memory(tmp_path / "whole.npz", [(record(r.name, r.offset, chrom=r.name), t) for r, t in added],
                      {"made_by": "test"})
    assert (tmp_path / "t.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
