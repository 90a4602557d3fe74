"""Low-rank adapters (LoRA): a frozen Linear plus a trainable low-rank update B A."""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))  # starts as a no-op
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale


LORA_TARGETS = ("qkv", "out", "fc1", "fc2")


def add_lora(module: nn.Module, rank: int, alpha: float, targets: tuple[str, ...] = LORA_TARGETS) -> None:
    """Wrap every Linear named in `targets` inside `module` with a LoRA adapter, in place."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if name in targets and isinstance(child, nn.Linear):
                setattr(parent, name, LoRALinear(child, rank, alpha))


def lora_state_dict(module: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {
        prefix + name: tensor
        for name, tensor in module.state_dict().items()
        if "lora_a" in name or "lora_b" in name
    }
