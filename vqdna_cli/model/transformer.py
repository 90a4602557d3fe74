"""Pre-norm Transformer encoder over the quantized embeddings, and the masked-token heads.

Attention projections are plain `nn.Linear` modules so LoRA adapters can wrap them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vqdna_cli.config import TransformerConfig
from vqdna_cli.model.encoder import conv_along_length


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, attend: torch.Tensor | None) -> torch.Tensor:
        """attend: (B, 1, 1, T), False at padded keys (never attended); None without padding."""
        batch, length, width = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=p)
        return self.out(y.transpose(1, 2).reshape(batch, length, width))


class TransformerBlock(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width)
        self.attn = SelfAttention(cfg.width, cfg.heads, cfg.dropout)
        self.norm2 = nn.LayerNorm(cfg.width)
        self.fc1 = nn.Linear(cfg.width, cfg.mlp_ratio * cfg.width)
        self.fc2 = nn.Linear(cfg.mlp_ratio * cfg.width, cfg.width)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, attend: torch.Tensor | None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), attend))
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.norm2(x)))))


class TransformerEncoder(nn.Module):
    """(B, T, D_in) quantized embeddings -> (B, T, W) contextual vectors."""

    def __init__(self, cfg: TransformerConfig, input_dim: int):
        super().__init__()
        self.input = nn.Linear(input_dim, cfg.width)
        self.position = nn.Embedding(cfg.max_tokens, cfg.width)
        # Lets every token read its neighbours from the first layer on (config.py, local_kernel).
        kernel = cfg.local_kernel
        if kernel < 0 or (kernel and kernel % 2 == 0):
            raise ValueError(f"transformer.local_kernel must be 0 or odd (a token's own place in the middle), not {kernel}")
        self.local = nn.Conv1d(cfg.width, cfg.width, kernel, padding=kernel // 2, groups=cfg.width) if kernel else None
        # The learned [MASK] vector replaces a masked position's quantized embedding.
        self.mask_vector = nn.Parameter(torch.zeros(input_dim))
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, z: torch.Tensor, valid: torch.Tensor, masked: torch.Tensor | None = None) -> torch.Tensor:
        if masked is not None:
            z = torch.where(masked.unsqueeze(-1), self.mask_vector.to(z.dtype), z)
        positions = torch.arange(z.shape[1], device=z.device)
        x = self.input(z)
        if self.local is not None:
            x = x * valid.unsqueeze(-1).to(x.dtype)  # padding must not reach real tokens
            x = x + conv_along_length(x, self.local)
        x = x + self.position(positions)
        # A mask that allows every key changes no value; without it attention takes its faster path.
        attend = None if bool(valid.all()) else valid[:, None, None, :]
        for block in self.blocks:
            x = block(x, attend)
        return self.norm(x)


class MaskedTokenHeads(nn.Module):
    """One linear classifier per HRQ level over that level's codebook."""

    def __init__(self, width: int, codebook_sizes: tuple[int, ...]):
        super().__init__()
        self.levels = nn.ModuleList(nn.Linear(width, size) for size in codebook_sizes)

    def forward(self, hidden: torch.Tensor) -> list[torch.Tensor]:
        return [head(hidden) for head in self.levels]  # each (B, T, K_level)
