"""Random windows of genome sequence for the tokenizer and masked pre-training stages.

Held-out sequence is cut off before sampling: `--holdout-tail NAME:BASES` keeps the last
BASES of the records of a file out of training, `--holdout-file` a whole file. Windows are
drawn with probability proportional to the square root of each record's length, so one
large chromosome does not drown the small genomes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vqdna_cli import distributed
from vqdna_cli.data.alphabet import encode, is_ambiguous
from vqdna_cli.errors import InputError, UsageError, VqdnaWarning
from vqdna_cli.io.fasta import read_fasta


# training windows with a larger share of N or other IUPAC codes are drawn again
MAX_AMBIGUOUS = 0.05


@dataclass
class GenomeSplit:
    train: list[np.ndarray]  # base codes per record (or record part)
    heldout: list[np.ndarray]
    description: dict


def load_genomes(paths: list[str], holdout_files: tuple[str, ...] = (), holdout_tail: dict[str, int] | None = None) -> GenomeSplit:
    """Read FASTA files into code arrays and split off the held-out sequence.

    holdout_files: file names (basename) kept out entirely; holdout_tail: file name ->
    number of bases at the end of each of its records kept out.
    """
    if "-" in paths and distributed.world() > 1:  # each process reads its inputs: one would get stdin, the rest nothing
        raise UsageError(f"stdin (-) cannot be read by each of the {distributed.world()} torchrun processes: save the "
                         "sequences to a file and give its name")
    folder = next((path for path in paths if path != "-" and Path(path).is_dir()), None)
    if folder is not None:  # (the readers' own message offers BAM, which training does not read)
        raise InputError(f"{folder} is a folder: training reads FASTA files; give the genomes in it "
                         f"(e.g. {folder.rstrip('/')}/*.fa.gz)")
    holdout_tail = holdout_tail or {}
    train, heldout, described = [], [], {"train": [], "heldout": []}
    names = [Path(path).name for path in paths]
    for path, name in zip(paths, names):
        # the record names a file by its name; two inputs of one name (x/g.fa, y/g.fa) by the
        # paths given, which tell them apart (--holdout-* refuses to name either: GenomeSet)
        label = name if names.count(name) == 1 else path
        for record in read_fasta(path):
            codes = encode(record.seq)
            if name in holdout_files:
                heldout.append(codes)
                described["heldout"].append(f"{label}:{record.name} (all {len(codes)} bp)")
                continue
            tail = min(holdout_tail.get(name, 0), len(codes))
            if tail:
                heldout.append(codes[len(codes) - tail:])
                whole = tail == len(codes)  # a tail as long as the record holds it all out, as --holdout-file
                described["heldout"].append(f"{label}:{record.name} ({'all' if whole else 'last'} {tail} bp)")
            if len(codes) - tail:
                train.append(codes[: len(codes) - tail])
                described["train"].append(f"{label}:{record.name} ({len(codes) - tail} bp)")
    if not train and heldout:
        raise InputError("--holdout-file/--holdout-tail hold out every base of the inputs: nothing is left to "
                         "train on; hold out less (a --holdout-tail shorter than the records) or give more files")
    return GenomeSplit(train, heldout, described)


class WindowSampler:
    """Draws (batch, window) arrays of base codes; windows mostly made of N are redrawn.

    Batch `step` depends only on (seed, step), so a resumed run sees the same data as an
    uninterrupted one."""

    def __init__(self, records: list[np.ndarray], window: int, seed: int, max_ambiguous: float = MAX_AMBIGUOUS,
                 what: str = "training"):
        self.records = [r for r in records if len(r) >= window]
        self.what = what  # the sequence named in the messages: "training" or "held-out (--holdout-...)"
        if not self.records:
            raise InputError(f"no {what} sequence is at least {window} bases long: lower --window")
        weights = np.sqrt([len(r) for r in self.records])
        self.weights = weights / weights.sum()
        self.window, self.max_ambiguous, self.seed = window, max_ambiguous, seed

    MAX_DRAWS_PER_WINDOW = 1000

    def batch(self, size: int, step: int = 0) -> np.ndarray:
        rng = np.random.default_rng([self.seed, step])
        out = np.empty((size, self.window), dtype=np.int64)
        filled = draws = 0
        while filled < size:
            draws += 1
            if draws > self.MAX_DRAWS_PER_WINDOW * size:
                raise InputError(f"the {self.what} sequence is almost all N or other ambiguous bases: no "
                                 f"{self.window}-base window with at most {self.max_ambiguous:.0%} ambiguous bases "
                                 "was found")
            record = self.records[rng.choice(len(self.records), p=self.weights)]
            start = rng.integers(0, len(record) - self.window + 1)
            window = record[start : start + self.window]
            if is_ambiguous(window).mean() <= self.max_ambiguous:
                out[filled] = window
                filled += 1
        return out


HELD_OUT = "held-out (--holdout-file/--holdout-tail)"


def check_windows(genomes: GenomeSplit, window: int, seed: int) -> dict:
    """Refuse, before a --force run removes the earlier run's weights, data with no window to
    train or score on (records all shorter than `window`, or almost all N): draws one of each.
    Training records no window is drawn from, among others (shorter than `window`, or without
    a window of at most MAX_AMBIGUOUS N), are said. Returns the data the weights record
    (`trained_description`)."""
    WindowSampler(genomes.train, window, seed).batch(1)
    evaluation_windows(genomes, window, 1, seed)
    record = trained_description(genomes, window)
    for key, why in ((_SHORT, f"shorter than the {window}-base window"),
                     (_UNCLEAN, f"without a {window}-base window of at most {MAX_AMBIGUOUS:.0%} N or other "
                                "ambiguous bases")):
        left_out = record.get(key, [])
        if left_out:
            warnings.warn(f"{len(left_out):,} training record{'s' if len(left_out) > 1 else ''} {why} "
                          f"{'are' if len(left_out) > 1 else 'is'} not trained on ({', '.join(left_out[:3])}"
                          f"{', ...' if len(left_out) > 3 else ''}); the weights' record lists "
                          f"{'them' if len(left_out) > 1 else 'it'} apart", VqdnaWarning, stacklevel=2)
    return record


_SHORT, _UNCLEAN = "train_shorter_than_window", "train_without_a_clean_window"


def trained_description(genomes: GenomeSplit, window: int) -> dict:
    """The data the weights record: training records no window is drawn from (shorter than
    `window`, or too full of N) listed apart from the ones trained on."""
    kinds = [_SHORT if len(codes) < window else None if has_clean_window(codes, window) else _UNCLEAN
             for codes in genomes.train]
    if not any(kinds):
        return genomes.description
    entries = genomes.description["train"]
    described = {**genomes.description, "train": [entry for entry, kind in zip(entries, kinds) if kind is None]}
    for key in (_SHORT, _UNCLEAN):
        if key in kinds:
            described[key] = [entry for entry, kind in zip(entries, kinds) if kind == key]
    return described


def has_clean_window(codes: np.ndarray, window: int, max_ambiguous: float = MAX_AMBIGUOUS,
                     chunk: int = 1 << 22) -> bool:
    """Whether some `window`-base stretch of `codes` is no more than `max_ambiguous` N (the
    samplers' rule). 4 Mb at a time, so a chromosome's scan holds about 20 MB; the first
    stretch usually answers."""
    limit = max_ambiguous * window
    for start in range(0, max(len(codes) - window + 1, 0), chunk):
        part = is_ambiguous(codes[start : start + chunk + window - 1])
        counts = np.concatenate(([0], np.cumsum(part, dtype=np.int32)))
        if (counts[window:] - counts[:-window] <= limit).any():
            return True
    return False


def evaluation_windows(genomes: GenomeSplit, window: int, count: int, seed: int) -> np.ndarray:
    """A reproducible evaluation set, the same windows every time for the same seed: of the
    held-out sequence, or of the training sequence where nothing is held out."""
    if genomes.heldout:
        return WindowSampler(genomes.heldout, window, seed, what=HELD_OUT).batch(count)
    return WindowSampler(genomes.train, window, seed).batch(count)


class DeviceWindowSampler:
    """WindowSampler's distribution (records weighted by the square root of their length,
    windows with more than `max_ambiguous` N or IUPAC codes redrawn), drawn with torch on
    the training device: a GPU takes a batch of hundreds of windows without a loop in
    Python or a copy from the CPU. Batch `step` depends only on (seed, step) and the device
    kind; its windows are not those WindowSampler draws for the same step."""

    def __init__(self, records: list[np.ndarray], window: int, seed: int, device: torch.device,
                 max_ambiguous: float = MAX_AMBIGUOUS):
        records = [r for r in records if len(r) >= window]
        if not records:
            raise InputError(f"no training sequence is at least {window} bases long: lower --window")
        lengths = np.array([len(r) for r in records])
        joined = np.concatenate(records)
        self.bases = torch.from_numpy(joined).to(device)
        # ambiguous[i] = number of ambiguous bases before i: a window's count in one subtraction
        counts = np.concatenate([[0], np.cumsum(is_ambiguous(joined), dtype=np.int64)])
        self.ambiguous = torch.from_numpy(counts).to(device)
        self.first = torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)[:-1]])).to(device)
        self.starts = torch.from_numpy(lengths - window + 1).to(device)
        self.weights = torch.from_numpy(np.sqrt(lengths)).to(device)
        self.window, self.seed, self.device = window, seed, device
        self.max_ambiguous_bases = int(max_ambiguous * window)
        self.offsets = torch.arange(window, device=device)

    def batch(self, size: int, step: int = 0) -> torch.Tensor:
        """(size, window) int64 base codes on the device."""
        # seeded apart from the step's masks (pretrain seeds those with seed * 1_000_003 + step):
        # one shared stream would tie where windows fall to where their spans are hidden
        stream = int(np.random.SeedSequence([self.seed, step]).generate_state(1)[0])
        generator = torch.Generator(device=self.device).manual_seed(stream)
        kept = torch.empty(0, dtype=torch.long, device=self.device)
        for _ in range(WindowSampler.MAX_DRAWS_PER_WINDOW):
            record = torch.multinomial(self.weights, 2 * size, replacement=True, generator=generator)
            place = torch.rand(2 * size, generator=generator, device=self.device, dtype=torch.float64)
            start = self.first[record] + (place * self.starts[record]).long()
            clean = self.ambiguous[start + self.window] - self.ambiguous[start] <= self.max_ambiguous_bases
            kept = torch.cat([kept, start[clean]])[:size]
            if len(kept) == size:
                return self.bases[kept[:, None] + self.offsets].long()
        raise InputError(f"the training sequence is almost all N or other ambiguous bases: no {self.window}-base "
                         f"window with at most {self.max_ambiguous_bases} ambiguous bases was found")
