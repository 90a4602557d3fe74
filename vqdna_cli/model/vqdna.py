"""The VQDNA model: tokenizer (encoder, HRQ, decoder) + Transformer + masked-token and
masked-base heads.

Input everywhere is base codes from `data.alphabet` (B, L) int64 with `PAD_CODE` padding;
`valid` (B, L) bool marks real positions. One token per base.
"""

from __future__ import annotations

import torch
from torch import nn

from vqdna_cli.config import ModelConfig
from vqdna_cli.data.alphabet import PAD_CODE, SOFT_ONEHOT
from vqdna_cli.model.encoder import Decoder, Encoder
from vqdna_cli.model.quantizer import HierarchicalResidualQuantizer, Quantized
from vqdna_cli.model.transformer import MaskedTokenHeads, TransformerEncoder


class VQDNA(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if len(cfg.quantizer.level_blocks) != cfg.quantizer.levels:
            raise ValueError("quantizer.level_blocks needs one encoder block per codebook")
        if max(cfg.quantizer.level_blocks) > cfg.encoder.blocks:
            raise ValueError("a quantizer level reads a block the encoder does not have")
        self.cfg = cfg
        self.register_buffer("soft_onehot", torch.from_numpy(SOFT_ONEHOT), persistent=False)
        self.encoder = Encoder(cfg.encoder)
        self.quantizer = HierarchicalResidualQuantizer(cfg.quantizer, cfg.encoder.width)
        self.decoder = Decoder(cfg.encoder)
        self.transformer = TransformerEncoder(cfg.transformer, cfg.encoder.width)
        self.mlm_heads = MaskedTokenHeads(cfg.transformer.width, cfg.quantizer.codebook_sizes)
        # Predicts the bases hidden from the tokenizer (pre-training with masking.where="input").
        self.base_head = nn.Linear(cfg.transformer.width, 4) if cfg.masking.predicts_bases else None

    @staticmethod
    def valid_mask(bases: torch.Tensor) -> torch.Tensor:
        return bases != PAD_CODE

    def quantize(self, bases: torch.Tensor) -> Quantized:
        """(B, L) base codes -> tokens (B, L, levels) and their embedding (B, L, D)."""
        valid = self.valid_mask(bases)
        onehot = self.soft_onehot[bases]  # (B, L, 4)
        taps = self.encoder(onehot, valid, self.cfg.quantizer.level_blocks)
        return self.quantizer(taps, valid)

    def reconstruct(self, embedding: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L, D) quantized embedding -> (B, L, 4) base logits."""
        return self.decoder(embedding, valid)

    def contextualise(self, embedding: torch.Tensor, valid: torch.Tensor, masked: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) quantized embedding -> (B, T, W) Transformer output."""
        return self.transformer(embedding, valid, masked)

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.quantizer.embed_tokens(tokens)

    def take_tokenizer_of(self, other: "VQDNA") -> "VQDNA":
        """Copy `other`'s trained tokenizer (encoder, codebooks, decoder) into this model, whose
        Transformer stays as it is: a fresh Transformer over a trained tokenizer."""
        for part in ("encoder", "quantizer", "decoder"):
            getattr(self, part).load_state_dict(getattr(other, part).state_dict())
        return self

    def tokenizer_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.decoder.parameters()]
