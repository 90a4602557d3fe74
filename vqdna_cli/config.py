"""Model configuration: frozen dataclasses, one per component, nested in `ModelConfig`.

The whole `ModelConfig` is saved as `config.json` beside the weights and is the only thing
needed to rebuild the model. Choices the paper leaves open are recorded here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# Bumped whenever the meaning of a saved config or weights file changes.
WEIGHTS_FORMAT_VERSION = 1


@dataclass(frozen=True)
class EncoderConfig:
    """ConvNeXt-1D encoder; the decoder mirrors it. One latent vector per base."""

    stem_width: int = 32  # paper: 256
    stem_kernel: int = 5
    width: int = 64  # paper: D = 384
    blocks: int = 4  # paper: 6
    kernel: int = 7  # depth-wise convolution
    mlp_ratio: int = 4

    @property
    def receptive_radius(self) -> int:
        """Bases on each side of a position that can influence its latent vector."""
        return self.stem_kernel // 2 + self.blocks * (self.kernel // 2)


@dataclass(frozen=True)
class QuantizerConfig:
    """Hierarchical residual quantization (HRQ) or plain VQ (`kind="vq"`)."""

    kind: str = "hrq"
    codebook_sizes: tuple[int, ...] = (256, 512)  # coarse to fine; paper: 1024, 2048
    # Encoder block after which each level quantizes (1-based); paper: blocks 3 and 6.
    level_blocks: tuple[int, ...] = (2, 4)
    ema_decay: float = 0.99
    laplace_eps: float = 1e-5
    dead_code_threshold: float = 2.0  # EMA count below which a code is replaced
    commitment_weight: float = 0.5

    @property
    def levels(self) -> int:
        return len(self.codebook_sizes)


@dataclass(frozen=True)
class TransformerConfig:
    """Transformer encoder over the quantized embeddings (pre-norm, learned positions, and a
    convolution over neighbouring tokens)."""

    width: int = 96  # paper: BERT-base, 768; 96 against 128: README, "Choosing the default model"
    layers: int = 4  # paper: 12
    heads: int = 4  # paper: 12
    mlp_ratio: int = 4
    max_tokens: int = 512  # window length in tokens (= bases: one token per base)
    dropout: float = 0.1
    # Width (odd) of a depth-wise convolution over neighbouring tokens, added to the input
    # before the first block (0: none). With learned absolute positions alone, 800 CPU steps
    # of masked pre-training left the 4 x 96 model at 1.9 % held-out masked-token accuracy
    # (level 1), though a lookup of the two neighbouring codes predicts 95 %: attention had
    # not learnt where its neighbours are. With this convolution the same budget reaches 82 %
    # (benchmarks/results/heldout.md, weights/default/TRAINING.md).
    local_kernel: int = 5


@dataclass(frozen=True)
class MaskingConfig:
    """What masked pre-training hides and what it asks the Transformer to predict.

    `where="input"`: spans of bases enter the tokenizer as N (the uniform distribution the
    input policy gives N), so no neighbouring token carries them, and the Transformer
    predicts the hidden bases (and, at `code_weight`, the codes the unmasked sequence has).
    Of the spans, 80 % are hidden so and also replaced by the learned [MASK] vector, 10 %
    get random bases and 10 % stay as they are (BERT's 80/10/10, per span).

    `where="tokens"` is the objective of weights written before this existed: the tokenizer
    read the unmasked window and single positions' quantized vectors were replaced by
    [MASK] afterwards, so the neighbours' tokens still encoded the masked base and a masked
    token could be read off its neighbours without any context.
    """

    where: str = "input"
    fraction: float = 0.18  # share of positions inside masked spans (before overlaps)
    mean_span: float = 10.0  # geometric span lengths, in bases (= tokens)
    code_weight: float = 0.1  # weight of the code-prediction loss beside the base loss

    def __post_init__(self):
        if self.where not in ("input", "tokens"):
            raise ValueError(f"masking.where must be 'input' or 'tokens', not {self.where!r}")

    @property
    def predicts_bases(self) -> bool:
        return self.where == "input"


# Configs written before MaskingConfig: single positions masked after tokenizing.
LEGACY_MASKING = dict(where="tokens", mean_span=1.0, code_weight=1.0)


@dataclass(frozen=True)
class ModelConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    # Masked pre-training (the paper masks tokens and predicts codes; see MaskingConfig).
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    format_version: int = WEIGHTS_FORMAT_VERSION

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        def build(kind, values):
            names = {f.name for f in dataclasses.fields(kind)}
            unknown = set(values) - names
            if unknown:
                raise ValueError(f"unknown {kind.__name__} fields: {sorted(unknown)}")
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

        return cls(
            encoder=build(EncoderConfig, data["encoder"]),
            quantizer=build(QuantizerConfig, data["quantizer"]),
            # Configs written before `local_kernel` existed had no such convolution.
            transformer=build(TransformerConfig, {"local_kernel": 0, **data["transformer"]}),
            masking=build(MaskingConfig, data["masking"]) if "masking" in data
            else MaskingConfig(fraction=data.get("mask_fraction", 0.25), **LEGACY_MASKING),
            format_version=data.get("format_version", WEIGHTS_FORMAT_VERSION),
        )


PRESETS: dict[str, ModelConfig] = {
    # Chosen for a 2-core CPU: see README, "Choosing the default model".
    "default": ModelConfig(),
    # The sizes of Li et al. (ICML 2024): D=384, 6 blocks, codebooks 1024/2048 at blocks
    # 3 and 6, a BERT-base Transformer.
    "paper": ModelConfig(
        encoder=EncoderConfig(stem_width=256, width=384, blocks=6),
        quantizer=QuantizerConfig(codebook_sizes=(1024, 2048), level_blocks=(3, 6)),
        transformer=TransformerConfig(width=768, layers=12, heads=12),
    ),
    # Plain single-codebook VQ (the paper's VQ ablation) at the default sizes.
    "vq": ModelConfig(quantizer=QuantizerConfig(kind="vq", codebook_sizes=(512,), level_blocks=(4,))),
    # A very small model for tests and smoke runs.
    "tiny": ModelConfig(
        encoder=EncoderConfig(stem_width=8, width=16, blocks=2),
        quantizer=QuantizerConfig(codebook_sizes=(8, 16), level_blocks=(1, 2)),
        transformer=TransformerConfig(width=16, layers=1, heads=2, max_tokens=64),
    ),
}
