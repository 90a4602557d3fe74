#!/usr/bin/env python
"""Tokens per base: would a tokenizer making one token per STRIDE bases do as well?

METHOD.md lists an optional downsampling stride as a way to cut the Transformer's cost by
STRIDE. The product makes one token per base (the paper's layout); this probe builds the
strided variant beside it, from the product's own parts, and measures it before anyone
builds it into the CLI:

    python -m benchmarks.stride_probe --stride 4 --out RUN/stride4          # every stage
    python -m benchmarks.stride_probe --stride 2 --out RUN/stride2 --no-shipped
    python -m benchmarks.stride_probe --table RUN/stride4 RUN/stride2 --markdown benchmarks/results/stride.md

Stages (each resumes where it stopped):
- tokenizer: the default preset's sizes, its stem at base resolution, then every STRIDE stem
  vectors concatenated and projected to one token vector, so the encoder blocks, both HRQ
  levels and the Transformer run on tokens; the decoder mirrors it. The default's budget in
  bases: 3,000 steps x 32 windows x 256 bases, lr 2e-3, seed 0.
- pretrain: a fresh default-size Transformer (with its neighbour convolution), the default's
  budget in tokens: 800 steps x 16 windows x 512 tokens, lr 1e-3, 25 % of tokens masked.
- heads: frozen-model heads with the shipped recipe (vqdna_cli/train/recipes.py; seed 0) on TASKS, scored
  on their validation rows only (test rows are removed from training and never read). The
  shipped model's heads are retrained beside them through the same feature code, so the two
  differ in the model only. Features: the mean-pooled Transformer vector, each level's code
  frequencies and, where the task's head reads tokens at a fixed place, the HRQ embeddings
  of the tokens covering the same bases (center_tokens / STRIDE of them).
- speed: tokenize (encoder + HRQ) and embed (+ Transformer) bases per second of random
  512-token windows, both models in the same run, 2 threads, fp32, best of 3.

Data: ../shared/data (or $VQDNA_DATA); the script stops with a message when it is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vqdna_cli import api
from vqdna_cli.checkpoint import load_model
from vqdna_cli.config import PRESETS
from vqdna_cli.data.alphabet import PAD_CODE, encode, reverse_complement_codes
from vqdna_cli.data.batching import pad
from vqdna_cli.head_features import code_frequencies
from vqdna_cli.model.encoder import ConvNeXtBlock1d, conv_along_length
from vqdna_cli.model.vqdna import VQDNA
from vqdna_cli.options import HeadRows
from vqdna_cli.runner import default_weights_dir
from vqdna_cli.train.genomes import WindowSampler, evaluation_windows, load_genomes
from vqdna_cli.train.head import LabelledFeatures, fit_frozen_head
from vqdna_cli.train.loop import LoopSettings, run
from vqdna_cli.train.pretrain import freeze_tokenizer, masked_token_loss
from vqdna_cli.train.recipes import BY_NAME, DEFAULT_RECIPE, HOLDOUT_FILES, HOLDOUT_TAIL, data_dir
from vqdna_cli.train.tokenizer import train_tokenizer

ROOT = Path(__file__).resolve().parent.parent
# Seven tasks whose heads read no fixed place (the probe set of TRAINING.md's fifth round)
# and three whose heads do (a TATA box / TSS, a splice junction), where token resolution
# should matter most.
TASKS = ["tf-mouse-0", "tf-mouse-2", "tf-mouse-3", "histone-H3", "histone-H3K4me1", "histone-H3K4me3",
         "histone-H4", "promoter-tata", "core-promoter-tata", "splice-site"]
WINDOW_TOKENS = 512


def data_root() -> Path:
    data = data_dir()
    if not (data / "gue").is_dir() or not (data / "genomes").is_dir():
        sys.exit(f"stride_probe.py: no GUE or genome data under {data} (set VQDNA_DATA)")
    return data


class StridedEncoder(nn.Module):
    """Stem at base resolution; every `stride` stem vectors become one token vector."""

    def __init__(self, cfg, stride: int):
        super().__init__()
        self.stride = stride
        self.stem = nn.Conv1d(4, cfg.stem_width, cfg.stem_kernel, padding=cfg.stem_kernel // 2)
        self.stem_norm = nn.LayerNorm(cfg.stem_width)
        self.proj = nn.Linear(stride * cfg.stem_width, cfg.width)
        self.blocks = nn.ModuleList(ConvNeXtBlock1d(cfg.width, cfg.kernel, cfg.mlp_ratio) for _ in range(cfg.blocks))

    def forward(self, onehot, valid_bases, valid_tokens, taps):
        x = F.gelu(self.stem_norm(conv_along_length(onehot, self.stem))) * valid_bases.unsqueeze(-1)
        batch, length, channels = x.shape
        x = self.proj(x.reshape(batch, length // self.stride, self.stride * channels)) * valid_tokens.unsqueeze(-1)
        outputs = []
        for number, block in enumerate(self.blocks[: max(taps)], start=1):
            x = block(x) * valid_tokens.unsqueeze(-1)
            if number in taps:
                outputs.append(x)
        return outputs


class StridedDecoder(nn.Module):
    """Token vectors -> base logits: the blocks on tokens, then each token to `stride` bases."""

    def __init__(self, cfg, stride: int):
        super().__init__()
        self.stride = stride
        self.blocks = nn.ModuleList(ConvNeXtBlock1d(cfg.width, cfg.kernel, cfg.mlp_ratio) for _ in range(cfg.blocks))
        self.proj = nn.Linear(cfg.width, stride * cfg.stem_width)
        self.norm = nn.LayerNorm(cfg.stem_width)
        self.head = nn.Conv1d(cfg.stem_width, 4, cfg.stem_kernel, padding=cfg.stem_kernel // 2)

    def forward(self, z, valid_tokens):
        keep = valid_tokens.unsqueeze(-1).to(z.dtype)
        for block in self.blocks:
            z = block(z) * keep
        batch, tokens, _ = z.shape
        h = self.proj(z).reshape(batch, tokens * self.stride, -1)
        h = F.gelu(self.norm(h)) * keep.repeat_interleave(self.stride, 1)
        return conv_along_length(h, self.head)


class StridedVQDNA(VQDNA):
    """The default model with one token per `stride` bases. `valid_mask` is per token here,
    and `quantize` pads the bases to a multiple of the stride; the product's training
    stages (train/tokenizer.py, train/pretrain.masked_token_loss) then run unchanged."""

    def __init__(self, stride: int):
        super().__init__(PRESETS["default"])
        self.stride = stride
        self.encoder = StridedEncoder(self.cfg.encoder, stride)
        self.decoder = StridedDecoder(self.cfg.encoder, stride)

    def _padded(self, bases):
        extra = (-bases.shape[1]) % self.stride
        return F.pad(bases, (0, extra), value=PAD_CODE) if extra else bases

    def valid_mask(self, bases):
        bases = self._padded(bases)
        return (bases != PAD_CODE).view(bases.shape[0], -1, self.stride).any(-1)

    def quantize(self, bases):
        bases = self._padded(bases)
        valid_bases = bases != PAD_CODE
        valid_tokens = valid_bases.view(bases.shape[0], -1, self.stride).any(-1)
        taps = self.encoder(self.soft_onehot[bases], valid_bases, valid_tokens, self.cfg.quantizer.level_blocks)
        return self.quantizer(taps, valid_tokens)


def load_strided(path: Path, stride: int) -> StridedVQDNA:
    model = StridedVQDNA(stride)
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def genomes(data: Path):
    files = sorted(str(p) for p in (data / "genomes").iterdir() if p.name.endswith((".fa.gz", ".fna.gz")))
    return load_genomes(files, HOLDOUT_FILES, HOLDOUT_TAIL)


def stage_tokenizer(out: Path, stride: int, data: Path) -> None:
    if (out / "tokenizer.pt").is_file():
        return
    torch.manual_seed(0)
    model = StridedVQDNA(stride)
    settings = LoopSettings(steps=3000, lr=2e-3, out_dir=out / "tokenizer", resume=True, quiet=True,
                            eval_every=500, checkpoint_every=200)
    began = time.monotonic()
    metrics = train_tokenizer(model, genomes(data), settings, window=256, batch=32, seed=0, device=torch.device("cpu"))
    torch.save(model.state_dict(), out / "tokenizer.pt")
    (out / "tokenizer.json").write_text(json.dumps({**metrics, "minutes": (time.monotonic() - began) / 60}, indent=1))


def stage_pretrain(out: Path, stride: int, data: Path, steps: int = 800, batch: int = 16) -> None:
    if (out / "pretrain.pt").is_file():
        return
    torch.manual_seed(0)
    model = load_strided(out / "tokenizer.pt", stride)
    freeze_tokenizer(model)
    split = genomes(data)
    window = WINDOW_TOKENS * stride
    sampler = WindowSampler(split.train, window, 0)
    heldout = evaluation_windows(split, window, 128, 1)

    def step(number):
        bases = torch.from_numpy(sampler.batch(batch, number))
        draw = torch.rand((batch, WINDOW_TOKENS), generator=torch.Generator().manual_seed(number))
        loss, accuracies = masked_token_loss(model, bases, draw)
        return loss, {f"level{i}_train_acc": a for i, a in enumerate(accuracies, start=1)}

    def evaluate(scheduled: bool):  # the same held-out score either way
        generator = torch.Generator().manual_seed(2)  # the same masks every time
        totals = []
        for start in range(0, len(heldout), batch):
            bases = torch.from_numpy(heldout[start : start + batch])
            draw = torch.rand((len(bases), WINDOW_TOKENS), generator=generator)
            loss, accuracies = masked_token_loss(model, bases, draw)
            totals.append([loss.item(), *accuracies])
        mean = np.mean(totals, axis=0)
        return {"heldout_mlm_loss": float(mean[0]),
                **{f"level{i}_masked_acc": float(a) for i, a in enumerate(mean[1:], start=1)}}

    settings = LoopSettings(steps=steps, lr=1e-3, out_dir=out / "pretrain", resume=True, quiet=True,
                            eval_every=100, checkpoint_every=100)
    parameters = [p for p in [*model.transformer.parameters(), *model.mlm_heads.parameters()] if p.requires_grad]
    began = time.monotonic()
    metrics = run("pretrain", model, parameters, step, evaluate, settings)
    torch.save(model.state_dict(), out / "pretrain.pt")
    (out / "pretrain.json").write_text(json.dumps({**metrics, "minutes": (time.monotonic() - began) / 60}, indent=1))


@torch.inference_mode()
def features(model, stride: int, sequences: list[str], center_tokens: int = 0, center_at: int | None = None,
             both_strands: bool = False, batch: int = 64) -> np.ndarray:
    """One row per sequence (every GUE row fits one 512-token window): pooled Transformer
    vector, each level's code frequencies, and the HRQ embeddings of the tokens over the
    `center_tokens` bases around base `center_at` (default: the middle); averaged over both
    strands when asked."""
    sizes = model.cfg.quantizer.codebook_sizes
    strands = [[encode(s) for s in sequences]]
    if both_strands:
        strands.append([reverse_complement_codes(c) for c in strands[0]])
    per_strand = []
    for codes in strands:
        rows = []
        for start in range(0, len(codes), batch):
            piece = codes[start : start + batch]
            bases = torch.from_numpy(pad(piece).astype(np.int64))
            quantized = model.quantize(bases)
            valid = model.valid_mask(bases)
            hidden = model.contextualise(quantized.embedding, valid)
            for row, sequence in enumerate(piece):
                n = int(valid[row].sum())
                parts = [hidden[row, :n].mean(0).numpy(), code_frequencies(quantized.tokens[row, :n].numpy(), sizes)]
                if center_tokens:
                    count = max(1, center_tokens // stride)
                    middle = (len(sequence) // 2 if center_at is None else center_at) // stride
                    first = max(0, min(n - count, middle - count // 2))
                    vectors = quantized.embedding[row, first : first + count].numpy()
                    parts.append(np.vstack([vectors, np.zeros((count - len(vectors), vectors.shape[1]), np.float32)]).reshape(-1))
                rows.append(np.concatenate(parts).astype(np.float32))
        per_strand.append(np.array(rows))
    return np.mean(per_strand, axis=0)


def stage_heads(out: Path, stride: int, data: Path, with_shipped: bool) -> None:
    torch.set_num_threads(1)  # the head trains on one thread (train/head.py); features too, for comparable timings
    models = {f"stride{stride}": (load_strided(out / "pretrain.pt", stride), stride)}
    if with_shipped:
        models["shipped"] = (load_model(default_weights_dir())[0].eval(), 1)
    path = out / "heads.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for name in TASKS:
        task = BY_NAME[name]
        rows = api.head_training_data(HeadRows(tuple(task.train_files(data)), valid_files=task.valid_files(data),
                                               exclude_files=tuple(task.test_files(data))))
        index = {label: i for i, label in enumerate(rows.labels)}
        recipe = {**DEFAULT_RECIPE, **task.recipe}
        for label, (model, model_stride) in models.items():
            key = f"{name}/{label}"
            if key in results:
                continue
            began = time.monotonic()
            parts = []
            for pairs in (rows.rows, rows.valid_rows):
                y = np.array([index[lab] for _, lab in pairs])
                x = features(model, model_stride, [seq for seq, _ in pairs], task.reads.center_tokens,
                             task.reads.center_at, task.reads.both_strands)
                parts.append(LabelledFeatures(x, np.arange(len(y)), y))
            torch.manual_seed(0)
            with tempfile.TemporaryDirectory() as work:
                _, metrics = fit_frozen_head(parts[0], parts[1], len(rows.labels), epochs=recipe["epochs"],
                                             batch=recipe["batch"], lr=recipe["lr"], dropout=recipe["dropout"],
                                             seed=recipe["seed"], device=torch.device("cpu"), work=Path(work),
                                             balanced=recipe.get("balance_classes", False))
            results[key] = {"valid_mcc": round(metrics["valid_mcc"], 4), "minutes": round((time.monotonic() - began) / 60, 2)}
            print(key, results[key], file=sys.stderr, flush=True)
            path.write_text(json.dumps(results, indent=1))


@torch.inference_mode()
def stage_speed(out: Path, stride: int, windows: int = 8, repeats: int = 3) -> None:
    """Both models in one run: the table reports the strided model's speed as a ratio.
    Best of 3 timings of `repeats` passes over a batch of `windows` windows."""
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    models = [("shipped", load_model(default_weights_dir())[0].eval(), 1),
              (f"stride{stride}", load_strided(out / "pretrain.pt", stride), stride)]
    results = {}
    for label, model, model_stride in models:
        bases = torch.from_numpy(rng.integers(0, 4, size=(windows, WINDOW_TOKENS * model_stride)).astype(np.int64))
        rates = {}
        for what in ("tokenize", "embed"):
            best = 0.0
            for _ in range(3):
                began = time.perf_counter()
                for _ in range(repeats):
                    quantized = model.quantize(bases)
                    if what == "embed":
                        model.contextualise(quantized.embedding, model.valid_mask(bases))
                best = max(best, repeats * bases.numel() / (time.perf_counter() - began))
            rates[f"{what}_kbp_s"] = round(best / 1000, 1)
        results[label] = rates
        print(label, rates, file=sys.stderr, flush=True)
    (out / "speed.json").write_text(json.dumps(results, indent=1))


def table(runs: list[Path]) -> str:
    """Markdown: validation MCC per task of each strided model and of the shipped one."""
    heads, speed, training = {}, {}, {}
    for run_dir in runs:
        heads.update(json.loads((run_dir / "heads.json").read_text()))
        run_speed = json.loads((run_dir / "speed.json").read_text())  # this model and the shipped one, one run
        stride = next(k for k in run_speed if k.startswith("stride"))
        speed[stride] = {what: (run_speed[stride][what], run_speed[stride][what] / run_speed["shipped"][what])
                         for what in ("tokenize_kbp_s", "embed_kbp_s")}
        training[stride] = {stage: json.loads((run_dir / f"{stage}.json").read_text()) for stage in ("tokenizer", "pretrain")}
    labels = ["shipped", *sorted(training, key=lambda s: int(s[len("stride"):]))]
    names = {"shipped": "1 token per base (shipped)", **{s: f"1 token per {s[len('stride'):]} bases" for s in training}}
    lines = ["# Tokens per base: strided tokenizers against the shipped model", "",
             "Validation MCC of frozen-model heads (shipped recipe, seed 0; test rows never read), the",
             "same feature code for every model. Speed: random 512-token windows, 2 threads, fp32, each",
             "strided model timed in one run beside the shipped model. Made by",
             "`python -m benchmarks.stride_probe --stride S --out RUN` and `--table RUN...` (the",
             "script's docstring says what each stage does).", "",
             "| task | " + " | ".join(names[label] for label in labels) + " |",
             "|---|" + "---:|" * len(labels)]
    for task in TASKS:
        lines.append(f"| {task} | " + " | ".join(f"{heads[f'{task}/{label}']['valid_mcc']:.3f}" for label in labels) + " |")
    means = {label: np.mean([heads[f"{task}/{label}"]["valid_mcc"] for task in TASKS]) for label in labels}
    lines.append("| **mean** | " + " | ".join(f"**{means[label]:.3f}**" for label in labels) + " |")
    for what in ("tokenize", "embed"):
        cells = [f"{speed[label][f'{what}_kbp_s'][1]:.1f}x ({speed[label][f'{what}_kbp_s'][0]:.0f} kbp/s)" for label in labels[1:]]
        lines.append(f"| {what} speed, x the shipped model's in the same run | 1.0x | " + " | ".join(cells) + " |")
    lines += ["", "| strided model | tokenizer minutes | reconstruction | level-1 / level-2 usage | "
              "pre-training minutes | held-out masked-token accuracy, levels 1 / 2 |", "|---|---:|---:|---:|---:|---:|"]
    for label in labels[1:]:
        tok, pre = training[label]["tokenizer"], training[label]["pretrain"]
        lines.append(f"| {names[label]} | {tok['minutes']:.1f} | {100 * tok['reconstruction_accuracy']:.2f} % | "
                     f"{100 * tok['level1_usage']:.0f} % / {100 * tok['level2_usage']:.0f} % | {pre['minutes']:.1f} | "
                     f"{100 * pre['level1_masked_acc']:.1f} % / {100 * pre['level2_masked_acc']:.1f} % |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--out", type=Path, help="run directory (resumable)")
    parser.add_argument("--stage", choices=("all", "tokenizer", "pretrain", "heads", "speed"), default="all")
    parser.add_argument("--no-shipped", action="store_true", help="skip the shipped model's heads (another run has them)")
    parser.add_argument("--table", type=Path, nargs="+", help="run directories to tabulate (no training)")
    parser.add_argument("--markdown", type=Path, help="with --table: also write the table here")
    args = parser.parse_args()
    if args.table:
        text = table(args.table)
        print(text, end="")
        if args.markdown:
            args.markdown.write_text(text)
        return
    if args.stride < 2 or args.out is None:
        parser.error("--stride (at least 2) and --out are needed")
    data = data_root()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    stages = ("tokenizer", "pretrain", "heads", "speed") if args.stage == "all" else (args.stage,)
    for stage in stages:
        if stage == "tokenizer":
            stage_tokenizer(args.out, args.stride, data)
        elif stage == "pretrain":
            stage_pretrain(args.out, args.stride, data)
        elif stage == "heads":
            stage_heads(args.out, args.stride, data, not args.no_shipped)
        else:
            stage_speed(args.out, args.stride)


if __name__ == "__main__":
    main()
