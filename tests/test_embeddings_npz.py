"""embed's `.npz` writer: vectors and names go to scratch as they come, the file is the one
the whole arrays in memory would give, and nothing is left behind."""

from __future__ import annotations

import errno
from dataclasses import dataclass

import numpy as np
import pytest

from vqdna_cli.errors import OutputError
from vqdna_cli.io import scratch
from vqdna_cli.io.embeddings_npz import COORDINATES, EmbeddingsNpz
from vqdna_cli.io.writers import AMBIGUITY_POLICY, write_npz

WIDTH = 8


@dataclass
class Record:
    name: str
    chrom: str
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.offset + start, self.offset + end


def some_records(rng: np.random.Generator, count: int, layers: int | None) -> list[tuple]:
    """(record, rows, spans, per-token vectors): records of one to three windows."""
    row_shape = (layers, WIDTH) if layers else (WIDTH,)
    added = []
    for number in range(count):
        length = int(rng.integers(1, 90))
        cuts = sorted({0, length, *rng.integers(1, length + 1, size=2).tolist()})
        spans = list(zip(cuts, cuts[1:]))
        rows = rng.normal(size=(len(spans), *row_shape)).astype(np.float32)
        per_token = rng.normal(size=(length, WIDTH)).astype(np.float32)
        added.append((Record(f"read_é{number}" * (1 + number % 3), f"chr{number % 4}", number * 100, length),
                      rows, spans, per_token))
    return added


def written_in_memory(path, added, layers: int | None, all_layers: bool, per_token: bool, metadata: dict) -> None:
    """The file as it was made before the scratch files: every array whole in memory."""
    row_shape = (layers, WIDTH) if layers else (WIDTH,)
    vectors = np.concatenate([rows for _, rows, _, _ in added]) if added else np.zeros((0, *row_shape), np.float32)
    ranges = np.array([r.span(s, e) for r, _, spans, _ in added for s, e in spans], dtype=np.int64).reshape(-1, 2)
    lengths = np.array([len(r) for r, *_ in added], dtype=np.int64)
    arrays = {
        "embeddings": vectors if not layers else vectors[:, -1] if all_layers else vectors[:, 0],
        "window_offsets": np.concatenate([[0], np.cumsum([len(s) for _, _, s, _ in added])]).astype(np.int64),
        "window_starts": ranges[:, 0], "window_ends": ranges[:, 1],
        "ids": np.array([r.name for r, *_ in added], dtype=str),
        "chroms": np.array([r.chrom for r, *_ in added], dtype=str),
        "starts": np.array([r.offset for r, *_ in added], dtype=np.int64), "lengths": lengths,
    }
    if all_layers:
        arrays["layer_embeddings"] = vectors
    if per_token:
        arrays["token_embeddings"] = (np.concatenate([t for *_, t in added]) if added
                                      else np.zeros((0, WIDTH), np.float32))
        arrays["token_offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    metadata = {**EmbeddingsNpz.FORMAT, **metadata, "records": len(added), "coordinates": COORDINATES,
                "ambiguous_bases": AMBIGUITY_POLICY}
    write_npz(path, arrays, metadata)


def write_table(path, added, layers: int | None, all_layers: bool, per_token: bool) -> None:
    with EmbeddingsNpz(WIDTH, tuple(range(layers)) if layers else None, all_layers, per_token, path) as table:
        for record, rows, spans, per_token_vectors in added:
            table.add(record, rows, spans, per_token_vectors if per_token else None)
        assert table.records == len(added)
        table.write(path, {"made_by": "test"})


@pytest.mark.parametrize("count", [0, 1, 60])
@pytest.mark.parametrize("layers, all_layers, per_token", [(None, False, False), (None, False, True),
                                                            (1, False, False), (3, True, False), (3, True, True)])
def test_the_file_is_the_one_whole_arrays_give(tmp_path, monkeypatch, count, layers, all_layers, per_token) -> None:
    """Small spool and pieces: scratch on disk beside the output, pieces cut across records
    (a whole number of rows each, where a layer is picked out of them); the same bytes."""
    monkeypatch.setattr(scratch, "SPOOL_BYTES", 500)
    monkeypatch.setattr(scratch, "PIECE_BYTES", 300)
    monkeypatch.setattr(scratch.TextColumn, "PIECE", 7)
    added = some_records(np.random.default_rng(count), count, layers)
    write_table(tmp_path / "streamed.npz", added, layers, all_layers, per_token)
    written_in_memory(tmp_path / "whole.npz", added, layers, all_layers, per_token, {"made_by": "test"})

    assert (tmp_path / "streamed.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.npz", "whole.npz"]  # no scratch left


def test_each_read_costs_a_few_bytes_of_memory_not_its_vector_and_names(tmp_path, monkeypatch) -> None:
    """Millions of reads: what stays in memory per read is a few numbers in arrays, not its
    pooled vector or Python objects."""
    import tracemalloc

    monkeypatch.setattr(scratch, "SPOOL_BYTES", 1)  # scratch on disk from the first byte
    monkeypatch.setattr(scratch.TextColumn, "PIECE", 1_000)  # names wait in blocks of at most this many
    row = np.ones((1, 96), np.float32)  # the shipped model's width: 384 bytes a read
    with EmbeddingsNpz(96, None, False, False, tmp_path / "e.npz") as table:
        for number in range(1_000):
            table.add(Record(f"read_{number:08d}/1", "chr1", number, 150), row, [(0, 150)])
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for number in range(1_000, 21_000):
            table.add(Record(f"read_{number:08d}/1", "chr1", number, 150), row, [(0, 150)])
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    assert grown / 20_000 < 96


def test_a_full_disk_is_one_output_error_and_leaves_nothing(tmp_path, monkeypatch) -> None:
    table = EmbeddingsNpz(WIDTH, None, False, False, tmp_path / "e.npz")

    def no_space(data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(table._rows._file, "write", no_space)
    with pytest.raises(OutputError, match=r"cannot write .*e\.npz: No space left on device"):
        table.add(Record("a", "chr1", 0, 5), np.ones((1, WIDTH), np.float32), [(0, 5)])
    table.close()
    assert list(tmp_path.iterdir()) == []
