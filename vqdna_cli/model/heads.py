"""Task heads: an MLP over the mean of the Transformer's vectors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mean_pool(hidden: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, W), (B, T) -> (B, W): the mean over real (non-padding) positions."""
    weights = valid.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


class ClassificationHead(nn.Module):
    def __init__(self, width: int, classes: int, dropout: float = 0.1):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, classes)
        self.drop = nn.Dropout(dropout)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:  # (B, W) -> (B, classes)
        return self.fc2(self.drop(F.gelu(self.fc1(self.norm(pooled)))))
