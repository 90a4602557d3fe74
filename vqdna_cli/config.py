"""Model configuration: frozen dataclasses, one per component, nested in `ModelConfig`.

The whole `ModelConfig` is saved as `config.json` beside the weights and is the only thing
needed to rebuild the model. Choices the paper leaves open are recorded here.
"""

from __future__ import annotations

import dataclasses
import math
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

    width: int = 96  # paper: BERT-base, 768; 96 against 128: docs/model.md
    layers: int = 4  # paper: 12
    heads: int = 4  # paper: 12
    mlp_ratio: int = 4
    max_tokens: int = 512  # window length in tokens (= bases: one token per base)
    dropout: float = 0.1
    # Width (odd) of a depth-wise convolution over neighbouring tokens, added to the input
    # before the first block (0: none): with learned positions alone, attention did not find
    # a token's neighbours within a CPU's pre-training budget (weights/default/TRAINING.md).
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
        """The config of a `config.json`, checked (types, then sizes) before anything is
        built: a bad file raises ValueError, never allocates (see `check_sizes`)."""

        def build(kind, values):
            if not isinstance(values, dict):
                raise ValueError(f"{kind.__name__} must be a JSON object")
            names = {f.name for f in dataclasses.fields(kind)}
            unknown = set(values) - names
            if unknown:
                raise ValueError(f"unknown {kind.__name__} fields: {sorted(unknown)}")
            defaults = kind()
            return kind(**{k: _typed(kind.__name__, k, v, getattr(defaults, k)) for k, v in values.items()})

        if not isinstance(data, dict):
            raise ValueError("the model config must be a JSON object")
        missing = {"encoder", "quantizer", "transformer"} - set(data)
        if missing:
            raise ValueError(f"missing model fields: {sorted(missing)}")
        cfg = cls(
            encoder=build(EncoderConfig, data["encoder"]),
            quantizer=build(QuantizerConfig, data["quantizer"]),
            # Configs written before `local_kernel` existed had no such convolution.
            transformer=build(TransformerConfig, {"local_kernel": 0, **data["transformer"]}),
            masking=build(MaskingConfig, data["masking"]) if "masking" in data else MaskingConfig(
                fraction=_typed("ModelConfig", "mask_fraction", data.get("mask_fraction", 0.25), 0.25), **LEGACY_MASKING),
            format_version=_typed("ModelConfig", "format_version", data.get("format_version", WEIGHTS_FORMAT_VERSION), 1),
        )
        check_sizes(cfg)
        return cfg


def _typed(kind: str, name: str, value, default):
    """`value` if it has the type of the field's default (an int where a float is expected
    is fine; a bool is not an int here); tuples are stored as JSON lists."""
    if isinstance(default, tuple):
        if isinstance(value, (list, tuple)) and value and all(is_int(v) for v in value):
            return tuple(value)
        raise ValueError(f"{kind}.{name} must be a non-empty list of integers, not {value!r}")
    if isinstance(default, bool) or isinstance(default, str):
        if type(value) is type(default):
            return value
    elif isinstance(default, int):
        if is_int(value):
            return value
    elif isinstance(default, float):
        if (is_int(value) or isinstance(value, float)) and math.isfinite(value):
            return float(value) if is_int(value) else value
    raise ValueError(f"{kind}.{name} must be {type(default).__name__}, not {value!r}")


def is_int(value) -> bool:
    """An int that is not a bool (JSON true is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


# Sane bounds for a config read from disk: far above the paper's model, far below what
# would exhaust memory while it is being built (a width of 1e9 allocated gigabytes at once).
MAX_PARAMETERS = 2_000_000_000
_RANGES = {
    "encoder": {"stem_width": (1, 4096), "stem_kernel": (1, 63), "width": (1, 4096), "blocks": (1, 64),
                "kernel": (1, 63), "mlp_ratio": (1, 16)},
    "transformer": {"width": (1, 8192), "layers": (1, 128), "heads": (1, 128), "mlp_ratio": (1, 16),
                    "max_tokens": (1, 1 << 20), "local_kernel": (0, 63)},
}


def check_sizes(cfg: ModelConfig) -> None:
    """Raise ValueError for sizes a model cannot be built with or should not be."""
    for part, ranges in _RANGES.items():
        for name, (low, high) in ranges.items():
            value = getattr(getattr(cfg, part), name)
            if not low <= value <= high:
                raise ValueError(f"{part}.{name} = {value} is outside {low}..{high}")
    q, t, m = cfg.quantizer, cfg.transformer, cfg.masking
    if not (0 < m.fraction < 1 and 1 <= m.mean_span <= t.max_tokens and m.code_weight >= 0):
        raise ValueError(f"masking {dataclasses.asdict(m)}: fraction in (0, 1), mean_span 1..max_tokens, "
                         "code_weight >= 0")
    if q.kind not in ("hrq", "vq"):
        raise ValueError(f"quantizer.kind {q.kind!r}: use hrq or vq")
    if not all(2 <= size <= 65536 for size in q.codebook_sizes) or len(q.codebook_sizes) > 8:
        raise ValueError(f"quantizer.codebook_sizes {list(q.codebook_sizes)}: 1 to 8 levels of 2..65536 codes "
                         "(tokens are stored as uint16)")
    if len(q.level_blocks) != len(q.codebook_sizes) or not all(1 <= b <= cfg.encoder.blocks for b in q.level_blocks):
        raise ValueError(f"quantizer.level_blocks {list(q.level_blocks)}: one encoder block (1..{cfg.encoder.blocks}) "
                         "per codebook")
    if t.width % t.heads:
        raise ValueError(f"transformer.width {t.width} is not a multiple of transformer.heads {t.heads}")
    for name, value in (("transformer.dropout", t.dropout), ("quantizer.ema_decay", q.ema_decay)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} = {value} is outside 0..1")
    if approximate_parameters(cfg) > MAX_PARAMETERS:
        raise ValueError(f"the model would have about {approximate_parameters(cfg):.2g} parameters "
                         f"(at most {MAX_PARAMETERS:.0e} are accepted)")


def approximate_parameters(cfg: ModelConfig) -> int:
    """An upper estimate of the parameter count, computed before anything is allocated."""
    e, q, t = cfg.encoder, cfg.quantizer, cfg.transformer
    encoder = e.stem_width * (4 * e.stem_kernel + e.width) + e.blocks * e.width * (e.kernel + 2 * e.mlp_ratio * e.width + 8)
    codebooks = sum(q.codebook_sizes) * e.width * 2
    transformer = t.layers * t.width * t.width * (4 + 2 * t.mlp_ratio) + (t.max_tokens + sum(q.codebook_sizes)) * t.width
    return 2 * encoder + codebooks + transformer  # the decoder mirrors the encoder


PRESETS: dict[str, ModelConfig] = {
    # Chosen for a 2-core CPU: see docs/model.md.
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
