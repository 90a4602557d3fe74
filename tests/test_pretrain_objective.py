"""The masked pre-training objective: spans hidden on the input, so that no neighbouring
token can give a masked base away, and the references the benchmark holds it against."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vqdna_cli.config import MaskingConfig, ModelConfig, PRESETS
from vqdna_cli.data.alphabet import PAD_CODE
from vqdna_cli.model.vqdna import VQDNA
from vqdna_cli.train.pretrain import (HIDDEN, KEPT, RANDOM, UNCHANGED, MaskedBatch, masked_base_loss,
                                      no_decay_parameters, span_treatments)
from vqdna_cli.train.loop import _decay_groups

from conftest import initialised_tiny_model

REPO = Path(__file__).resolve().parent.parent


def spans_of(row: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, treatment) of each run of equal non-KEPT treatment in one row."""
    runs, start = [], None
    for i, value in enumerate([*row, KEPT]):
        if start is not None and value != row[start]:
            runs.append((start, i, int(row[start])))
            start = None
        if start is None and value != KEPT and i < len(row):
            start = i
    return runs


def test_spans_cover_the_configured_share_in_long_runs_with_80_10_10_treatment() -> None:
    masking = MaskingConfig(fraction=0.18, mean_span=10.0)
    treatment = span_treatments((64, 512), masking, torch.Generator().manual_seed(0)).numpy()
    covered = (treatment != KEPT).mean()
    assert 0.13 < covered <= 0.18  # overlapping spans cover a little less than asked
    runs = [run for row in treatment for run in spans_of(row)]
    assert np.mean([end - start for start, end, _ in runs]) > 6  # spans, not single positions
    kinds = np.array([kind for *_, kind in runs])
    assert 0.7 < (kinds == HIDDEN).mean() < 0.9
    assert 0.05 < (kinds == RANDOM).mean() < 0.15 and 0.05 < (kinds == UNCHANGED).mean() < 0.15


def test_masks_depend_on_the_generator_alone() -> None:
    masking = MaskingConfig()
    a = span_treatments((4, 300), masking, torch.Generator().manual_seed(7))
    b = span_treatments((4, 300), masking, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, span_treatments((4, 300), masking, torch.Generator().manual_seed(8)))


def test_what_the_model_reads_does_not_depend_on_the_hidden_bases() -> None:
    """The defect this objective fixes: with masking after tokenizing, the neighbours' tokens
    encoded the masked base. Here two windows that differ only inside hidden spans give
    the tokenizer the same input, so nothing the Transformer reads can tell them apart."""
    bases = torch.randint(0, 4, (8, 256), generator=torch.Generator().manual_seed(1))
    first = MaskedBatch.draw(bases, MaskingConfig(), torch.Generator().manual_seed(3))
    hidden = first.treatment == HIDDEN
    assert hidden.any()
    other = torch.where(hidden, (bases + 1) % 4, bases)
    second = MaskedBatch.draw(other, MaskingConfig(), torch.Generator().manual_seed(3))
    assert torch.equal(first.corrupted, second.corrupted)
    assert not torch.equal(first.bases, second.bases)  # yet the targets differ
    model = initialised_tiny_model()
    with torch.no_grad():
        assert torch.equal(model.quantize(first.corrupted).tokens, model.quantize(second.corrupted).tokens)


def test_padding_is_never_corrupted_and_never_scored() -> None:
    bases = torch.randint(0, 4, (4, 128), generator=torch.Generator().manual_seed(2))
    bases[:, 100:] = PAD_CODE
    batch = MaskedBatch.draw(bases, MaskingConfig(fraction=0.5), torch.Generator().manual_seed(0))
    assert torch.all(batch.corrupted[:, 100:] == PAD_CODE)
    assert not batch.targets[:, 100:].any()


def test_the_loss_trains_the_base_and_code_heads_and_reports_hidden_accuracy() -> None:
    model = initialised_tiny_model()
    assert model.base_head is not None
    bases = torch.randint(0, 4, (4, 64), generator=torch.Generator().manual_seed(0))
    batch = MaskedBatch.draw(bases, model.cfg.masking, torch.Generator().manual_seed(0))
    model.train()
    loss, stats = masked_base_loss(model, batch)
    loss.backward()
    assert set(stats) == {"base_acc", "hidden_base_acc"}
    assert model.base_head.weight.grad is not None and model.mlm_heads.levels[0].weight.grad is not None
    assert model.encoder.stem.weight.grad is None  # the tokenizer is read, never trained here


def test_weight_decay_spares_norms_biases_positions_and_the_mask_vector() -> None:
    model = VQDNA(PRESETS["tiny"])
    exempt = no_decay_parameters(model)
    names = {name for name, p in model.named_parameters() if any(p is q for q in exempt)}
    assert "transformer.position.weight" in names and "transformer.mask_vector" in names
    assert "transformer.norm.weight" in names and "base_head.bias" in names
    assert "transformer.blocks.0.fc1.weight" not in names and "base_head.weight" not in names
    parameters = [*model.transformer.parameters(), *model.base_head.parameters()]
    groups = _decay_groups(parameters, exempt)
    assert sum(len(g["params"]) for g in groups) == len(parameters)
    assert [g.get("weight_decay") for g in groups] == [None, 0.0]


def test_weights_made_before_input_masking_load_with_their_own_objective() -> None:
    """A config without `masking` (the shipped weights before this objective) keeps the
    token objective and has no base head, so its weights file still matches."""
    info = json.loads((REPO / "weights/default/config.json").read_text())
    if "masking" in info["model"]:
        pytest.skip("the shipped weights were made with input masking")
    cfg = ModelConfig.from_dict(info["model"])
    assert cfg.masking.where == "tokens" and cfg.masking.fraction == info["model"]["mask_fraction"]
    assert VQDNA(cfg).base_head is None
    assert ModelConfig.from_dict(ModelConfig().to_dict()) == ModelConfig()


def test_an_unknown_masking_place_is_refused() -> None:
    with pytest.raises(ValueError, match="masking.where"):
        MaskingConfig(where="output")


def test_device_sampler_draws_clean_windows_of_the_training_records() -> None:
    """The sampler a GPU uses, run on the CPU: windows lie inside one record, mostly-N
    stretches are skipped, and a step gives the same batch every time."""
    from vqdna_cli.train.genomes import DeviceWindowSampler

    rng = np.random.default_rng(0)
    first = rng.integers(0, 4, 300).astype(np.uint8)
    second = np.concatenate([np.full(200, 4, np.uint8), rng.integers(0, 4, 100).astype(np.uint8)])  # 200 N, then bases
    sampler = DeviceWindowSampler([first, second], 64, seed=1, device=torch.device("cpu"))
    batch = sampler.batch(50, step=3)
    assert batch.shape == (50, 64) and batch.dtype == torch.int64
    assert torch.equal(batch, sampler.batch(50, step=3))
    assert (batch < 4).float().mean() >= 0.95
    texts = ["".join(map(str, r.tolist())) for r in (first, second)]
    for row in batch:
        piece = "".join(map(str, row.tolist()))
        assert any(piece in text for text in texts)


def test_pretrain_can_still_make_the_token_objective_of_the_shipped_weights(tmp_path: Path) -> None:
    """`--masking tokens` remakes the shipped weights' objective (scripts/train_weights.sh
    uses it); without a fresh Transformer the option is refused."""
    from conftest import fasta_text, random_dna
    from vqdna_cli import api
    from vqdna_cli.checkpoint import load_model, save_model
    from vqdna_cli.errors import UsageError
    from vqdna_cli.options import GenomeSet, RunOptions, StageSettings, TrainControl

    genome = tmp_path / "g.fa"
    genome.write_text(fasta_text({"chr1": random_dna(2000, 3)}))
    model = initialised_tiny_model()
    save_model(tmp_path / "tok", model, model.cfg, {})
    common = (StageSettings(steps=2, lr=1e-3, window=64, batch=4), TrainControl(quiet=True),
              RunOptions(tmp_path / "tok", device="cpu", threads=1, seed=0))
    metrics = api.pretrain(GenomeSet((str(genome),)), tmp_path / "pre", *common, transformer_preset="tiny",
                           masking="tokens")
    assert {"heldout_mlm_loss", "level1_masked_acc"} <= set(metrics)
    pretrained, _ = load_model(tmp_path / "pre")
    assert pretrained.cfg.masking.where == "tokens" and pretrained.base_head is None
    with pytest.raises(UsageError, match="--transformer-preset"):
        api.pretrain(GenomeSet((str(genome),)), tmp_path / "other", *common, masking="tokens")


def test_bf16_only_in_the_transformer_and_only_where_the_gpu_has_it(monkeypatch) -> None:
    from vqdna_cli import runtime

    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert runtime.transformer_precision(cuda) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert runtime.transformer_precision(cuda) == "fp32"  # an older card: no fp16 overflow risk
    assert runtime.transformer_precision(torch.device("cpu")) == "fp32"
    assert runtime.transformer_precision(torch.device("cpu"), cpu_bf16=True) == "bf16"
    runtime.exact_fp32()
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
