"""What a variant does to the HRQ tokens and to the model, one distinct variant at a time.

For a variant replacing reference bases [s, e) by the inserted bases, in the reference
background (other variants of the sample are not applied):

- Windows. The reference window is F = `FLANK` (64) bases each side of the event,
  ref[s-F : e+F], the variant window the same flanks around the inserted bases (clipped at
  the contig ends; F is smaller when both windows would not fit the model's window, and an
  indel longer than the model window gets no model numbers). Both are tokenized with the encoder's receptive radius of extra
  context on each side, then cropped, so their tokens are the tokens the whole genome gets.
- Token change, per HRQ level. The two windows are aligned by the variant: the left flanks
  position by position, the right flanks from the end, and for a substitution the
  substituted bases too; an indel's own bases have no counterpart and are not compared.
  `site` says whether the token of the substituted base changed (for an indel: the token of
  the base before or after it); `window` counts the aligned positions whose token changed.
- Embedding shift: the cosine distance (1 - cosine similarity) between the mean-pooled
  Transformer outputs of the reference window and of the variant window.
- Effect score (LLR). The changed span is the variant's own bases plus every flank position
  whose token changed at any level. It is replaced by the [MASK] vector in the reference
  window and in the variant window, and the masked-token heads (trained to predict the code
  of every level at masked positions) score the tokens that were there:
      LLR = sum over levels and span positions of log p(variant token | variant window, span masked)
            - sum of log p(reference token | reference window, span masked)
  For a substitution the two masked windows are identical, so this is the classic masked
  log-likelihood ratio of alt against ref; for an indel the spans differ in length and the
  score includes that difference (a deletion scores fewer tokens), so compare indels with
  indels. Positive: the model finds the variant's tokens more plausible than the reference's.
- Genome embedding per level (`delta`): the codes the variant's window gains minus those it
  loses (counts per code); a sample's embedding sums them over its variants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vqdna_cli import runtime
from vqdna_cli.data.alphabet import encode
from vqdna_cli.data.batching import budget_batches, pad
from vqdna_cli.mutations.variants import DELETION, INSERTION, Site
from vqdna_cli.options import DEFAULT_BATCH_TOKENS

FLANK = 64


@dataclass
class SiteEffect:
    site_changed: list[bool]  # per level
    window_changed: list[int]  # per level
    llr_levels: list[float]  # per level
    embedding_shift: float
    delta: list[dict[int, int]]  # per level: code -> gained (+) or lost (-) count

    @property
    def llr(self) -> float:
        return float(sum(self.llr_levels))


@dataclass(frozen=True)
class ScoringProgress:
    """What `site_effects` says of its three passes over the windows (tokens, Transformer
    vectors, masked-token scores): `begin(number, name, total)` as each starts, with its
    amount in bases or tokens, and `done(amount)` after each of its batches."""

    begin: Callable[[int, str, int], None] = lambda number, name, total: None
    done: Callable[[int], None] = lambda amount: None


PASSES = 3


@dataclass
class _Windows:
    ref_tokens: np.ndarray  # (T_ref, levels)
    alt_tokens: np.ndarray  # (T_alt, levels)
    left: int  # left flank length
    right: int  # right flank length
    substitution: bool


def site_effects(runner, sequences: dict[str, str], sites: list[Site], batch_tokens: int = DEFAULT_BATCH_TOKENS,
                 progress: ScoringProgress = ScoringProgress()) -> dict[Site, SiteEffect | None]:
    """Effects of every distinct site, in batches (None for an indel too long for the model
    window)."""
    fits = [flank_for(runner.window, s) >= 1 for s in sites]  # a base either side at least
    effects: dict[Site, SiteEffect | None] = {site: None for site, fit in zip(sites, fits) if not fit}
    sites = [site for site, fit in zip(sites, fits) if fit]
    if not sites:
        return effects
    windows = _tokenized_windows(runner, sequences, sites, batch_tokens, progress)
    unmasked = [w.ref_tokens for w in windows] + [w.alt_tokens for w in windows]
    progress.begin(2, "Transformer vectors", sum(map(len, unmasked)))
    pooled = _pooled(runner, unmasked, batch_tokens, progress.done)
    spans = [_changed_span(w) for w in windows]
    masked_inputs = []
    for w, (start, ref_end, alt_end) in zip(windows, spans):
        masked_inputs.append((w.ref_tokens, start, ref_end))
        masked_inputs.append((w.alt_tokens, start, alt_end))
    scores = _masked_log_likelihoods(runner, masked_inputs, batch_tokens, progress)
    count = len(windows)
    sizes = runner.model.cfg.quantizer.codebook_sizes
    for index, (site, w) in enumerate(zip(sites, windows)):
        site_changed, window_changed = _token_change(w)
        a, b = pooled[index], pooled[count + index]
        cosine = float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
        ref_score, alt_score = scores[2 * index], scores[2 * index + 1]
        delta = []
        for level, size in enumerate(sizes):
            gained = np.bincount(w.alt_tokens[:, level], minlength=size) - np.bincount(w.ref_tokens[:, level], minlength=size)
            delta.append({int(code): int(gained[code]) for code in np.flatnonzero(gained)})
        effects[site] = SiteEffect(site_changed, window_changed,
                                   [float(x - y) for x, y in zip(alt_score, ref_score)],
                                   max(0.0, 1.0 - cosine), delta)
    return effects


def flank_for(window: int, site: Site | None = None) -> int:
    """Bases each side of `site` (of a single-base variant where None) under a model of `window`
    tokens: FLANK, or less where both windows would not fit. The event's size is its own bases,
    not the VCF anchor base that ref and alt share."""
    size = 1 if site is None else max(site.end0 - site.start0, len(site.inserted))
    return min(FLANK, (window - size) // 2)


def _tokenized_windows(runner, sequences: dict[str, str], sites: list[Site], batch_tokens: int,
                       progress: ScoringProgress) -> list[_Windows]:
    radius = runner.model.cfg.encoder.receptive_radius
    pieces, layout = [], []
    for site in sites:
        sequence = sequences[site.chrom]
        start, end, inserted = site.start0, site.end0, site.inserted
        flank = flank_for(runner.window, site)
        left, right = max(0, start - flank), min(len(sequence), end + flank)
        outer_left, outer_right = max(0, left - radius), min(len(sequence), right + radius)
        before, after = sequence[outer_left:start], sequence[end:outer_right]
        pieces.append(encode(before + sequence[start:end] + after))
        pieces.append(encode(before + inserted + after))
        layout.append((left - outer_left, outer_right - right, start - left, right - end,
                       site.kind not in (INSERTION, DELETION) and len(site.ref) == len(site.alt)))
    progress.begin(1, "tokens", sum(map(len, pieces)))
    tokens = runner.tokens_of(pieces, batch_tokens, progress.done)
    windows = []
    for index, (crop_left, crop_right, left, right, substitution) in enumerate(layout):
        ref, alt = tokens[2 * index], tokens[2 * index + 1]
        windows.append(_Windows(ref[crop_left : len(ref) - crop_right], alt[crop_left : len(alt) - crop_right],
                                left, right, substitution))
    return windows


def _token_change(w: _Windows) -> tuple[list[bool], list[int]]:
    ref, alt, left, right = w.ref_tokens, w.alt_tokens, w.left, w.right
    differs = [ref[:left] != alt[:left], ref[len(ref) - right :] != alt[len(alt) - right :]]
    if w.substitution:
        middle = ref[left : len(ref) - right] != alt[left : len(alt) - right]
        differs.append(middle)
        site = middle.any(axis=0)
    else:
        # The bases either side of the indel (when the window has them).
        neighbours = []
        if left:
            neighbours.append(ref[left - 1] != alt[left - 1])
        if right:
            neighbours.append(ref[len(ref) - right] != alt[len(alt) - right])
        site = np.any(neighbours, axis=0) if neighbours else np.zeros(ref.shape[1], dtype=bool)
    counts = np.concatenate(differs).sum(axis=0)
    return [bool(x) for x in site], [int(x) for x in counts]


def _changed_span(w: _Windows) -> tuple[int, int, int]:
    """(start, end in the reference window, end in the variant window) of the masked span."""
    ref, alt, left, right = w.ref_tokens, w.alt_tokens, w.left, w.right
    left_changed = np.flatnonzero((ref[:left] != alt[:left]).any(axis=1))
    start = int(left_changed[0]) if len(left_changed) else left
    right_changed = np.flatnonzero((ref[len(ref) - right :] != alt[len(alt) - right :]).any(axis=1))
    extra = int(right_changed[-1]) + 1 if len(right_changed) else 0
    return start, len(ref) - right + extra, len(alt) - right + extra


@torch.inference_mode()
def _pooled(runner, token_windows: list[np.ndarray], batch_tokens: int, on_batch: Callable[[int], None]) -> np.ndarray:
    width = runner.model.cfg.transformer.width
    out = np.zeros((len(token_windows), width), dtype=np.float32)
    for index, hidden in runner.hidden_of(token_windows, batch_tokens, on_batch=on_batch):
        out[index] = hidden.mean(axis=0)
    return out


@torch.inference_mode()
def _masked_log_likelihoods(runner, inputs: list[tuple[np.ndarray, int, int]], batch_tokens: int,
                            progress: ScoringProgress) -> list[list[float]]:
    """Per input (tokens, span start, span end): per level, the summed log-probability the
    masked-token heads give the span's own tokens with the span masked. Identical inputs
    (a substitution's two masked windows) are computed once."""
    model, device = runner.model, runner.device
    levels = runner.levels
    distinct: dict[bytes, int] = {}
    order = []
    for tokens, start, end in inputs:
        key = tokens.tobytes() + np.array([start, end, len(tokens)]).tobytes()
        order.append(distinct.setdefault(key, len(distinct)))
    unique = [None] * len(distinct)
    for (tokens, start, end), slot in zip(inputs, order):
        unique[slot] = (tokens, start, end)
    results = [[0.0] * levels for _ in unique]
    progress.begin(3, "masked-token scores", sum(len(u[0]) for u in unique))
    for batch in budget_batches([len(u[0]) for u in unique], batch_tokens):
        amount = sum(len(unique[i][0]) for i in batch)
        tokens = torch.from_numpy(pad([unique[i][0].astype(np.int64) for i in batch], fill=0)).to(device)
        lengths = torch.tensor([len(unique[i][0]) for i in batch], device=device)
        positions = torch.arange(tokens.shape[1], device=device)[None, :]
        valid = positions < lengths[:, None]
        starts = torch.tensor([unique[i][1] for i in batch], device=device)[:, None]
        ends = torch.tensor([unique[i][2] for i in batch], device=device)[:, None]
        masked = (positions >= starts) & (positions < ends) & valid
        if not bool(masked.any()):
            progress.done(amount)
            continue
        with runtime.autocast(device, cpu_bf16=runner.precision == "bf16"):
            hidden = model.contextualise(model.embed_tokens(tokens), valid, masked)
            logits = model.mlm_heads(hidden[masked])
        rows = masked.nonzero()[:, 0]
        for level, level_logits in enumerate(logits):
            log_p = torch.log_softmax(level_logits.float(), dim=-1)
            target = tokens[..., level][masked]
            picked = log_p.gather(1, target[:, None])[:, 0]
            sums = torch.zeros(len(batch), device=device).index_add_(0, rows, picked).cpu().numpy()
            for row, index in enumerate(batch):
                results[index][level] = float(sums[row])
        progress.done(amount)
    return [results[slot] for slot in order]
