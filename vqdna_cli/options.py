"""What a command is asked to do, as frozen objects the CLI builds once and the API takes whole.

Objects that can check themselves do so when built, with the one-line messages (and exit
codes) the options have always had; checks that need the model (a stride against its window,
a layer against its depth) stay where the model is loaded.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from vqdna_cli.errors import UsageError

DEFAULT_BATCH_TOKENS = 16384  # bases per model batch for embed, classify, mutations, evaluate
# About one tokenizer chunk (4,096 bases and their context): a batch this small keeps the
# encoder's activations in the CPU's cache, so the model alone runs faster and the peak memory
# is lower than with larger batches (benchmarks/results/roofline.md); tokens do not depend on it.
TOKENIZE_BATCH_TOKENS = 8192
MIN_BATCH_TOKENS = 256
MAX_SEED = 2**32 - 1  # numpy's random generators take seeds up to this
MAX_THREADS = 4096  # beyond any machine; a larger value overflows torch.set_num_threads


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_whole_number(option: str, value) -> None:
    """A count or a length in bases (None: not given) is a whole number: 1.5 would be cut to
    1 and "100" compared with numbers further on, as the CLI's own parsing never lets by."""
    if value is not None and not _is_int(value):
        raise UsageError(f"{option} {value!r}: must be a whole number")


def check_seed(seed) -> None:
    """A seed numpy's and torch's generators both take: a negative one fails in numpy only,
    after the rows are read."""
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed {seed!r}: must be a whole number from 0 to {MAX_SEED}")


def check_fields(options) -> None:
    """The fields of an options object are of their declared kinds, checked before any other
    check compares them: on/off fields True or False (the string "no", from a config file, would
    be taken as true), counts whole numbers, rates numbers. NumPy's scalars (`np.int64(5)`, a
    value taken from an array) become Python's own, which the JSON metadata of every output
    takes; they were accepted, then failed when that was written, after all the work."""
    for item in dataclasses.fields(options):
        value = getattr(options, item.name)
        if _is_numpy_scalar(value):
            value = value.item()
            object.__setattr__(options, item.name, value)
        if value is None and item.type.endswith("| None"):
            continue
        flag = f"--{item.name.replace('_', '-')}"
        if item.type == "bool" and not isinstance(value, bool):
            raise UsageError(f"{type(options).__name__}.{item.name}: expected True or False, got "
                             f"{type(value).__name__} {value!r}"[:200])
        if item.type in ("int", "int | None") and not _is_int(value):
            raise UsageError(f"{flag} {value!r}: must be a whole number"[:200])
        if item.type in ("float", "float | None") and (not isinstance(value, numbers.Real) or isinstance(value, bool)):
            raise UsageError(f"{flag} {value!r}: must be a number"[:200])
        if item.type in ("str", "str | None"):
            if isinstance(value, os.PathLike):  # a file name given as a Path
                object.__setattr__(options, item.name, os.fspath(value))
            elif not isinstance(value, str):
                raise UsageError(f"{flag} {value!r}: give it as text"[:200])
        if item.type in ("Path", "Path | None") and not isinstance(value, (str, os.PathLike)):
            raise UsageError(f"{flag} {value!r}: give a file name"[:200])


def _is_numpy_scalar(value) -> bool:
    return type(value).__module__ == "numpy" and getattr(value, "shape", None) == () and hasattr(value, "item")


def check_each_once(paths: tuple[str, ...], what: str) -> None:
    """A file given twice (by any name: a symlink, a hard link) would count its records or
    rows twice, and be listed twice in the provenance; stdin (-) can be read once."""
    if list(paths).count("-") > 1:
        raise UsageError(f"- (stdin) is given twice among {what}: it can be read once")
    seen: dict[tuple, str] = {}
    for path in paths:
        if path == "-":
            continue
        try:
            found = os.stat(path)
            key = (found.st_dev, found.st_ino)
        except OSError:  # a missing file is named by the reader, which says what is wrong
            key = ("path", os.path.realpath(path))
        if key in seen:
            raise UsageError(f"{path} is given twice among {what}" + (f" (as {seen[key]})" if seen[key] != path else "")
                             + ": give each file once")
        seen[key] = path


# A head's name is a folder of `heads/`: never a path (`../x`, `/abs`, `x/`) that leads elsewhere.
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_TASK_NAME = 100  # file systems take 255 bytes a name; `.NAME.work` and member folders add some
_COLUMN_BREAKING = re.compile(r"[\t\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")  # tab, and what str.splitlines splits at


def has_line_breaking_character(text: str) -> bool:
    """Whether a name or description would split a TSV row or a line of text."""
    return _COLUMN_BREAKING.search(text) is not None


def expect(what: str, value, kind: type | tuple[type, ...]) -> None:
    """An API argument of the type its command takes (an EmbedOptions given to classify would
    fail deep inside with an AttributeError, an output of None with a TypeError)."""
    if not isinstance(value, kind):
        names = [k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,))]
        kinds, got = " or ".join(names), type(value).__name__
        if got in names:  # numpy's bool is named 'bool' too: "expected bool, got bool" said nothing
            got = f"{type(value).__module__}.{got}"
        raise UsageError(f"{what}: expected {kinds}, got {got} {value!r}"[:200])


def expect_path(what: str, value, optional: bool = False) -> None:
    """A file or folder name: text or a path, not '' (which Path() reads as the current
    folder, so it would quietly mean that); None where `optional`."""
    if optional and value is None:
        return
    expect(what, value, (str, os.PathLike))
    if isinstance(value, str) and not value:
        raise UsageError(f"{what}: give a file or folder name, not ''")


def expect_callable(what: str, value) -> None:
    """A callback (`progress`, `on_stage`, `on_total`) is a function: a number given there
    failed with a TypeError at the first batch, after the model was loaded and work begun."""
    if not callable(value):
        raise UsageError(f"{what}: expected a function, got {type(value).__name__} {value!r}"[:200])


def expect_input(what: str, value) -> None:
    """An `InputSpec` that names a file: one of None (how the CLI's classify --scan leaves the
    sequences unnamed) would fail deep inside with a TypeError."""
    expect(what, value, InputSpec)
    if value.source is None:
        raise UsageError(f"{what}: InputSpec(None) names no input: give a file name, or - for stdin")


def one_or_more(paths, what: str) -> tuple[str, ...]:
    """A list of files, where one file (a str or a Path) is a list of one: a plain string
    would otherwise be read one character at a time."""
    if isinstance(paths, (str, os.PathLike)):
        return (os.fspath(paths),)
    try:
        return tuple(os.fspath(path) for path in paths)
    except TypeError:
        raise UsageError(f"{what}: give a file or a list of files, not {type(paths).__name__}") from None


@dataclass(frozen=True)
class InputSpec:
    """The sequences to read: a file (or - for stdin) and what of it."""

    source: str | None
    region: str | None = None
    bed: Path | None = None
    mapped_only: bool = False
    reference: Path | None = None  # CRAM's reference

    def __post_init__(self):
        if isinstance(self.source, os.PathLike):  # readers take the name as text, as the CLI gives it
            object.__setattr__(self, "source", os.fspath(self.source))
        if self.source is not None and not isinstance(self.source, str):  # None: `--scan` reads its own genome
            raise UsageError(f"the input is {self.source!r}: give a file name, or - for stdin")
        if self.region is not None and not isinstance(self.region, str):
            raise UsageError(f"--region {self.region!r}: give it as text, CHR:START-END"[:200])
        check_fields(self)
        if self.source == "":  # Path("") would be the current folder
            raise UsageError("the input path is empty (''): give a file, or - for stdin")

    @property
    def paths(self) -> tuple:
        """Every file read, which no output may overwrite."""
        return (self.source, self.bed, self.reference)

    def describe(self) -> dict:
        """The input as an output's metadata records it."""
        return {"input": self.source, "region": self.region, "bed": str(self.bed) if self.bed else None,
                "mapped_only": self.mapped_only}


@dataclass(frozen=True)
class RunOptions:
    """How the model runs: its weights (None: the shipped ones), where, how many threads,
    the seed, the CPU arithmetic and the bases per batch (None: the command's default)."""

    model_dir: Path | None = None
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    precision: str = "fp32"
    batch_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.model_dir is not None and not isinstance(self.model_dir, (str, os.PathLike)):
            raise UsageError(f"the weights folder is {self.model_dir!r}: give a folder path, or None for the shipped "
                             "weights"[:200])
        check_fields(self)
        # the limits the CLI's options have, for callers of the API too
        if self.threads is not None and (not _is_int(self.threads) or not 1 <= self.threads <= MAX_THREADS):
            raise UsageError(f"--threads {self.threads!r}: must be a whole number from 1 to {MAX_THREADS}")
        check_seed(self.seed)
        if self.batch_tokens is not None and (not _is_int(self.batch_tokens) or self.batch_tokens < MIN_BATCH_TOKENS):
            raise UsageError(f"--batch-tokens {self.batch_tokens!r}: must be a whole number, {MIN_BATCH_TOKENS} or more")

    def tokens_per_batch(self, default: int = DEFAULT_BATCH_TOKENS) -> int:
        return self.batch_tokens if self.batch_tokens is not None else default


POOLINGS = ("mean", "max")  # how a window's token vectors become one


@dataclass(frozen=True)
class EmbedOptions:
    """What `embed` writes beyond one mean-pooled vector per window (the defaults)."""

    per_token: bool = False
    reverse_complement: bool = False
    stride: int | None = None
    pool: str = "window"  # or "record": one row per record
    layer: int | str | None = None  # a Transformer layer number, "all", or None for the last
    pooling: str = "mean"

    def __post_init__(self) -> None:
        check_fields(self)
        check_whole_number("--stride", self.stride)
        if not (self.layer is None or isinstance(self.layer, str) or _is_int(self.layer)):  # "2", as typed, or 2
            raise UsageError(f"--layer {self.layer!r}: give a layer number or all")
        if self.pool not in ("window", "record"):
            raise UsageError(f"--pool {self.pool!r}: use window or record")
        if self.pooling not in POOLINGS:
            raise UsageError(f"--pooling {self.pooling!r}: use {' or '.join(POOLINGS)}")


@dataclass(frozen=True)
class ClassifyOptions:
    """The table `classify` writes: `output_format` tsv, bed or auto (by the output's name)."""

    output_format: str = "auto"
    header_comments: bool = False
    reverse_complement: bool = False
    stride: int | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        check_whole_number("--stride", self.stride)
        if self.output_format not in ("auto", "tsv", "bed"):
            raise UsageError(f"--format {self.output_format!r}: use auto, tsv or bed")

    def table_format(self, output: Path | str | None) -> str:
        """tsv or bed. `auto` goes by the output's name (BED for `.bed`, else TSV), never by
        the input, so one command line always writes the same kind of table."""
        if self.output_format != "auto":
            return self.output_format
        return "bed" if output is not None and str(output).lower().endswith(".bed") else "tsv"


@dataclass(frozen=True)
class ScanSettings:
    """What the user asked for: `window`/`stride` in bases (None: the head's training window
    length, and half of the window), `min_prob`: keep only windows whose call (the most
    probable non-background class) has at least this probability (0: every window);
    `background`: the names of the classes that are not calls (None: the head's rule,
    `scan.background_classes`)."""

    window: int | None = None
    stride: int | None = None
    min_prob: float = 0.0
    background: tuple[str, ...] | None = None

    def __post_init__(self) -> None:  # the window's range needs the model: `scan.ScanLayout.of`
        check_fields(self)
        check_whole_number("--window", self.window)
        check_whole_number("--stride", self.stride)
        if self.stride is not None and self.stride < 1:
            raise UsageError(f"--stride {self.stride}: must be 1 or more")
        if not isinstance(self.min_prob, numbers.Real) or isinstance(self.min_prob, bool):
            raise UsageError(f"--min-prob {self.min_prob!r}: must be a number from 0 to 1")
        if not 0 <= self.min_prob <= 1:  # NaN too
            raise UsageError(f"--min-prob {self.min_prob}: must be between 0 and 1")
        if self.background is not None and (not isinstance(self.background, tuple)
                                            or not all(isinstance(name, str) for name in self.background)):
            raise UsageError(f"ScanSettings.background: expected a tuple of class names, got {self.background!r}"[:200])


@dataclass(frozen=True)
class MutationsOptions:
    """What `mutations` calls variants against, what it adds to them and which reads count."""

    reference: Path
    annotation: Path | None = None
    labels: Path | None = None
    label_column: str | None = None
    vcf: bool = False
    vcf_gz: bool = False  # variants.vcf.gz and its tabix index instead of variants.vcf
    plot: bool = True
    min_depth: int = 10
    min_af: float = 0.2
    min_baseq: int = 20
    min_mapq: int = 0

    def __post_init__(self) -> None:
        check_fields(self)
        # --min-af 0 calls every allele at least one read shows
        if self.min_depth < 1 or not 0 <= self.min_af <= 1 or self.min_baseq < 0 or self.min_mapq < 0:
            raise UsageError("--min-depth must be >= 1, --min-af in [0, 1], --min-baseq and --min-mapq >= 0")
        if self.min_mapq > 255:  # SAM's MAPQ is 0-255: every read would be left out
            raise UsageError(f"--min-mapq {self.min_mapq}: mapping qualities run from 0 to 255, so no read would count")
        if self.label_column is not None and self.labels is None:
            raise UsageError("--label-column names a column of the --labels file: give --labels too")


# --- training ---------------------------------------------------------------------------------


def check_at_least(option: str, value: int | None) -> None:
    """A count option (None: not given): at least 1."""
    if value is not None and value < 1:
        raise UsageError(f"{option} {value}: must be 1 or more")


def check_positive(option: str, value: float | None, finite: bool = True) -> None:
    """A rate or a time (None: not given): a number above 0 (NaN never is; `finite`: nor infinity)."""
    if value is not None and not (value > 0 and (math.isfinite(value) or not finite)):
        raise UsageError(f"{option} {value}: must be a {'finite ' if finite else ''}number above 0")


@dataclass(frozen=True)
class GenomeSet:
    """The genomes a training stage reads, and what of them is held out for validation."""

    fasta: tuple[str, ...]
    holdout_files: tuple[str, ...] = ()
    holdout_tail: dict[str, int] = field(default_factory=dict)  # file name -> last bases held out

    def __post_init__(self) -> None:
        object.__setattr__(self, "fasta", one_or_more(self.fasta, "the FASTA files"))
        if not self.fasta:  # (the CLI requires one)
            raise UsageError("GenomeSet: give at least one FASTA file to train on")
        object.__setattr__(self, "holdout_files", one_or_more(self.holdout_files, "--holdout-file"))
        if not isinstance(self.holdout_tail, dict):
            raise UsageError(f"--holdout-tail {self.holdout_tail!r}: give a dict of file name -> bases held out"[:200])
        tails = {name: bases.item() if _is_numpy_scalar(bases) else bases for name, bases in self.holdout_tail.items()}
        for name, bases in tails.items():
            if not _is_int(bases) or bases < 1:  # 0 held nothing out, and its scores were of training sequence
                raise UsageError(f"--holdout-tail {name}:{bases!r}: the bases held out must be a whole number, 1 or "
                                 "more"[:200])
        object.__setattr__(self, "holdout_tail", tails)
        check_each_once(self.fasta, "the FASTA files")  # its records would be drawn twice as often
        both = sorted(set(self.holdout_files) & set(tails))
        if both:  # the whole file is held out: which of the two was meant cannot be told
            raise UsageError(f"{both[0]} is given to both --holdout-file (all of it) and --holdout-tail (its last "
                             f"{tails[both[0]]:,} bases): give one")
        names = {Path(path).name for path in self.fasta}
        for name in sorted(set(self.holdout_files) | set(self.holdout_tail)):
            same = [path for path in self.fasta if Path(path).name == name]
            if len(same) > 1:  # both would be held out, where one was meant
                raise UsageError(f"--holdout-file/--holdout-tail {name} names {len(same)} inputs ({', '.join(same)}): "
                                 "inputs are held out by file name; rename one of them")
        unknown = sorted((set(self.holdout_files) | set(self.holdout_tail)) - names) if names else []
        if unknown:  # a typo would silently train on what was meant to be held out
            raise UsageError(f"--holdout-file/--holdout-tail name {', '.join(unknown)}, which is not among the inputs "
                             f"({', '.join(sorted(names))}): give the input's file name, without its folder")
        if names and names <= set(self.holdout_files):
            raise UsageError(f"--holdout-file holds out every input ({', '.join(sorted(names))}): nothing is left to "
                             "train on; give more FASTA files, or hold out part of one with --holdout-tail")


@dataclass(frozen=True)
class StageSettings:
    """A training stage's schedule: optimizer steps, peak learning rate, bases per window,
    windows per step. Each stage's own defaults are TOKENIZER_STAGE and PRETRAIN_STAGE (below):
    `dataclasses.replace(PRETRAIN_STAGE, steps=500)` changes one of them."""

    steps: int = 3000
    lr: float = 1e-3
    window: int | None = 256  # pre-training: None is the model's max_tokens
    batch: int = 32

    def __post_init__(self) -> None:
        check_fields(self)
        check_at_least("--steps", self.steps)
        check_positive("--lr", self.lr)
        check_whole_number("--window", self.window)
        check_at_least("--window", self.window)
        check_at_least("--batch", self.batch)


# Each stage's defaults, the CLI's and the API's alike
TOKENIZER_STAGE = StageSettings(steps=3000, lr=2e-3, window=256, batch=32)
PRETRAIN_STAGE = StageSettings(steps=3000, lr=1e-3, window=None, batch=16)


@dataclass(frozen=True)
class TrainControl:
    """How a training run goes: continued from its checkpoint, allowed to overwrite, stopped
    after some minutes, checkpointed on a clock, silent."""

    resume: bool = False
    force: bool = False
    max_minutes: float | None = None
    checkpoint_minutes: float | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        check_fields(self)
        if self.resume and self.force:
            raise UsageError("--resume continues the run in the output folder and --force starts it over: give one")
        if self.max_minutes is not None and not self.max_minutes >= 0:  # 0: stop after the first step
            raise UsageError(f"--max-minutes {self.max_minutes}: must be 0 or more")
        check_positive("--checkpoint-minutes", self.checkpoint_minutes, finite=False)


@dataclass(frozen=True)
class HeadRows:
    """The labelled files a head trains and is selected on (`api.head_training_data`)."""

    train_files: tuple[str, ...]
    valid_files: tuple[str, ...] = ()  # none: a seeded valid_fraction of the training rows
    valid_fraction: float | None = None  # without valid_files (None: VALID_FRACTION)
    exclude_files: tuple[str, ...] = ()  # the test split: never trained on
    labels_tsv: str | None = None  # `id<TAB>label` for FASTA files
    max_train_rows: int | None = None
    # A head that reads both strands (--both-strands) sees a sequence and its reverse complement
    # alike: for --exclude and for copies between training and validation rows they are one.
    either_strand: bool = False

    def __post_init__(self) -> None:
        check_fields(self)
        for name in ("train_files", "valid_files", "exclude_files"):
            object.__setattr__(self, name, one_or_more(getattr(self, name), name))
        check_each_once(self.train_files, "the --train files")
        check_each_once(self.valid_files, "the --valid files")
        if self.valid_files and self.valid_fraction is not None:
            raise UsageError("--valid-fraction holds out rows of --train for validation: leave it out when --valid "
                             "gives the validation rows")
        if not self.valid_files and not 0 < self.held_out_fraction < 1:
            raise UsageError("--valid-fraction must be between 0 and 1 (or give --valid FILE)")
        check_at_least("--max-train-rows", self.max_train_rows)

    @property
    def held_out_fraction(self) -> float:
        """The share of the training rows that selects the head when no valid_files are given."""
        return VALID_FRACTION if self.valid_fraction is None else self.valid_fraction


VALID_FRACTION = 0.15  # of the training rows, for validation when none are given


ADAPTERS = ("lora", "full", "frozen")  # frozen: the head alone on the frozen model's features
FROZEN_HEAD_DROPOUT = 0.5  # the frozen head's default dropout
LORA_RANK, LORA_ALPHA = 8, 16.0  # the low-rank adapters' defaults


@dataclass(frozen=True)
class FinetuneSettings:
    """A task head to train: its name, how it is trained and, for a frozen head, what it reads."""

    task: str
    adapter: str = "lora"
    epochs: int = 4
    batch: int = 32
    lr: float = 1e-3
    lora_rank: int | None = None  # lora heads only (None: LORA_RANK)
    lora_alpha: float | None = None  # lora heads only (None: LORA_ALPHA)
    dropout: float | None = None  # frozen heads only (None: FROZEN_HEAD_DROPOUT)
    balance_classes: bool = False  # frozen heads only: odds as if every class were equally common
    members: int = 1  # frozen heads only: heads of this many seeds, merged into one (logits averaged)
    center_tokens: int = 0
    center_at: int | None = None
    both_strands: bool = False
    whole_record: bool = False
    all_layers: bool = False
    segments: int = 0  # frozen heads only: the mean output of each of this many parts of the window
    class_names: tuple[str, ...] | None = None  # None: the labels themselves
    description: str = ""

    def __post_init__(self) -> None:
        check_fields(self)
        self.validate()

    def validate(self) -> None:
        """The option combinations only a frozen head takes, and the values each allows."""
        frozen = self.adapter == "frozen"
        if self.adapter not in ADAPTERS:
            raise UsageError(f"--adapter {self.adapter!r}: use {' or '.join(ADAPTERS)}")
        check_at_least("--epochs", self.epochs)
        check_at_least("--batch", self.batch)
        check_positive("--lr", self.lr)
        for flag, value in (("--lora-rank", self.lora_rank), ("--lora-alpha", self.lora_alpha)):
            if value is not None and self.adapter != "lora":
                raise UsageError(f"{flag} works with --adapter lora only")
        check_at_least("--lora-rank", self.rank)
        check_positive("--lora-alpha", self.alpha)
        if self.center_tokens and not frozen:
            raise UsageError("--center-tokens works with --adapter frozen only")
        if self.center_tokens < 0:
            raise UsageError(f"--center-tokens {self.center_tokens}: must be 0 or more")
        if self.center_at is not None and (self.center_at < 0 or not self.center_tokens):
            raise UsageError("--center-at needs --center-tokens and a base position of 0 or more")
        if self.dropout is not None and not frozen:
            raise UsageError("--dropout works with --adapter frozen only")
        if not 0 <= self.head_dropout < 1:
            raise UsageError(f"--dropout {self.head_dropout}: must be at least 0 and below 1")
        if self.balance_classes and not frozen:
            raise UsageError("--balance-classes works with --adapter frozen only")
        check_at_least("--members", self.members)
        if self.members > 1 and not frozen:
            raise UsageError("--members works with --adapter frozen only")
        if self.both_strands and not frozen:
            raise UsageError("--both-strands works with --adapter frozen only")
        if self.whole_record and not frozen:
            raise UsageError("--whole-record works with --adapter frozen only")
        if self.all_layers and not frozen:
            raise UsageError("--all-layers works with --adapter frozen only")
        if self.segments and not frozen:
            raise UsageError("--segments works with --adapter frozen only")
        if self.segments < 0:
            raise UsageError(f"--segments {self.segments}: must be 0 or more")
        if self.whole_record and self.center_tokens:
            raise UsageError("--whole-record and --center-tokens exclude each other (central tokens are a window's)")
        if self.whole_record and self.segments:
            raise UsageError("--whole-record and --segments exclude each other (segments are a window's)")
        if not TASK_NAME.fullmatch(self.task):
            raise UsageError(f"task name {self.task!r}: use letters, digits, '.', '_' and '-', starting with a letter "
                             "or digit")
        if len(self.task) > MAX_TASK_NAME:  # a folder's name, and its `.NAME.work` beside it, must fit one
            raise UsageError(f"task name {self.task[:20]}...: {len(self.task)} characters; give at most "
                             f"{MAX_TASK_NAME}")
        names = self.class_names or ()
        if not isinstance(names, (tuple, list)) or not all(isinstance(name, str) for name in names):
            # a string would be taken letter by letter: "neg,pos" as 7 names
            raise UsageError(f"--class-names {names!r}: give a tuple of names, e.g. ('neg', 'pos')"[:200])
        if any(not name.strip() for name in names) or len(set(names)) < len(names):
            raise UsageError(f"--class-names {','.join(names)!r}: give one distinct, non-empty name per label")
        # written in TSV and BED columns and one --list-tasks line: a tab or line break would break them
        for option, text in [*(("--class-names", name) for name in names), ("--description", self.description)]:
            if has_line_breaking_character(text):
                raise UsageError(f"{option} {text!r}: holds a tab or line break, which would split the columns or lines "
                                 "of the outputs that show it")

    @property
    def head_dropout(self) -> float:
        return FROZEN_HEAD_DROPOUT if self.dropout is None else self.dropout

    @property
    def rank(self) -> int:
        """The LoRA adapters' rank (recorded for every head; only lora heads use it)."""
        return LORA_RANK if self.lora_rank is None else self.lora_rank

    @property
    def alpha(self) -> float:
        return LORA_ALPHA if self.lora_alpha is None else self.lora_alpha
