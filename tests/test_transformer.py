"""The Transformer over the quantized embeddings: its neighbour convolution and old configs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vqdna_cli.config import PRESETS, ModelConfig
from vqdna_cli.model.transformer import TransformerEncoder
from vqdna_cli.model.vqdna import VQDNA

TINY = PRESETS["tiny"]


def test_presets_read_their_neighbours() -> None:
    assert all(cfg.transformer.local_kernel == 5 for cfg in PRESETS.values())
    encoder = TransformerEncoder(TINY.transformer, TINY.encoder.width)
    assert encoder.local.kernel_size == (5,) and encoder.local.groups == TINY.transformer.width


def test_config_written_before_the_convolution_builds_the_older_model() -> None:
    saved = dataclasses.asdict(TINY)
    del saved["transformer"]["local_kernel"]
    cfg = ModelConfig.from_dict(saved)
    assert cfg.transformer.local_kernel == 0
    older = VQDNA(cfg)
    assert older.transformer.local is None
    assert not any(".local." in key for key in older.state_dict())
    # ...so the weights such a model saved still load strictly.
    VQDNA(cfg).load_state_dict(older.state_dict(), strict=True)


def test_round_trip_keeps_the_kernel() -> None:
    assert ModelConfig.from_dict(dataclasses.asdict(TINY)).transformer.local_kernel == 5


def test_output_does_not_depend_on_padding() -> None:
    torch.manual_seed(0)
    encoder = TransformerEncoder(TINY.transformer, TINY.encoder.width).eval()
    torch.nn.init.normal_(encoder.local.weight)  # make the convolution matter
    alone = torch.randn(1, 20, TINY.encoder.width)
    padded = torch.cat([alone, torch.randn(1, 12, TINY.encoder.width) * 100], dim=1)
    valid_alone = torch.ones(1, 20, dtype=torch.bool)
    valid_padded = torch.cat([valid_alone, torch.zeros(1, 12, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        expected = encoder(alone, valid_alone)
        got = encoder(padded, valid_padded)[:, :20]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_a_masked_token_reads_its_neighbours_through_the_convolution() -> None:
    """With attention switched off (every value projection zero), only the convolution can
    carry a neighbour's embedding to a masked position."""
    torch.manual_seed(0)
    encoder = TransformerEncoder(TINY.transformer, TINY.encoder.width).eval()
    for block in encoder.blocks:
        torch.nn.init.zeros_(block.attn.out.weight)
        torch.nn.init.zeros_(block.attn.out.bias)
    z = torch.randn(1, 16, TINY.encoder.width)
    valid = torch.ones(1, 16, dtype=torch.bool)
    masked = torch.zeros(1, 16, dtype=torch.bool)
    masked[0, 8] = True
    changed = z.clone()
    changed[0, 9] += 1.0
    far = z.clone()
    far[0, 14] += 1.0
    with torch.no_grad():
        base = encoder(z, valid, masked)[0, 8]
        assert not torch.allclose(encoder(changed, valid, masked)[0, 8], base)  # 1 token away: inside the kernel
        torch.testing.assert_close(encoder(far, valid, masked)[0, 8], base)  # 6 away: outside it


@pytest.mark.parametrize("kernel", [4, -1])
def test_an_even_or_negative_kernel_is_refused(kernel: int) -> None:
    with pytest.raises(ValueError, match="local_kernel"):
        TransformerEncoder(dataclasses.replace(TINY.transformer, local_kernel=kernel), TINY.encoder.width)
