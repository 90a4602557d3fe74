"""What `runner.embed_records` computes for each window besides its pooled vector: one object
that `embed`, `classify`, `--scan`, `train evaluate` and head training build (a head's from
`head_features.feature_inputs`), instead of a dozen keyword arguments passed along."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WindowRequest:
    stride: int | None = None  # bases between window starts; None: the model window (no overlap)
    per_token: bool = False  # every token's vector too, averaged over the windows holding it
    reverse_complement: bool = False  # the mean of both strands, in forward coordinates
    with_code_frequencies: bool = False  # each window's HRQ code frequencies
    with_record_frequencies: bool = False  # the whole record's code frequencies
    center_tokens: int = 0  # HRQ embeddings of that many tokens centred on `center_at`
    center_at: int | None = None  # base of the window they centre on; None: its middle
    layers: tuple[int, ...] | None = None  # pooled vectors of these layers (`Runner.layer_outputs`)
    all_layers: bool = False  # `layers` 0 to the last: what an `all_layers` head reads
    pooling: str = "mean"  # or "max" over a window's tokens
    segments: int = 0  # the mean output of each of that many parts of the window
