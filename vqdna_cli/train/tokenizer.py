"""Stage 1: learn the vocabulary. A VQ-VAE over one-hot DNA with HRQ codebooks."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from vqdna_cli import distributed
from vqdna_cli.model.vqdna import VQDNA
from vqdna_cli.train.genomes import GenomeSplit, WindowSampler, evaluation_windows
from vqdna_cli.train.loop import LoopSettings, run


def reconstruction_loss(logits: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the true base; N and other ambiguous positions are ignored.

    The mean is over the unambiguous bases of the global batch (this process's share of
    it under torchrun): their number differs between the processes' parts."""
    known = bases < 4
    target = torch.where(known, bases, torch.full_like(bases, -100))
    total = F.cross_entropy(logits.reshape(-1, 4).float(), target.reshape(-1), ignore_index=-100, reduction="sum")
    return total * distributed.mean_factor(known.sum())


@torch.no_grad()
def tokenizer_metrics(model: VQDNA, windows: np.ndarray, device: torch.device, batch: int = 64) -> dict:
    """Reconstruction accuracy on unambiguous bases, and per-level code usage and perplexity."""
    correct = total = 0
    counts = [torch.zeros(cb.size, device=device) for cb in model.quantizer.codebooks]
    for start in range(0, len(windows), batch):
        bases = torch.from_numpy(windows[start : start + batch]).to(device)
        q = model.quantize(bases)
        valid = model.valid_mask(bases)
        predicted = model.reconstruct(q.embedding, valid).argmax(-1)
        known = bases < 4
        correct += int((predicted == bases)[known].sum())
        total += int(known.sum())
        for level, count in enumerate(counts):
            count += torch.bincount(q.tokens[..., level][valid], minlength=count.numel()).float()
    metrics = {"reconstruction_accuracy": correct / max(total, 1)}
    for level, count in enumerate(counts, start=1):
        p = count / count.sum()
        entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
        metrics[f"level{level}_usage"] = float((count > 0).float().mean())
        metrics[f"level{level}_perplexity"] = math.exp(entropy)
    return metrics


def train_tokenizer(model: VQDNA, genomes: GenomeSplit, settings: LoopSettings, *, window: int, batch: int,
                    seed: int, device: torch.device) -> dict:
    distributed.local_batch(batch)  # --batch is global: it must split evenly over processes
    sampler = WindowSampler(genomes.train, window, seed)
    heldout = evaluation_windows(genomes, window, 256, seed + 1)
    commitment_weight = model.cfg.quantizer.commitment_weight

    def step(number: int):
        # Every process draws the step's whole batch (cheap: window positions) and keeps its
        # rows, so the data does not depend on the number of processes.
        bases = torch.from_numpy(sampler.batch(batch, number)[distributed.rows(batch)]).to(device)
        q = model.quantize(bases)
        logits = model.reconstruct(q.embedding, model.valid_mask(bases))
        recon = reconstruction_loss(logits, bases)
        # The commitment term is a mean over positions, and every process holds the same
        # number of them (whole windows): the average over processes is the global mean.
        return recon + commitment_weight * q.commitment, {"recon": recon.item(), "commit": q.commitment.item()}

    return run("tokenizer", model, model.tokenizer_parameters(), step,
               lambda scheduled: tokenizer_metrics(model, heldout, device), settings)
