"""`vqdna embed --pool record`, `--layer N|all` and `--pooling max`: what each writes, that
the numbers are the ones the options describe, and that the defaults write what they always
did (the default output is computed by exactly the same code path)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import MULTI_RECORDS, TINY_WINDOW
from vqdna_cli import api
from vqdna_cli.data.windows import transformer_windows
from vqdna_cli.errors import VqdnaError
from vqdna_cli.options import EmbedOptions, InputSpec, RunOptions


def _embed(tiny_model_dir: Path, fasta: Path, out: Path, **options) -> dict:
    api.embed(InputSpec(str(fasta)), out, RunOptions(tiny_model_dir, threads=1), EmbedOptions(**options))
    with np.load(out, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def default(tiny_model_dir: Path, multi_fasta: Path, tmp_path_factory) -> dict:
    return _embed(tiny_model_dir, multi_fasta, tmp_path_factory.mktemp("emb") / "default.npz", per_token=True)


def _layer_count(tiny_model_dir: Path) -> int:
    from vqdna_cli.runner import Runner

    return Runner.load(tiny_model_dir, "cpu").layers


def test_pool_record_is_the_length_weighted_mean_of_the_windows(tiny_model_dir, multi_fasta, tmp_path, default):
    got = _embed(tiny_model_dir, multi_fasta, tmp_path / "record.npz", pool="record")
    lengths = list(MULTI_RECORDS.values())
    assert got["embeddings"].shape == (len(lengths), default["embeddings"].shape[1])
    assert got["window_offsets"].tolist() == list(range(len(lengths) + 1))
    assert got["window_starts"].tolist() == [0] * len(lengths) and got["window_ends"].tolist() == lengths
    offsets = default["window_offsets"]
    for i, length in enumerate(lengths):
        windows = transformer_windows(length, TINY_WINDOW, TINY_WINDOW)
        weights = np.array([end - start for start, end in windows], dtype=np.float64)
        expected = weights @ default["embeddings"][offsets[i] : offsets[i + 1]] / weights.sum()
        np.testing.assert_allclose(got["embeddings"][i], expected, rtol=1e-5, atol=1e-6)
    metadata = json.loads(str(got["metadata"]))
    assert metadata["pool"].startswith("record") and metadata["windows"] == len(default["embeddings"])


def test_pooling_max_is_the_maximum_over_the_window_tokens(tiny_model_dir, multi_fasta, tmp_path, default):
    got = _embed(tiny_model_dir, multi_fasta, tmp_path / "max.npz", pooling="max", per_token=True)
    # The first record (30 bp) is one window: its max-pooled vector is the maximum of its tokens.
    np.testing.assert_allclose(got["embeddings"][0], default["token_embeddings"][:30].max(0), atol=1e-5)
    np.testing.assert_array_equal(got["token_embeddings"], default["token_embeddings"])  # per-token unchanged
    assert json.loads(str(got["metadata"]))["pooling"] == "max over the window's tokens"
    record = _embed(tiny_model_dir, multi_fasta, tmp_path / "record-max.npz", pooling="max", pool="record")
    offsets = got["window_offsets"]
    for i in range(len(MULTI_RECORDS)):
        np.testing.assert_array_equal(record["embeddings"][i], got["embeddings"][offsets[i] : offsets[i + 1]].max(0))


def test_layer_all_adds_every_layer_and_keeps_embeddings(tiny_model_dir, multi_fasta, tmp_path, default):
    count = _layer_count(tiny_model_dir)
    got = _embed(tiny_model_dir, multi_fasta, tmp_path / "all.npz", layer="all", per_token=True)
    rows, width = default["embeddings"].shape
    assert got["layer_embeddings"].shape == (rows, count + 1, width)
    np.testing.assert_array_equal(got["embeddings"], default["embeddings"])
    np.testing.assert_array_equal(got["layer_embeddings"][:, -1], default["embeddings"])
    np.testing.assert_array_equal(got["token_embeddings"], default["token_embeddings"])
    metadata = json.loads(str(got["metadata"]))
    assert metadata["layer"] == "all" and metadata["layers"] == list(range(count + 1))
    # Each layer alone writes the same vectors as its slice of --layer all.
    for number in range(count):
        alone = _embed(tiny_model_dir, multi_fasta, tmp_path / f"layer{number}.npz", layer=str(number))
        np.testing.assert_allclose(alone["embeddings"], got["layer_embeddings"][:, number], atol=1e-6)
        assert "layer_embeddings" not in alone and json.loads(str(alone["metadata"]))["layer"] == number


def test_layer_outputs_are_the_blocks_outputs(tiny_model_dir):
    """Layer 0 is what the first block reads, layer n block n's output, the last one the
    Transformer's output; checked against running the blocks by hand."""
    from vqdna_cli.runner import Runner

    runner = Runner.load(tiny_model_dir, "cpu")
    transformer = runner.model.transformer
    tokens = torch.randint(0, 8, (2, 20, runner.levels))
    valid = torch.ones(2, 20, dtype=torch.bool)
    valid[1, 15:] = False
    with torch.inference_mode():
        embedding = runner.model.embed_tokens(tokens)
        got = runner.layer_outputs(embedding, valid, tuple(range(runner.layers + 1)))
        expected = [transformer.input(embedding)]
        if transformer.local is not None:
            from vqdna_cli.model.encoder import conv_along_length

            x = expected[0] * valid.unsqueeze(-1).to(expected[0].dtype)
            expected[0] = x + conv_along_length(x, transformer.local)
        expected[0] = expected[0] + transformer.position(torch.arange(20))
        for block in transformer.blocks:
            expected.append(block(expected[-1], valid[:, None, None, :]))  # the key mask the blocks take
        expected[-1] = transformer.norm(expected[-1])
        final = runner.model.contextualise(embedding, valid)
    torch.testing.assert_close(got, torch.stack(expected, dim=1))
    assert torch.equal(got[:, -1], final)
    assert not transformer.blocks[0]._forward_hooks and not transformer.blocks[0]._forward_pre_hooks


def test_default_and_last_layer_options_write_the_default_file(tiny_model_dir, multi_fasta, tmp_path, default):
    """Naming the defaults changes no byte of the output, and `--layer -1` is the default."""
    plain = tmp_path / "plain.npz"
    named = tmp_path / "named.npz"
    last = tmp_path / "last.npz"
    _embed(tiny_model_dir, multi_fasta, plain)
    _embed(tiny_model_dir, multi_fasta, named, pool="window", pooling="mean")
    assert plain.read_bytes() == named.read_bytes()
    got = _embed(tiny_model_dir, multi_fasta, last, layer="-1")
    np.testing.assert_array_equal(got["embeddings"], default["embeddings"])
    metadata = json.loads(str(got["metadata"]))
    assert metadata["layer"] == metadata["transformer_layers"] == _layer_count(tiny_model_dir)


@pytest.mark.parametrize("options, message", [
    ({"pool": "genome"}, "--pool"), ({"pooling": "sum"}, "--pooling"),
    ({"layer": "99"}, "--layer 99"), ({"layer": "last"}, "--layer 'last'"),
])
def test_bad_embedding_options_are_refused(tiny_model_dir, multi_fasta, tmp_path, options, message):
    with pytest.raises(VqdnaError, match=message):
        _embed(tiny_model_dir, multi_fasta, tmp_path / "x.npz", **options)
    assert not (tmp_path / "x.npz").exists()


def test_cli_passes_the_embedding_options(run_vqdna, tiny_model_dir, multi_fasta, tmp_path):
    out = tmp_path / "cli.npz"
    result = run_vqdna("embed", multi_fasta, "--model", tiny_model_dir, "-o", out, "--pool", "record",
                       "--layer", "all", "--pooling", "max")
    assert result.returncode == 0, result.stderr
    with np.load(out) as npz:
        assert npz["embeddings"].shape[0] == len(MULTI_RECORDS)
        assert npz["layer_embeddings"].shape[:2] == (len(MULTI_RECORDS), _layer_count(tiny_model_dir) + 1)
