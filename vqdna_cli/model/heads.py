"""Task heads: an MLP over the mean of the Transformer's vectors (LoRA and full adapters),
or over those and the HRQ code frequencies (the frozen adapter)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vqdna_cli.options import FROZEN_HEAD_DROPOUT  # `finetune --adapter frozen`'s default


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


class FeatureHead(nn.Module):
    """The head of `--adapter frozen`: an MLP over standardised features of a window, the
    frozen model's mean-pooled vector followed by the frequency of every code of every HRQ
    level (see `head_features.features_of`).

    Why the code frequencies: on GUE, a linear probe on the learned vocabulary's code
    counts separated the classes far better than the pooled Transformer vector alone, and
    the two together did best (weights/default/TRAINING.md).
    A head trained with `--center-tokens N` also reads the HRQ embeddings of N tokens at a
    fixed place of the window, where a site sits in fixed-layout inputs (a splice junction):
    the splice-site head needs them (TRAINING.md, task heads).
    Dropout 0.5 on the features and the hidden layer: a few thousand training rows are few
    for 800+ features, and with 0.2 most heads peaked on validation within their first epochs
    and then overfit (`benchmarks/head_recipe.py`).
    `shift` and `scale` are the training features' mean and standard deviation.
    """

    def __init__(self, features: int, classes: int, hidden: int = 128, dropout: float = FROZEN_HEAD_DROPOUT):
        super().__init__()
        self.register_buffer("shift", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))
        self.fc1 = nn.Linear(features, hidden)
        self.fc2 = nn.Linear(hidden, classes)
        self.drop = nn.Dropout(dropout)

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> "FeatureHead":
        hidden, features = state["fc1.weight"].shape
        head = cls(features, state["fc2.weight"].shape[0], hidden)
        head.load_state_dict(state)
        return head

    def standardise_on(self, features: torch.Tensor) -> None:
        self.shift.copy_(features.mean(0))
        if len(features) > 1:  # one row has no spread to measure: its features keep their scale
            self.scale.copy_(features.std(0).clamp(min=1e-4))

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # (B, F) -> (B, classes)
        x = (features - self.shift) / self.scale
        return self.fc2(self.drop(F.gelu(self.fc1(self.drop(x)))))
