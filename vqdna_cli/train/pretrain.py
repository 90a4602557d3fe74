"""Stage 2: masked pre-training. The tokenizer is frozen; the Transformer learns to predict
the code index of every HRQ level at the 25 % of positions replaced by [MASK]."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vqdna_cli import distributed
from vqdna_cli.model.vqdna import VQDNA
from vqdna_cli.train.genomes import GenomeSplit, WindowSampler, fixed_windows
from vqdna_cli.train.loop import LoopSettings, run


def freeze_tokenizer(model: VQDNA) -> None:
    for module in (model.encoder, model.quantizer, model.decoder):
        module.requires_grad_(False)


def masked_token_loss(model: VQDNA, bases: torch.Tensor, draw: torch.Tensor,
                      global_batch: bool = False) -> tuple[torch.Tensor, list[float]]:
    """Mean over levels of the cross-entropy at masked positions, and per-level accuracy.

    draw: uniform numbers, one per base (CPU); positions below mask_fraction are masked.
    global_batch: `bases` is this process's part of a batch spread over processes; the
    means are then over the masked positions of the whole batch (this process's share).
    """
    model.encoder.eval(), model.quantizer.eval()  # frozen: no EMA updates, no dropout
    valid = model.valid_mask(bases)
    with torch.no_grad():
        q = model.quantize(bases)
    masked = (draw.to(bases.device) < model.cfg.mask_fraction) & valid
    count = masked.sum()
    factor = distributed.mean_factor(count) if global_batch else 1 / count.clamp(min=1).float()
    hidden = model.contextualise(q.embedding, valid, masked)
    losses, accuracies = [], []
    for level, logits in enumerate(model.mlm_heads(hidden[masked])):
        target = q.tokens[..., level][masked]
        losses.append(F.cross_entropy(logits.float(), target, reduction="sum") * factor)
        accuracies.append(float((logits.argmax(-1) == target).sum() * factor))
    return torch.stack(losses).mean(), accuracies


def pretrain(model: VQDNA, genomes: GenomeSplit, settings: LoopSettings, *, window: int, batch: int,
             seed: int, device: torch.device) -> dict:
    freeze_tokenizer(model)
    distributed.local_batch(batch)  # --batch is global: it must split evenly over processes
    sampler = WindowSampler(genomes.train, window, seed)
    heldout = fixed_windows(genomes.heldout or genomes.train, window, 128, seed + 1)

    def step(number: int):
        # Batch and masks are drawn whole by every process, which keeps its rows: the data
        # depends on the step only, not on the number of processes.
        mine = distributed.rows(batch)
        bases = torch.from_numpy(sampler.batch(batch, number)[mine]).to(device)
        generator = torch.Generator().manual_seed(seed * 1_000_003 + number)
        draw = torch.rand((batch, window), generator=generator)[mine]
        loss, accuracies = masked_token_loss(model, bases, draw, global_batch=True)
        return loss, {f"level{i}_train_acc": a for i, a in enumerate(accuracies, start=1)}

    def evaluate() -> dict:
        eval_generator = torch.Generator().manual_seed(seed + 2)  # same masks every time
        totals = []
        for start in range(0, len(heldout), batch):
            bases = torch.from_numpy(heldout[start : start + batch]).to(device)
            draw = torch.rand(bases.shape, generator=eval_generator)
            loss, accuracies = masked_token_loss(model, bases, draw)
            totals.append([loss.item(), *accuracies])
        mean = np.mean(totals, axis=0)
        metrics = {"heldout_mlm_loss": float(mean[0])}
        metrics.update({f"level{i}_masked_acc": float(a) for i, a in enumerate(mean[1:], start=1)})
        return metrics

    parameters = [p for p in [*model.transformer.parameters(), *model.mlm_heads.parameters()] if p.requires_grad]
    return run("pretrain", model, parameters, step, evaluate, settings)
