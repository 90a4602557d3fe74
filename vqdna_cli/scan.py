"""Scanning a genome with a task head (`vqdna classify --scan`): windows cut in the layout the
head was trained on, on both strands where the head reads one strand, streamed a block at a
time so that memory stays flat whatever the chromosome's length.

Where windows come from: with an indexed FASTA (`.fai`), every contig (or the `--region` /
`--bed` intervals, sorted and merged) is fetched `BLOCK_BASES` at a time; without an index the
file is read record by record (each record's bases are then in memory once, 1 byte a base).
Windows start every `stride` bases from the interval's start, plus one ending at its end when
the stride leaves a tail; an interval shorter than the window gets none. A window with more
than `MAX_AMBIGUOUS` N (or other IUPAC) bases is skipped: it says little about the genome.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vqdna_cli.data.alphabet import reverse_complement
from vqdna_cli.errors import InputError, UsageError
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.regions import Region
from vqdna_cli.options import ScanSettings

if TYPE_CHECKING:
    from vqdna_cli.head_info import HeadInfo

BLOCK_BASES = 1_000_000  # bases fetched at a time from an indexed FASTA
MAX_AMBIGUOUS = 0.1  # windows with a larger share of non-ACGT bases are skipped
_BASES = b"ACGTU"  # U is read as T (an RNA genome scans as its DNA)


@dataclass(frozen=True)
class ScanLayout:
    """How windows are cut for one head: their length, the step between them, and the
    strands each is read on ("+" and "-" for a head that reads one strand, "." for a head
    that averages both itself)."""

    window: int
    stride: int
    strands: tuple[str, ...]

    @classmethod
    def of(cls, info: HeadInfo, model_window: int, settings: ScanSettings) -> "ScanLayout":
        """The layout for a head; bad values raise a one-line error."""
        if info.reads.whole_record:  # its training rows were whole sequences, never windows of one
            raise UsageError(f"the {info.task or 'chosen'} head classifies whole sequences, not windows of a "
                             "genome: it cannot scan; classify the sequences instead (without --scan)")
        trained = info.train_window_lengths
        window = settings.window if settings.window is not None else (trained[1] if trained else model_window)
        if not 1 <= window <= model_window:
            raise UsageError(f"--window {window}: must be between 1 and the model window ({model_window})")
        stride = settings.stride if settings.stride is not None else max(1, window // 2)  # ScanSettings checks a given one
        strands = (".",) if info.reads.both_strands else ("+", "-")
        return cls(window, stride, strands)


def window_starts(start: int, end: int, layout: ScanLayout) -> Iterator[int]:
    """Window starts in [start, end): every `stride`, plus one ending at `end` when a tail is
    left uncovered. Made one at a time: a chromosome at a small stride has hundreds of
    millions of them."""
    if end - start < layout.window:
        return
    every_stride = range(start, end - layout.window + 1, layout.stride)
    yield from every_stride
    if every_stride[-1] + layout.window < end:
        yield end - layout.window


def mostly_bases(seq: str) -> bool:
    """At most MAX_AMBIGUOUS of `seq` is N or another IUPAC code (what a call can be made on)."""
    ambiguous = len(seq.encode("ascii").translate(None, _BASES))
    return ambiguous <= MAX_AMBIGUOUS * len(seq)


@dataclass(frozen=True)
class ScanWindow:
    """One window to classify: its record (bases as read on `strand`) and strand; `done`:
    the bases of the scan gone through up to its end (earlier intervals whole, windows left
    out and the gaps of a stride longer than the window included), for the progress bar."""

    record: SequenceRecord
    strand: str
    done: int = 0


@dataclass
class Skipped:
    """What a scan left out, for its closing lines: windows mostly N or other IUPAC codes, and
    records of an unindexed FASTA shorter than a window (seen only as they are read)."""

    ambiguous: int = 0
    short_records: int = 0


def interval_windows(fetch: Callable[[int, int], str], chrom: str, start: int, end: int,
                     layout: ScanLayout, skipped: Skipped | None = None, done_before: int = 0) -> Iterator[ScanWindow]:
    """The windows of [start, end) of `chrom`, in position order (both strands of a window
    one after the other); `fetch(a, b)` returns bases [a, b), uppercased. Windows left out
    for their N are counted in `skipped`; `done_before`: the bases of the intervals before."""
    starts = window_starts(start, end, layout)
    per_block = max(1, BLOCK_BASES // layout.stride)
    while block := list(itertools.islice(starts, per_block)):
        offset = block[0]
        bases = fetch(offset, block[-1] + layout.window)
        for at in block:
            seq = bases[at - offset : at - offset + layout.window]
            if not mostly_bases(seq):
                if skipped is not None:
                    skipped.ambiguous += len(layout.strands)  # counted as the windows written are
                continue
            for strand in layout.strands:
                record = SequenceRecord(f"{chrom}:{at}-{at + layout.window}", reverse_complement(seq) if strand == "-" else seq,
                                        chrom, at)
                yield ScanWindow(record, strand, done_before + at + layout.window - start)


# --- where the windows come from -------------------------------------------------------------


def sorted_merged(regions: list[Region], order: list[str]) -> list[Region]:
    """Regions sorted by contig (in the file's order) and start, overlaps merged: the calls
    then come out sorted and no window is classified twice."""
    rank = {name: i for i, name in enumerate(order)}
    merged: list[Region] = []
    for region in sorted(regions, key=lambda r: (rank[r.chrom], r.start)):
        last = merged[-1] if merged else None
        if last is not None and last.chrom == region.chrom and region.start <= last.end:
            merged[-1] = Region(last.chrom, last.start, max(last.end, region.end))
        else:
            merged.append(Region(region.chrom, region.start, region.end))
    return merged


@dataclass
class ScanSource:
    """The intervals to scan and how to read them; `total_bases` for the progress bar (None
    when unknown: a FASTA without an index)."""

    path: str
    regions: list[Region] | None  # None: every record of an unindexed FASTA
    total_bases: int | None
    whole_records: bool = True  # False: the --region / --bed intervals
    merged_away: int = 0  # intervals that overlapped or touched another and were scanned as one with it
    skipped: Skipped = field(default_factory=Skipped)  # by `windows`, as it goes

    @classmethod
    def open(cls, path: str, regions: list[Region]) -> "ScanSource":
        from vqdna_cli.io.fasta import require_file
        from vqdna_cli.io.indexed_fasta import indexed_fasta_lengths
        from vqdna_cli.io.regions import resolve_regions

        from vqdna_cli.io.writers import is_special

        # a genome is read more than once (its format sniffed, its index or records read):
        # a pipe would give its first bytes to the sniffing alone
        if path == "-" or is_special(path):
            raise InputError(f"--scan needs a FASTA file, not {'stdin' if path == '-' else 'a pipe or device'}: "
                             "it is read more than once; give the file itself (gzip and BGZF are read as they are)")
        require_file(path)
        _require_fasta(path)
        if regions or (os.path.exists(path + ".fai") and not _plain_gzip(path)):  # (a stray .fai of plain gzip: unusable)
            lengths = indexed_fasta_lengths(path, {r.chrom for r in regions}, every_record=not regions)
            wanted = resolve_regions(regions, lengths, path) or \
                [Region(name, 0, length) for name, length in lengths.items()]
            merged = sorted_merged(wanted, list(lengths))
            return cls(path, merged, sum(r.end - r.start for r in merged), whole_records=not regions,
                       merged_away=len(wanted) - len(merged))
        return cls(path, None, None)

    def shorter_than(self, window: int) -> int:
        """How many of the (merged) intervals, or records, got no window: they are shorter than
        one (an unindexed FASTA's records are counted as `windows` reads them)."""
        return sum(1 for region in self.regions or () if region.end - region.start < window) + \
            self.skipped.short_records

    def windows(self, layout: ScanLayout) -> Iterator[ScanWindow]:
        if self.regions is None:
            from vqdna_cli.io.fasta import read_fasta

            done = 0
            for record in read_fasta(self.path):
                self.skipped.short_records += len(record) < layout.window
                yield from interval_windows(lambda a, b, r=record: r.seq[a:b], record.chrom, 0, len(record), layout,
                                            self.skipped, done)
                done += len(record)
            return
        from vqdna_cli.io.indexed_fasta import fetch_bases, open_indexed_fasta

        done = 0
        with open_indexed_fasta(self.path) as fasta:
            for region in self.regions:
                def fetch(a: int, b: int, chrom=region.chrom) -> str:
                    return fetch_bases(fasta, Region(chrom, a, b), self.path)

                yield from interval_windows(fetch, region.chrom, region.start, region.end, layout, self.skipped, done)
                done += region.end - region.start


def _require_fasta(path: str) -> None:
    """Reads or alignments are no genome to scan: said before any advice on indexes."""
    from vqdna_cli.io.sequences import ALIGNMENT, detect_format, looks_like_fastq

    if detect_format(path) == ALIGNMENT:
        raise InputError(f"--scan reads a genome FASTA; {path} is an alignment file (BAM/SAM/CRAM): classify its "
                         "reads without --scan")
    if looks_like_fastq(path):
        raise InputError(f"--scan reads a genome FASTA; {path} looks like FASTQ (reads): classify them without --scan")


def _plain_gzip(path: str) -> bool:
    from vqdna_cli.io.fasta import GZIP_MAGIC, MAGIC_BYTES, is_bgzf

    with open(path, "rb") as handle:
        head = handle.read(MAGIC_BYTES)
    return head.startswith(GZIP_MAGIC) and not is_bgzf(head)


def background_classes(info: HeadInfo, named: tuple[str, ...] | None = None) -> set[int]:
    """The classes that are not calls: those `named` (`classify --background`), else a class
    named `non-...` ("non-promoter", "non-splice"), else, for a two-class head, the one labelled
    0 (GUE's negative: unbound, unmarked). Heads without one (the variant head, a head trained
    on labels that are words) have none: every window is a call of its best class."""
    names, labels = info.class_names, info.labels
    if named is not None:
        unknown = [name for name in named if name not in names]
        if unknown:
            raise UsageError(f"--background {', '.join(unknown)}: {_head_named(info)} has no such class (its classes: "
                             f"{', '.join(names)})")
        if set(named) >= set(names):
            raise UsageError(f"--background names every class of {_head_named(info)}: no window could be a call; "
                             "leave out the class you are looking for")
        return {names.index(name) for name in named}
    named = {i for i, name in enumerate(names) if name.lower().startswith("non-")}
    if named:
        return named
    return {labels.index("0")} if len(names) == 2 and "0" in labels else set()


# Class names that say "none of the others": a head with one of them, or a two-class head (a
# detector), has a class that is no call; one of lineages or species answers with each.
_NOT_A_CALL_NAMES = frozenset({"other", "others", "background", "negative", "neg", "none", "no", "random", "decoy",
                               "control", "null"})


def unnamed_background_likely(info: HeadInfo) -> bool:
    """Whether a head without a background class (`background_classes` empty) probably has one
    that its names do not say: every window would then be a call, the background's too."""
    return len(info.class_names) == 2 or any(name.lower() in _NOT_A_CALL_NAMES for name in info.class_names)


def _head_named(info: HeadInfo) -> str:
    return f"head {info.task}" if info.task else "the head"
