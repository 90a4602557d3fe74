"""Real human sequence in the layouts of the promoter and splice heads: the regions of chrX and
chr22 that train, select and validate, the genome and annotation readers, and the set builders
that cut promoter, splice and background windows (`promoter_set`, `splice_set`,
`training_set`, `write_csv`). `benchmarks/real_genome.py` scores the heads on these sets;
`benchmarks/gue.py train` builds a retrained head's genomic rows with `ensure_training_set`.

Regions (fixed; `TRAINING_REGION`, `VALIDATION_REGION`):
- training: chrX 0-30 Mb and the chr22 slice (20-21 Mb). Rules' thresholds are chosen here,
  and heads retrained for genomes may train here.
- validation: chrX 30-40 Mb. Nothing is trained or selected on it; it only scores.
- fit and selection: chrX 0-25 Mb with the chr22 slice, and chrX 25-30 Mb, the two parts of the
  training region. Heads retrained for genomes train on genomic rows of the fit part
  (`training_set`, `TrainingMix`); their mix is chosen on the selection part.
chrX beyond 40 Mb is never read here: its annotation is kept out for an independent check.
(benchmarks/held_out_rows.py reads its bases only to find the GUE rows cut from it, which the
heads scored here then never train on.)

Layouts (as GUE's, `LAYOUTS`): promoter windows are TSS -249..+50 (300 bp, TSS at base 249)
and core-promoter windows -34..+35 (70 bp, TSS at base 34), on the gene's strand; splice
windows are 400 bp with the exon/intron junction between bases 199 and 200 in the
transcript's orientation (acceptor: AG at 198-199, exon from 200; donor: exon to 199, GT at
200-201), as in GUE splice/reconstructed.

    python -m benchmarks.genome_sets export --layout promoter --region training \\
        --background gc-matched --genes all -o prom_gc.csv    # `sequence,label` for `vqdna train finetune`
    python -m benchmarks.genome_sets training-sets --layout promoter --negatives-per-positive 2 \\
        --other-species-per-positive 1 --out ../runs/heads/genome-sets  # a retrained head's genomic rows

Data: ../shared/data (or $VQDNA_DATA); `data_dir()` is None without it, and the commands print
`skipped: ...` and exit 0.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqdna_cli.data.alphabet import reverse_complement
from vqdna_cli.train import recipes
from vqdna_cli.train.recipes import GENE_SETS, HOLDOUT_FILES, LAYOUTS, Layout, TrainingMix


# --- regions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """An interval of a chromosome, 0-based half-open, in the annotation's names (chrX, chr22)."""

    chrom: str
    start: int
    end: int

    def holds(self, chrom: str, start: int, end: int) -> bool:
        return chrom == self.chrom and self.start <= start and end <= self.end

    def __str__(self) -> str:
        return f"{self.chrom}:{self.start / 1e6:g}-{self.end / 1e6:g} Mb"


TRAINING_REGION = (Span("chrX", 0, 30_000_000), Span("chr22", 20_000_000, 21_000_000))
VALIDATION_REGION = (Span("chrX", 30_000_000, 40_000_000),)
# Heads retrained for genomes (`training_set`) train on the fit part of the training region;
# the mix of their genomic rows is chosen on the selection part, so that the validation
# region only scores the heads once they are fixed.
FIT_REGION = (Span("chrX", 0, 25_000_000), Span("chr22", 20_000_000, 21_000_000))
SELECTION_REGION = (Span("chrX", 25_000_000, 30_000_000),)
REGIONS = {"training": TRAINING_REGION, "validation": VALIDATION_REGION, "fit": FIT_REGION,
           "selection": SELECTION_REGION}
RULE_REGION = {"validation": "training", "selection": "fit"}  # where a scored region's rules choose their thresholds
CHRX_READ_LIMIT = 40_000_000  # never read chrX beyond this (kept for an independent check)

MIN_TSS_DISTANCE = 5_000  # background windows keep at least this many bases from every annotated TSS
MIN_SITE_DISTANCE = 500  # splice decoys keep at least this many bases from every annotated exon boundary
MAX_TRIES = 2_000_000  # random candidates drawn for one set before it is left short


# --- data -------------------------------------------------------------------------------------


def data_dir() -> Path | None:
    """$VQDNA_DATA, else ../shared/data; None when the annotation or genomes are missing."""
    data = recipes.data_dir()
    return data if (data / "annotation").is_dir() and (data / "genomes").is_dir() else None


CHRX_FASTA = "human_chrX_0-70Mb_GRCh37_smalt.fa.gz"  # chrX from base 1
CHR22_FASTA = "human_chr22_20-21Mb_hisat2.fa.gz"  # base i is chr22 position 20,000,000 + i (1-based)
TSS_TABLE = "hg19_tss_chrX-0-40Mb_chr22-20-21Mb.tsv.gz"
EXON_TABLE = "hg19_exons_chrX-0-40Mb_chr22-20-21Mb.tsv.gz"


@dataclass
class Genome:
    """Uppercased sequence of each chromosome piece we have: chrom -> (0-based offset, bases)."""

    pieces: dict[str, tuple[int, str]]

    def fetch(self, chrom: str, start: int, end: int) -> str | None:
        """Bases [start, end) (0-based), or None where the piece does not cover them."""
        if chrom not in self.pieces:
            return None
        offset, seq = self.pieces[chrom]
        if start < offset or end > offset + len(seq):
            return None
        return seq[start - offset : end - offset]


def read_fasta_prefix(path: Path, limit: int | None) -> str:
    """The first record of a gzip FASTA, at most `limit` bases (the rest is never read)."""
    chunks, size = [], 0
    with gzip.open(path, "rt") as handle:
        handle.readline()  # header
        for line in handle:
            if line.startswith(">"):
                break
            chunks.append(line.strip())
            size += len(chunks[-1])
            if limit is not None and size >= limit:
                break
    seq = "".join(chunks).upper()
    return seq[:limit] if limit is not None else seq


def load_genome(data: Path) -> Genome:
    """chrX 0-40 Mb and chr22 20-21 Mb (a few seconds)."""
    genomes = data / "genomes"
    return Genome({"chrX": (0, read_fasta_prefix(genomes / CHRX_FASTA, CHRX_READ_LIMIT)),
                   "chr22": (20_000_000, read_fasta_prefix(genomes / CHR22_FASTA, None))})


@dataclass(frozen=True)
class Tss:
    chrom: str
    pos: int  # 0-based position of the first transcribed base
    strand: str
    gene: str
    gene_type: str


@dataclass(frozen=True)
class Exon:
    chrom: str
    start: int  # 0-based half-open
    end: int
    strand: str
    gene: str
    gene_type: str


@dataclass
class Annotation:
    tss: list[Tss]
    exons: list[Exon]


def _table(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt") as handle:
        return [line.rstrip("\n").split("\t") for line in handle][1:]


def load_annotation(data: Path) -> Annotation:
    """The TSS and exon tables; 1-based coordinates become 0-based half-open here."""
    folder = data / "annotation"
    tss = [Tss(c, int(p) - 1, s, g, t) for c, p, s, g, t in _table(folder / TSS_TABLE)]
    exons = [Exon(c, int(a) - 1, int(b), s, g, t) for c, a, b, s, g, t in _table(folder / EXON_TABLE)]
    return Annotation(tss, exons)


# --- windows ----------------------------------------------------------------------------------


PROMOTER, NON_PROMOTER = "1", "0"  # GUE's labels, the heads' `labels`
ACCEPTOR, DONOR, NON_SPLICE = "0", "1", "2"
SPLICE_KINDS = ("acceptor", "donor", "AG decoy", "GT decoy")  # Window.kind of the splice sets

@dataclass(frozen=True)
class Window:
    """A labelled window: genome interval [start, end) (0-based), the strand it is read on,
    and its bases in that orientation (reverse-complemented for `-`)."""

    chrom: str
    start: int
    end: int
    strand: str
    label: str
    kind: str  # what it is: protein_coding TSS, intronic background, AG decoy, ...
    seq: str

    @property
    def name(self) -> str:
        return f"{self.chrom}:{self.start}-{self.end}({self.strand})|{self.kind}|{self.label}"


def window_bounds(layout: Layout, pos: int, strand: str) -> tuple[int, int]:
    """The genome interval of a window whose base `layout.anchor` (in the strand's
    orientation) is genome position `pos`."""
    if strand == "+":
        start = pos - layout.anchor
        return start, start + layout.length
    end = pos + 1 + layout.anchor  # on `-`, base i of the window is genome position end - 1 - i
    return end - layout.length, end


def cut_window(genome: Genome, layout: Layout, chrom: str, pos: int, strand: str, label: str,
               kind: str) -> Window | None:
    """The window anchored at `pos` on `strand`; None where it leaves the sequence or holds an N."""
    start, end = window_bounds(layout, pos, strand)
    seq = genome.fetch(chrom, start, end)
    if seq is None or "N" in seq:
        return None
    return Window(chrom, start, end, strand, label, kind, seq if strand == "+" else reverse_complement(seq))


def in_region(window: Window, region: Iterable[Span]) -> bool:
    return any(span.holds(window.chrom, window.start, window.end) for span in region)


# --- interval look-ups --------------------------------------------------------------------------


class Intervals:
    """Merged intervals of one chromosome, for fast overlap and containment tests."""

    def __init__(self, pairs: Iterable[tuple[int, int]]):
        merged: list[list[int]] = []
        for start, end in sorted(pairs):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        array = np.array(merged, dtype=np.int64).reshape(-1, 2)
        self.starts, self.ends = array[:, 0], array[:, 1]

    def overlaps(self, start: int, end: int) -> bool:
        i = int(np.searchsorted(self.starts, end, side="left")) - 1  # last interval starting before `end`
        return i >= 0 and self.ends[i] > start

    def contains(self, start: int, end: int) -> bool:
        i = int(np.searchsorted(self.starts, start, side="right")) - 1
        return i >= 0 and self.ends[i] >= end


def _by_chrom(items, key) -> dict[str, list]:
    out: dict[str, list] = {}
    for item in items:
        out.setdefault(item.chrom, []).append(key(item))
    return out


@dataclass
class Landmarks:
    """What background and decoy windows are kept away from, or placed in, per chromosome."""

    near_tss: dict[str, Intervals]  # every annotated TSS, +- MIN_TSS_DISTANCE
    genes: dict[str, Intervals]  # gene spans (first to last exon, TSS included)
    exons: dict[str, Intervals]
    near_sites: dict[str, Intervals]  # every annotated exon boundary, +- MIN_SITE_DISTANCE

    @classmethod
    def of(cls, annotation: Annotation) -> "Landmarks":
        spans: dict[tuple[str, str], list[int]] = {}
        for exon in annotation.exons:
            span = spans.setdefault((exon.chrom, exon.gene), [exon.start, exon.end])
            span[0], span[1] = min(span[0], exon.start), max(span[1], exon.end)
        for tss in annotation.tss:
            span = spans.setdefault((tss.chrom, tss.gene), [tss.pos, tss.pos + 1])
            span[0], span[1] = min(span[0], tss.pos), max(span[1], tss.pos + 1)
        genes: dict[str, list] = {}
        for (chrom, _), span in spans.items():
            genes.setdefault(chrom, []).append(tuple(span))
        d, s = MIN_TSS_DISTANCE, MIN_SITE_DISTANCE
        return cls(
            near_tss={c: Intervals(v) for c, v in _by_chrom(annotation.tss, lambda t: (t.pos - d + 1, t.pos + d)).items()},
            genes={c: Intervals(v) for c, v in genes.items()},
            exons={c: Intervals(v) for c, v in _by_chrom(annotation.exons, lambda e: (e.start, e.end)).items()},
            near_sites={c: Intervals([p for e in v for p in ((e.start - s + 1, e.start + s), (e.end - s, e.end + s - 1))])
                        for c, v in _by_chrom(annotation.exons, lambda e: e).items()},
        )

    def far_from_tss(self, chrom: str, start: int, end: int) -> bool:
        """No annotated TSS within MIN_TSS_DISTANCE of any base of [start, end)."""
        near = self.near_tss.get(chrom)
        return near is None or not near.overlaps(start, end)


# --- composition (the one-line rules of real_genome.py; GC also matches backgrounds) ----------


def cpg_count(seq: str) -> int:
    return seq.count("CG")


def gc_fraction(seq: str) -> float:
    return (seq.count("G") + seq.count("C")) / max(len(seq), 1)


# --- promoter sets ----------------------------------------------------------------------------

BACKGROUNDS = ("random", "intergenic", "intronic", "exonic", "gc-matched")


@dataclass(frozen=True)
class SetOptions:
    """Which set to build. `region`: "training" or "validation" (REGIONS). `genes`: TSS of
    "protein_coding" genes or of "all" genes. `background`: where negatives come from
    (BACKGROUNDS, or "all" for every kind in equal parts); every kind keeps MIN_TSS_DISTANCE
    from any annotated TSS and is drawn on both strands. `negatives_per_positive`: how many
    negatives of each kind per positive."""

    region: str = "validation"
    genes: str = "protein_coding"
    background: str = "random"
    negatives_per_positive: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.region not in REGIONS:
            raise ValueError(f"region {self.region!r}: use {' or '.join(REGIONS)}")
        if self.genes not in GENE_SETS:
            raise ValueError(f"genes {self.genes!r}: use {' or '.join(GENE_SETS)}")
        if self.background not in (*BACKGROUNDS, "all"):
            raise ValueError(f"background {self.background!r}: use one of {', '.join(BACKGROUNDS)} or all")


def tss_windows(genome: Genome, annotation: Annotation, layout: Layout, options: SetOptions,
                shift: int = 0) -> list[Window]:
    """Promoter windows of the region, one per annotated TSS, on the gene's strand; with
    `shift`, anchored that many bases downstream of it (upstream where negative)."""
    region = REGIONS[options.region]
    windows = []
    for tss in annotation.tss:
        if options.genes == "protein_coding" and tss.gene_type != "protein_coding":
            continue
        pos = tss.pos + shift if tss.strand == "+" else tss.pos - shift
        kind = f"TSS {tss.gene_type}" + (f" shifted {shift:+d}" if shift else "")
        window = cut_window(genome, layout, tss.chrom, pos, tss.strand, PROMOTER, kind)
        if window is not None and in_region(window, region):
            windows.append(window)
    return sorted(set(windows), key=genome_order)


def genome_order(window: Window):
    """Sort key: genome order, then label and kind, so that windows at the same place (an
    acceptor and a donor window of one boundary, a TSS two genes share) come out in one order
    on every run: the sets are built through set(), whose order changes with Python's hash seed."""
    return window.chrom, window.start, window.strand, window.label, window.kind


def _fits(kind: str, landmarks: Landmarks, chrom: str, start: int, end: int, anchor: int) -> bool:
    """Whether a candidate background window is of `kind` (all kinds: far from any TSS)."""
    if not landmarks.far_from_tss(chrom, start, end):
        return False
    genes, exons = landmarks.genes.get(chrom), landmarks.exons.get(chrom)
    if kind == "intergenic":
        return genes is None or not genes.overlaps(start, end)
    if kind == "intronic":
        return genes is not None and genes.contains(start, end) and not exons.overlaps(start, end)
    if kind == "exonic":  # the anchor base (where a TSS would be) lies in an exon
        return exons is not None and exons.overlaps(anchor, anchor + 1)
    return True  # random, gc-matched


def _seed(*parts) -> int:
    """A stable seed for a set (Python's hash() changes between runs)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def _candidates(genome: Genome, region: tuple[Span, ...], layout: Layout, rng: np.random.Generator):
    """Endless random (chrom, anchor position, strand), uniform over the region's bases."""
    sizes = np.array([span.end - span.start for span in region], dtype=np.float64)
    while True:
        span = region[rng.choice(len(region), p=sizes / sizes.sum())]
        pos = int(rng.integers(span.start + layout.length, span.end - layout.length))
        yield span.chrom, pos, "+" if rng.random() < 0.5 else "-"


def background_windows(genome: Genome, landmarks: Landmarks, layout: Layout, kind: str, count: int,
                       options: SetOptions, gc_targets: list[float] | None = None) -> list[Window]:
    """`count` windows of background `kind` from the region (both strands, no N). For
    "gc-matched", one per entry of `gc_targets`, each within 0.02 of its GC content: the
    negatives are then as GC-rich as the promoters, so GC alone cannot separate them."""
    region = REGIONS[options.region]
    rng = np.random.default_rng(_seed(options.region, options.seed, layout.name, kind))
    wanted = sorted(gc_targets) if kind == "gc-matched" else None
    target = len(wanted) if wanted is not None else count
    windows: list[Window] = []
    seen = set()
    for tries, (chrom, pos, strand) in enumerate(_candidates(genome, region, layout, rng)):
        if len(windows) >= target or tries > MAX_TRIES:
            break
        start, end = window_bounds(layout, pos, strand)
        if (chrom, start) in seen or not _fits(kind, landmarks, chrom, start, end, pos):
            continue
        window = cut_window(genome, layout, chrom, pos, strand, NON_PROMOTER, f"{kind} background")
        if window is None or not in_region(window, region):
            continue
        if wanted is not None:
            match = _closest_target(wanted, gc_fraction(window.seq))
            if match is None:
                continue
            wanted.pop(match)
        seen.add((chrom, start))
        windows.append(window)
    return sorted(windows, key=genome_order)


def _closest_target(targets: list[float], gc: float, tolerance: float = 0.02) -> int | None:
    i = int(np.searchsorted(targets, gc))
    best = min((j for j in (i - 1, i) if 0 <= j < len(targets)), key=lambda j: abs(targets[j] - gc), default=None)
    return best if best is not None and abs(targets[best] - gc) <= tolerance else None


def promoter_set(genome: Genome, annotation: Annotation, layout: Layout, options: SetOptions) -> list[Window]:
    """TSS windows of the region (label "1") and background windows (label "0"), sorted by
    position, in the promoter heads' layout (`LAYOUTS["promoter"]` or `["core-promoter"]`)."""
    positives = tss_windows(genome, annotation, layout, options)
    landmarks = Landmarks.of(annotation)
    count = int(round(len(positives) * options.negatives_per_positive))
    kinds = BACKGROUNDS if options.background == "all" else (options.background,)
    negatives = []
    for kind in kinds:
        targets = [gc_fraction(w.seq) for w in positives][:count] if kind == "gc-matched" else None
        if targets is not None and count > len(positives):  # more negatives than positives: cycle the targets
            targets = [targets[i % len(targets)] for i in range(count)]
        negatives += background_windows(genome, landmarks, layout, kind, count, options, targets)
    return sorted(positives + negatives, key=genome_order)


# --- splice sets ------------------------------------------------------------------------------


def _gene_exons(annotation: Annotation) -> dict[tuple[str, str, str], list[Exon]]:
    genes: dict[tuple[str, str, str], list[Exon]] = {}
    for exon in annotation.exons:
        genes.setdefault((exon.chrom, exon.gene, exon.strand), []).append(exon)
    return genes


def splice_sites(annotation: Annotation) -> list[tuple[str, int, str, str]]:
    """(chrom, anchor position, strand, label) of every annotated internal exon boundary: an
    acceptor where an exon starts (in the gene's orientation) after another exon of the same
    gene ends, a donor where an exon ends before another one starts. The anchor is the first
    base after the junction: the exon's first base (acceptor), the intron's first (donor).
    The table has no transcript IDs, so boundaries that only an alternative first or last
    exon has are left out by this rule."""
    sites = set()
    for (chrom, _, strand), exons in _gene_exons(annotation).items():
        first_end = min(e.end for e in exons)  # 0-based exclusive end of the leftmost-ending exon
        last_start = max(e.start for e in exons)
        for exon in exons:
            left_inner = exon.start >= first_end  # another exon of the gene ends left of it
            right_inner = exon.end <= last_start  # another one starts right of it
            if strand == "+":
                if left_inner:
                    sites.add((chrom, exon.start, strand, ACCEPTOR))
                if right_inner:
                    sites.add((chrom, exon.end, strand, DONOR))
            else:  # on `-` the gene reads right to left: the exon's right end is its 5' end
                if right_inner:
                    sites.add((chrom, exon.end - 1, strand, ACCEPTOR))
                if left_inner:
                    sites.add((chrom, exon.start - 1, strand, DONOR))
    return sorted(sites)


def _canonical(window: Window) -> bool:
    """AG before an acceptor's exon, GT (or GC) at a donor's intron start, as in GUE's splice set."""
    junction = window.seq[198:202]
    return junction[:2] == "AG" if window.label == ACCEPTOR else junction[2:] in ("GT", "GC")


def splice_set(genome: Genome, annotation: Annotation, options: SetOptions) -> list[Window]:
    """Acceptor ("0") and donor ("1") windows at the region's annotated exon boundaries (with a
    canonical AG / GT-GC), and as many non-splice ("2") decoys of each: an AG at bases 198-199
    (acceptor-like) or a GT at 200-201 (donor-like), at a random place and strand at least
    MIN_SITE_DISTANCE from every annotated exon boundary. `options.background` and `genes`
    are not used."""
    layout, region = LAYOUTS["splice"], REGIONS[options.region]
    sites = []
    for chrom, pos, strand, label in splice_sites(annotation):
        window = cut_window(genome, layout, chrom, pos, strand, label, "acceptor" if label == ACCEPTOR else "donor")
        if window is not None and in_region(window, region) and _canonical(window):
            sites.append(window)
    landmarks = Landmarks.of(annotation)
    decoys = []
    for label, motif, at in ((ACCEPTOR, "AG", 198), (DONOR, "GT", 200)):
        count = int(round(sum(w.label == label for w in sites) * options.negatives_per_positive))
        decoys += _decoys(genome, landmarks, options, motif, at, count)
    return sorted(set(sites), key=genome_order) + sorted(decoys, key=genome_order)


def _decoys(genome: Genome, landmarks: Landmarks, options: SetOptions, motif: str, at: int, count: int) -> list[Window]:
    layout, region = LAYOUTS["splice"], REGIONS[options.region]
    rng = np.random.default_rng(_seed(options.region, options.seed, "decoy", motif))
    windows, seen = [], set()
    for tries, (chrom, pos, strand) in enumerate(_candidates(genome, region, layout, rng)):
        if len(windows) >= count or tries > MAX_TRIES:
            break
        start, end = window_bounds(layout, pos, strand)
        near = landmarks.near_sites.get(chrom)
        if (chrom, start, strand) in seen or (near is not None and near.overlaps(start + 150, end - 150)):
            continue
        window = cut_window(genome, layout, chrom, pos, strand, NON_SPLICE, f"{motif} decoy")
        if window is None or not in_region(window, region) or window.seq[at : at + 2] != motif:
            continue
        seen.add((chrom, start, strand))
        windows.append(window)
    return windows


def write_csv(windows: Iterable[Window], path: Path) -> int:
    """GUE's `sequence,label` CSV (what `vqdna train finetune` reads); returns the row count."""
    rows = [f"{w.seq},{w.label}" for w in windows]
    path.write_text("sequence,label\n" + "".join(row + "\n" for row in rows))
    return len(rows)


# --- training sets for heads retrained for genomes ----------------------------------------------


def _other_species_files(data: Path) -> list[Path]:
    """The non-human genomes pre-training may read: human sequence is left to the annotated
    sets, and the genomes pre-training holds out (recipes.HOLDOUT_FILES) are never read."""
    return sorted(p for p in (data / "genomes").glob("*.f*a.gz")
                  if not p.name.startswith("human_") and p.name not in HOLDOUT_FILES)


def _read_records(path: Path) -> list[tuple[str, str]]:
    """(name, uppercased bases) of every record of a gzip FASTA."""
    records, name, chunks = [], None, []
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                if name is not None:
                    records.append((name, "".join(chunks).upper()))
                name, chunks = line[1:].split()[0], []
            else:
                chunks.append(line.strip())
    if name is not None:
        records.append((name, "".join(chunks).upper()))
    return records


def other_species_windows(files: list[Path], layout: Layout, count: int, seed: int) -> list[Window]:
    """`count` non-promoter windows of other species, the same number from each file (so the
    small genomes count as much as P. falciparum), at random places and strands, no N."""
    rng = np.random.default_rng(_seed("other species", seed, layout.name))
    windows = []
    for i, path in enumerate(files):
        wanted = count // len(files) + (i < count % len(files))
        records = [(name, seq) for name, seq in _read_records(path) if len(seq) >= layout.length]
        if not records or not wanted:
            continue
        sizes = np.array([len(seq) for _, seq in records], dtype=np.float64)
        seen = set()
        for _ in range(100 * wanted):
            if len(seen) >= wanted:
                break
            name, seq = records[rng.choice(len(records), p=sizes / sizes.sum())]
            start = int(rng.integers(0, len(seq) - layout.length + 1))
            strand = "+" if rng.random() < 0.5 else "-"
            bases = seq[start : start + layout.length]
            if (name, start, strand) in seen or set(bases) - set("ACGT"):
                continue
            seen.add((name, start, strand))
            windows.append(Window(f"{path.name}:{name}", start, start + layout.length, strand, NON_PROMOTER,
                                  "other species", bases if strand == "+" else reverse_complement(bases)))
    return windows


def training_set(genome: Genome, annotation: Annotation, mix: TrainingMix, data: Path) -> list[Window]:
    """The rows of `mix` (see TrainingMix), sorted as the set builders sort them."""
    options = SetOptions(region="fit", genes=mix.genes, background="all",
                         negatives_per_positive=mix.negatives_per_positive, seed=mix.seed)
    if mix.layout == "splice":
        return splice_set(genome, annotation, options)
    layout = LAYOUTS[mix.layout]
    windows = promoter_set(genome, annotation, layout, options)
    positives = sum(w.label == PROMOTER for w in windows)
    count = int(round(positives * mix.other_species_per_positive))
    shifted = [w for shift in mix.shifts for w in tss_windows(genome, annotation, layout, options, shift)]
    return windows + shifted + other_species_windows(_other_species_files(data), layout, count, mix.seed)


def ensure_training_set(mix: TrainingMix, work_dir: Path, data: Path | None = None) -> Path:
    """The CSV of `mix` under `work_dir`, built first where it is not there yet (gue.py calls
    this, so that `scripts/train_weights.sh heads` remakes the sets it trains on)."""
    path = Path(work_dir) / mix.file_name
    if path.is_file():
        return path
    data = data or data_dir()
    if data is None:
        raise FileNotFoundError("no annotation/genomes under $VQDNA_DATA or ../shared/data (see its README.md)")
    path.parent.mkdir(parents=True, exist_ok=True)
    windows = training_set(load_genome(data), load_annotation(data), mix, data)
    partial = path.with_suffix(".partial")  # a set cut short is never taken for a finished one
    write_csv(windows, partial)
    partial.replace(path)
    return path


# --- command line -----------------------------------------------------------------------------------------


def export(args) -> None:
    data = data_dir()
    if data is None:
        print("skipped: no annotation/genomes under $VQDNA_DATA or ../shared/data (see its README.md)")
        return
    genome, annotation = load_genome(data), load_annotation(data)
    options = SetOptions(region=args.region, genes=args.genes, background=args.background,
                         negatives_per_positive=args.negatives_per_positive, seed=args.seed)
    windows = (splice_set(genome, annotation, options) if args.layout == "splice"
               else promoter_set(genome, annotation, LAYOUTS[args.layout], options))
    count = write_csv(windows, Path(args.output))
    print(f"wrote {count} rows to {args.output}", file=sys.stderr)


def training_sets(args) -> None:
    """Writes the genomic training rows of one mix (TrainingMix) into a work folder."""
    if data_dir() is None:
        print("skipped: no annotation/genomes under $VQDNA_DATA or ../shared/data (see its README.md)")
        return
    mix = TrainingMix(args.layout, args.negatives_per_positive, args.other_species_per_positive, args.genes,
                      tuple(args.shifts), args.seed)
    path = ensure_training_set(mix, Path(args.out))
    print(f"{path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write real-genome sets as GUE-style `sequence,label` CSV.")
    commands = parser.add_subparsers(dest="command", required=True)
    export_parser = commands.add_parser("export", help="write one set as `sequence,label` CSV")
    export_parser.add_argument("--layout", choices=list(LAYOUTS), required=True)
    export_parser.add_argument("--region", choices=list(REGIONS), default="training")
    export_parser.add_argument("--genes", choices=GENE_SETS, default="protein_coding")
    export_parser.add_argument("--background", choices=[*BACKGROUNDS, "all"], default="all")
    export_parser.add_argument("--negatives-per-positive", type=float, default=1.0)
    export_parser.add_argument("--seed", type=int, default=0)
    export_parser.add_argument("-o", "--output", required=True)
    export_parser.set_defaults(func=export)
    sets_parser = commands.add_parser("training-sets", help="write the genomic training rows of a head (fit region)")
    sets_parser.add_argument("--layout", choices=list(LAYOUTS), required=True)
    sets_parser.add_argument("--negatives-per-positive", type=float, default=1.0, help="of each background kind (splice: decoys)")
    sets_parser.add_argument("--other-species-per-positive", type=float, default=0.0)
    sets_parser.add_argument("--genes", choices=GENE_SETS, default="all", help="whose TSS are positives")
    sets_parser.add_argument("--shifts", type=int, nargs="*", default=[], help="more TSS windows, this many bases off")
    sets_parser.add_argument("--seed", type=int, default=0)
    sets_parser.add_argument("--out", required=True, help="work folder (outside the repository)")
    sets_parser.set_defaults(func=training_sets)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
