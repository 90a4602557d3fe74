"""The `.npz` writer: what numpy reads back, and how each member is deflated."""

from __future__ import annotations

import io
import json
import zipfile
import zlib

import numpy as np

from vqdna_cli.io.writers import write_npz


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
