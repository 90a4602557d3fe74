"""EMA codebooks, hierarchical residual quantization, and tokens that do not depend on
padding or chunking."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import initialised_tiny_model, random_dna
from vqdna_cli import runner as runner_module
from vqdna_cli.config import PRESETS, QuantizerConfig
from vqdna_cli.data.alphabet import PAD_CODE, encode
from vqdna_cli.data.batching import pad
from vqdna_cli.runner import Runner
from vqdna_cli.model.quantizer import EMACodebook

TINY = PRESETS["tiny"]
TINY_VQ = dataclasses.replace(TINY, quantizer=QuantizerConfig(kind="vq", codebook_sizes=(8,), level_blocks=(2,)))
CONFIGS = pytest.mark.parametrize("cfg", [TINY, TINY_VQ], ids=["hrq", "vq"])


def codebook(size: int = 8, dim: int = 4, decay: float = 0.9, dead: float = 2.0) -> EMACodebook:
    torch.manual_seed(0)
    return EMACodebook(size, dim, decay, 1e-5, dead)


def bases_of(*seqs: str) -> torch.Tensor:
    return torch.from_numpy(pad([encode(s) for s in seqs]).astype(np.int64))


# --- one EMA codebook -------------------------------------------------------------------------


def test_nearest_of_a_code_vector_is_its_index() -> None:
    cb = codebook()
    assert cb.nearest(cb.codes).tolist() == list(range(8))
    assert cb.nearest(cb.codes + 1e-4).tolist() == list(range(8))


def test_lookup_inverts_nearest_on_codes() -> None:
    cb = codebook()
    assert torch.equal(cb.lookup(cb.nearest(cb.codes)), cb.codes)


def test_kmeans_init_takes_codes_from_the_data() -> None:
    cb = codebook()
    data = torch.rand(200, 4, generator=torch.Generator().manual_seed(1)) * 10 + 5  # in [5, 15)
    assert not bool(cb.initialised)
    assert cb.codes.abs().max() < 1  # the random start is far from the data
    cb.kmeans_init(data)
    assert bool(cb.initialised)
    assert cb.codes.min() >= 5 and cb.codes.max() <= 15
    # Starting counts as for a batch this size, so no code is taken for dead at once.
    assert torch.allclose(cb.ema_count, torch.full((8,), 200 / 8))


def test_ema_update_moves_the_code_towards_its_latents() -> None:
    cb = codebook()
    cb.ema_count.fill_(10.0)
    cb.ema_sum.copy_(cb.codes * 10.0)
    before = cb.codes.clone()
    target = before[0] + 1.0
    latents = target.repeat(5, 1)
    cb.ema_update(latents, torch.zeros(5, dtype=torch.long))
    assert (cb.codes[0] - target).norm() < (before[0] - target).norm()
    assert torch.allclose(cb.codes[1:], before[1:], atol=1e-3)  # unassigned codes barely move


def test_dead_codes_are_replaced_by_batch_latents() -> None:
    """All inputs identical: one code gets them all, the others' counts decay below the
    threshold and they are re-seeded from the batch (here: that single vector)."""
    cb = codebook(decay=0.5, dead=2.0)
    cb.ema_count.fill_(4.0)
    cb.ema_sum.copy_(cb.codes * 4.0)
    vector = torch.tensor([[0.3, -0.2, 0.1, 0.5]])
    latents = vector.repeat(16, 1)
    used = int(cb.nearest(vector))
    for _ in range(2):  # counts 4 -> 2 -> 1 (< 2: dead)
        cb.ema_update(latents, cb.nearest(latents))
    dead = [k for k in range(8) if k != used]
    assert torch.equal(cb.codes[dead], vector.repeat(len(dead), 1))
    assert torch.equal(cb.ema_count[dead], torch.full((len(dead),), 2.0))


# --- the quantizer inside the model -----------------------------------------------------------


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    return {"hrq": initialised_tiny_model(TINY), "vq": initialised_tiny_model(TINY_VQ)}


def model_for(models, cfg):
    return models["hrq" if cfg is TINY else "vq"]


def test_training_mode_initialises_every_codebook_once() -> None:
    model = initialised_tiny_model(TINY)
    assert all(bool(cb.initialised) for cb in model.quantizer.codebooks)
    codes = [cb.codes.clone() for cb in model.quantizer.codebooks]
    model.quantize(bases_of(random_dna(40, 3)))  # eval mode: codebooks untouched
    assert all(torch.equal(a, cb.codes) for a, cb in zip(codes, model.quantizer.codebooks))


@CONFIGS
def test_output_shapes(models, cfg) -> None:
    model = model_for(models, cfg)
    with torch.no_grad():
        q = model.quantize(bases_of(random_dna(20, 1), random_dna(13, 2), random_dna(7, 3)))
    levels = cfg.quantizer.levels
    assert q.tokens.shape == (3, 20, levels)
    assert q.tokens.dtype == torch.int64
    assert q.embedding.shape == (3, 20, cfg.encoder.width)
    for level, size in enumerate(cfg.quantizer.codebook_sizes):
        assert 0 <= int(q.tokens[..., level].min()) and int(q.tokens[..., level].max()) < size
    assert q.commitment.ndim == 0 and float(q.commitment) >= 0


@CONFIGS
@pytest.mark.parametrize("grad", [True, False], ids=["straight-through", "inference"])
def test_embed_tokens_equals_forward_embedding(models, cfg, grad: bool) -> None:
    """The Transformer reads `embed_tokens(tokens)` at inference; in training it read the
    straight-through embedding, whose value is the same average of code vectors."""
    model = model_for(models, cfg)
    with torch.set_grad_enabled(grad):
        q = model.quantize(bases_of(random_dna(50, 4), random_dna(31, 5)))
    assert torch.allclose(model.embed_tokens(q.tokens), q.embedding.detach(), atol=1e-5)


@CONFIGS
def test_inference_and_training_paths_agree(models, cfg) -> None:
    """Without gradients (eval mode) the quantizer may take a faster path: same tokens, same
    embedding as the full forward pass."""
    model = model_for(models, cfg)
    bases = bases_of(random_dna(60, 16, "ACGTN"), random_dna(33, 17))
    full = model.quantize(bases)
    with torch.no_grad():
        fast = model.quantize(bases)
    assert torch.equal(full.tokens, fast.tokens)
    assert torch.allclose(full.embedding.detach(), fast.embedding, atol=1e-5)


@CONFIGS
def test_tokens_follow_the_residual_rule(models, cfg) -> None:
    """Level 1 quantizes z_1; level l quantizes h_l = 2 z_l - e_{l-1}(m_{l-1})."""
    model = model_for(models, cfg)
    bases = bases_of(random_dna(40, 6))
    with torch.no_grad():
        q = model.quantize(bases)
        taps = model.encoder(model.soft_onehot[bases], model.valid_mask(bases), cfg.quantizer.level_blocks)
        previous = None
        for level, (cb, z) in enumerate(zip(model.quantizer.codebooks, taps)):
            h = z if previous is None else 2 * z - previous
            index = cb.nearest(h.reshape(-1, h.shape[-1])).view(h.shape[:-1])
            assert torch.equal(index, q.tokens[..., level])
            previous = cb.lookup(index)


@CONFIGS
def test_straight_through_gradient_reaches_the_encoder(models, cfg) -> None:
    model = initialised_tiny_model(cfg)  # a fresh copy: gradients are accumulated below
    q = model.quantize(bases_of(random_dna(30, 7), random_dna(22, 8)))
    q.embedding.sum().backward()
    assert model.encoder.stem.weight.grad is not None
    assert model.encoder.stem.weight.grad.abs().sum() > 0
    last = max(cfg.quantizer.level_blocks) - 1
    assert model.encoder.blocks[last].fc2.weight.grad.abs().sum() > 0
    # Codebooks are learned by EMA, not gradients: buffers, never parameters.
    assert not any("codes" in name for name, _ in model.named_parameters())


def test_single_level_vq(models) -> None:
    model = models["vq"]
    with torch.no_grad():
        q = model.quantize(bases_of(random_dna(25, 9)))
    assert q.tokens.shape == (1, 25, 1)
    codes = model.quantizer.codebooks[0].codes
    assert torch.allclose(q.embedding[0], codes[q.tokens[0, :, 0]], atol=1e-6)


@CONFIGS
def test_tokens_do_not_depend_on_padding(models, cfg) -> None:
    model = model_for(models, cfg)
    short, long = random_dna(20, 10, "ACGTN"), random_dna(45, 11)
    with torch.no_grad():
        alone = model.quantize(bases_of(short))
        batched = model.quantize(bases_of(long, short))
    assert torch.equal(alone.tokens[0], batched.tokens[1, :20])
    assert torch.allclose(alone.embedding[0], batched.embedding[1, :20], atol=1e-5)
    assert bases_of(long, short)[1, 20:].eq(PAD_CODE).all()


def test_chunked_tokens_equal_whole_sequence_tokens(models, monkeypatch) -> None:
    """Chunks carry the encoder's receptive radius as context, so chunking is invisible."""
    model = models["hrq"]
    runner = Runner(model, {}, torch.device("cpu"), Path("."))
    seqs = [random_dna(100, 12), random_dna(37, 13, "ACGTN"), random_dna(5, 14), random_dna(16, 15)]
    with torch.no_grad():
        whole = [model.quantize(bases_of(s)).tokens[0].numpy() for s in seqs]
    monkeypatch.setattr(runner_module, "CHUNK_BASES", 16)
    chunked = runner.tokens_of([encode(s) for s in seqs], batch_tokens=64)  # several batches too
    for expected, got in zip(whole, chunked):
        assert got.dtype == np.uint16
        assert np.array_equal(got, expected)


def test_a_long_record_tokenized_in_parts_gets_the_whole_records_tokens(models) -> None:
    """tokenize cuts a chromosome into parts, each encoded with the encoder's context on both
    sides: the parts, joined, are the tokens of the whole record."""
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.runner import tokenize_records

    runner = Runner(models["hrq"], {}, torch.device("cpu"), Path("."))
    records = [SequenceRecord(name, random_dna(length, seed, "ACGTN"), name)
               for name, length, seed in (("short", 40, 21), ("long", 1_000, 22), ("after", 7, 23))]
    whole = runner.tokens_of([encode(r.seq) for r in records], batch_tokens=4096)
    bases, encoded = [], []
    tokens_of = runner.tokens_of
    runner.tokens_of = lambda codes, *args: encoded.extend(map(len, codes)) or tokens_of(codes, *args)
    parts = list(tokenize_records(runner, records, batch_tokens=256, on_bases=bases.append, part_bases=128))
    radius = runner.model.cfg.encoder.receptive_radius
    assert max(encoded) <= 128 + 2 * radius  # the long record is never encoded whole
    assert [(r.name, continued) for r, _, continued in parts] == (
        [("short", False), ("long", False)] + [("long", True)] * 7 + [("after", False)])
    assert np.array_equal(np.concatenate([t for r, t, _ in parts if r.name == "long"]), whole[1])
    assert np.array_equal(parts[0][1], whole[0]) and np.array_equal(parts[-1][1], whole[2])
    assert sum(bases) == 1_047  # progress counts every base once
