"""head.json read into a typed HeadInfo: checked once, written back unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqdna_cli.checkpoint import load_head, save_head
from vqdna_cli.errors import ModelError
from vqdna_cli.head_features import strand_span
from vqdna_cli.head_info import HeadInfo, HeadReads

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "weights" / "default" / "heads").glob("*/head.json"))
DIGEST = {"head.safetensors": "ab" * 32}


def written(head: HeadInfo) -> bytes:
    """What checkpoint writes for a head.json object."""
    return (json.dumps(head.to_json(), indent=2, sort_keys=True) + "\n").encode()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.parent.name for p in SHIPPED])
def test_every_shipped_head_json_is_written_back_byte_for_byte(path: Path) -> None:
    head = HeadInfo.from_json(json.loads(path.read_bytes()), path)
    assert written(head) == path.read_bytes()
    assert head.extra == {}  # every key of a shipped head is typed
    assert head.train_window_lengths is not None and head.model_sha256 is not None


def test_a_head_json_from_before_the_optional_keys_loads_with_defaults() -> None:
    old = {"labels": ["0", "1"], "class_names": ["no", "yes"], "lora_rank": 8, "lora_alpha": 16, "sha256": DIGEST}
    head = HeadInfo.from_json(old, Path("head.json"))
    assert head.kind == "lora" and head.adapter is None and not head.frozen
    assert head.reads == HeadReads() and head.train_window_lengths is None and head.test is None
    assert head.to_json() == old  # no key added, 16 stays 16


def test_unknown_keys_and_keys_of_another_adapter_are_kept_as_written() -> None:
    data = {"labels": ["a"], "class_names": ["A"], "adapter": "full", "center_tokens": 8, "note": [1, 2],
            "sha256": DIGEST}
    head = HeadInfo.from_json(data, Path("head.json"))
    assert head.reads == HeadReads()  # a full-model head reads no central tokens
    assert head.extra == {"center_tokens": 8, "note": [1, 2]}
    assert head.to_json() == data


def test_a_frozen_head_reads_what_its_head_json_says() -> None:
    data = {"labels": ["0", "1"], "class_names": ["no", "yes"], "adapter": "frozen", "center_tokens": 64,
            "center_at": 232, "both_strands": True, "sha256": DIGEST}
    head = HeadInfo.from_json(data, Path("head.json"))
    assert head.reads == HeadReads(64, 232, both_strands=True)
    assert head.to_json() == data


@pytest.mark.parametrize("key, value, message", [
    ("labels", "0,1", "labels is \"0,1\", expected a list of texts"),
    ("lora_rank", 8.5, "lora_rank is 8.5, expected an integer"),
    ("train_window_lengths", [100], "train_window_lengths is \\[100\\], expected two lengths, the shortest first"),
    # values a head cannot have: "trained on (0 bp)", "(300-10 bp)"; an adapter no code reads
    ("train_window_lengths", [0, 0], "train_window_lengths is \\[0, 0\\], expected two lengths, the shortest first"),
    ("train_window_lengths", [300, 10], "train_window_lengths is \\[300, 10\\], expected two lengths, the shortest first"),
    ("adapter", "qlora", "adapter is \"qlora\", expected lora or full or frozen"),
    ("labels", ["1", "1"], "labels \\[\"1\", \"1\"\\] names a class twice"),
    ("class_names", ["x", "x"], "class_names \\[\"x\", \"x\"\\] names a class twice"),
    ("center_tokens", -1, "center_tokens is -1, expected an integer of 0 or more"),
    ("both_strands", "yes", "both_strands is \"yes\", expected true or false"),
])
def test_a_value_of_the_wrong_type_is_one_line_naming_the_file(key, value, message) -> None:
    data = {"labels": ["0", "1"], "class_names": ["no", "yes"], "lora_rank": 8, "lora_alpha": 16.0,
            "sha256": DIGEST, key: value}
    with pytest.raises(ModelError, match=f"^x/head.json: {message}: restore it or retrain$"):
        HeadInfo.from_json(data, Path("x/head.json"))


def test_a_centre_past_the_training_windows_is_refused() -> None:
    """center_at 100000 on a head of 300 bp windows read other tokens, without a word."""
    data = {"labels": ["0", "1"], "class_names": ["no", "yes"], "adapter": "frozen", "center_tokens": 64,
            "center_at": 100000, "train_window_lengths": [300, 300], "sha256": DIGEST}
    with pytest.raises(ModelError, match=r"^x/head.json: center_at 100000 puts its 64 central tokens past the 300 bp "
                                         "windows the head trained on: restore it or retrain$"):
        HeadInfo.from_json(data, Path("x/head.json"))
    assert HeadInfo.from_json({**data, "center_at": 232}, Path("x/head.json")).reads.center_at == 232
    # what finetune accepts loads: 16 tokens centred on base 305 begin at base 297, inside the window
    from vqdna_cli.api.train import _check_window_reads
    from vqdna_cli.options import FinetuneSettings

    _check_window_reads(FinetuneSettings("t", adapter="frozen", center_tokens=16, center_at=305), 512, 300)
    assert HeadInfo.from_json({**data, "center_tokens": 16, "center_at": 305}, Path("x/head.json")).reads.center_at == 305


def test_missing_keys_keep_their_message() -> None:
    with pytest.raises(ModelError, match=r"^x/head.json lacks class_names, lora_rank: restore it or retrain$"):
        HeadInfo.from_json({"labels": ["0"], "lora_alpha": 1.0, "sha256": DIGEST}, Path("x/head.json"))
    frozen = {"labels": ["0"], "class_names": ["a"], "adapter": "frozen"}  # no LoRA keys needed
    with pytest.raises(ModelError, match="lacks the SHA-256 of head.safetensors"):
        HeadInfo.from_json(frozen, Path("x/head.json"))


def test_save_head_refuses_a_bad_description_before_writing_anything(tmp_path: Path) -> None:
    import torch

    with pytest.raises(ModelError, match="lacks labels"):
        save_head(tmp_path, "t1", {"head.w": torch.zeros(2)}, {"class_names": ["a"], "adapter": "frozen"})
    assert not (tmp_path / "heads" / "t1").exists()
    save_head(tmp_path, "t1", {"head.w": torch.zeros(2)}, {"labels": ["0"], "class_names": ["a"], "adapter": "frozen"})
    _, head = load_head(tmp_path, "t1")
    assert head.task == "t1" and head.labels == ("0",) and head.frozen


def test_strand_span_maps_forward_windows_onto_the_reverse_complement() -> None:
    assert strand_span(10, 2, 5, flipped=False) == (2, 5)
    assert strand_span(10, 2, 5, flipped=True) == (5, 8)
    assert strand_span(10, 0, 10, flipped=True) == (0, 10)
