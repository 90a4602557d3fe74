"""Stage 2: masked pre-training. The tokenizer is frozen; the Transformer learns to predict
the code index of every HRQ level at the 25 % of positions replaced by [MASK]."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vqdna_cli.model.vqdna import VQDNA
from vqdna_cli.train.genomes import GenomeSplit, WindowSampler, fixed_windows
from vqdna_cli.train.loop import LoopSettings, run


def freeze_tokenizer(model: VQDNA) -> None:
    for module in (model.encoder, model.quantizer, model.decoder):
        module.requires_grad_(False)


def masked_token_loss(model: VQDNA, bases: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, list[float]]:
    """Mean over levels of the cross-entropy at masked positions, and per-level accuracy."""
    model.encoder.eval(), model.quantizer.eval()  # frozen: no EMA updates, no dropout
    valid = model.valid_mask(bases)
    with torch.no_grad():
        q = model.quantize(bases)
    draw = torch.rand(bases.shape, generator=generator, device="cpu").to(bases.device)
    masked = (draw < model.cfg.mask_fraction) & valid
    hidden = model.contextualise(q.embedding, valid, masked)
    losses, accuracies = [], []
    for level, logits in enumerate(model.mlm_heads(hidden[masked])):
        target = q.tokens[..., level][masked]
        losses.append(F.cross_entropy(logits.float(), target))
        accuracies.append(float((logits.argmax(-1) == target).float().mean()))
    return torch.stack(losses).mean(), accuracies


def pretrain(model: VQDNA, genomes: GenomeSplit, settings: LoopSettings, *, window: int, batch: int,
             seed: int, device: torch.device) -> dict:
    freeze_tokenizer(model)
    sampler = WindowSampler(genomes.train, window, seed)
    heldout = fixed_windows(genomes.heldout or genomes.train, window, 128, seed + 1)
    def step(number: int):
        bases = torch.from_numpy(sampler.batch(batch, number)).to(device)
        generator = torch.Generator().manual_seed(seed * 1_000_003 + number)  # masks depend on the step only
        loss, accuracies = masked_token_loss(model, bases, generator)
        return loss, {f"level{i}_train_acc": a for i, a in enumerate(accuracies, start=1)}

    def evaluate() -> dict:
        eval_generator = torch.Generator().manual_seed(seed + 2)  # same masks every time
        totals = []
        for start in range(0, len(heldout), batch):
            bases = torch.from_numpy(heldout[start : start + batch]).to(device)
            loss, accuracies = masked_token_loss(model, bases, eval_generator)
            totals.append([loss.item(), *accuracies])
        mean = np.mean(totals, axis=0)
        metrics = {"heldout_mlm_loss": float(mean[0])}
        metrics.update({f"level{i}_masked_acc": float(a) for i, a in enumerate(mean[1:], start=1)})
        return metrics

    parameters = [p for p in [*model.transformer.parameters(), *model.mlm_heads.parameters()] if p.requires_grad]
    return run("pretrain", model, parameters, step, evaluate, settings)
