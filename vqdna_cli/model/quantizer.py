"""Vector quantization with EMA codebooks, and its hierarchical residual form (HRQ).

Codebook practice: distances and EMA updates in fp32 with autocast off, k-means
initialisation on the first training batch, Laplace-smoothed EMA counts, and replacement of
dead codes (EMA count below a threshold) by latents drawn from the current batch.

Under several training processes each holds part of the batch: the statistics (per-code
counts and sums) are summed over processes before they are used, and restarts draw from the
whole batch, so every process keeps the codebook one process would have on the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vqdna_cli import distributed
from vqdna_cli.config import QuantizerConfig


class EMACodebook(nn.Module):
    """K code vectors of dimension D, learned by exponential moving averages, not gradients."""

    def __init__(self, size: int, dim: int, decay: float, eps: float, dead_threshold: float):
        super().__init__()
        self.size, self.decay, self.eps, self.dead_threshold = size, decay, eps, dead_threshold
        self.register_buffer("codes", torch.randn(size, dim) * 0.02)
        self.register_buffer("ema_count", torch.zeros(size))
        self.register_buffer("ema_sum", torch.zeros(size, dim))
        self.register_buffer("initialised", torch.tensor(False))

    @torch.autocast("cuda", enabled=False)
    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) -> (N,) index of the nearest code by Euclidean distance."""
        # ||x||^2 is the same for every code, so argmin needs only ||e||^2 - 2 x.e (one addmm).
        dist = torch.addmm(self.codes.pow(2).sum(1), x.float(), self.codes.t(), alpha=-2)
        return dist.argmin(1)

    def lookup(self, index: torch.Tensor) -> torch.Tensor:
        return F.embedding(index, self.codes)

    @torch.no_grad()
    @torch.autocast("cuda", enabled=False)
    def kmeans_init(self, x: torch.Tensor, iterations: int = 10) -> None:
        x = x.float()
        first, total = distributed.row_span(x.shape[0], x.device)
        pick = torch.randint(0, total, (self.size,), device=x.device)
        centres = distributed.take_rows(x, pick - first).clone()
        for _ in range(iterations):
            assign = torch.cdist(x, centres).argmin(1)
            counts, sums = self._statistics(x, assign)
            filled = counts > 0
            centres[filled] = sums[filled] / counts[filled, None]
        self.codes.copy_(centres)
        # Start each code at the count it would have in a batch this size, so that codes
        # are not taken for dead before the EMA has seen any data.
        per_code = total / self.size
        self.ema_count.fill_(per_code)
        self.ema_sum.copy_(centres * per_code)
        self.initialised.fill_(True)

    @torch.no_grad()
    @torch.autocast("cuda", enabled=False)
    def ema_update(self, x: torch.Tensor, index: torch.Tensor) -> None:
        x = x.float()
        counts, sums = self._statistics(x, index)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (total + self.size * self.eps) * total
        self.codes.copy_(self.ema_sum / smoothed.unsqueeze(1))
        dead = self.ema_count < self.dead_threshold
        if dead.any():  # the same answer on every process: ema_count is the same everywhere
            first, rows = distributed.row_span(x.shape[0], x.device)
            pick = torch.randint(0, rows, (int(dead.sum()),), device=x.device)
            replacement = distributed.take_rows(x, pick - first)
            self.codes[dead] = replacement
            self.ema_sum[dead] = replacement * self.dead_threshold
            self.ema_count[dead] = self.dead_threshold

    def _statistics(self, x: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-code count (K,) and vector sum (K, D) of the rows assigned to each code, over
        the whole batch: summed over processes in one all-reduce."""
        sums = torch.zeros(self.size, x.shape[1], device=x.device).index_add_(0, index, x)
        counts = torch.bincount(index, minlength=self.size).float()
        stats = distributed.all_reduce_sum(torch.cat([sums, counts[:, None]], 1))
        return stats[:, -1], stats[:, :-1]


@dataclass
class Quantized:
    """What the quantizer returns: the embedding passed on, the tokens, and the loss."""

    embedding: torch.Tensor  # (B, L, D): average of the level embeddings (straight-through)
    tokens: torch.Tensor  # (B, L, levels) int64 code index per level
    commitment: torch.Tensor  # scalar, mean over levels of ||h - sg(e)||^2


class HierarchicalResidualQuantizer(nn.Module):
    """HRQ: level l quantizes its encoder depth's output corrected by what level l-1 missed.

    h_1 = z_1,  h_l = 2 z_l - e_{l-1}(m_{l-1});  m_l = argmin_k ||h_l - e_l(k)||.
    The embedding passed on is the mean of the level embeddings. One level is plain VQ.
    """

    def __init__(self, cfg: QuantizerConfig, dim: int):
        super().__init__()
        self.codebooks = nn.ModuleList(
            EMACodebook(size, dim, cfg.ema_decay, cfg.laplace_eps, cfg.dead_code_threshold)
            for size in cfg.codebook_sizes
        )

    def forward(self, level_inputs: list[torch.Tensor], valid: torch.Tensor) -> Quantized:
        if not self.training and not torch.is_grad_enabled():
            return self._infer(level_inputs)
        batch, length, dim = level_inputs[0].shape
        tokens, straight_through, commitment = [], [], []
        previous = None
        for codebook, z in zip(self.codebooks, level_inputs):
            h = z if previous is None else 2 * z - previous
            flat = h.reshape(-1, dim)
            if self.training and not bool(codebook.initialised):
                codebook.kmeans_init(flat[valid.reshape(-1)])
            index = codebook.nearest(flat)
            code_vectors = codebook.lookup(index).view(batch, length, dim)
            if self.training:
                keep = valid.reshape(-1)
                codebook.ema_update(flat[keep].detach(), index[keep])
            commitment.append(_masked_mse(h.float(), code_vectors.detach(), valid))
            straight_through.append(h + (code_vectors - h).detach())
            tokens.append(index.view(batch, length))
            previous = code_vectors
        embedding = torch.stack(straight_through).mean(0)
        return Quantized(embedding, torch.stack(tokens, -1), torch.stack(commitment).mean())

    def _infer(self, level_inputs: list[torch.Tensor]) -> Quantized:
        """Inference: the same tokens and embedding, without losses or gradient plumbing."""
        batch, length, dim = level_inputs[0].shape
        tokens, total, previous = [], None, None
        for codebook, z in zip(self.codebooks, level_inputs):
            h = z if previous is None else 2 * z - previous
            index = codebook.nearest(h.reshape(-1, dim))
            previous = codebook.lookup(index).view(batch, length, dim)
            total = previous if total is None else total + previous
            tokens.append(index.view(batch, length))
        return Quantized(total / len(self.codebooks), torch.stack(tokens, -1), torch.zeros(()))

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L, levels) token IDs -> (B, L, D) the embedding the Transformer reads."""
        vectors = [cb.lookup(tokens[..., level]) for level, cb in enumerate(self.codebooks)]
        return torch.stack(vectors).mean(0)


def _masked_mse(a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    per_position = (a - b).pow(2).mean(-1)
    return (per_position * valid).sum() / valid.sum().clamp(min=1)
