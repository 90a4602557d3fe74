"""Split a FASTA into shards of whole records, in contiguous blocks.

Contiguous blocks (the first records to shard 0, the next to shard 1, ...) mean that merging
the shards' outputs in shard order gives the records in their original order. Lines are
copied byte for byte (any encoding, any line ending), so record IDs (and vqdna's checks on
them) are those of one unsharded run. gzip and BGZF input are read transparently; shards
are plain FASTA.
"""

import contextlib
import gzip
import os
import re
import zlib

# BGZF (bgzip, samtools) ends every file with this empty block. Its blocks are gzip members,
# so a file cut at a block boundary decompresses without error, records short: only the
# missing end block tells (vqdna refuses such a file; the shards would each pass).
BGZF_END = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _open_bytes(path: str):
    with open(path, "rb") as handle:
        head = handle.read(14)
        compressed = head[:2] == b"\x1f\x8b"  # gzip magic; BGZF is gzip too
        if head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC":  # BGZF: gzip with a 'BC' field
            handle.seek(-min(len(BGZF_END), os.path.getsize(path)), os.SEEK_END)
            if handle.read() != BGZF_END:
                raise SystemExit(f"{path} is BGZF without its end-of-file block: the file was cut short (an "
                                 "interrupted copy or download?); get it again, or recompress it with bgzip")
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _lines(handle):
    """The file's lines, the first without a UTF-8 byte-order mark (a FASTA saved by Notepad),
    which vqdna reads past: the first header behind it would not be counted."""
    for number, line in enumerate(handle):
        yield line.removeprefix(b"\xef\xbb\xbf") if number == 0 else line


@contextlib.contextmanager
def _readable(path: str):
    """A truncated or corrupt gzip file is refused in one line, not a zlib traceback."""
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise SystemExit(f"{path} is a truncated or corrupt gzip file ({error})") from None


def record_name(raw: bytes) -> str:
    """A header's name as vqdna reads it (vqdna_cli.io.fasta.record_name, kept here so that
    this script needs only Snakemake's Python): UTF-8, else each byte as its Latin-1 letter."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# `<read>:<is filtered>:<control number>:<index>`, the comment Illumina's Casava 1.8 writes
# (vqdna_cli.io.fasta._CASAVA): two records in a row of one name, read 1 then read 2, are
# mates, which vqdna names NAME/1 and NAME/2.
CASAVA = re.compile(rb"([12]):[YN]:[0-9]+:")


def _name_and_mate(header: bytes) -> tuple[str, bytes]:
    words = header[1:].split(None, 1)
    casava = CASAVA.match(words[1]) if len(words) > 1 else None
    return record_name(words[0]) if words else "", casava[1] if casava else b""


def _headers(path: str) -> list[bytes]:
    """The header lines, after the checks vqdna makes of the whole file that a shard alone
    would not show as the file's: FASTQ (its quality lines may start with '>') and old Mac
    line endings (the file would be one line)."""
    headers = []
    with _readable(path), _open_bytes(path) as handle:
        for number, line in enumerate(_lines(handle)):
            if number == 0 and line.startswith((b">", b";")) and b"\r" in line.rstrip(b"\r\n"):
                source = f"gzip -dc {path} |" if _is_gzip(path) else f"< {path}"
                raise SystemExit(f"{path} ends its lines with carriage returns alone (old Mac line endings); "
                                 f"convert them, e.g. {source} tr '\\r' '\\n' > fixed.fa")
            if number == 0 and line.startswith(b"@"):
                raise SystemExit(f"{path} is FASTQ: the workflow splits FASTA only; convert it, e.g. "
                                 "seqkit fq2fa, or run vqdna on it without the workflow")
            if line.startswith(b">"):
                headers.append(line)
    return headers


def _units(headers: list[bytes], path: str) -> list[int]:
    """For each record, the number of the unit it belongs to: a record alone, or a pair of
    mates, which one shard must hold together (apart, each would lose its /1 or /2). vqdna
    refuses an ID given twice in one file; in two shards each copy would pass."""
    units: list[int] = []
    names: list[str] = []
    previous: tuple[str, bytes] = ("", b"")
    for header in headers:
        name, mate = _name_and_mate(header)
        if names and name and previous[0] == name and (previous[1], mate) == (b"1", b"2"):
            names[-1] = f"{name}/1"
            names.append(f"{name}/2")
            units.append(units[-1])
        else:
            names.append(name)
            units.append(units[-1] + 1 if units else 0)
        previous = (name, mate)
    seen: set[str] = set()
    for name in filter(None, names):
        if name in seen:
            raise SystemExit(f"duplicate record ID {name!r} in {path}; record IDs must be unique")
        seen.add(name)
    return units


def split_fasta(path: str, outputs: list[str]) -> None:
    """Unit u (a record, or a pair of mates) goes to shard floor(u * shards / units):
    contiguous, sizes differing by at most one. vqdna refuses a FASTA without records, so no
    shard may be empty."""
    headers = _headers(path)
    if not headers:
        raise SystemExit(f"no FASTA records in {path}: there is nothing to shard")
    units = _units(headers, path)
    count = units[-1] + 1
    if count < len(outputs):
        counted = "records" if count == len(units) else "records or pairs of mates"
        raise SystemExit(f"{path} has {count} FASTA {counted}, fewer than shards={len(outputs)}: the workflow "
                         "splits by record, so lower `shards`")
    with contextlib.ExitStack() as stack, _open_bytes(path) as handle:
        shards = [stack.enter_context(open(output, "wb")) for output in outputs]
        record = -1
        for line in _lines(handle):
            record += line.startswith(b">")
            # Anything before the first header stays with record 0, so vqdna still sees it.
            shards[units[max(record, 0)] * len(outputs) // count].write(line)


def run_logged(path: str, outputs: list[str], log: str) -> None:
    """split_fasta, its refusal (too few records, a name twice) also written to the rule's log."""
    with open(log, "w") as handle:
        try:
            split_fasta(path, outputs)
        except SystemExit as refusal:
            handle.write(f"{refusal}\n")
            raise
        handle.write(f"{path}: {len(outputs)} shards\n")


if "snakemake" in globals():  # run by Snakemake's `script:` directive
    run_logged(snakemake.input[0], list(snakemake.output), snakemake.log[0])  # noqa: F821
