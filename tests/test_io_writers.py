"""The writers: the `.npz` (what numpy reads back, how each member is deflated), classify's
TSV and BED rows, and files replaced as a pair."""

from __future__ import annotations

import errno
import io
import json
import os
import zipfile
import zlib

import numpy as np
import pytest

from vqdna_cli.errors import OutputError
from vqdna_cli.io import writers
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.writers import PredictionBed, PredictionTsv, atomic_files, write_npz


def deflated_size(array: np.ndarray, level: int) -> int:
    raw = io.BytesIO()
    np.lib.format.write_array(raw, array, allow_pickle=False)
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return len(packer.compress(raw.getvalue()) + packer.flush())


def test_quick_members_are_deflated_at_the_fastest_level(tmp_path) -> None:
    rng = np.random.default_rng(0)
    arrays = {"tokens": rng.integers(0, 8, size=(20_000, 2)).astype(np.uint16),
              "positions": np.arange(40_000, dtype=np.uint32)}
    path = tmp_path / "out.npz"
    write_npz(path, arrays, {"made_by": "test"}, quick=("positions",))

    sizes = {info.filename: info.compress_size for info in zipfile.ZipFile(path).infolist()}
    assert sizes["positions.npy"] == deflated_size(arrays["positions"], 1)
    assert sizes["tokens.npy"] == deflated_size(arrays["tokens"], 6)  # zlib's default level
    assert deflated_size(arrays["tokens"], 1) != deflated_size(arrays["tokens"], 6)  # the check can tell
    loaded = np.load(path)
    for name, array in arrays.items():
        assert np.array_equal(loaded[name], array)
    assert json.loads(str(loaded["metadata"])) == {"made_by": "test"}


def test_uncompressed_npz_ignores_quick(tmp_path) -> None:
    positions = np.arange(1_000, dtype=np.uint32)
    path = tmp_path / "out.npz"
    write_npz(path, {"positions": positions}, {}, compress=False, quick=("positions",))
    info = zipfile.ZipFile(path).getinfo("positions.npy")
    assert info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size
    assert np.array_equal(np.load(path)["positions"], positions)


# --- classify's rows ---------------------------------------------------------------------------


def test_a_sequence_of_several_windows_gets_the_mean_of_their_probabilities() -> None:
    """The first window says neg, the second pos more weakly: the mean says neg."""
    record = SequenceRecord("s", "A" * 128, "chr1")
    row = PredictionTsv(["neg", "pos"], ["0", "1"]).rows(record, [(0, 64), (64, 128)],
                                                         np.array([[0.9, 0.1], [0.3, 0.7]]))
    name, label, class_index, p_neg, p_pos = row[0].rstrip("\n").split("\t")
    assert (name, label, class_index) == ("s", "neg", "0")
    assert (float(p_neg), float(p_pos)) == pytest.approx((0.6, 0.4))


def test_a_bed_row_gives_the_class_index_of_its_best_class() -> None:
    record = SequenceRecord("s", "A" * 64, "chr1", offset=1000)
    row = PredictionBed(["neg", "pos"], ["0", "1"]).rows(record, [(0, 64)], np.array([[0.2, 0.8]]))
    assert row[0].rstrip("\n").split("\t")[:8] == ["chr1", "1000", "1064", "pos", "800", ".", "s", "1"]


# --- files replaced as a pair --------------------------------------------------------------------


def test_a_pair_whose_second_file_cannot_be_moved_leaves_neither(tmp_path, monkeypatch) -> None:
    """The table moved into place is taken back when its sidecar cannot follow: a table
    without its sidecar would say nothing of what made it."""
    table, sidecar = tmp_path / "calls.tsv", tmp_path / "calls.tsv.json"
    real_replace = os.replace

    def full_disk_at_the_sidecar(source, target):
        if str(target) == str(sidecar):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(source, target)

    monkeypatch.setattr(writers.os, "replace", full_disk_at_the_sidecar)
    with pytest.raises(OutputError, match="cannot write .*calls.tsv.json"):
        with atomic_files([table, sidecar], "w") as (table_out, sidecar_out):
            table_out.write("id\tlabel\n")
            sidecar_out.write("{}")
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_an_npz_copy_to_a_redirected_stdout_that_fails_leaves_it_as_it_was(tmp_path, monkeypatch) -> None:
    """`tokenize -o - > x.npz`: the archive is made aside and copied to stdout at the end; a
    full disk during the copy left part of an archive in the file."""
    import shutil
    import sys

    target = tmp_path / "x.npz"
    target.write_bytes(b"earlier\n")
    real_copy = shutil.copyfileobj

    def copy_half_then_fill_the_disk(source, out, length=0):
        out.write(source.read(100))
        out.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with open(target, "r+b") as handle:  # written at its end, as `>` writes (`>>` is left as it is)
        handle.seek(0, 2)
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(handle, write_through=True))
        monkeypatch.setattr(shutil, "copyfileobj", copy_half_then_fill_the_disk)
        with pytest.raises(OSError):
            write_npz("-", {"a": np.arange(1000)}, {"made_by": "test"})
        monkeypatch.setattr(shutil, "copyfileobj", real_copy)
        sys.stdout.detach()  # the handle closes once, below
    assert target.read_bytes() == b"earlier\n"


@pytest.mark.parametrize("other_writer", [False, True])
def test_a_failed_table_on_stdout_is_cut_only_where_no_one_else_wrote(tmp_path, monkeypatch, other_writer) -> None:
    """Two runs sharing one `>` (xargs -P): the failing one cut the file back to its size at
    the start, taking the other run's rows with it."""
    import sys

    target = tmp_path / "all.tsv"
    with open(target, "w") as handle:
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(open(handle.fileno(), "wb", closefd=False)))
        with pytest.raises(RuntimeError, match="bad record"):
            with writers.text_output(None) as out:
                out.write("ours\n")
                sys.stdout.flush()
                if other_writer:  # the other run's row, through the same open file
                    os.write(handle.fileno(), b"theirs\n")
                raise RuntimeError("bad record")
        sys.stdout.detach()
    assert target.read_text() == ("ours\ntheirs\n" if other_writer else "")
