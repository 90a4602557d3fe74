"""benchmarks/pretraining.py: the references the pre-trained model is held against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmarks import pretraining
from conftest import initialised_tiny_model
from vqdna_cli.config import MaskingConfig
from vqdna_cli.data.alphabet import encode
from vqdna_cli.train.pretrain import HIDDEN


def test_kmer_codes_name_the_bases_before_each_position() -> None:
    contexts, following = pretraining.kmer_codes(encode("ACGTNAC"), 2)
    # positions 2..6: AC->G, CG->T, GT->N (none), TN->A (none), NA->C (none)
    assert contexts.tolist() == [0 * 4 + 1, 1 * 4 + 2, -1, -1, -1]
    assert following.tolist() == [2, 3, -1, 0, 1]


def test_markov_model_fills_a_hidden_span_from_its_own_guesses() -> None:
    """A periodic sequence is predicted exactly by an order-2 model, span after span."""
    train = [encode("ACG" * 400)]
    markov = pretraining.MarkovModel(train, 2)
    truth = encode("ACG" * 20).astype(np.int64)[None]
    hidden = np.zeros_like(truth, dtype=bool)
    hidden[0, 10:25] = True
    corrupted = np.where(hidden, 4, truth)
    assert np.array_equal(markov.fill(corrupted, hidden), truth)
    assert pretraining.MarkovModel([encode("AAAAC" * 50)], 1).fallback == 0  # A is the most common base


def test_hidden_accuracy_scores_only_hidden_spans() -> None:
    bases = torch.randint(0, 4, (4, 512), generator=torch.Generator().manual_seed(0))
    batch = pretraining.MaskedBatch.draw(bases, MaskingConfig(), torch.Generator().manual_seed(1))
    assert pretraining.hidden_accuracy(bases.numpy(), batch) == 1.0
    wrong = np.where((batch.treatment == HIDDEN).numpy(), (bases.numpy() + 1) % 4, bases.numpy())
    assert pretraining.hidden_accuracy(wrong, batch) == 0.0


def test_kmer_spectrum_has_every_1_to_5_mer_normalised_per_order() -> None:
    spectrum = pretraining.kmer_spectrum(["ACGTACGTAC", "AAAAAAAA"])
    assert spectrum.shape == (2, 4 + 16 + 64 + 256 + 1024)
    starts = np.cumsum([0, 4, 16, 64, 256, 1024])
    for a, b in zip(starts[:-1], starts[1:]):
        np.testing.assert_allclose(spectrum[:, a:b].sum(1), 1.0, rtol=1e-6)
    assert spectrum[1, 0] == 1.0  # all A


def test_random_transformer_keeps_the_tokenizer_and_changes_the_vectors(tmp_path: Path) -> None:
    from vqdna_cli.checkpoint import save_model
    from vqdna_cli.runner import Runner

    model = initialised_tiny_model()
    save_model(tmp_path / "m", model, model.cfg, {})
    runner = Runner.load(tmp_path / "m", "cpu")
    other = pretraining.with_random_transformer(runner, seed=5)
    seqs = ["ACGTTGCAAC" * 5, "GGGCCCATAT" * 4]
    assert all(np.array_equal(a, b) for a, b in zip(runner.tokens_of([encode(s) for s in seqs], 4096),
                                                    other.tokens_of([encode(s) for s in seqs], 4096)))
    assert not np.allclose(pretraining.pooled_vectors(runner, seqs), pretraining.pooled_vectors(other, seqs))
    layered = pretraining.pooled_vectors(runner, seqs, all_layers=True)
    assert layered.shape == (2, (model.cfg.transformer.layers + 1) * model.cfg.transformer.width)
    last = pretraining.pooled_vectors(runner, seqs)
    assert np.allclose(layered[:, -model.cfg.transformer.width:], last, atol=1e-5)


def test_gue_random_transformer_arm_keeps_the_tokenizer(tmp_path: Path) -> None:
    import argparse

    from benchmarks import gue
    from safetensors.torch import load_file

    from vqdna_cli.checkpoint import save_model

    model = initialised_tiny_model()
    save_model(tmp_path / "trained", model, model.cfg, {"pretrain": {"note": "fixture"}})
    gue.random_transformer(argparse.Namespace(like=str(tmp_path / "trained"), out=str(tmp_path / "random"), seed=3))
    trained, random_ = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("trained", "random"))
    assert trained.keys() == random_.keys()
    for name in trained:
        same = torch.equal(trained[name], random_[name])
        if name.startswith(("encoder.", "quantizer.", "decoder.")):
            assert same, name
    assert not torch.equal(trained["transformer.input.weight"], random_["transformer.input.weight"])



def test_code_spectrum_gives_each_level_a_distribution(tmp_path: Path) -> None:
    from vqdna_cli.checkpoint import save_model
    from vqdna_cli.runner import Runner

    model = initialised_tiny_model()
    save_model(tmp_path / "m", model, model.cfg, {})
    runner = Runner.load(tmp_path / "m", "cpu")
    spectrum = pretraining.code_spectrum(runner, ["ACGTTGCAAC" * 5, "GGGCCCATAT" * 4])
    sizes = model.cfg.quantizer.codebook_sizes
    assert spectrum.shape == (2, sum(sizes))
    assert np.allclose(spectrum[:, : sizes[0]].sum(1), 1) and np.allclose(spectrum[:, sizes[0]:].sum(1), 1)


def test_probe_markdown_judges_the_gate_on_the_random_transformer_and_the_kmers() -> None:
    arms = (pretraining.PRETRAINED, pretraining.RANDOM, pretraining.KMERS, pretraining.CODES)

    def results(scores):
        row = {"rows": {"train": 10, "select": 5, "score": 5}, **{a: {"mcc": s} for a, s in zip(arms, scores)}}
        return {"model_sha256": "ab" * 32, "layers": "each", "tasks": {"t": row}}

    text = pretraining.probe_markdown(results((0.50, 0.40, 0.46, 0.48)), "cmd")
    assert "**passes** (+10.0 against the random Transformer, +4.0 against 1..5-mers; +2.0 against the HRQ code" in text
    assert "the mean of each layer" in text
    assert "**fails**" in pretraining.probe_markdown(results((0.50, 0.48, 0.30, 0.20)), "cmd")
