"""The paper's tokenizer comparison (its Table 1) on the SARS-CoV-2 variant task: for each
vocabulary, how much of it the data uses, and how well a linear probe on its tokens tells
the nine lineages apart.

    python -m benchmarks.vocabularies --vq RUN/tokenizer-vq \
        --json benchmarks/results/vocabularies.json --markdown benchmarks/results/vocabularies.md

Vocabularies: vqdna's HRQ (the shipped weights: both levels, and each level alone), a plain
VQ tokenizer of the same size trained the same way (`vqdna train tokenizer --preset vq`),
DNABERT-2's BPE (../shared/peers, loaded with the `tokenizers` package) and
non-overlapping 6-mers.

What the probe sees: the frequency of every token of the vocabulary in the 1,000 bp window
(a bag of tokens), standardised, into one linear layer (multinomial logistic regression).
This measures the vocabularies themselves, with no Transformer; the paper probes its
models' embeddings instead, so the numbers are comparable in direction, not in value. The
weight decay is chosen on the dev split; test is scored once. As for the task heads, the
probe never trains on a window that also occurs in dev or test (conserved windows repeat
across genomes: 965 training windows have an exact copy in test). Usage: the share of the
vocabulary that occurs at least once in the test windows.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.provenance import made_by
from vqdna_cli.train import recipes

ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    data = recipes.data_dir()
    if not (data / "sarscov2" / "variant_fragments_1000bp").is_dir():
        sys.exit(f"vocabularies.py: no variant task at {data}/sarscov2/variant_fragments_1000bp (set VQDNA_DATA)")
    return data


def read_split(data: Path, split: str) -> tuple[list[str], np.ndarray]:
    """The `sequence` and `label` columns (the files also name each window's genome and start)."""
    with gzip.open(data / "sarscov2" / "variant_fragments_1000bp" / f"{split}.csv.gz", "rt") as handle:
        rows = list(csv.DictReader(handle))
    return [r["sequence"] for r in rows], np.array([int(r["label"]) for r in rows])


def without_copies(train: tuple[list[str], np.ndarray], *others: tuple[list[str], np.ndarray]):
    """The training rows whose sequence occurs in none of the `others` splits."""
    seen = {sequence for sequences, _ in others for sequence in sequences}
    keep = [i for i, sequence in enumerate(train[0]) if sequence not in seen]
    return [train[0][i] for i in keep], train[1][keep]


# --- bags of tokens ------------------------------------------------------------------------


_TOKEN_CACHE: dict = {}  # the levels of one tokenizer are probed separately: tokenize once


def hrq_bags(model_dir: Path | None, sequences: list[str], levels: tuple[int, ...]) -> np.ndarray:
    """Code frequencies of the chosen levels (0-based) of a vqdna tokenizer."""
    from vqdna_cli.data.alphabet import encode
    from vqdna_cli.head_features import code_frequencies
    from vqdna_cli.runner import Runner

    key = (str(model_dir), id(sequences))
    if key not in _TOKEN_CACHE:
        runner = Runner.load(model_dir, "cpu")
        sizes = runner.model.cfg.quantizer.codebook_sizes
        tokens = runner.tokens_of([encode(s) for s in sequences], 65536)
        _TOKEN_CACHE[key] = (sizes, np.stack([code_frequencies(t, sizes) for t in tokens]))
    sizes, frequencies = _TOKEN_CACHE[key]
    keep = np.concatenate([np.arange(sum(sizes[:level]), sum(sizes[: level + 1])) for level in levels])
    return frequencies[:, keep]


def bpe_bags(sequences: list[str]) -> np.ndarray:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(ROOT.parent / "shared" / "peers" / "dnabert2_bpe_tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    size = tokenizer.get_vocab_size()
    bags = np.zeros((len(sequences), size), np.float32)
    for row, encoding in enumerate(tokenizer.encode_batch(sequences, add_special_tokens=False)):
        ids = np.array(encoding.ids)
        bags[row] = np.bincount(ids, minlength=size)[:size] / max(len(ids), 1)
    return bags


def kmer_bags(sequences: list[str], k: int = 6) -> np.ndarray:
    """Non-overlapping k-mers (a k-mer with a base other than ACGT is skipped)."""
    index = {"A": 0, "C": 1, "G": 2, "T": 3}
    bags = np.zeros((len(sequences), 4**k), np.float32)
    for row, seq in enumerate(sequences):
        for start in range(0, len(seq) - k + 1, k):
            word = seq[start : start + k]
            if all(b in index for b in word):
                code = 0
                for b in word:
                    code = code * 4 + index[b]
                bags[row, code] += 1
        bags[row] /= max(bags[row].sum(), 1)
    return bags


# --- the probe -----------------------------------------------------------------------------


def linear_probe(train: np.ndarray, train_y: np.ndarray, dev: np.ndarray, dev_y: np.ndarray, test: np.ndarray,
                 test_y: np.ndarray, classes: int, seed: int = 0) -> dict:
    """Multinomial logistic regression; weight decay picked by dev macro F1, test scored once."""
    import torch

    from vqdna_cli.metrics import classification_metrics

    shift, scale = train.mean(0), train.std(0) + 1e-4
    x_train, x_dev, x_test = (torch.from_numpy((x - shift) / scale).float() for x in (train, dev, test))
    y_train = torch.from_numpy(train_y).long()
    best = None
    for decay in (1e-4, 1e-3, 1e-2, 1e-1):
        torch.manual_seed(seed)
        layer = torch.nn.Linear(x_train.shape[1], classes)
        optimizer = torch.optim.AdamW(layer.parameters(), lr=1e-2, weight_decay=decay)
        for _ in range(300):  # full batch: a few thousand rows
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(layer(x_train), y_train).backward()
            optimizer.step()
        with torch.no_grad():
            dev_f1 = classification_metrics(dev_y, layer(x_dev).argmax(1).numpy(), classes)["macro_f1"]
            if best is None or dev_f1 > best[0]:
                best = (dev_f1, decay, layer(x_test).argmax(1).numpy())
    test_metrics = classification_metrics(test_y, best[2], classes)
    return {"dev_macro_f1": best[0], "weight_decay": best[1], "test_macro_f1": test_metrics["macro_f1"],
            "test_mcc": test_metrics["mcc"], "test_accuracy": test_metrics["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hrq", help="vqdna weights directory (default: the shipped weights)")
    parser.add_argument("--vq", help="weights directory of a plain-VQ tokenizer (`vqdna train tokenizer --preset vq`)")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    import torch

    torch.set_num_threads(args.threads)
    data = data_dir()
    splits = {name: read_split(data, name) for name in ("train", "dev", "test")}
    available = len(splits["train"][0])
    splits["train"] = without_copies(splits["train"], splits["dev"], splits["test"])
    print(f"training windows: {len(splits['train'][0])} of {available} (the rest have an exact copy in dev or test)",
          file=sys.stderr)
    vocabularies = {
        "HRQ (levels 1+2, 256+512 codes)": lambda s: hrq_bags(args.hrq, s, (0, 1)),
        "HRQ level 1 only (256, coarse)": lambda s: hrq_bags(args.hrq, s, (0,)),
        "HRQ level 2 only (512, fine)": lambda s: hrq_bags(args.hrq, s, (1,)),
        "BPE (DNABERT-2, 4,096)": bpe_bags,
        "6-mer, non-overlapping (4,096)": kmer_bags,
    }
    if args.vq:
        vocabularies["VQ (512 codes)"] = lambda s: hrq_bags(Path(args.vq), s, (0,))
    results = []
    for name, bag_of in vocabularies.items():
        cached = bool(_TOKEN_CACHE) and name.startswith("HRQ level")  # tokenized for the first HRQ row
        began = time.monotonic()
        bags = {split: bag_of(sequences) for split, (sequences, _) in splits.items()}
        seconds = None if cached else time.monotonic() - began
        bases = sum(len(s) for sequences, _ in splits.values() for s in sequences)
        usage = float((bags["test"].sum(0) > 0).mean())
        probe = linear_probe(bags["train"], splits["train"][1], bags["dev"], splits["dev"][1],
                             bags["test"], splits["test"][1], classes=9)
        results.append({"vocabulary": name, "size": bags["test"].shape[1], "test_usage": usage,
                        "tokenize_seconds": None if seconds is None else round(seconds, 1),
                        "bases_per_second": None if seconds is None else round(bases / seconds), **probe})
        print(f"{name}: usage {usage:.1%}, probe test macro F1 {probe['test_macro_f1']:.3f}", file=sys.stderr)
    lines = ["| vocabulary | size | usage (test) | probe macro F1 (test) | probe MCC (test) | tokenize bp/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['vocabulary']} | {r['size']:,} | {100 * r['test_usage']:.1f} % | {100 * r['test_macro_f1']:.1f} | "
                     f"{100 * r['test_mcc']:.1f} | {'(as above)' if r['bases_per_second'] is None else format(r['bases_per_second'], ',')} |")
    lines.append(f"\nThe probe trained on {len(splits['train'][0]):,} of the {available:,} training windows (the "
                 "others have an exact copy in dev or test); weight decay chosen on dev; test scored once.")
    text = made_by("benchmarks.vocabularies") + "\n\n" + "\n".join(lines) + "\n"
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"task": "sars-cov-2-variant (variant_fragments_1000bp)",
                                               "train_windows": len(splits["train"][0]), "train_windows_available": available,
                                               "results": results}, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
