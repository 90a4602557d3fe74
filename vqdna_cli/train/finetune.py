"""Stage 3: a task head. LoRA adapters on the frozen Transformer plus an MLP head on the
mean-pooled output; the checkpoint with the best validation MCC is kept. Test data never
enters here: evaluation on a test split is a separate, later step (`vqdna train evaluate`).

A sequence longer than the model window is cut into windows as `classify` cuts it
(`model_windows`): each window is a training sample with its sequence's label, and
validation scores a sequence by the mean of its windows' probabilities, as `classify` and
`train evaluate` do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vqdna_cli import distributed
from vqdna_cli.checkpoint import load_training_state, save_training_state
from vqdna_cli.data.batching import pad
from vqdna_cli.data.windows import transformer_windows
from vqdna_cli.metrics import classification_metrics
from vqdna_cli.model.heads import ClassificationHead, mean_pool
from vqdna_cli.model.lora import add_lora, lora_state_dict
from vqdna_cli.model.vqdna import VQDNA
from vqdna_cli.train.loop import CHECKPOINT, LoopControl, LoopSettings, run

BEST = "best"


class TaskModel(torch.nn.Module):
    """The shared model plus the head: what fine-tuning optimises.

    adapter "lora": low-rank adapters on the frozen Transformer (a head is ~0.1 M values);
    "full": the whole Transformer is trained (a head carries its own copy, ~0.9 M values).
    The tokenizer stays frozen either way: it defines the vocabulary.
    """

    def __init__(self, model: VQDNA, classes: int, rank: int, alpha: float, adapter: str = "lora"):
        super().__init__()
        model.requires_grad_(False)
        if adapter == "lora":
            add_lora(model.transformer, rank, alpha)
        else:
            model.transformer.requires_grad_(True)
        self.adapter = adapter
        self.model = model
        self.head = ClassificationHead(model.cfg.transformer.width, classes)

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        hidden = self.model.contextualise(self.model.embed_tokens(tokens), valid)
        return self.head(mean_pool(hidden, valid))  # (B, classes)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        if self.adapter == "lora":
            state = lora_state_dict(self.model.transformer, prefix="transformer.")
        else:
            state = {f"transformer.{k}": v for k, v in self.model.transformer.state_dict().items()}
        state.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        return {k: v.detach().clone() for k, v in state.items()}


def _no_optimizer() -> torch.optim.Optimizer:
    """The best-so-far snapshot is stored with the training-state format, minus an optimizer."""
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)])


class BestSoFar:
    """The trainable state with the best validation MCC so far, kept on disk (rank 0) so that
    `--resume` continues from the interrupted run's best. Shared by every head-training stage."""

    def __init__(self, work: Path, initial_state: dict[str, torch.Tensor], resume: bool):
        self.path = Path(work) / BEST
        self.metrics, self.state = {"mcc": -2.0}, initial_state
        # Only beside a checkpoint, which --resume has checked is this run's: a best state left
        # by a run that failed before its first checkpoint may be of other data or classes.
        if resume and self.path.with_suffix(".json").is_file() and (Path(work) / f"{CHECKPOINT}.json").is_file():
            self.state, meta = load_training_state(self.path, _no_optimizer())
            self.metrics.update(meta["metrics"])

    def offer(self, metrics: dict, trainable_state, scheduled: bool = True) -> dict:
        """Keeps `trainable_state()` if `metrics` beat the best; returns them as `valid_*`.
        One offered at a --max-minutes stop between epochs (not `scheduled`) may be the head
        written now, but is not kept on disk for --resume, which goes on as if never stopped."""
        if metrics["mcc"] > self.metrics["mcc"]:
            self.metrics.update(metrics)
            self.state = trainable_state()
            if distributed.is_main() and scheduled:
                # `step`: a key every training state has (`load_training_state` requires it), which
                # --resume reads back; the best state is no optimizer step's own, hence None.
                save_training_state(self.path, self.state, _no_optimizer(), {"metrics": metrics, "step": None})
        return {f"valid_{k}": v for k, v in metrics.items()}

    def result(self) -> tuple[dict[str, torch.Tensor], dict]:
        return self.state, {f"valid_{k}": v for k, v in self.metrics.items()}


def model_windows(tokens: list[np.ndarray], window: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Each sequence's (L, levels) tokens cut into windows of at most `window` tokens, laid
    out as `classify` lays out a record (`data.windows.transformer_windows`, one window after
    the other, the last one moved back to end at the sequence's end): the windows, and the
    index of the sequence each belongs to."""
    pieces, owner = [], []
    for index, array in enumerate(tokens):
        for start, end in transformer_windows(len(array), window, window):
            pieces.append(array[start:end])
            owner.append(index)
    return pieces, np.array(owner, dtype=np.int64)


def mean_over_windows(window_probabilities: np.ndarray, owner: np.ndarray, sequences: int) -> np.ndarray:
    """(windows, classes) probabilities -> (sequences, classes): the mean of each sequence's
    windows' (`owner[i]`: the sequence of window i), as `classify` scores a long sequence."""
    sums = np.zeros((sequences, window_probabilities.shape[1]), dtype=np.float64)
    np.add.at(sums, owner, window_probabilities)
    counts = np.bincount(owner, minlength=sequences)[:, None]
    return sums / np.maximum(counts, 1)


def _batch(tokens: list[np.ndarray], indices, device):
    batch_tokens = torch.from_numpy(pad([tokens[i].astype(np.int64) for i in indices], fill=0)).to(device)
    lengths = torch.tensor([len(tokens[i]) for i in indices], device=device)
    valid = torch.arange(batch_tokens.shape[1], device=device)[None, :] < lengths[:, None]
    return batch_tokens, valid


@torch.no_grad()
def predict(task_model: TaskModel, tokens: list[np.ndarray], device, batch: int = 64) -> np.ndarray:
    """Class probabilities (N, classes) for pre-computed token arrays."""
    task_model.eval()
    out = []
    for start in range(0, len(tokens), batch):
        batch_tokens, valid = _batch(tokens, range(start, min(start + batch, len(tokens))), device)
        out.append(torch.softmax(task_model(batch_tokens, valid).float(), -1).cpu().numpy())
    return np.concatenate(out)


def head_loop_settings(epochs: int, samples: int, batch: int, lr: float, work: Path,
                       control: LoopControl = LoopControl()) -> LoopSettings:
    """The loop a task head trains with (any adapter): `epochs` passes over `samples`,
    warm-up over a tenth of the steps (at most 100)."""
    steps = epochs * -(-samples // batch)
    return LoopSettings(steps=steps, lr=lr, out_dir=work, warmup=min(100, max(1, steps // 10)),
                        resume=control.resume, quiet=control.quiet, max_minutes=control.max_minutes,
                        run_record=control.run_record, run_began=control.run_began, part=control.part)


def finetune(task_model: TaskModel, train_tokens: list[np.ndarray], train_labels: np.ndarray,
             valid_tokens: list[np.ndarray], valid_labels: np.ndarray, settings: LoopSettings, *,
             batch: int, seed: int, device, valid_owner: np.ndarray | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Returns the trainable state with the best validation MCC, and its metrics.

    `train_tokens` are model windows (`model_windows`), each with its label in `train_labels`;
    `valid_tokens` too, window i belonging to validation sequence `valid_owner[i]` (None: one
    window per sequence), whose label is `valid_labels[valid_owner[i]]`."""
    if valid_owner is None:
        valid_owner = np.arange(len(valid_tokens), dtype=np.int64)
    steps_per_epoch = -(-len(train_tokens) // batch)
    labels = torch.from_numpy(train_labels).long()
    best = BestSoFar(settings.out_dir, task_model.trainable_state(), settings.resume)

    def step(number: int):
        epoch, position = divmod(number, steps_per_epoch)
        order = np.random.default_rng(seed + epoch).permutation(len(train_tokens))
        indices = order[position * batch : (position + 1) * batch]
        indices, weight = distributed.part_of(indices)  # this process's rows (all of them with one process)
        batch_tokens, valid = _batch(train_tokens, indices, device)
        logits = task_model(batch_tokens, valid)
        return F.cross_entropy(logits.float(), labels[indices].to(device), reduction="sum") * weight, {"epoch": epoch + 1}

    def evaluate(scheduled: bool) -> dict:
        probabilities = mean_over_windows(predict(task_model, valid_tokens, device), valid_owner, len(valid_labels))
        metrics = classification_metrics(valid_labels, probabilities.argmax(1), probabilities.shape[1])
        return best.offer(metrics, task_model.trainable_state, scheduled)

    params = [p for p in task_model.parameters() if p.requires_grad]
    settings = LoopSettings(**{**settings.__dict__, "eval_every": steps_per_epoch, "checkpoint_every": steps_per_epoch})
    done = run("finetune", task_model, params, step, evaluate, settings)["steps"]
    state, metrics = best.result()
    return state, {**metrics, **loop_steps(done, settings.steps)}


def loop_steps(done: int, planned: int) -> dict:
    """How far a head's training loop got: with --max-minutes it can stop before `planned`
    (`api.train` records it, and loading such a head warns)."""
    return {"steps": done, "planned_steps": planned}
