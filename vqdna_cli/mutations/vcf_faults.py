"""Why htslib refused a VCF, in words a user can act on: pysam reports a header it cannot
parse as "does not have valid header" and any record it cannot parse as a "truncated file",
so on failure (only then) the file's text is read to name the fault and the line it is on."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterator

from vqdna_cli.errors import InputError
from vqdna_cli.io.labelled import open_text

_GENOTYPE = re.compile(r"[/|]?(\.|\d+)([/|](\.|\d+))*")


def open_detail(error: Exception) -> str:
    """pysam's reason without Python's bytes reprs (`b'x.vcf'`), which mean nothing to a user."""
    text = str(error)
    if "valid header" in text:
        return "its header is not valid VCF: check its `##` lines and its `#CHROM` line"
    return re.sub(r"`?b'([^']*)'`?", r"\1", text)


def header_fault(path: str) -> str | None:
    """The header faults htslib reports only as "does not have valid header": a missing
    `#CHROM` line (cut off with the `##` lines above it kept) and a sample named twice."""
    try:
        header = _header_lines(path)
    except (OSError, EOFError, zlib.error):
        return None
    if not header or not header[0].startswith("##"):  # BCF, or not VCF text at all
        return None
    if not header[-1].startswith("#CHROM"):
        return (f"{path} looks like a VCF but lacks its `#CHROM POS ID REF ALT ...` line after the `##` header "
                "lines; add it, or take the header from the original VCF (`bcftools view -h`)")
    counts = Counter(header[-1].rstrip("\r\n").split("\t")[9:])
    twice = next((name for name, count in counts.items() if count > 1), None)
    if twice is not None:
        return f"{path}: duplicate sample name {twice} in its #CHROM line: sample names must be distinct"
    return None


def _header_lines(path: str) -> list[str]:
    """The `#` lines at the top, up to and with the `#CHROM` line."""
    header = []
    for line in _text_lines(path):
        if not line.startswith("#"):
            break
        header.append(line)
        if line.startswith("#CHROM"):
            break
    return header


def _text_lines(path: str) -> Iterator[str]:
    """The lines of a VCF, plain or BGZF; decompression errors propagate (a cut file)."""
    with open_text(path, errors="replace") as handle:
        yield from handle


def record_error(path: str, number: int, error: Exception) -> InputError:
    """Why record `number` cannot be read, at its line. pysam says "truncated file" for any
    record htslib cannot parse, so the line itself is looked at (only now, on failure)."""
    try:
        found = _data_line(path, number)
    except (OSError, EOFError, zlib.error):
        return InputError(f"{path} is truncated or corrupt: it cannot be decompressed up to record {number}")
    if found is None:  # BCF: no lines to show
        return InputError(f"{path}: record {number} cannot be read ({open_detail(error)})")
    line_number, line = found
    cut = "" if line.endswith("\n") else " (the file ends within this line: was it cut short?)"
    return InputError(f"{path} line {line_number}: {_line_fault(line, _sample_count(path))}{cut}")


def _sample_count(path: str) -> int | None:
    """How many samples the `#CHROM` line names (None when it cannot be read)."""
    try:
        header = _header_lines(path)
    except (OSError, EOFError, zlib.error):
        return None
    if not header or not header[-1].startswith("#CHROM"):
        return None
    return max(len(header[-1].rstrip("\r\n").split("\t")) - 9, 0)


def where(path: str, number: int) -> str:
    """` line N` of record `number`, or ` record N` where the file has no lines (BCF)."""
    try:
        found = _data_line(path, number)
    except (OSError, EOFError, zlib.error):
        found = None
    return f" line {found[0]}" if found else f" record {number}"


def _data_line(path: str, number: int) -> tuple[int, str] | None:
    """(line number, text) of record `number` of a VCF text file; None for BCF. Every line
    after `#CHROM` is a record to htslib, empty ones too."""
    past_header = False
    records = 0
    for line_number, line in enumerate(_text_lines(path), start=1):
        if line_number == 1 and not line.startswith("##"):
            return None
        if not past_header:
            past_header = line.startswith("#CHROM")
            continue
        records += 1
        if records == number:
            return line_number, line
    return None


def _line_fault(line: str, samples: int | None = None) -> str:
    """What is wrong with a record line htslib could not parse, where its text shows it
    (`samples`: how many the header names)."""
    fields = line.rstrip("\r\n").split("\t")
    if not line.strip():
        return "an empty line among the records; remove it"
    if len(fields) < 8:
        return (f"{len(fields)} column{'s' if len(fields) > 1 else ''} where a VCF record has at least 8 "
                "(CHROM POS ID REF ALT QUAL FILTER INFO), tab-separated")
    if not (fields[1].isascii() and fields[1].isdigit()):
        return f"POS {fields[1]!r} is not a position (a whole number, 1 or more)"
    if samples and len(fields) != 9 + samples:
        given = max(len(fields) - 9, 0)
        return (f"{given} sample column{'s' if given != 1 else ''} where the #CHROM line names {samples} "
                f"sample{'s' if samples != 1 else ''} (after FORMAT), tab-separated")
    genotype = _bad_genotype(fields)
    if genotype is not None:
        return f"GT {genotype!r} is not a genotype (0/1, 1|0, 1, ./. ...)"
    return "not a valid VCF record (check its INFO, FORMAT and sample columns against the header)"


def _bad_genotype(fields: list[str]) -> str | None:
    """The first sample GT of the line that is not allele numbers joined by / or |."""
    if len(fields) < 10 or fields[8].split(":")[0] != "GT":
        return None
    genotypes = (value.split(":")[0] for value in fields[9:])
    return next((genotype for genotype in genotypes if not _GENOTYPE.fullmatch(genotype)), None)
