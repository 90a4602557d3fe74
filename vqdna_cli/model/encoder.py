"""ConvNeXt-1D encoder and its mirrored decoder (one latent vector per base).

Activations at padded positions are zeroed after every layer, so a sequence gives the same
latents whether it is alone or padded inside a batch: padding then behaves exactly like the
zero padding of the convolutions at a sequence end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vqdna_cli.config import EncoderConfig


def conv_along_length(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Apply a 1-D convolution to (B, L, C) without transposing memory.

    Viewing (B, L, C) as a (B, C, 1, L) image is already PyTorch's channels-last layout, for
    which the CPU convolution kernels are many times faster than for the transposed view a
    plain `Conv1d` would get. Same weights, same result.
    """
    image = x.transpose(1, 2).unsqueeze(2)  # (B, C, 1, L), channels-last strides
    out = F.conv2d(image, conv.weight.unsqueeze(2), conv.bias, padding=(0, conv.padding[0]), groups=conv.groups)
    return out.squeeze(2).transpose(1, 2)  # (B, L, C_out)


class ConvNeXtBlock1d(nn.Module):
    """Depth-wise conv -> LayerNorm -> MLP (D -> 4D -> D), with a residual connection."""

    def __init__(self, width: int, kernel: int, mlp_ratio: int):
        super().__init__()
        self.dwconv = nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=width)
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, mlp_ratio * width)
        self.fc2 = nn.Linear(mlp_ratio * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, L, D)
        h = conv_along_length(x, self.dwconv)
        h = self.fc2(F.gelu(self.fc1(self.norm(h))))
        return x + h


class Encoder(nn.Module):
    """Soft one-hot bases (B, L, 4) -> the outputs of the blocks the quantizer reads."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.stem = nn.Conv1d(4, cfg.stem_width, cfg.stem_kernel, padding=cfg.stem_kernel // 2)
        self.stem_norm = nn.LayerNorm(cfg.stem_width)
        self.proj = nn.Linear(cfg.stem_width, cfg.width)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock1d(cfg.width, cfg.kernel, cfg.mlp_ratio) for _ in range(cfg.blocks)
        )

    def forward(self, onehot: torch.Tensor, valid: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
        """Returns the output after each block number in `taps` (1-based), in order.

        onehot: (B, L, 4); valid: (B, L) bool. Blocks past the last tap are not run.
        """
        keep = valid.unsqueeze(-1).to(onehot.dtype)  # (B, L, 1)
        x = conv_along_length(onehot, self.stem)
        x = self.proj(F.gelu(self.stem_norm(x))) * keep  # (B, L, D)
        outputs = []
        for number, block in enumerate(self.blocks[: max(taps)], start=1):
            x = block(x) * keep
            if number in taps:
                outputs.append(x)
        return outputs


class Decoder(nn.Module):
    """Quantized latents (B, L, D) -> base logits (B, L, 4); the encoder in mirror image."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.blocks = nn.ModuleList(
            ConvNeXtBlock1d(cfg.width, cfg.kernel, cfg.mlp_ratio) for _ in range(cfg.blocks)
        )
        self.proj = nn.Linear(cfg.width, cfg.stem_width)
        self.norm = nn.LayerNorm(cfg.stem_width)
        # With one token per base the paper's transposed convolution is a plain convolution.
        self.head = nn.Conv1d(cfg.stem_width, 4, cfg.stem_kernel, padding=cfg.stem_kernel // 2)

    def forward(self, z: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        keep = valid.unsqueeze(-1).to(z.dtype)
        for block in self.blocks:
            z = block(z) * keep
        h = F.gelu(self.norm(self.proj(z))) * keep
        return conv_along_length(h, self.head)  # (B, L, 4)
