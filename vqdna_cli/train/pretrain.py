"""Stage 2: masked pre-training of the Transformer over the frozen tokenizer.

The objective is set by the model's `MaskingConfig` (config.py). Models made today mask on
the input: spans of bases enter the tokenizer as N, so the tokens around a span say nothing
of what it held, and the Transformer must predict the hidden bases from context. Weights
written before that (`masking.where="tokens"`) are pre-trained as they were: single
positions' quantized vectors replaced by [MASK] after tokenizing, codes predicted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vqdna_cli import distributed, runtime
from vqdna_cli.config import MaskingConfig
from vqdna_cli.data.alphabet import BASES, CODE_LETTERS
from vqdna_cli.model.vqdna import VQDNA
from vqdna_cli.train.genomes import DeviceWindowSampler, GenomeSplit, WindowSampler, evaluation_windows
from vqdna_cli.train.loop import LoopSettings, run

N_CODE = CODE_LETTERS.index("N")
# Per-span treatment, BERT's 80/10/10: hidden (N into the tokenizer, [MASK] into the
# Transformer), random bases, or left as it is (the target is the original base throughout).
KEPT, HIDDEN, RANDOM, UNCHANGED = 0, 1, 2, 3
LONGEST_SPAN_FACTOR = 3  # spans are cut at 3x the mean length: the geometric tail is rare


def freeze_tokenizer(model: VQDNA) -> None:
    for module in (model.encoder, model.quantizer, model.decoder):
        module.requires_grad_(False)


def span_treatments(shape: tuple[int, int], masking: MaskingConfig, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, L) int64: KEPT, or how the span covering the position is treated.

    Each row gets round(fraction * L / mean_span) spans with uniform starts and geometric
    lengths (mean `mean_span`); where spans overlap, the higher treatment code wins
    (deterministic on every device). Everything is drawn from `generator` on `device`, so a
    GPU draws its masks without a round trip to the CPU.
    """
    rows, length = shape
    spans = max(1, round(masking.fraction * length / masking.mean_span))
    starts = torch.randint(0, length, (rows, spans), generator=generator, device=device)
    longest = max(1, int(LONGEST_SPAN_FACTOR * masking.mean_span))
    if masking.mean_span > 1:
        uniform = torch.rand((rows, spans), generator=generator, device=device).clamp_min(1e-12)
        lengths = 1 + torch.floor(torch.log(uniform) / np.log1p(-1 / masking.mean_span)).long()
        lengths = lengths.clamp(max=longest)
    else:
        lengths = torch.ones((rows, spans), dtype=torch.long, device=device)
    draw = torch.rand((rows, spans), generator=generator, device=device)
    kind = torch.full_like(starts, HIDDEN)
    kind = torch.where(draw >= 0.8, RANDOM, kind)
    kind = torch.where(draw >= 0.9, UNCHANGED, kind)
    treatment = torch.zeros((rows, length + 1), dtype=torch.long, device=device)  # last column: spill
    for offset in range(int(lengths.max())):
        place = starts + offset
        inside = (offset < lengths) & (place < length)
        treatment.scatter_reduce_(1, torch.where(inside, place, length), torch.where(inside, kind, KEPT), reduce="amax")
    return treatment[:, :length]


def corrupt(bases: torch.Tensor, treatment: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The bases the tokenizer reads: hidden spans as N, random spans as random bases."""
    random_bases = torch.randint(0, len(BASES), bases.shape, generator=generator, device=bases.device)
    out = torch.where(treatment == HIDDEN, N_CODE, bases)
    out = torch.where(treatment == RANDOM, random_bases, out)
    return torch.where(VQDNA.valid_mask(bases), out, bases)  # padding stays padding


@dataclass
class MaskedBatch:
    """One batch of the input-masking objective: what goes in and what is predicted."""

    bases: torch.Tensor  # (B, L) original base codes (targets)
    corrupted: torch.Tensor  # (B, L) what the tokenizer reads
    treatment: torch.Tensor  # (B, L) KEPT / HIDDEN / RANDOM / UNCHANGED

    @classmethod
    def draw(cls, bases: torch.Tensor, masking: MaskingConfig, generator: torch.Generator) -> "MaskedBatch":
        treatment = span_treatments(tuple(bases.shape), masking, generator, bases.device)
        return cls(bases, corrupt(bases, treatment, generator), treatment)

    @property
    def targets(self) -> torch.Tensor:
        """Positions scored: inside a span, on a real base (not padding, not N or IUPAC)."""
        return (self.treatment != KEPT) & (self.bases < len(BASES))


def masked_base_loss(model: VQDNA, batch: MaskedBatch, global_batch: bool = False) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of the hidden bases (+ code_weight x the codes' cross-entropy), and
    accuracies: over every scored position, and over the hidden spans alone (the bases
    nothing in the input shows).

    global_batch: `batch` is this process's part of a batch spread over processes; the
    means are then over the scored positions of the whole batch (this process's share).
    """
    masking = model.cfg.masking
    model.encoder.eval(), model.quantizer.eval()  # frozen: no EMA updates, no dropout
    valid = model.valid_mask(batch.bases)
    targets = batch.targets
    hidden_spans = targets & (batch.treatment == HIDDEN)
    with torch.no_grad():
        embedding = model.quantize(batch.corrupted).embedding
    with runtime.autocast(batch.bases.device):  # bf16 on a GPU that has it; fp32 on the CPU
        out = model.contextualise(embedding, valid, (batch.treatment == HIDDEN) & valid)[targets]
        base_logits = model.base_head(out).float()
        code_logits = model.mlm_heads(out) if masking.code_weight > 0 else []
    factor = _mean_factor(targets.sum(), global_batch)
    base_target = batch.bases[targets]
    loss = F.cross_entropy(base_logits, base_target, reduction="sum") * factor
    right = base_logits.argmax(-1) == base_target
    stats = {"base_acc": float(right.sum() * factor),
             "hidden_base_acc": float(right[hidden_spans[targets]].sum() * _mean_factor(hidden_spans.sum(), global_batch))}
    if code_logits:
        with torch.no_grad():
            clean_tokens = model.quantize(batch.bases).tokens[targets]
        code_losses = [F.cross_entropy(logits.float(), clean_tokens[:, level], reduction="sum") * factor
                       for level, logits in enumerate(code_logits)]
        loss = loss + masking.code_weight * torch.stack(code_losses).mean()
    return loss, stats


def _mean_factor(count: torch.Tensor, global_batch: bool) -> torch.Tensor:
    return distributed.mean_factor(count) if global_batch else 1 / count.clamp(min=1).float()


def masked_token_loss(model: VQDNA, bases: torch.Tensor, draw: torch.Tensor,
                      global_batch: bool = False) -> tuple[torch.Tensor, list[float]]:
    """The objective of weights with `masking.where="tokens"`: mean over levels of the
    cross-entropy at masked positions, and per-level accuracy.

    draw: uniform numbers, one per base; positions below masking.fraction are masked.
    """
    model.encoder.eval(), model.quantizer.eval()
    valid = model.valid_mask(bases)
    with torch.no_grad():
        q = model.quantize(bases)
    masked = (draw.to(bases.device) < model.cfg.masking.fraction) & valid
    factor = _mean_factor(masked.sum(), global_batch)
    hidden = model.contextualise(q.embedding, valid, masked)
    losses, accuracies = [], []
    for level, logits in enumerate(model.mlm_heads(hidden[masked])):
        target = q.tokens[..., level][masked]
        losses.append(F.cross_entropy(logits.float(), target, reduction="sum") * factor)
        accuracies.append(float((logits.argmax(-1) == target).sum() * factor))
    return torch.stack(losses).mean(), accuracies


def no_decay_parameters(model: VQDNA) -> list[torch.nn.Parameter]:
    """Parameters weight decay must not pull to zero: LayerNorm scales, biases, the learned
    positions and the [MASK] vector (each is a level or an offset, not a feature weight)."""
    transformer = model.transformer
    keep = [transformer.position.weight, transformer.mask_vector]
    for module in transformer.modules():
        if isinstance(module, torch.nn.LayerNorm):
            keep.append(module.weight)
    for name, parameter in [*transformer.named_parameters(), *_heads(model).named_parameters()]:
        if name.endswith("bias"):
            keep.append(parameter)
    return keep


def _heads(model: VQDNA) -> torch.nn.Module:
    return torch.nn.ModuleList([m for m in (model.mlm_heads, model.base_head) if m is not None])


def pretrain(model: VQDNA, genomes: GenomeSplit, settings: LoopSettings, *, window: int, batch: int,
             seed: int, device: torch.device) -> dict:
    freeze_tokenizer(model)
    distributed.local_batch(batch)  # --batch is global: it must split evenly over processes
    # On a GPU windows and masks are drawn there; on the CPU as they always were.
    on_device = device.type != "cpu" and distributed.world() == 1
    sampler = DeviceWindowSampler(genomes.train, window, seed, device) if on_device else WindowSampler(genomes.train, window, seed)
    heldout = evaluation_windows(genomes, window, 128, seed + 1)

    def step(number: int):
        # Batch and masks are drawn whole by every process, which keeps its rows: the data
        # depends on the step only, not on the number of processes.
        mine = distributed.rows(batch)
        bases = sampler.batch(batch, number)
        bases = bases if on_device else torch.from_numpy(bases)
        generator = torch.Generator(device=bases.device).manual_seed(seed * 1_000_003 + number)
        loss, stats = _rows_loss(model, bases, generator, mine, device)
        return loss, {_log_name(k, "train"): v for k, v in stats.items()}

    def evaluate(scheduled: bool) -> dict:  # the same held-out score either way: nothing is selected by it
        generator = torch.Generator().manual_seed(seed + 2)  # same masks every time
        totals = []
        for start in range(0, len(heldout), batch):
            bases = torch.from_numpy(heldout[start : start + batch])
            loss, stats = _rows_loss(model, bases, generator, slice(None), device, global_batch=False)
            totals.append({"loss": loss.item(), **stats})
        return {_log_name(k, "heldout"): float(np.mean([t[k] for t in totals])) for k in totals[0]}

    def _log_name(stat: str, part: str) -> str:
        if model.cfg.masking.predicts_bases:
            return f"{part}_{stat}"
        # the names logs and TRAINING.md have used for models pre-trained on tokens
        legacy = {"heldout": {"loss": "heldout_mlm_loss"}, "train": {}}[part]
        return legacy.get(stat, stat.replace("_acc", "_masked_acc" if part == "heldout" else "_train_acc"))

    parameters = [p for p in [*model.transformer.parameters(), *_heads(model).parameters()] if p.requires_grad]
    return run("pretrain", model, parameters, step, evaluate, settings, no_decay=no_decay_parameters(model))


def _rows_loss(model: VQDNA, bases: torch.Tensor, generator: torch.Generator, rows, device: torch.device,
               global_batch: bool = True) -> tuple[torch.Tensor, dict]:
    """The loss on this process's `rows` of a batch whose masks are drawn for the whole batch
    from `generator`, on the batch's device (so every process draws the same masks)."""
    if model.cfg.masking.predicts_bases:
        masked = MaskedBatch.draw(bases, model.cfg.masking, generator)
        part = MaskedBatch(*(t[rows].to(device) for t in (masked.bases, masked.corrupted, masked.treatment)))
        return masked_base_loss(model, part, global_batch)
    draw = torch.rand(bases.shape, generator=generator)[rows]
    loss, accuracies = masked_token_loss(model, bases[rows].to(device), draw, global_batch)
    return loss, {f"level{level}_acc": a for level, a in enumerate(accuracies, start=1)}
