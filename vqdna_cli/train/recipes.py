"""How the shipped weights are trained: the genome parts pre-training holds out, the task
heads (data, splits, what each reads, its recipe) and the published scores to compare with.

`scripts/train_weights.sh` reads the hold-outs (`python -m vqdna_cli.train.recipes
--holdout-options`); `python -m benchmarks.gue train` trains every head in `TASKS`. The
evidence behind each choice is in weights/default/TRAINING.md ("Task heads").

Splits: where GUE has a train split here, heads train on it and select on dev; where only
dev and test exist ($VQDNA_DATA/README.md), heads train on dev with 15 % of it held out
for selection. Every training set is cleaned of sequences that occur in the test split
(`--exclude`); the heads scored on real genome sequence (those with a `genome_set`) are also
cleaned, training and validation rows, of GUE rows cut from chrX 30-70 Mb, the real-genome
validation region and the part kept for an independent check (benchmarks/held_out_rows.py).
Test data is read only by `benchmarks.gue evaluate`, after training.

Published scores (MCC x 100; macro F1 x 100 for the variant task) are those of Li et al.,
"VQDNA: Unleashing the Power of Vector Quantization for Multi-Species Genomic Sequence
Modeling", ICML 2024, as transcribed in ../shared/docs/METHOD.md: DNABERT-2 (117 M) and
VQDNA-HRQ (103 M). Where the paper gives only an average over a group (mouse TF for HRQ,
the ten yeast histone marks for both), the group average is listed for each member and the
comparison is made on group averages.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from vqdna_cli.head_info import HeadReads

CHECKOUT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """$VQDNA_DATA, else ../shared/data beside the checkout (it may not exist)."""
    return Path(os.environ.get("VQDNA_DATA", CHECKOUT.parent / "shared" / "data"))


# --- held out of pre-training ---------------------------------------------------------------

# Never trained on: the whole C. trachomatis genome and the last 5 Mb of human chrX (file
# under data/genomes, bases at the end or None for the whole file). benchmarks/heldout.py
# measures the models on them.
HELD_OUT = {
    "C. trachomatis (whole genome)": ("chlamydia_trachomatis_CHLTCG.fa.gz", None),
    "human chrX, last 5 Mb": ("human_chrX_0-70Mb_GRCh37_smalt.fa.gz", 5_000_000),
}
# The same, as `load_genomes` (and `vqdna train --holdout-file/--holdout-tail`) take them.
HOLDOUT_FILES = tuple(file for file, tail in HELD_OUT.values() if tail is None)
HOLDOUT_TAIL = {file: tail for file, tail in HELD_OUT.values() if tail is not None}


def holdout_options() -> list[str]:
    """The same, as `vqdna train tokenizer/pretrain` options (scripts/train_weights.sh reads them)."""
    return [*(word for file in HOLDOUT_FILES for word in ("--holdout-file", file)),
            *(word for file, tail in HOLDOUT_TAIL.items() for word in ("--holdout-tail", f"{file}:{tail}"))]


# --- genomic training rows ------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """A head's training layout: `length` bases with the anchor (a TSS, the first base after a
    splice junction) at base `anchor`, in the orientation of the gene."""

    name: str
    length: int
    anchor: int


LAYOUTS = {
    "promoter": Layout("promoter", 300, 249),  # GUE prom_300: -249..+50
    "core-promoter": Layout("core-promoter", 70, 34),  # GUE prom_core: -34..+35
    "splice": Layout("splice", 400, 200),  # GUE splice: junction between bases 199 and 200
}
GENE_SETS = ("protein_coding", "all")


@dataclass(frozen=True)
class TrainingMix:
    """The genomic rows a head trains on beside GUE's (Task.genome_set), all from the fit part
    of the training region; benchmarks/genome_sets.py builds them (`training_set`). Promoter
    layouts: a window at every annotated TSS (all genes) as positives; `negatives_per_positive`
    windows of each background kind (random, intergenic, intronic, exonic, GC-matched, all far
    from any TSS, both strands) and `other_species_per_positive` windows of other species as
    negatives. Splice: the annotated exon boundaries and `negatives_per_positive` AG / GT decoys
    per site."""

    layout: str  # key of LAYOUTS
    negatives_per_positive: float = 1.0
    other_species_per_positive: float = 0.0
    genes: str = "all"  # TSS of "all" genes or of "protein_coding" ones (GENE_SETS) as positives
    # More positives: each TSS also anchors windows this many bases downstream (negative:
    # upstream), as annotated TSS are approximate; a few hundred real TSS are otherwise lost
    # among thousands of GUE rows. Background counts follow the TSS, not these copies.
    shifts: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r}: use one of {', '.join(LAYOUTS)}")
        if self.genes not in GENE_SETS:
            raise ValueError(f"genes {self.genes!r}: use {' or '.join(GENE_SETS)}")

    @property
    def file_name(self) -> str:
        """Names the set by everything that makes it, so a changed mix is built anew."""
        shifts = "_shift" + ",".join(map(str, self.shifts)) if self.shifts else ""
        return (f"{self.layout}_fit_{self.genes}_neg{self.negatives_per_positive:g}"
                f"_other{self.other_species_per_positive:g}{shifts}_seed{self.seed}.csv")


# --- task heads -----------------------------------------------------------------------------

# Every training row (max_train_rows None): capping the rows cost the capped tasks validation
# MCC. Dropout 0.5 and lr 3e-4: with less, most heads peaked in their first epochs and then
# overfit (benchmarks/results/head_recipe.md).
DEFAULT_RECIPE = {"epochs": 30, "batch": 64, "lr": 3e-4, "dropout": 0.5, "max_train_rows": None, "seed": 0}

HUMAN_GROUPS = ("prom_300", "prom_core", "splice", "tf_human")  # Task.group of GUE's human tasks
HISTONE_MARKS = ("H3", "H3K14ac", "H3K36me3", "H3K4me1", "H3K4me2", "H3K4me3", "H3K79me3", "H3K9ac", "H4", "H4ac")
HISTONE_BOTH_STRANDS = ("H3K14ac", "H3K36me3", "H3K4me3", "H3K79me3", "H3K9ac", "H4ac")  # see TASKS
VARIANT_CLASSES = ("Alpha", "Beta", "Delta", "Eta", "Gamma", "Iota", "Kappa", "Lambda", "Omicron")


@dataclass(frozen=True)
class Task:
    name: str
    folder: str  # under the data directory
    description: str
    class_names: tuple[str, ...]
    dnabert2: float | None  # published, x 100
    vqdna_hrq: float | None
    group: str  # published numbers that are group averages are compared per group
    metric: str = "mcc"
    extra_train: tuple[str, ...] = ()  # more training files, relative to the data directory
    # The head also reads the HRQ embeddings of this many central tokens of each window
    # (`vqdna train finetune --center-tokens`), where that scored higher on validation rows.
    center_tokens: int = 0
    center_at: int | None = None  # the base those tokens centre on (default: the middle)
    both_strands: bool = False  # features averaged over both strands (`--both-strands`)
    whole_record: bool = False  # one feature vector per sequence (`--whole-record`)
    all_layers: bool = False  # every Transformer layer's pooled vector (`--all-layers`)
    segments: int = 0  # the mean output of each of this many parts of the window (`--segments`)
    # Where this task's head trains otherwise than DEFAULT_RECIPE (epochs, lr, dropout),
    # because the common recipe did worse on its validation rows.
    recipe: dict = field(default_factory=dict)
    # Genomic rows beside GUE's: real TSS or exon boundaries of the training region's fit part
    # against genomic background, so that the head answers on genome sequence too.
    # benchmarks.gue builds the set into its work folder when it is missing.
    genome_set: TrainingMix | None = None
    has_train_split: bool = True
    # The paper gives only the group's average: DNABERT-2 for the histone marks, VQDNA-HRQ
    # for the histone marks and mouse TF.
    dnabert2_is_group_average: bool = False
    hrq_is_group_average: bool = False

    @property
    def reads(self) -> HeadReads:
        """What this task's head reads beyond the pooled vector (head.json records the same)."""
        return HeadReads(self.center_tokens, self.center_at, self.both_strands, self.whole_record, self.all_layers,
                         self.segments)

    @property
    def cut_from_human_genome(self) -> bool:
        """GUE cut this task's rows from the human genome (promoters, splice sites, human TF
        peaks), so some may lie in the parts of chrX this project keeps for checks."""
        return self.group in HUMAN_GROUPS

    def train_files(self, data: Path) -> list[str]:
        split = "train" if self.has_train_split else "dev"
        return [str(data / self.folder / f"{split}.csv.gz"), *(str(data / f) for f in self.extra_train)]

    def valid_files(self, data: Path) -> tuple[str, ...]:
        """dev, for a task with a train split; none otherwise (HeadRows then holds out a share
        of the training rows)."""
        return (str(data / self.folder / "dev.csv.gz"),) if self.has_train_split else ()

    def test_files(self, data: Path) -> list[str]:
        return [str(data / self.folder / "test.csv.gz")]


def _binary(negative: str, positive: str) -> tuple[str, str]:
    return (negative, positive)


PROMOTER = _binary("non-promoter", "promoter")
BOUND = _binary("unbound", "bound")
MARKED = _binary("unmarked", "marked")

# 300 bp promoters run from -249 to +50 around the TSS (at base 249), so their heads read the
# 64 tokens at bases 200..263 (TATA box and TSS), which beat none and the 32 middle ones, and
# the window in 8 parts, which scored higher on their validation rows and on the selection
# part of the training region (TRAINING.md, seventeenth round).
PROMOTER_SITE = {"center_tokens": 64, "center_at": 232, "segments": 8}
# Beside GUE's balanced rows, the 300 bp heads' genomic background makes three in four to
# nine in ten of their training rows negatives; trained on that as it is, a head learns the
# share as a prior and calls few real TSS at p >= 0.5. Balanced classes (the loss sees the
# share, the head's logits do not) remove that prior at no cost on GUE's held-out rows, and
# let the mix hold three times the background, which does cost GUE some of its score
# (weights/default/TRAINING.md, tenth round).
BALANCED = {"recipe": {"balance_classes": True}}

# Promoter and splice heads train on genomic rows too: without them they called few real TSS
# against genomic background (benchmarks/results/real_genome.md). The mixes were chosen on the
# training region (never the validation region) and GUE's own held-out rows: the 300 bp heads'
# 33 background windows per TSS (with balanced classes) against 11, 22, 66 and 92 in the
# tenth round, the core heads' 11 in the seventh.
GENOME_PROMOTERS = TrainingMix("promoter", negatives_per_positive=6, other_species_per_positive=3)
GENOME_CORE_PROMOTERS = TrainingMix("core-promoter", negatives_per_positive=2, other_species_per_positive=1)
GENOME_SPLICE = TrainingMix("splice", negatives_per_positive=1)

TASKS: list[Task] = [
    # prom_300_all has no train split here; prom_300_tata's train split adds the TATA promoters
    # (its rows are disjoint from prom_300_all's test split once --exclude has run).
    Task("promoter", "gue/prom/prom_300_all", "GUE prom_300_all: human promoters (300 bp, -249..+50 around the TSS) against non-promoters",
         PROMOTER, 86.77, 90.75, "prom_300", extra_train=("gue/prom/prom_300_tata/train.csv.gz",), has_train_split=False,
         genome_set=GENOME_PROMOTERS, **PROMOTER_SITE, **BALANCED),
    Task("promoter-tata", "gue/prom/prom_300_tata", "GUE prom_300_tata: TATA-box promoters (300 bp) against non-promoters",
         PROMOTER, 71.59, 74.52, "prom_300", genome_set=GENOME_PROMOTERS, **PROMOTER_SITE, **BALANCED),
    Task("promoter-notata", "gue/prom/prom_300_notata", "GUE prom_300_notata: promoters without a TATA box (300 bp) against non-promoters",
         PROMOTER, 94.27, 94.48, "prom_300", has_train_split=False, genome_set=GENOME_PROMOTERS,
         **PROMOTER_SITE, **BALANCED),
    # Core promoters run from -34 to +35 around the TSS, so a TATA box (about -30) sits near
    # their start: reading all 70 tokens helped, except without a TATA box, where 32 central
    # ones did as well. TF peaks gained nothing from central tokens, so their heads do without.
    Task("core-promoter", "gue/prom/prom_core_all", "GUE prom_core_all: core promoters (70 bp, -34..+35 around the TSS)",
         PROMOTER, 69.37, 71.02, "prom_core", center_tokens=70, genome_set=GENOME_CORE_PROMOTERS),
    Task("core-promoter-tata", "gue/prom/prom_core_tata", "GUE prom_core_tata: TATA-box core promoters (70 bp)",
         PROMOTER, 74.17, 78.50, "prom_core", center_tokens=70, genome_set=GENOME_CORE_PROMOTERS),
    # Of the core heads only this one gained from reading its 70 bp in 8 parts (seventeenth round).
    Task("core-promoter-notata", "gue/prom/prom_core_notata", "GUE prom_core_notata: core promoters without a TATA box (70 bp)",
         PROMOTER, 68.04, 70.58, "prom_core", center_tokens=32, segments=8, genome_set=GENOME_CORE_PROMOTERS),
    # Class names read off the data: label 0 has AG just before the site (intron end:
    # acceptor), label 1 has GT just after it (intron start: donor), label 2 neither. The site
    # is at base 200 of 400, so the head reads the HRQ embeddings of the 32 central tokens too.
    # Five members (seeds averaged) scored higher than one on every held-out block of the
    # training region they were tried on (TRAINING.md, fourteenth round), and so did the
    # window read in 8 parts, which says on which side of the junction the exon lies (sixteenth).
    Task("splice-site", "gue/splice/reconstructed", "GUE splice (reconstructed): splice acceptor, donor or neither (400 bp)",
         ("acceptor", "donor", "non-splice"), 84.99, 89.53, "splice", has_train_split=False, center_tokens=32,
         segments=8, genome_set=GENOME_SPLICE, recipe={"members": 5}),
    # Human TF heads 1..4 read both strands, which scored higher on their validation rows (not 0).
    *[Task(f"tf-human-{i}", f"gue/tf/{i}", f"GUE tf/{i}: human transcription-factor binding site (ChIP-seq peak, 101 bp)",
           BOUND, d, h, "tf_human", both_strands=(i != 0))
      for i, (d, h) in enumerate([(71.99, 72.48), (76.06, 76.43), (66.52, 66.85), (58.54, 58.92), (77.43, 78.10)])],
    # Mouse TF heads read both strands where that scored higher on validation rows (not 2).
    *[Task(f"tf-mouse-{i}", f"gue/mouse/{i}", f"GUE mouse/{i}: mouse transcription-factor binding site (ChIP-seq peak, 101 bp)",
           BOUND, d, 69.80, "tf_mouse", has_train_split=(i != 1), hrq_is_group_average=True, both_strands=(i != 2))
      for i, d in enumerate([56.76, 84.77, 79.32, 66.47, 52.66])],
    # Histone heads read both strands where that scored higher on validation rows (HISTONE_BOTH_STRANDS).
    *[Task(f"histone-{mark}", f"gue/EMP/{mark}", f"GUE EMP {mark}: yeast nucleosome-bound DNA carrying the {mark} histone mark or not (500 bp)",
           MARKED, 55.98, 57.95, "histone", has_train_split=False, dnabert2_is_group_average=True,
           hrq_is_group_average=True, both_strands=mark in HISTONE_BOTH_STRANDS)
      for mark in HISTONE_MARKS],
    # The stand-in for GUE's covid task ($VQDNA_DATA/sarscov2/variant_fragments_1000bp):
    # windows conserved across lineages are identical in several classes, so no classifier can
    # reach 100 %. Its few rows make few steps per epoch, hence 100 epochs; its 1,000 bp
    # fragments span two windows and score higher read whole (`whole_record`), where no
    # dropout and a high lr did best.
    Task("sars-cov-2-variant", "sarscov2/variant_fragments_1000bp",
         "SARS-CoV-2 lineage (WHO label) of a 1,000 bp genome window; stand-in for GUE covid (9 classes)",
         VARIANT_CLASSES, 71.02, 74.32, "covid", metric="macro_f1", whole_record=True,
         recipe={"epochs": 100, "dropout": 0.0, "lr": 1e-2}),
]

BY_NAME = {task.name: task for task in TASKS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The genome parts pre-training holds out.")
    parser.add_argument("--holdout-options", action="store_true", required=True,
                        help="print the held-out parts as `vqdna train` options, one word a line")
    parser.parse_args(argv)
    print("\n".join(holdout_options()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
