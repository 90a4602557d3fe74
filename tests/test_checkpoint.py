"""Weights on disk: round trips, hashes, corruption, heads, resumable training state, and
no pickle anywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import vqdna_cli
from vqdna_cli import api
from conftest import flip_byte, initialised_tiny_model, random_dna
from vqdna_cli.checkpoint import (
    list_heads,
    load_head,
    load_model,
    load_training_state,
    model_hash,
    save_head,
    save_model,
    save_training_state,
    sha256_of,
)
from vqdna_cli.config import PRESETS, WEIGHTS_FORMAT_VERSION, ModelConfig
from vqdna_cli.data.alphabet import encode
from vqdna_cli.errors import ModelError


@pytest.fixture
def saved(tmp_path: Path):
    model = initialised_tiny_model(seed=3)
    directory = tmp_path / "weights"
    save_model(directory, model, model.cfg, {"note": "test fixture"})
    return model, directory


def test_round_trip_identical_state_dict(saved) -> None:
    model, directory = saved
    loaded, _ = load_model(directory)
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for name in original:
        assert torch.equal(original[name], restored[name]), name
    assert not loaded.training  # loaded for inference


def test_round_trip_identical_tokens(saved) -> None:
    model, directory = saved
    loaded, _ = load_model(directory)
    bases = torch.from_numpy(encode(random_dna(80, 31, "ACGTN")).astype("int64"))[None]
    with torch.no_grad():
        assert torch.equal(model.quantize(bases).tokens, loaded.quantize(bases).tokens)


def test_config_json_records_format_hash_and_version(saved) -> None:
    model, directory = saved
    info = json.loads((directory / "config.json").read_text())
    assert info["format_version"] == WEIGHTS_FORMAT_VERSION
    assert info["vqdna_version"] == vqdna_cli.__version__
    assert info["sha256"] == {"model.safetensors": sha256_of(directory / "model.safetensors")}
    assert info["provenance"] == {"note": "test fixture"}
    assert ModelConfig.from_dict(info["model"]) == PRESETS["tiny"]
    assert model_hash(info) == info["sha256"]["model.safetensors"][:16]


def test_flipped_byte_is_reported_as_corrupted(saved) -> None:
    _, directory = saved
    flip_byte(directory / "model.safetensors")
    with pytest.raises(ModelError, match="corrupted"):
        load_model(directory)


def test_missing_config_json(saved) -> None:
    _, directory = saved
    (directory / "config.json").unlink()
    with pytest.raises(ModelError, match="config.json is missing"):
        load_model(directory)


def test_missing_weights_file(saved) -> None:
    _, directory = saved
    (directory / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"model.safetensors is missing: restore it .* reinstall vqdna\)$"):
        load_model(directory)
    (directory / "model.safetensors").mkdir()
    with pytest.raises(ModelError, match=r"model.safetensors is not a file: restore it"):
        load_model(directory)


def test_config_json_not_json(saved) -> None:
    _, directory = saved
    (directory / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(directory)


def test_other_weights_format_version_is_refused(saved) -> None:
    _, directory = saved
    info = json.loads((directory / "config.json").read_text())
    info["format_version"] = WEIGHTS_FORMAT_VERSION + 1
    (directory / "config.json").write_text(json.dumps(info))
    with pytest.raises(ModelError, match="format"):
        load_model(directory)


def test_a_config_that_disagrees_with_the_tensors_names_the_tensor(saved) -> None:
    """The message kept PyTorch's first line only ("Error(s) in loading state_dict for
    VQDNA:"): which tensor, and which sizes, were left out."""
    model, directory = saved
    info = json.loads((directory / "config.json").read_text())
    info["model"]["transformer"]["max_tokens"] = model.cfg.transformer.max_tokens * 2
    (directory / "config.json").write_text(json.dumps(info))
    width, tokens = model.cfg.transformer.width, model.cfg.transformer.max_tokens
    with pytest.raises(ModelError, match=re.escape(
            f"does not match its config.json: size mismatch for transformer.position.weight: copying a param with "
            f"shape torch.Size([{tokens}, {width}]) in the file, the config asks for torch.Size([{2 * tokens}, "
            f"{width}])")):
        load_model(directory)


@pytest.mark.parametrize("change", ["a tensor left out", "a tensor too many"])
def test_weights_with_a_tensor_missing_or_extra_are_refused(saved, change) -> None:
    """Every tensor is checked, both ways, even where the file's hash is recorded as its own."""
    from safetensors.torch import load_file, save_file

    _, directory = saved
    tensors = load_file(directory / "model.safetensors")
    if change == "a tensor left out":
        tensors.pop(sorted(tensors)[0])
    else:
        tensors["extra.weight"] = torch.zeros(2)
    save_file(tensors, directory / "model.safetensors")
    info = json.loads((directory / "config.json").read_text())
    info["sha256"]["model.safetensors"] = sha256_of(directory / "model.safetensors")
    (directory / "config.json").write_text(json.dumps(info))
    with pytest.raises(ModelError, match="does not match its config.json: (Missing|Unexpected) key"):
        load_model(directory)


def _rewrite_weights(directory: Path, change) -> None:
    """Change the model's tensors and record the new file's hash, as a run that diverged or an
    edited folder leaves them: the checks past the hash are what is tested."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(directory / "model.safetensors")
    change(tensors)
    save_file(tensors, directory / "model.safetensors")
    info = json.loads((directory / "config.json").read_text())
    info["sha256"]["model.safetensors"] = sha256_of(directory / "model.safetensors")
    (directory / "config.json").write_text(json.dumps(info))


def test_a_file_of_another_layout_names_three_keys_and_a_count(saved) -> None:
    """Every missing key was listed: a line of kilobytes, and no word of what to do."""
    _, directory = saved
    _rewrite_weights(directory, lambda tensors: [tensors.pop(name) for name in sorted(tensors)[:5]])
    with pytest.raises(ModelError, match=r'Missing key\(s\) in state_dict: "[^"]+", "[^"]+", "[^"]+" and 2 more: '
                                         "restore the folder's config.json and model.safetensors as they were written "
                                         "together$"):
        load_model(directory)


def test_a_damaged_folder_from_vqdna_weights_says_where_it_came_from(saved, monkeypatch) -> None:
    from vqdna_cli.runner import Runner

    _, directory = saved
    (directory / "model.safetensors").unlink()
    monkeypatch.setenv("VQDNA_WEIGHTS", str(directory))
    with pytest.raises(ModelError, match=rf"is missing: .* \(\$VQDNA_WEIGHTS names {re.escape(str(directory))}: unset "
                                         "it for the shipped weights\)$"):
        Runner.load(None, "cpu")
    (directory / "config.json").write_text("{")
    with pytest.raises(ModelError, match=r"is not valid JSON.*\(\$VQDNA_WEIGHTS names .*: unset it for the shipped"):
        api.list_tasks()


def test_weights_holding_nan_are_refused(saved) -> None:
    """One NaN in a codebook made every token 0, and a NaN Transformer gave NaN vectors and
    probabilities under a class label, all with exit 0."""
    _, directory = saved

    def one_nan(tensors):
        name = next(n for n in sorted(tensors) if "codebook" in n or "codes" in n)
        tensors[name].view(-1)[0] = float("nan")

    _rewrite_weights(directory, one_nan)
    with pytest.raises(ModelError, match=r"model.safetensors holds NaN or infinite values \(in .*\): the training "
                                         "that wrote it diverged"):
        load_model(directory)


def test_a_config_far_larger_than_its_weights_is_refused_before_it_is_built(saved, monkeypatch) -> None:
    """A config of about 1.8e9 parameters (under the cap) over a 1e6-value file allocated
    7 GB before the mismatch was found (or ran out of memory and advised --batch-tokens)."""
    from vqdna_cli.model import vqdna

    _, directory = saved
    info = json.loads((directory / "config.json").read_text())
    info["model"]["transformer"].update(width=4096, heads=8, layers=9)
    (directory / "config.json").write_text(json.dumps(info))
    monkeypatch.setattr(vqdna, "VQDNA", lambda cfg: pytest.fail("the model was built"))
    with pytest.raises(ModelError, match=r"does not match its config.json: the config describes a model of about "
                                         r"[\d,]+ parameters, the file holds [\d,]+ values"):
        load_model(directory)


@pytest.mark.parametrize("provenance", [[1], "x", {"pretrain": {"settings": "x", "metrics": [1]}}])
def test_provenance_of_another_shape_does_not_stop_a_run(saved, provenance) -> None:
    """It informs: a list or a text in its place was an AttributeError traceback."""
    _, directory = saved
    info = json.loads((directory / "config.json").read_text())
    info["provenance"] = provenance
    (directory / "config.json").write_text(json.dumps(info))
    load_model(directory)


def test_another_tools_config_json_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"], "hidden_size": 768}))
    with pytest.raises(ModelError, match=r"config.json is not a vqdna weights description \(it has no format_version "
                                         "or model\)"):
        load_model(tmp_path)


# --- heads ------------------------------------------------------------------------------------


A_HEAD = {"class_names": ["a", "b"], "labels": ["0", "1"], "lora_rank": 2, "lora_alpha": 4.0}


def head_tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return {"head.fc1.weight": torch.randn(4, 4, generator=g), "transformer.x.lora_a": torch.randn(2, 4, generator=g)}


def test_head_round_trip(tmp_path: Path) -> None:
    tensors = head_tensors()
    save_head(tmp_path, "t1", tensors, A_HEAD)
    loaded, info = load_head(tmp_path, "t1")
    assert loaded.keys() == tensors.keys()
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    assert info.task == "t1"
    assert info.class_names == ("a", "b")
    assert [h["task"] for h in list_heads(tmp_path)] == ["t1"]


def test_unknown_head_names_the_known_ones(tmp_path: Path) -> None:
    save_head(tmp_path, "t1", head_tensors(), A_HEAD)
    with pytest.raises(ModelError, match=r"unknown task 'nope'.*t1"):
        load_head(tmp_path, "nope")


def test_a_task_is_a_head_name_never_a_path_to_one(tmp_path: Path) -> None:
    """`--task ../heads/t1`, an absolute path to a head folder or `t1/` read that head (and
    recorded the odd name in the sidecar), though --list-tasks names none of them."""
    head_dir = save_head(tmp_path, "t1", head_tensors(), A_HEAD)
    for task in ("../heads/t1", str(head_dir), "t1/", "./t1"):
        with pytest.raises(ModelError, match=rf"^unknown task {re.escape(repr(task))} \(tasks in .*: t1;"):
            load_head(tmp_path, task)
    assert load_head(tmp_path, "t1")[1].task == "t1"


def test_a_head_folder_without_its_head_json_is_named(tmp_path: Path) -> None:
    """It was "unknown task", as if the user had mistyped the name."""
    head_dir = save_head(tmp_path, "t1", head_tensors(), A_HEAD)
    (head_dir / "head.json").unlink()
    with pytest.raises(ModelError, match=r"^task head 't1' has no head.json in .*: restore it, or train the head"):
        load_head(tmp_path, "t1")


def test_a_head_folder_renamed_to_a_name_task_cannot_take_is_named(tmp_path: Path) -> None:
    """'pro moter' was left out of the listing and called an unknown task."""
    save_head(tmp_path, "t1", head_tensors(), A_HEAD)
    (tmp_path / "heads" / "t1").rename(tmp_path / "heads" / "pro moter")
    assert list_heads(tmp_path) == [{"task": "pro moter", "damaged": "its folder name cannot be given to --task "
                                     "(letters, digits, '.', '_' and '-', starting with a letter or digit): rename "
                                     "the folder"}]
    with pytest.raises(ModelError, match=r"^task head 'pro moter': its folder name cannot be given to --task"):
        load_head(tmp_path, "pro moter")
    with pytest.raises(ModelError, match=r"^unknown task '../heads/pro moter'"):
        load_head(tmp_path, "../heads/pro moter")


def test_corrupted_head_is_refused(tmp_path: Path) -> None:
    head_dir = save_head(tmp_path, "t1", head_tensors(), A_HEAD)
    flip_byte(head_dir / "head.safetensors")
    with pytest.raises(ModelError, match="corrupted"):
        load_head(tmp_path, "t1")


def test_fixture_toy_head_is_listed(tiny_model_dir: Path) -> None:
    (head,) = list_heads(tiny_model_dir)
    assert head["task"] == "toy"
    assert head["class_names"] == ["neg", "pos"]
    assert head["labels"] == ["0", "1"]


# --- training state (resume) ------------------------------------------------------------------


def trained(steps: int) -> tuple[torch.nn.Module, torch.optim.AdamW]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(), torch.nn.Linear(4, 2))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    for step in range(steps):
        x = torch.randn(8, 3, generator=torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        net(x).pow(2).mean().backward()
        optimizer.step()
    return net, optimizer


def test_training_state_round_trip_restores_adamw(tmp_path: Path) -> None:
    net, optimizer = trained(3)
    save_training_state(tmp_path / "checkpoint", net.state_dict(), optimizer, {"stage": "test", "step": 3})
    fresh, fresh_optimizer = trained(0)
    state, meta = load_training_state(tmp_path / "checkpoint", fresh_optimizer)
    assert meta["step"] == 3 and meta["stage"] == "test"
    fresh.load_state_dict(state)
    for name, value in net.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value)
    original, restored = optimizer.state_dict(), fresh_optimizer.state_dict()
    assert original["state"].keys() == restored["state"].keys()
    for index in original["state"]:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(torch.as_tensor(original["state"][index][key]),
                               torch.as_tensor(restored["state"][index][key])), (index, key)
    assert restored["param_groups"][0]["lr"] == original["param_groups"][0]["lr"]


def test_resumed_optimizer_takes_the_same_next_step(tmp_path: Path) -> None:
    """The point of saving AdamW's moments: the step after a resume equals the step an
    uninterrupted run would take."""
    net, optimizer = trained(3)
    save_training_state(tmp_path / "checkpoint", net.state_dict(), optimizer, {"step": 3})
    fresh, fresh_optimizer = trained(0)
    state, _ = load_training_state(tmp_path / "checkpoint", fresh_optimizer)
    fresh.load_state_dict(state)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(99))
    for model, opt in ((net, optimizer), (fresh, fresh_optimizer)):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    for a, b in zip(net.parameters(), fresh.parameters()):
        assert torch.equal(a, b)


def test_a_stop_while_a_checkpoint_is_written_waits_until_both_files_are(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C or `kill` between checkpoint.safetensors and checkpoint.json left a pair that could
    not be resumed (the earlier pair already replaced); the stop now comes once both are written."""
    import os
    import signal

    import vqdna_cli.checkpoint as checkpoint

    class Stopped(Exception):
        pass

    def stop(signum, frame):
        raise Stopped

    write_json = checkpoint._write_json

    def stopped_between(path, data):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives after the tensors, before their JSON
        write_json(path, data)

    net, optimizer = trained(2)
    monkeypatch.setattr(checkpoint, "_write_json", stopped_between)
    before = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(Stopped):
            save_training_state(tmp_path / "checkpoint", net.state_dict(), optimizer, {"step": 2})
        assert signal.getsignal(signal.SIGTERM) is stop  # the run's own handler is back
    finally:
        signal.signal(signal.SIGTERM, before)
    _, meta = load_training_state(tmp_path / "checkpoint", trained(0)[1])
    assert meta["step"] == 2


def test_a_checkpoint_whose_two_files_do_not_match_says_to_start_over(tmp_path: Path) -> None:
    """A run killed between writing checkpoint.safetensors and checkpoint.json (or a damaged
    file): was "corrupted ... restore it or reinstall vqdna", which cannot mend it."""
    net, optimizer = trained(1)
    save_training_state(tmp_path / "checkpoint", net.state_dict(), optimizer, {"step": 1})
    later = tmp_path / "later"
    save_training_state(later, trained(2)[0].state_dict(), optimizer, {"step": 2})
    (tmp_path / "checkpoint.safetensors").write_bytes(later.with_suffix(".safetensors").read_bytes())
    with pytest.raises(ModelError, match=f"^the checkpoint in {tmp_path} is incomplete \\(checkpoint.safetensors does "
                                         "not match checkpoint.json: a run stopped while writing them\\); start the "
                                         "run over with --force$"):
        load_training_state(tmp_path / "checkpoint", trained(0)[1])


# --- no pickle --------------------------------------------------------------------------------

UNSAFE = [
    re.compile(r"\btorch\.load\s*\("),
    re.compile(r"^\s*(import\s+(c?pickle|dill|joblib)\b|from\s+(c?pickle|dill|joblib)\s+import)", re.M),
    re.compile(r"\b(c?pickle|dill|joblib)\.(loads?|dumps?|Unpickler)\b"),
    re.compile(r"allow_pickle\s*=\s*True"),
]


def test_nothing_unpickles() -> None:
    """Weights and outputs are safetensors, JSON and pickle-free .npz; nothing that can
    run code on load may appear in the package."""
    package = Path(vqdna_cli.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 20  # the whole package, not an empty glob
    offending = [f"{path.relative_to(package)}: {match.group(0).strip()}"
                 for path in sources for pattern in UNSAFE for match in pattern.finditer(path.read_text())]
    assert offending == []


def test_a_missing_weights_folder_is_named_as_missing(tmp_path, monkeypatch) -> None:
    from vqdna_cli.runner import default_weights_dir

    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    monkeypatch.setenv("VQDNA_WEIGHTS", str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match=r"^\$VQDNA_WEIGHTS .*nowhere does not exist: set it to a weights folder"):
        default_weights_dir()
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("VQDNA_WEIGHTS", str(tmp_path / "file"))
    with pytest.raises(ModelError, match=r"^\$VQDNA_WEIGHTS .*file is a file"):
        default_weights_dir()


def test_commands_that_read_the_transformer_warn_about_a_tokenizer_only_model(run_vqdna, model_copy: Path,
                                                                             short_fasta: Path, tmp_path) -> None:
    config = model_copy / "config.json"
    info = json.loads(config.read_text())
    info["provenance"] = {"tokenizer": {"stage": "tokenizer"}}  # a stage-1 folder: no pre-training
    config.write_text(json.dumps(info))
    embedded = run_vqdna("embed", short_fasta, "--model", model_copy, "-o", tmp_path / "e.npz")
    assert embedded.returncode == 0
    assert any("was never pre-trained (tokenizer stage only)" in line for line in embedded.stderr_lines)
    tokenized = run_vqdna("tokenize", short_fasta, "--model", model_copy, "-o", tmp_path / "t.npz")
    assert tokenized.returncode == 0 and not any("pre-trained" in line for line in tokenized.stderr_lines)


def _edit_head(directory: Path, task: str, tensors_change=None, info_change=None) -> None:
    from safetensors.torch import load_file, save_file

    head_dir = directory / "heads" / task
    info = json.loads((head_dir / "head.json").read_text())
    if tensors_change:
        tensors = load_file(head_dir / "head.safetensors")
        tensors_change(tensors)
        save_file(tensors, head_dir / "head.safetensors")
        info["sha256"]["head.safetensors"] = sha256_of(head_dir / "head.safetensors")
    if info_change:
        info_change(info)
    (head_dir / "head.json").write_text(json.dumps(info))


def test_a_frozen_head_missing_a_tensor_is_one_line(model_copy: Path, tmp_path: Path) -> None:
    """The frozen head's weights were loaded unguarded: a RuntimeError traceback."""
    from conftest import toy_csv

    from vqdna_cli import api
    from vqdna_cli.options import FinetuneSettings, HeadRows, RunOptions, TrainControl
    from vqdna_cli.runner import Runner

    api.finetune(HeadRows((str(toy_csv(tmp_path / "rows.csv")),)),
                 FinetuneSettings("mlp", adapter="frozen", epochs=1, batch=16), RunOptions(model_copy, threads=1),
                 TrainControl(quiet=True))
    _edit_head(model_copy, "mlp", tensors_change=lambda t: t.pop("head.fc2.bias"))
    with pytest.raises(ModelError, match=r"^task head 'mlp': its weights file does not hold the head its head.json "
                                         "describes"):
        Runner.load(model_copy, "cpu").attach_head("mlp")


def test_an_unfinished_head_with_odd_provenance_still_warns(model_copy: Path) -> None:
    """metrics given as text was an AttributeError; settings left out said 'of None'."""
    from vqdna_cli.errors import VqdnaWarning
    from vqdna_cli.runner import Runner

    _edit_head(model_copy, "toy", info_change=lambda info: info["provenance"].update(complete=False, metrics="x"))
    with pytest.warns(VqdnaWarning, match=r"^task head 'toy' is not fully trained: stopped by --max-minutes; "):
        Runner.load(model_copy, "cpu").attach_head("toy")
    _edit_head(model_copy, "toy", info_change=lambda info: (info["provenance"].update(metrics={"steps": 9}),
                                                            info["provenance"].pop("settings", None)))
    with pytest.warns(VqdnaWarning, match=r"stopped by --max-minutes at step 9; continue it"):
        Runner.load(model_copy, "cpu").attach_head("toy")
