"""Tokens are fp32 arithmetic, so they hold exactly on one kind of machine, not across kinds:
a position whose two nearest codes lie equally far, within rounding, can take either. These
tests pin that down on the CPU against float64 (tests/test_gpu.py does the same for a GPU):
positions that differ are rare, and at each the two codes are a near-tie, far closer than the
two nearest codes of a typical position."""

from __future__ import annotations

import copy
import gzip
import os
from pathlib import Path

import numpy as np
import torch

from vqdna_cli.data.alphabet import encode
from vqdna_cli.runner import Runner

REPO = Path(__file__).resolve().parent.parent
# Share of positions that may take another token on another device or in float64.
MOST_POSITIONS_THAT_MAY_DIFFER = 5e-4
# A near-tie: the two codes' squared distances to the position's vector differ by less than
# this share of the distance (for a typical position the runner-up is farther by about the
# distance itself).
NEAR_TIE = 1e-2


def real_sequence(bases: int = 200_000) -> str:
    """A stretch of human chrX (the shared data), or a seeded random sequence without it."""
    data = Path(os.environ.get("VQDNA_DATA", REPO.parent / "shared" / "data"))
    path = data / "genomes" / "human_chrX_0-70Mb_GRCh37_smalt.fa.gz"
    if not path.is_file():
        return "".join(np.random.default_rng(0).choice(list("ACGT"), bases))
    with gzip.open(path, "rt") as handle:
        handle.readline()
        text, size = [], 0
        for line in handle:  # start past the N-filled telomere
            size += len(line) - 1
            if size > 3_000_000:
                text.append(line.strip().upper())
                if sum(map(len, text)) >= bases:
                    break
    return "".join(text)[:bases]


def level_vectors(model, bases: np.ndarray, left: int, right: int) -> list[torch.Tensor]:
    """float64 encoder outputs (one (right-left, D) tensor per HRQ level) for bases[left:right],
    read with the receptive field's context on each side."""
    radius = model.cfg.encoder.receptive_radius
    start, end = max(0, left - radius), min(len(bases), right + radius)
    window = torch.from_numpy(bases[start:end].astype(np.int64))[None]
    with torch.inference_mode():
        onehot = model.soft_onehot[window]
        taps = model.encoder(onehot, model.valid_mask(window), model.cfg.quantizer.level_blocks)
    return [tap[0, left - start:right - start] for tap in taps]


def squared_distances(model, z: list[torch.Tensor], above: np.ndarray, level: int) -> torch.Tensor:
    """(N, K) squared distances to every code of `level`, with the codes `above` (N, levels) at
    the levels before it (HRQ: h_l = 2 z_l - e_{l-1})."""
    codebooks = model.quantizer.codebooks
    h = z[0]
    for previous in range(level):
        h = 2 * z[previous + 1] - codebooks[previous].codes[torch.from_numpy(above[:, previous].astype(np.int64))]
    return torch.cdist(h, codebooks[level].codes).pow(2)


def in_float64(runner: Runner):
    return copy.deepcopy(runner.model).cpu().double()


def float64_tokens(model, bases: np.ndarray) -> np.ndarray:
    """(L, levels) tokens with every step in float64 on the CPU."""
    z = level_vectors(model, bases, 0, len(bases))
    tokens = np.zeros((len(bases), len(z)), dtype=np.int64)
    for level in range(len(z)):
        tokens[:, level] = squared_distances(model, z, tokens, level).argmin(1).numpy()
    return tokens


def tie_gap(model, bases: np.ndarray, position: int, reference: np.ndarray, other: np.ndarray) -> float:
    """At the first level where `other` (levels,) leaves `reference`: how much farther, as a
    share of the reference code's squared distance, one code is than the other (float64)."""
    level = int(np.flatnonzero(reference != other)[0])
    z = level_vectors(model, bases, position, position + 1)
    distances = squared_distances(model, z, reference[None], level)[0]
    near, far = distances[int(reference[level])].item(), distances[int(other[level])].item()
    return abs(far - near) / max(near, 1e-12)


def check_only_near_ties_differ(model, bases: np.ndarray, reference: np.ndarray, other: np.ndarray) -> list[float]:
    """Asserts that few positions differ and that each is a near-tie; returns their gaps."""
    differ = np.flatnonzero((reference != other).any(axis=1))
    assert len(differ) <= MOST_POSITIONS_THAT_MAY_DIFFER * len(reference), f"{len(differ)} of {len(reference)} positions differ"
    gaps = [tie_gap(model, bases, int(p), reference[p], other[p]) for p in differ]
    for position, gap in zip(differ, gaps):
        assert gap < NEAR_TIE, f"position {position}: one code is {gap:.2%} farther than the other, not a near-tie"
    return gaps


def test_cpu_tokens_are_the_float64_ones_but_at_near_ties() -> None:
    bases = encode(real_sequence(50_000))
    runner = Runner.load(None, "cpu")
    fp32 = runner.tokens_of([bases], batch_tokens=65536)[0].astype(np.int64)
    model = in_float64(runner)
    check_only_near_ties_differ(model, bases, float64_tokens(model, bases), fp32)


def test_a_near_tie_is_far_closer_than_a_typical_runner_up() -> None:
    """The threshold tells ties from real choices: at a typical position the second nearest
    code of each level is much farther than NEAR_TIE."""
    bases = encode(real_sequence(5_000))
    model = in_float64(Runner.load(None, "cpu"))
    tokens = float64_tokens(model, bases)
    z = level_vectors(model, bases, 0, len(bases))
    for level in range(tokens.shape[1]):
        nearest_two = squared_distances(model, z, tokens, level).topk(2, largest=False).values
        gaps = ((nearest_two[:, 1] - nearest_two[:, 0]) / nearest_two[:, 0].clamp(min=1e-12)).numpy()
        assert np.median(gaps) > 10 * NEAR_TIE
        assert (gaps < NEAR_TIE).mean() < 0.01
