"""Genomic regions: samtools-style `chr:start-end` strings and BED files, both turned
into one 0-based half-open `Region` so no coordinate convention leaks past this module."""

from __future__ import annotations

import gzip
import re
import warnings
import zlib
from dataclasses import dataclass, field

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.io.fasta import foreign_compression

_BRACED = re.compile(r"^\{(?P<chrom>[^{}]+)\}(?::(?P<range>.*))?$")
# a position as htslib reads one: thousands separators, and k/M/G with an optional fraction (1.5k)
_POSITION = r"[0-9][0-9,]*(?:\.[0-9]+)?[kKmMgG]?"
_RANGE = re.compile(rf"^(?P<start>{_POSITION})?(?:-(?P<end>{_POSITION})?)?$")
_RANGE_LIKE = re.compile(r"^-?[0-9][0-9,.\-kKmMgG]*$")
_SCALE = {"k": 10**3, "m": 10**6, "g": 10**9}
_INTEGER = re.compile("[0-9]+")
_BED_SKIP = ("#", "track", "browser")
_CONTIGS_SHOWN = 5


@dataclass(frozen=True)
class Region:
    """An interval on one contig, 0-based half-open like BED and pysam.

    `end` is None for "to the end of the contig" (the reader fills it in from the index);
    `name` (BED column 4) becomes the record name when present.
    """

    chrom: str
    start: int
    end: int | None
    name: str | None = None
    # `--region` as written, where it parsed as CHROM:RANGE: a contig may be named just that
    # (`22:20000001-21000000`), and samtools then reads the whole contig.
    text: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        """samtools notation (1-based inclusive), e.g. `chr1:1001-2000`."""
        if self.end is None:
            return self.chrom if self.start == 0 else f"{self.chrom}:{self.start + 1}-"
        return f"{self.chrom}:{self.start + 1}-{self.end}"


def parse_region(text: str) -> Region:
    """Parse samtools region syntax: `chr`, `chr:start`, `chr:start-` or `chr:start-end`.

    Coordinates are 1-based inclusive and may contain thousands separators
    (`chr1:1,000-2,000`). Contig names may contain ':' (HLA alleles), so the range is
    taken from the right; `{NAME}` or `{NAME}:start-end` quotes a name whose last
    ':'-part would otherwise look like a coordinate, as in samtools.
    """
    text = text.strip()
    if not text or any(char.isspace() for char in text):
        raise InputError(f"invalid region {text!r}; expected CHROM, CHROM:START or CHROM:START-END")
    braced = _BRACED.match(text)
    if braced:
        return _with_range(braced["chrom"], braced["range"], text)
    chrom, colon, tail = text.rpartition(":")
    if colon and _RANGE_LIKE.match(tail):
        region = _with_range(chrom, tail, text)
        return Region(region.chrom, region.start, region.end, text=text)
    return Region(text, 0, None)


def _with_range(chrom: str, range_text: str | None, text: str) -> Region:
    if not chrom:
        raise InputError(f"invalid region {text!r}: the contig name is empty")
    if range_text is None:
        return Region(chrom, 0, None)
    match = _RANGE.match(range_text)
    if not match or not (match["start"] or match["end"]):
        raise InputError(
            f"invalid region {text!r}; expected CHROM:START-END, e.g. chr1:1,000-2,000 or chr1:1.5M-2M (a contig "
            f"whose name holds ':' is given whole as {{NAME}}: '{{{text}}}')"
        )
    start = _position(match["start"], text) if match["start"] else 1  # `chr1:-500`: from the start, as samtools
    end = _position(match["end"], text) if match["end"] else None
    if start < 1:
        raise InputError(f"invalid region {text!r}: positions are 1-based, so START must be >= 1")
    if end is not None and end < start:
        raise InputError(f"invalid region {text!r}: END {end:,} is before START {start:,}")
    return Region(chrom, start - 1, end)


def _position(written: str, text: str) -> int:
    """`1,000`, `1k`, `1.5M` as htslib reads them; a fraction that leaves part of a base is refused."""
    from fractions import Fraction

    digits = written.replace(",", "")
    scale = _SCALE.get(digits[-1].lower(), 1)
    value = Fraction(digits[:-1] if scale > 1 else digits) * scale
    if value.denominator != 1:
        raise InputError(f"invalid region {text!r}: {written} is not a whole base")
    return int(value)


def resolve_regions(regions: list[Region], lengths: dict[str, int], source: str) -> list[Region]:
    """`resolve_region` of each, for a reader: the regions whose end was cut to their contig's
    are counted in one warning (a BED of another assembly would otherwise give one per line)."""
    resolved = [resolve_region(region, lengths, source) for region in regions]
    # (a region that named a whole contig, `22:20000001-21000000`, kept no end of its own)
    cut = [given for given, kept in zip(regions, resolved)
           if given.end is not None and given.chrom == kept.chrom and given.end > kept.end]
    if cut:
        first = f"{cut[0]}, contig {cut[0].chrom!r} of {lengths[cut[0].chrom]:,} bp"
        said = (f"region {cut[0]} runs past the end of contig {cut[0].chrom!r} of {source} (length "
                f"{lengths[cut[0].chrom]:,})" if len(cut) == 1 else
                f"{len(cut):,} regions run past the end of their contig in {source} ({first}, ...)")
        warnings.warn(f"{said}: read to the contig's end, as samtools does", VqdnaWarning, stacklevel=2)
    return resolved


def resolve_region(region: Region, lengths: dict[str, int], source: str) -> Region:
    """Check `region` against the contig lengths of `source` and fill in an open end; an end
    past the contig's is cut to it, as samtools does (`resolve_regions` says so).

    Shared by the FASTA and BAM readers so both reject bad regions with the same message
    before any sequence is read.
    """
    if region.text is not None and region.text in lengths:
        if region.chrom in lengths:
            raise InputError(f"region {region.text!r} is ambiguous in {source}: a contig has that name, and "
                             f"{region.chrom!r} is one too; write {{{region.text}}} for the first, "
                             f"{{{region.chrom}}}:{region.start + 1}-{region.end or ''} for the second")
        region = Region(region.text, 0, None, region.name)
    if region.chrom == "*" and "*" not in lengths:
        raise InputError(f"region '*' (samtools' unmapped reads) is for BAM/SAM/CRAM input, not {source}")
    if region.chrom not in lengths:
        known = list(lengths)
        shown = ", ".join(known[:_CONTIGS_SHOWN]) + (", ..." if len(known) > _CONTIGS_SHOWN else "")
        hint = " (write {NAME} for a contig name containing ':')" if ":" in region.chrom else ""
        raise InputError(
            f"contig {region.chrom!r} is not in {source}; known contigs: {shown}{hint}"
        )
    length = lengths[region.chrom]
    end = length if region.end is None else region.end
    if region.start >= length:
        raise InputError(
            f"region {region} is outside contig {region.chrom!r} of {source} "
            f"(length {length:,})"
        )
    end = min(end, length)
    return Region(region.chrom, region.start, end, region.name)


def check_unique_names(regions: list[Region]) -> None:
    """Regions of a FASTA become records named by BED column 4 (else chrom:start-end, once
    resolved: two regions cut to one contig's end are one name): the names must be unique,
    as FASTA record IDs must."""
    seen: set[str] = set()
    for region in regions:
        name = region.name or str(region)
        if name in seen:
            fix = ("give each BED line its own name in column 4, or drop the column" if region.name else
                   "the same region given twice, or two cut to the same contig end: give it once")
            raise InputError(f"duplicate region name {name!r} (--region/--bed); record IDs must be unique: {fix}")
        seen.add(name)


def read_bed(path: str, strands_read: bool = False) -> list[Region]:
    """Read the intervals of a BED file (plain or gzip): columns 1-3, optional name in 4.

    BED is 0-based half-open already, so coordinates are taken as they are. Header
    lines (`#`, `track`, `browser`) and blank lines are skipped. Every region is read on the
    forward strand: unless the caller reads both (`strands_read`, a scan), intervals marked
    `-` in column 6 are warned about, since a head that reads one strand answers for the
    wrong one there.
    """
    lines = _read_lines(path)
    intervals = [
        region
        for number, line in enumerate(lines, start=1)
        if (region := _parse_bed_line(line, path, number)) is not None
    ]
    regions = [region for region in intervals if region.end > region.start]
    if not regions:
        raise InputError(f"no regions in BED file {path}" + (" (only zero-length intervals)" if intervals else ""))
    if len(regions) < len(intervals):  # insertion points and the like: valid BED, no bases to read
        empty = len(intervals) - len(regions)
        warnings.warn(f"{empty:,} interval{'s' if empty > 1 else ''} of {path} {'hold' if empty > 1 else 'holds'} no "
                      "bases (START = END): skipped", VqdnaWarning, stacklevel=2)
    minus = 0 if strands_read else sum(_bed_strand(line) == "-" for line in lines)
    if minus:
        warnings.warn(f"{minus:,} of the regions of {path} {'is' if minus == 1 else 'are'} marked '-' (column 6), but "
                      "every region is read on the "
                      "forward strand (as bedtools getfasta without -s): for a head that reads one strand, cut "
                      "them with `samtools faidx -i` and classify the sequences; embed and classify take --rc "
                      "for both strands", VqdnaWarning, stacklevel=2)
    return regions


def _bed_fields(line: str) -> list[str] | None:
    """The columns of a BED line (tab-separated, or by spaces where it has no tab), or None
    for a header or blank line."""
    if not line.strip() or line.startswith(_BED_SKIP):
        return None
    return line.rstrip("\r\n").split("\t") if "\t" in line else line.split()


def _bed_strand(line: str) -> str | None:
    fields = _bed_fields(line)
    return fields[5].strip() if fields is not None and len(fields) > 5 else None


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if data.startswith(b"\x1f\x8b"):
            data = gzip.decompress(data)
        compression = foreign_compression(data)
        if compression:
            name, command = compression
            raise InputError(f"BED file {path} is {name}-compressed: give it plain or gzip-compressed "
                             f"(`{command} {path} > plain.bed`)")
        return data.decode("utf-8-sig").splitlines()  # -sig: a byte-order mark (Notepad's, Excel's) is no contig
    except FileNotFoundError as error:
        if path == "-":
            raise InputError("--bed reads a file, not stdin (-): give the BED file, or `<(command)`") from error
        raise InputError(f"BED file not found: {path}") from error
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise InputError(f"BED file {path} is a truncated or corrupt gzip file") from error
    except UnicodeDecodeError as error:
        raise InputError(f"BED file {path} is not a text file (byte {error.start + 1})") from error
    except OSError as error:
        raise InputError(f"cannot read BED file {path}: {error.strerror}") from error


def _parse_bed_line(line: str, path: str, number: int) -> Region | None:
    """One BED line to a Region, or None for a header/blank line."""
    fields = _bed_fields(line)
    if fields is None:
        return None
    where = f"{path} line {number}"
    if len(fields) < 3:
        raise InputError(f"{where}: a BED line needs CHROM, START and END columns")
    chrom, start_text, end_text = (field.strip() for field in fields[:3])
    if not chrom:
        raise InputError(f"{where}: the CHROM column is empty")
    if not (_INTEGER.fullmatch(start_text) and _INTEGER.fullmatch(end_text)):
        raise InputError(
            f"{where}: START and END must be non-negative integers, "
            f"got {start_text!r} and {end_text!r}"
            + (" (a header line? start it with '#')" if not (start_text.isdigit() or end_text.isdigit()) else "")
        )
    start, end = int(start_text), int(end_text)
    if end < start:
        raise InputError(
            f"{where}: END {end} must not be less than START {start} (BED is 0-based half-open)"
        )
    name = fields[3].strip() if len(fields) > 3 else ""
    return Region(chrom, start, end, name if name not in ("", ".") else None)
