#!/usr/bin/env python
"""Quality of a weights directory on genome sequence it never trained on.

    python -m benchmarks.heldout [--model DIR] [--bases 2000000] [--json out.json]

Held out of pre-training (HELD_OUT in vqdna_cli/train/recipes.py): the whole C. trachomatis
genome and the last 5 Mb of human chrX. On up to --bases of each (taken from the start of the
held-out part), it reports:
- reconstruction accuracy: decode the HRQ tokens back to bases (A/C/G/T positions only);
- per-level code usage (share of codes used at least once) and perplexity (exp of the
  entropy of the code distribution; at most the codebook size);
- masked-token accuracy per level: 25 % of positions masked (fixed seed) in 512-base
  windows, the Transformer predicts each level's code there;
- beside it, the same positions predicted by a lookup table instead of the Transformer: the
  most frequent code between a given left and right neighbour's codes, counted on training
  windows of the genomes (never the held-out part). It sees both neighbours even where they
  are masked too, so it is a reference, not a bound: how far a model gets by reading a
  token's neighbours alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch

from vqdna_cli.checkpoint import load_model
from vqdna_cli.data.alphabet import encode
from vqdna_cli.io.fasta import read_fasta
from vqdna_cli.runner import Runner, default_weights_dir
from vqdna_cli.train.genomes import WindowSampler, load_genomes
from vqdna_cli.train.recipes import CHECKOUT, HELD_OUT, HOLDOUT_FILES, HOLDOUT_TAIL


def data_dir() -> Path | None:
    for candidate in (os.environ.get("VQDNA_DATA"), CHECKOUT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "genomes").is_dir():
            return Path(candidate) / "genomes"
    return None


class NeighbourLookup:
    """Per level: the most frequent code at a position given its left and right neighbours' codes."""

    def __init__(self, tokens: np.ndarray, codebook_sizes: tuple[int, ...]):  # tokens (windows, L, levels)
        self.sizes, self.tables = codebook_sizes, []
        for level, size in enumerate(codebook_sizes):
            codes = tokens[..., level].astype(np.int64)
            keys = self._keys(codes[:, :-2], codes[:, 2:], size).ravel()
            pairs, counts = np.unique(keys * size + codes[:, 1:-1].ravel(), return_counts=True)
            order = np.lexsort((counts, pairs // size))  # by neighbours, then by count
            last = np.r_[np.diff(pairs[order] // size) != 0, True]  # the most frequent of each
            best = pairs[order][last]
            self.tables.append((best // size, best % size))

    @staticmethod
    def _keys(left: np.ndarray, right: np.ndarray, size: int) -> np.ndarray:
        return left * size + right

    def predict(self, level: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The looked-up codes; -1 where these neighbours never occurred in training."""
        known, code = self.tables[level]
        keys = self._keys(left.astype(np.int64), right.astype(np.int64), self.sizes[level])
        at = np.clip(np.searchsorted(known, keys), 0, len(known) - 1)
        return np.where(known[at] == keys, code[at], -1)


def training_lookup(runner: Runner, genomes: Path, windows: int = 2400) -> NeighbourLookup:
    """The lookup counted on `windows` training windows of 512 bases, drawn as pre-training draws them."""
    files = sorted(str(p) for p in genomes.glob("*.f*a.gz"))
    split = load_genomes(files, HOLDOUT_FILES, HOLDOUT_TAIL)
    sampler = WindowSampler(split.train, runner.window, seed=1)
    batches = [sampler.batch(16, number) for number in range(windows // 16)]
    with torch.inference_mode():
        tokens = np.concatenate([runner.model.quantize(torch.from_numpy(b)).tokens.numpy() for b in batches])
    return NeighbourLookup(tokens, runner.model.cfg.quantizer.codebook_sizes)


def held_out_codes(path: Path, tail: int | None, bases: int) -> np.ndarray:
    seq = "".join(record.seq for record in read_fasta(str(path)))
    part = seq[len(seq) - tail:] if tail else seq
    return encode(part[:bases])


@torch.inference_mode()
def evaluate(runner: Runner, codes: np.ndarray, lookup: NeighbourLookup) -> dict:
    model = runner.model
    tokens = runner.tokens_of([codes], 32768)[0]  # (L, levels)
    # Reconstruction: decode windows of tokens back to bases.
    correct = total = 0
    for start in range(0, len(codes), 4096):
        piece = torch.from_numpy(tokens[start : start + 4096].astype(np.int64))[None]
        valid = torch.ones(piece.shape[:2], dtype=torch.bool)
        predicted = model.reconstruct(model.embed_tokens(piece), valid).argmax(-1)[0].numpy()
        truth = codes[start : start + 4096]
        known = truth < 4
        correct += int((predicted[known] == truth[known]).sum())
        total += int(known.sum())
    result = {"bases": int(len(codes)), "reconstruction_accuracy": correct / max(total, 1)}
    for level, size in enumerate(model.cfg.quantizer.codebook_sizes):
        counts = np.bincount(tokens[:, level], minlength=size).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        result[f"level{level + 1}_usage"] = float((counts > 0).mean())
        result[f"level{level + 1}_perplexity"] = float(math.exp(-(p * np.log(p)).sum()))
    # Masked-token accuracy in full windows, the same masks every run.
    window = model.cfg.transformer.max_tokens
    generator = torch.Generator().manual_seed(0)
    hits = np.zeros(len(model.cfg.quantizer.codebook_sizes))
    lookup_hits = np.zeros_like(hits)
    masked_total = 0
    for start in range(0, len(codes) - window + 1, window * 4):  # every 4th window
        piece = torch.from_numpy(tokens[start : start + window].astype(np.int64))[None]
        valid = torch.ones(piece.shape[:2], dtype=torch.bool)
        masked = torch.rand(piece.shape[:2], generator=generator) < model.cfg.masking.fraction
        hidden = model.contextualise(model.embed_tokens(piece), valid, masked)
        for level, logits in enumerate(model.mlm_heads(hidden[masked])):
            hits[level] += int((logits.argmax(-1) == piece[..., level][masked]).sum())
        inner = masked[0, 1:-1].numpy()  # positions with a neighbour on each side
        codes_here = piece[0].numpy()
        for level in range(len(hits)):
            guess = lookup.predict(level, codes_here[:-2, level][inner], codes_here[2:, level][inner])
            lookup_hits[level] += int((guess == codes_here[1:-1, level][inner]).sum())
        masked_total += int(masked.sum())
    for level, (h, looked_up) in enumerate(zip(hits, lookup_hits)):
        result[f"level{level + 1}_masked_accuracy"] = float(h / max(masked_total, 1))
        result[f"level{level + 1}_neighbour_lookup_accuracy"] = float(looked_up / max(masked_total, 1))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--bases", type=int, default=2_000_000, help="bases of each held-out sequence")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    genomes = data_dir()
    if genomes is None:
        print("skipped: no ../shared/data/genomes (set VQDNA_DATA)")
        return 0
    torch.set_num_threads(args.threads)
    model, info = load_model(args.model or default_weights_dir())
    runner = Runner(model, info, torch.device("cpu"), args.model or default_weights_dir())
    lookup = training_lookup(runner, genomes)
    results = {name: evaluate(runner, held_out_codes(genomes / file, tail, args.bases), lookup)
               for name, (file, tail) in HELD_OUT.items()}
    keys = list(next(iter(results.values())))
    print("| held-out sequence | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, values in results.items():
        print(f"| {name} | " + " | ".join(f"{values[k]:.4f}" if isinstance(values[k], float) else f"{values[k]:,}" for k in keys) + " |")
    print(f"\nmodel {info['sha256']['model.safetensors'][:16]}; command: python -m benchmarks.heldout {' '.join(sys.argv[1:])}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
