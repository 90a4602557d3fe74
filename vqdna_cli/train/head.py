"""Stage 3 with a frozen model (`--adapter frozen`): only the MLP head trains.

The shared model is the expensive part, and with nothing in it trained it gives the same
features every epoch; so it runs once over the data, exactly as `classify` runs it
(`runner.window_vectors`: per Transformer window, the mean-pooled vector and the code
frequencies of every HRQ level, `head_features.features_of`; with `center_tokens`, also the
HRQ embeddings of the tokens at a fixed place of the window), and the head then trains on
those cached features for many epochs in seconds. A head is a small fraction of the shared
model's size (one of N members, `fit_frozen_members`, N times that; docs/model.md gives the
sizes), which is what lets vqdna ship one per task over one shared model.

Sequences longer than one window give several vectors: each window is a training sample
with its sequence's label, and validation scores a sequence by the mean of its windows'
probabilities, as `classify` does; unless the head reads whole records (`--whole-record`),
one vector per sequence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vqdna_cli import distributed
from vqdna_cli.metrics import classification_metrics
from vqdna_cli.model.heads import FeatureHead
from vqdna_cli.train.finetune import BestSoFar, head_loop_settings, loop_steps, mean_over_windows
from vqdna_cli.train.loop import LoopControl, LoopSettings, run


@dataclass
class LabelledFeatures:
    """Head features of labelled sequences' windows: vectors[i] belongs to sequence owner[i]
    (`runner.window_vectors` runs the frozen model over sequences to make them)."""

    vectors: np.ndarray  # (windows, features) float32
    owner: np.ndarray  # (windows,) int64, index of the sequence
    labels: np.ndarray  # (sequences,) int64 class index


class HeadOnly(torch.nn.Module):
    """The head alone, with the state keys (`head.*`) that `Runner.attach_head` loads."""

    def __init__(self, features: int, classes: int, dropout: float):
        super().__init__()
        self.head = FeatureHead(features, classes, dropout=dropout)

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> "HeadOnly":
        """The head of a `trainable_state`, of whatever hidden width (`merged_heads`)."""
        head = FeatureHead.from_state({name.removeprefix("head."): value for name, value in state.items()})
        model = cls(head.fc1.in_features, head.fc2.out_features, dropout=0.0)
        model.head = head
        return model

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.head(pooled)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {f"head.{k}": v.detach().clone() for k, v in self.head.state_dict().items()}


@torch.no_grad()
def sequence_probabilities(model: HeadOnly, data: LabelledFeatures, device) -> np.ndarray:
    """(sequences, classes): the mean of each sequence's window probabilities."""
    model.eval()
    logits = model(torch.from_numpy(data.vectors).to(device)).float()
    return mean_over_windows(torch.softmax(logits, -1).cpu().numpy(), data.owner, len(data.labels))


def training_log_prior(window_labels: torch.Tensor, classes: int) -> torch.Tensor:
    """log of each class's share of the training windows (a class with none counts as one)."""
    counts = torch.bincount(window_labels, minlength=classes).clamp(min=1).float()
    return (counts / counts.sum()).log()


def train_head(model: HeadOnly, train: LabelledFeatures, valid: LabelledFeatures, settings: LoopSettings, *,
               batch: int, seed: int, device, balanced: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
    """Returns the head state with the best validation MCC, and its metrics.

    `balanced`: the loss sees the logits plus the log of each class's share of the training
    windows, so the head's own logits (what `classify` reads) learn odds as if every class
    were equally common. A training mix's class ratio is a choice (so many background windows
    per TSS), not the ratio a user's windows will have; without this the head learns it as
    a prior and calls fewer positives the more negatives it was shown."""
    windows = len(train.vectors)
    steps_per_epoch = -(-windows // batch)
    vectors = torch.from_numpy(train.vectors).to(device)
    model.head.standardise_on(vectors)
    window_labels = torch.from_numpy(train.labels[train.owner]).to(device)
    classes = model.head.fc2.out_features
    log_prior = training_log_prior(window_labels, classes) if balanced else torch.zeros(classes, device=device)
    best = BestSoFar(settings.out_dir, model.trainable_state(), settings.resume)

    def step(number: int):
        epoch, position = divmod(number, steps_per_epoch)
        order = np.random.default_rng(seed + epoch).permutation(windows)
        mine, weight = distributed.part_of(order[position * batch : (position + 1) * batch])  # all of it with one process
        indices = torch.from_numpy(mine).to(device)
        logits = model(vectors[indices]).float() + log_prior
        loss = F.cross_entropy(logits, window_labels[indices], reduction="sum") * weight
        return loss, {"epoch": epoch + 1}

    def evaluate(scheduled: bool) -> dict:
        predicted = sequence_probabilities(model, valid, device).argmax(1)
        return best.offer(classification_metrics(valid.labels, predicted, classes), model.trainable_state, scheduled)

    params = [p for p in model.parameters() if p.requires_grad]
    settings = LoopSettings(**{**settings.__dict__, "eval_every": steps_per_epoch, "checkpoint_every": steps_per_epoch})
    # One thread: the head's matrices are tiny, and a second thread only waits on the first
    # (on a busy 2-core machine a step took many times longer with two threads than with one).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        done = run("finetune", model, params, step, evaluate, settings)["steps"]
    finally:
        torch.set_num_threads(threads)
    state, metrics = best.result()
    return state, {**metrics, **loop_steps(done, settings.steps)}


def fit_frozen_head(train: LabelledFeatures, valid: LabelledFeatures, classes: int, *, epochs: int, batch: int,
                    lr: float, dropout: float, seed: int, device, work: Path, balanced: bool = False,
                    control: LoopControl = LoopControl()) -> tuple[dict[str, torch.Tensor], dict]:
    """A head trained on cached window features (`finetune --adapter frozen` and the recipe
    benchmark): its state at the epoch with the best validation MCC, and that epoch's metrics
    (`balanced`: see `train_head`)."""
    model = HeadOnly(train.vectors.shape[1], classes, dropout).to(device)
    settings = head_loop_settings(epochs, len(train.vectors), batch, lr, work, control)
    return train_head(model, train, valid, settings, batch=batch, seed=seed, device=device, balanced=balanced)


def fit_frozen_members(train: LabelledFeatures, valid: LabelledFeatures, classes: int, members: int, *, seed: int,
                       work: Path, control: LoopControl = LoopControl(),
                       **recipe) -> tuple[dict[str, torch.Tensor], dict]:
    """`members` heads trained as `fit_frozen_head` trains one, with seeds `seed`, `seed` + 1, ...
    (so other initial weights, dropout and order; the same rows), merged into one head whose
    logits are the mean of theirs (`merged_heads`), with its validation metrics and each
    member's validation MCC. One member is `fit_frozen_head` itself.

    Why: a frozen head's answers move by a point or two of MCC from one seed to the next on a
    few thousand rows; the mean of several seeds' logits moves less, and scored higher on
    held-out genome blocks than its members (weights/default/TRAINING.md)."""
    if members == 1:
        return fit_frozen_head(train, valid, classes, seed=seed, work=work, control=control, **recipe)
    began = time.monotonic()
    states, member_mcc, done, planned = [], [], 0, 0
    for member, folder in enumerate(member_folders(work, members)):
        # --max-minutes bounds the whole run: each member gets what the earlier ones left (a
        # member with nothing left stops after one step, with a checkpoint to resume from)
        left = (None if control.max_minutes is None
                else max(control.max_minutes - (time.monotonic() - began) / 60, 1e-9))
        if member:
            # a member's first weights come from its own seed, not from wherever the previous
            # member left the random generator (which a run stopped by --max-minutes changes)
            torch.manual_seed(seed + member)
        state, metrics = fit_frozen_head(train, valid, classes, seed=seed + member, work=folder,
                                         control=replace(control, max_minutes=left), **recipe)
        states.append(state)
        member_mcc.append(metrics.pop("valid_mcc"))
        done, planned = done + metrics["steps"], planned + metrics["planned_steps"]
    merged = merged_heads(states)
    predicted = sequence_probabilities(HeadOnly.from_state(merged), valid, torch.device("cpu")).argmax(1)
    metrics = {f"valid_{k}": v for k, v in classification_metrics(valid.labels, predicted, classes).items()}
    return merged, {**metrics, "member_valid_mcc": member_mcc, **loop_steps(done, planned)}


def member_folders(work: Path, members: int) -> list[Path]:
    """Where each member of a head trains (checkpoints, best state): `work` itself for one."""
    return [Path(work)] if members == 1 else [Path(work) / f"member-{number}" for number in range(1, members + 1)]


def merged_heads(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One `HeadOnly` state whose logits are exactly the mean of `states`' logits: their hidden
    layers side by side (a head as many times wider), each output layer divided by the count.
    Each member standardised its features with its own mean and deviation; those are folded
    into its first layer, so that the merged head standardises with the first member's."""
    # a member resumed from disk is on the CPU, one trained in this run maybe on a GPU
    states = [{name: value.detach().float().cpu() for name, value in state.items()} for state in states]
    shift, scale = states[0]["head.shift"], states[0]["head.scale"]
    first_weights, first_biases = [], []
    for state in states:
        weight, bias = state["head.fc1.weight"], state["head.fc1.bias"]
        # W (x - s_i) / c_i  ==  (W * c / c_i) (x - s) / c  +  W (s - s_i) / c_i
        first_weights.append(weight * (scale / state["head.scale"]))
        first_biases.append(bias + weight @ ((shift - state["head.shift"]) / state["head.scale"]))
    count = len(states)
    return {"head.shift": shift.clone(), "head.scale": scale.clone(),
            "head.fc1.weight": torch.cat(first_weights), "head.fc1.bias": torch.cat(first_biases),
            "head.fc2.weight": torch.cat([state["head.fc2.weight"] for state in states], dim=1) / count,
            "head.fc2.bias": torch.stack([state["head.fc2.bias"] for state in states]).mean(0)}
