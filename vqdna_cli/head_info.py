"""A task head's description (`heads/<task>/head.json`), read once into typed fields.

`HeadInfo.from_json` checks the keys and their types; `to_json` gives back what was read,
key for key (keys this vqdna does not know included), so a head.json written again stays
byte-identical. Keys a head records only when they apply (its test score, the window
lengths it trained on, what a frozen head reads) are None when absent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vqdna_cli.checkpoint import HEAD_FILE, recorded_hash, require_keys
from vqdna_cli.config import is_int
from vqdna_cli.errors import ModelError
from vqdna_cli.options import ADAPTERS



def class_indexes(labels) -> list[str]:
    """Each class's `class_index` in outputs: its label where every label is an integer (GUE's
    0, 1, 2), else its position in the head's label order."""
    return list(labels) if integer_labels(labels) else [str(i) for i in range(len(labels))]


def integer_labels(labels) -> bool:
    """Whether every label is a whole number in ASCII digits (GUE's 0, 1, 2): such labels are
    ordered as numbers and are a class's index in outputs; text labels are ordered as text
    and indexed by position. (str.isdigit takes '①' and '²' too, which int() does not read.)"""
    return all(re.fullmatch(r"-?[0-9]+", label) is not None for label in labels)

@dataclass(frozen=True)
class HeadReads:
    """What a frozen-model head reads beyond the pooled vector and the code frequencies, as
    its head.json records it: the HRQ embeddings of `center_tokens` tokens centred on base
    `center_at` of each window (default: its middle), and whether every feature is averaged
    over both strands. Training and every caller of a head go through this one record."""

    center_tokens: int = 0
    center_at: int | None = None
    both_strands: bool = False
    # One feature vector per sequence instead of one per window: the code frequencies of the
    # whole sequence and the mean of its windows' pooled vectors (see `head_features`).
    whole_record: bool = False
    # The pooled vector of every Transformer layer, 0 (its input) to the last, side by side,
    # instead of the last layer's alone.
    all_layers: bool = False
    # The window cut into this many equal parts along its bases, and the mean Transformer
    # output of each part, side by side: where in a fixed layout (a splice junction at base
    # 200 of 400) the evidence lies, which the whole window's mean cannot say. 0: none.
    segments: int = 0

    @classmethod
    def of(cls, info: Mapping[str, Any]) -> "HeadReads":
        """From a head's head.json keys; heads of other adapters read none of these."""
        if info.get("adapter") != "frozen":
            return cls()
        return cls(info.get("center_tokens", 0), info.get("center_at"), bool(info.get("both_strands")),
                   bool(info.get("whole_record")), bool(info.get("all_layers")), info.get("segments", 0))

    def as_info(self) -> dict:
        """The head.json keys (only those that differ from the default)."""
        return {**({"center_tokens": self.center_tokens} if self.center_tokens else {}),
                **({"center_at": self.center_at} if self.center_at is not None else {}),
                **({"both_strands": True} if self.both_strands else {}),
                **({"whole_record": True} if self.whole_record else {}),
                **({"all_layers": True} if self.all_layers else {}),
                **({"segments": self.segments} if self.segments else {})}



def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_names(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_lengths(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(is_int(n) for n in value)


# key -> (check, what the error message says it should be); keys absent here are kept as read
_TYPES = {
    "task": (lambda v: isinstance(v, str), "a text"),
    "labels": (_is_names, "a list of texts"),
    "class_names": (_is_names, "a list of texts"),
    "adapter": (lambda v: v in ADAPTERS, " or ".join(ADAPTERS)),
    "lora_rank": (is_int, "an integer"),
    "lora_alpha": (_is_number, "a number"),
    "description": (lambda v: isinstance(v, str), "a text"),
    "center_tokens": (lambda v: is_int(v) and v >= 0, "an integer of 0 or more"),
    "center_at": (lambda v: v is None or (is_int(v) and v >= 0), "an integer of 0 or more"),
    "both_strands": (lambda v: isinstance(v, bool), "true or false"),
    "whole_record": (lambda v: isinstance(v, bool), "true or false"),
    "all_layers": (lambda v: isinstance(v, bool), "true or false"),
    "segments": (lambda v: is_int(v) and v >= 0, "an integer of 0 or more"),
    "train_window_lengths": (lambda v: _is_lengths(v) and 1 <= v[0] <= v[1], "two lengths, the shortest first"),
    "model_sha256": (lambda v: isinstance(v, str), "a text"),
    "validation": (lambda v: isinstance(v, dict), "an object"),
    "provenance": (lambda v: isinstance(v, dict), "an object"),
    "test": (lambda v: isinstance(v, dict), "an object"),
    "real_genome": (lambda v: isinstance(v, dict), "an object"),
    "train_rows_sketch": (lambda v: isinstance(v, dict), "an object"),
}


@dataclass(frozen=True)
class HeadInfo:
    """A task head's head.json: its classes, how it attaches to the model, what it reads,
    and what it was trained and scored on."""

    labels: tuple[str, ...]  # the training data's labels, in class order
    class_names: tuple[str, ...]  # readable names of the same classes
    weights_sha256: str  # of head.safetensors
    task: str | None = None
    adapter: str | None = None  # None: written before vqdna recorded it, a LoRA head
    lora_rank: int | None = None
    lora_alpha: float | None = None
    reads: HeadReads = HeadReads()
    description: str | None = None
    train_window_lengths: tuple[int, int] | None = None  # None: trained before vqdna recorded them
    model_sha256: str | None = None  # None: trained before vqdna recorded it
    validation: dict | None = None
    provenance: dict | None = None
    test: dict | None = None  # `vqdna train evaluate --record`
    real_genome: dict | None = None  # benchmarks/real_genome.py run --record
    train_rows_sketch: dict | None = None  # train.row_sketch: None for heads trained before it
    # head.json keys as read that the fields above do not give back (unknown keys, or a
    # reads key of a head that does not read it), so that `to_json` returns the file as read
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        """The adapter, "lora" for heads written before it was recorded."""
        return self.adapter or "lora"

    @property
    def frozen(self) -> bool:
        return self.adapter == "frozen"

    def made_by(self) -> dict:
        """Which head made an output, beside the model's hash (`Runner.describe`): a head
        retrained over the same model gives other answers under the same model hash."""
        return {"head_sha256": self.weights_sha256, "head_hash": self.weights_sha256[:16]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], path: Path) -> "HeadInfo":
        """The one way head.json becomes a HeadInfo; a missing key or a value of the wrong
        type raises a one-line ModelError naming `path`."""
        kind = data.get("adapter", "lora")
        require_keys(data, ("labels", "class_names") + (("lora_rank", "lora_alpha") if kind == "lora" else ()), path)
        digest = recorded_hash(data, HEAD_FILE, path)
        for key, (check, expected) in _TYPES.items():
            if key in data and not check(data[key]):
                raise ModelError(f"{path}: {key} is {json.dumps(data[key])}, expected {expected}: "
                                 "restore it or retrain")
        for key in ("labels", "class_names"):  # one column or class_index for two classes
            if len(set(data[key])) != len(data[key]):
                raise ModelError(f"{path}: {key} {json.dumps(data[key])} names a class twice: restore it or retrain")
        if len(data["labels"]) != len(data["class_names"]):
            raise ModelError(f"{path}: labels {json.dumps(data['labels'])} and class_names "
                             f"{json.dumps(data['class_names'])} must name the same classes: "
                             "restore it or retrain")
        lengths = data.get("train_window_lengths")
        reads = HeadReads.of(data)
        # as finetune refuses it: central tokens that all lie past every window it trained on
        if reads.center_at is not None and lengths is not None \
                and reads.center_at - reads.center_tokens // 2 >= lengths[1]:
            raise ModelError(f"{path}: center_at {reads.center_at} puts its {reads.center_tokens} central tokens past "
                             f"the {lengths[1]} bp windows the head trained on: restore it or retrain")
        head = cls(
            labels=tuple(data["labels"]), class_names=tuple(data["class_names"]), weights_sha256=digest,
            task=data.get("task"), adapter=data.get("adapter"), lora_rank=data.get("lora_rank"),
            lora_alpha=data.get("lora_alpha"), reads=reads, description=data.get("description"),
            train_window_lengths=tuple(lengths) if lengths is not None else None,
            model_sha256=data.get("model_sha256"), validation=data.get("validation"),
            provenance=data.get("provenance"), test=data.get("test"), real_genome=data.get("real_genome"),
            train_rows_sketch=data.get("train_rows_sketch"))
        typed = head._typed_json()
        extra = {key: value for key, value in data.items() if key not in typed or not _same(typed[key], value)}
        return cls(**{**head.__dict__, "extra": extra})

    def to_json(self) -> dict:
        """The head.json object (`checkpoint._write_json` writes it sorted and indented)."""
        return {**self._typed_json(), **self.extra}

    def _typed_json(self) -> dict:
        optional = {"task": self.task, "adapter": self.adapter, "lora_rank": self.lora_rank,
                    "lora_alpha": self.lora_alpha, "description": self.description,
                    "train_window_lengths": list(self.train_window_lengths) if self.train_window_lengths else None,
                    "model_sha256": self.model_sha256, "validation": self.validation, "provenance": self.provenance,
                    "test": self.test, "real_genome": self.real_genome, "train_rows_sketch": self.train_rows_sketch}
        return {"labels": list(self.labels), "class_names": list(self.class_names),
                "sha256": {HEAD_FILE: self.weights_sha256},
                **{key: value for key, value in optional.items() if value is not None},
                **(self.reads.as_info() if self.frozen else {})}


def _same(a, b) -> bool:
    """Equal as JSON text (16 and 16.0 differ; a tuple and a list do not)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
