"""Does pre-training learn more than the tokens already say? Two checks of a weights
directory, each beside the simplest honest references, in one run.

    python -m benchmarks.pretraining masked --model DIR [--json F] [--markdown F]
    python -m benchmarks.pretraining probe  --model DIR [--json F] [--markdown F]

masked: on the held-out genome sequence (HELD_OUT in vqdna_cli/train/recipes.py: the last
5 Mb of human chrX and the whole C. trachomatis genome), windows of 512 bases get the model's span masks
(fixed seed); the Transformer predicts the bases of the hidden spans, which reach it only as
N. References on the very same positions and inputs: the most common base of the training
sequence, and an order-k Markov model (counted on 20 Mb of training sequence; k = 1..8 chosen
on other training windows, never the held-out ones) that fills each hidden span left to right from the bases before it (its own
guesses inside the span).

probe: the gate before task heads are retrained over a new Transformer. A logistic
regression (benchmarks.vocabularies.linear_probe) reads one vector per sequence: the pooled
(mean) Transformer output of the model (with --layers each: every layer's mean, side by
side); the same of a Transformer with random weights over the *same* tokenizer (what the
tokens give without any pre-training); the frequencies of every 1..5-mer (1,364 features);
and the frequencies of every HRQ code of each level (768 features: what the tokens
themselves say, as a frozen head also reads them). Five GUE tasks with train splits here;
the probe trains on train (at most --max-train rows), picks its weight decay on half of dev
and is scored on the other half: test is never read, because this decides which model is
kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.heldout import data_dir, held_out_codes
from benchmarks.provenance import made_by
from vqdna_cli.checkpoint import load_model
from vqdna_cli.config import MaskingConfig
from vqdna_cli.data.alphabet import encode
from vqdna_cli.runner import Runner, default_weights_dir
from vqdna_cli.train.genomes import WindowSampler, load_genomes
from vqdna_cli.train.pretrain import HIDDEN, MaskedBatch
from vqdna_cli.train.recipes import HELD_OUT, HOLDOUT_FILES, HOLDOUT_TAIL

WINDOW = 512
MARKOV_ORDERS = range(1, 9)
MARKOV_WINDOWS = 5000  # x 4,096 bases of training sequence to count the Markov models on


# --- masked bases ---------------------------------------------------------------------------


class MarkovModel:
    """Order-k base model counted on training sequence: the most likely next base after
    each k-mer (the most common base where a k-mer never occurred or holds an N)."""

    def __init__(self, records: list[np.ndarray], order: int):
        self.order = order
        counts = np.zeros((4 ** order, 4), np.int64)
        for codes in records:
            contexts, following = kmer_codes(codes, order)
            keep = contexts >= 0
            counts += np.bincount(contexts[keep] * 4 + following[keep], minlength=4 ** order * 4).reshape(-1, 4)
        self.fallback = int(counts.sum(0).argmax())
        self.best = np.where(counts.sum(1) > 0, counts.argmax(1), self.fallback)

    def fill(self, corrupted: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        """(B, L) codes with hidden positions filled left to right by the model's guesses."""
        filled = corrupted.copy()
        k = self.order
        for place in np.flatnonzero(hidden.any(0)):
            rows = hidden[:, place]
            if place < k:
                filled[rows, place] = self.fallback
                continue
            context = filled[rows, place - k : place]
            known = (context < 4).all(1)
            code = (context.astype(np.int64) * (4 ** np.arange(k - 1, -1, -1))).sum(1)
            filled[rows, place] = np.where(known, self.best[np.where(known, code, 0)], self.fallback)
        return filled


def kmer_codes(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For every position past the first k: the code of the k bases before it and the base
    there; the code is -1 where any of the k + 1 bases is not A/C/G/T (nothing to count)."""
    codes = codes.astype(np.int64)
    clean = codes < 4
    context = np.zeros(len(codes) - k, np.int64)
    ok = np.ones(len(codes) - k, bool)
    for i in range(k):
        part = codes[i : len(codes) - k + i]
        context = context * 4 + np.where(clean[i : len(codes) - k + i], part, 0)
        ok &= clean[i : len(codes) - k + i]
    following = np.where(clean[k:], codes[k:], -1)
    return np.where(ok & (following >= 0), context, -1), following


def masked_windows(codes_list: list[np.ndarray], masking: MaskingConfig, seed: int) -> MaskedBatch:
    """Non-overlapping 512-base windows (with at most 5 % N) and their masks, fixed by seed."""
    windows = [c[s : s + WINDOW] for c in codes_list for s in range(0, len(c) - WINDOW + 1, WINDOW)]
    windows = [w for w in windows if (w >= 4).mean() <= 0.05]
    bases = torch.from_numpy(np.stack(windows).astype(np.int64))
    return MaskedBatch.draw(bases, masking, torch.Generator().manual_seed(seed))


@torch.inference_mode()
def model_guesses(model, batch: MaskedBatch, rows: int = 16) -> np.ndarray:
    """(B, L) the Transformer's base at every position (only masked ones are meaningful)."""
    out = []
    for start in range(0, len(batch.bases), rows):
        part = slice(start, start + rows)
        valid = model.valid_mask(batch.bases[part])
        embedding = model.quantize(batch.corrupted[part]).embedding
        hidden = model.contextualise(embedding, valid, batch.treatment[part] == HIDDEN)
        out.append(model.base_head(hidden).argmax(-1).numpy())
    return np.concatenate(out)


def hidden_accuracy(guess: np.ndarray, batch: MaskedBatch) -> float:
    scored = ((batch.treatment == HIDDEN) & batch.targets).numpy()
    return float((guess[scored] == batch.bases.numpy()[scored]).mean())


def masked_report(model_dir: Path, bases_per_part: int) -> dict:
    genomes = data_dir()
    if genomes is None:
        sys.exit("skipped: no ../shared/data/genomes (set VQDNA_DATA)")
    model, info = load_model(model_dir)
    if model.base_head is None:
        sys.exit(f"{model_dir}: pre-trained on tokens (masking.where='tokens'); it predicts no bases")
    masking = model.cfg.masking
    split = load_genomes(sorted(str(p) for p in genomes.glob("*.f*a.gz")), HOLDOUT_FILES, HOLDOUT_TAIL)
    # k chosen on training windows (drawn as pre-training draws them), with the same masking
    choice = masked_windows(list(WindowSampler(split.train, WINDOW, seed=11).batch(400)), masking, seed=12)
    hidden = (choice.treatment == HIDDEN).numpy()
    # counted on 20 Mb of training sequence, drawn as pre-training draws its windows
    counted = list(WindowSampler(split.train, 4096, seed=13).batch(MARKOV_WINDOWS))
    order_scores = {}
    for order in MARKOV_ORDERS:
        markov = MarkovModel(counted, order)
        order_scores[order] = hidden_accuracy(markov.fill(choice.corrupted.numpy(), hidden), choice)
    order = max(order_scores, key=order_scores.get)
    markov = MarkovModel(counted, order)
    results = {"model_sha256": info["sha256"]["model.safetensors"], "markov_order": order,
               "markov_order_scores_on_training_windows": order_scores, "masking": dataclasses.asdict(masking), "parts": {}}
    for name, (file, tail) in HELD_OUT.items():
        batch = masked_windows([held_out_codes(genomes / file, tail, bases_per_part)], masking, seed=0)
        hidden = (batch.treatment == HIDDEN).numpy()
        truth = batch.bases.numpy()[hidden & batch.targets.numpy()]
        results["parts"][name] = {
            "windows": len(batch.bases), "hidden_bases": int(truth.size),
            "transformer": hidden_accuracy(model_guesses(model, batch), batch),
            f"markov_order_{order}": hidden_accuracy(markov.fill(batch.corrupted.numpy(), hidden), batch),
            "most_common_base": float((truth == markov.fallback).mean()),
        }
    return results


def masked_markdown(results: dict, command: str) -> str:
    """`command`: the opening line, how the table was made (`provenance.made_by`)."""
    order = results["markov_order"]
    lines = [command, "", "| held-out sequence | windows | hidden bases | Transformer | "
             f"Markov, order {order} | most common base |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in results["parts"].items():
        lines.append(f"| {name} | {r['windows']:,} | {r['hidden_bases']:,} | {100 * r['transformer']:.1f} % | "
                     f"{100 * r[f'markov_order_{order}']:.1f} % | {100 * r['most_common_base']:.1f} % |")
    scores = ", ".join(f"{k}: {100 * v:.1f} %" for k, v in results["markov_order_scores_on_training_windows"].items())
    lines += ["", f"Accuracy on the bases of hidden spans (they reach the model as N). Markov order chosen on "
              f"training windows ({scores}). Model {results['model_sha256'][:16]}; masking {results['masking']}."]
    return "\n".join(lines) + "\n"


# --- the probe gate -------------------------------------------------------------------------

PROBE_TASKS = ("tf-human-0", "tf-human-1", "core-promoter", "promoter-tata", "tf-mouse-0")
PRETRAINED, RANDOM = "pre-trained Transformer (pooled)", "random Transformer, same tokenizer"
KMERS, CODES = "1..5-mer frequencies", "HRQ code frequencies (no Transformer)"


def kmer_spectrum(sequences: list[str], largest: int = 5) -> np.ndarray:
    """Frequencies of every 1..`largest`-mer, each order normalised on its own."""
    blocks = []
    for k in range(1, largest + 1):
        block = np.zeros((len(sequences), 4 ** k), np.float32)
        for row, seq in enumerate(sequences):
            contexts, following = kmer_codes(encode(seq), k - 1)  # a k-mer: k-1 bases, then one
            words = (contexts * 4 + following)[contexts >= 0]
            block[row] = np.bincount(words, minlength=4 ** k) / max(len(words), 1)
        blocks.append(block)
    return np.concatenate(blocks, 1)


def code_spectrum(runner: Runner, sequences: list[str]) -> np.ndarray:
    """The frequency of every code of each HRQ level in each sequence: what the tokens say
    before any Transformer reads them (a frozen head reads the same beside its vectors)."""
    from vqdna_cli.head_features import code_frequencies

    sizes = runner.model.cfg.quantizer.codebook_sizes
    return np.stack([code_frequencies(t, sizes) for t in runner.tokens_of([encode(s) for s in sequences], 65536)])


def with_random_transformer(runner: Runner, seed: int = 0) -> Runner:
    """The same tokenizer under a Transformer at its random initialisation."""
    from vqdna_cli.model.vqdna import VQDNA

    torch.manual_seed(seed)
    fresh = VQDNA(runner.model.cfg).take_tokenizer_of(runner.model)
    return dataclasses.replace(runner, model=fresh.eval())


def pooled_vectors(runner: Runner, sequences: list[str], all_layers: bool = False) -> np.ndarray:
    """One mean-pooled Transformer vector per sequence (each at most one model window); with
    `all_layers`, the means of what every layer reads and writes, 0 (the quantized input) to
    the last (`Runner.layer_outputs`), side by side: (L + 1) x W features."""
    tokens = runner.tokens_of([encode(s) for s in sequences], 65536)
    layers = tuple(range(0, runner.model.cfg.transformer.layers + 1)) if all_layers else None
    pooled = {index: hidden.mean(-2) for index, hidden in runner.hidden_of(tokens, 65536, layers)}
    vectors = np.stack([pooled[i] for i in range(len(tokens))])
    return vectors.reshape(len(vectors), -1)


def probe_report(model_dir: Path, max_train: int, seed: int, all_layers: bool = False) -> dict:
    from benchmarks.gue import data_dir as gue_data
    from benchmarks.vocabularies import linear_probe
    from vqdna_cli.train.recipes import BY_NAME

    data = gue_data()
    runner = Runner.load(model_dir, "cpu")
    random_runner = with_random_transformer(runner, seed)
    arms = {PRETRAINED: lambda s: pooled_vectors(runner, s, all_layers),
            RANDOM: lambda s: pooled_vectors(random_runner, s, all_layers),
            KMERS: kmer_spectrum,
            CODES: lambda s: code_spectrum(runner, s)}
    results = {"model_sha256": runner.info["sha256"]["model.safetensors"], "tasks": {},
               "layers": "each" if all_layers else "last"}
    for name in PROBE_TASKS:
        splits = probe_splits(BY_NAME[name], data, max_train, seed)
        classes = int(max(y.max() for _, y in splits.values())) + 1
        row = {}
        for arm, features in arms.items():
            began = time.monotonic()
            x = {part: features(seqs) for part, (seqs, _) in splits.items()}
            probe = linear_probe(x["train"], splits["train"][1], x["select"], splits["select"][1], x["score"],
                                 splits["score"][1], classes, seed)
            row[arm] = {"mcc": probe["test_mcc"], "weight_decay": probe["weight_decay"],
                        "seconds": round(time.monotonic() - began, 1)}
            print(f"{name} / {arm}: MCC {probe['test_mcc']:.3f}", file=sys.stderr)
        results["tasks"][name] = {"rows": {p: len(s) for p, (s, _) in splits.items()}, **row}
    return results


def probe_splits(task, data, max_train: int, seed: int) -> dict:
    """train (at most max_train rows, none also in dev or test), and dev cut in two halves:
    `select` (weight decay) and `score` (the reported number). Test is never read."""
    from vqdna_cli.io.labelled import read_labelled_csv

    def read(split: str) -> tuple[list[str], np.ndarray]:
        rows = read_labelled_csv(str(data / task.folder / f"{split}.csv.gz"))
        return rows.sequences, np.array([int(label) for label in rows.labels])

    train, dev = read("train"), read("dev")
    rng = np.random.default_rng(seed)
    dev_order = rng.permutation(len(dev[0]))
    half = len(dev_order) // 2
    seen = set(dev[0])
    keep = [i for i in rng.permutation(len(train[0])) if train[0][i] not in seen][:max_train]
    pick = lambda rows, index: ([rows[0][i] for i in index], rows[1][np.asarray(index, dtype=int)])  # noqa: E731
    return {"train": pick(train, keep), "select": pick(dev, dev_order[:half]), "score": pick(dev, dev_order[half:])}


def probe_markdown(results: dict, command: str) -> str:
    """`command`: the opening line, how the table was made (`provenance.made_by`)."""
    arms = list(next(iter(results["tasks"].values())))[1:]
    lines = [command, "", "| task | rows (train / select / score) | " + " | ".join(arms) + " |",
             "|---|---|" + "---:|" * len(arms)]
    means = {arm: [] for arm in arms}
    for name, r in results["tasks"].items():
        rows = r["rows"]
        cells = []
        for arm in arms:
            means[arm].append(r[arm]["mcc"])
            cells.append(f"{100 * r[arm]['mcc']:.1f}")
        lines.append(f"| {name} | {rows['train']:,} / {rows['select']:,} / {rows['score']:,} | " + " | ".join(cells) + " |")
    lines.append("| **mean** | | " + " | ".join(f"**{100 * np.mean(v):.1f}**" for v in means.values()) + " |")
    pretrained, random_, kmer = (np.mean(means[a]) for a in (PRETRAINED, RANDOM, KMERS))
    verdict = "passes" if pretrained >= max(random_, kmer) + 0.03 else "fails"
    codes = (f"; {100 * (pretrained - np.mean(means[CODES])):+.1f} against the HRQ code frequencies alone"
             if CODES in means else "")
    lines += ["", f"Gate (pre-trained >= the random Transformer and the 1..5-mers + 3 MCC on the mean): **{verdict}** "
              f"({100 * (pretrained - random_):+.1f} against the random Transformer, {100 * (pretrained - kmer):+.1f} "
              f"against 1..5-mers{codes}). MCC on the scoring half of dev; test never read. Transformer vectors: "
              f"{'the mean of each layer (0 to last), side by side' if results.get('layers') == 'each' else 'the last layer, mean-pooled'}. Model "
              f"{results['model_sha256'][:16]}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=["masked", "probe"])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--bases", type=int, default=1_000_000, help="masked: bases of each held-out part")
    parser.add_argument("--max-train", type=int, default=4000, help="probe: training rows per task")
    parser.add_argument("--layers", choices=["last", "each"], default="last",
                        help="probe: pool the last layer, or each layer's mean side by side (both Transformer arms)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_dir = args.model or default_weights_dir()
    command = made_by("benchmarks.pretraining")
    if args.check == "masked":
        results = masked_report(model_dir, args.bases)
        text = masked_markdown(results, command)
    else:
        results = probe_report(model_dir, args.max_train, args.seed, args.layers == "each")
        text = probe_markdown(results, command)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
