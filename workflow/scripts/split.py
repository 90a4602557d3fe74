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


def split_fasta(path: str, outputs: list[str]) -> None:
    """Record i goes to shard floor(i * shards / records): contiguous, sizes differing by at
    most one. vqdna refuses a FASTA without records, so no shard may be empty."""
    with _readable(path), _open_bytes(path) as handle:
        headers = [line for line in _lines(handle) if line.startswith(b">")]
    records = len(headers)
    if not records:
        raise SystemExit(f"no FASTA records in {path}: there is nothing to shard")
    # vqdna refuses an ID given twice in one file; in two shards each copy would pass
    seen: set[str] = set()
    for name in (record_name(header[1:].split(None, 1)[0]) for header in headers if header[1:].strip()):
        if name in seen:
            raise SystemExit(f"duplicate record ID {name!r} in {path}; record IDs must be unique")
        seen.add(name)
    if records < len(outputs):
        raise SystemExit(f"{path} has {records} FASTA records, fewer than shards={len(outputs)}: "
                         "the workflow splits by record, so lower `shards`")
    with contextlib.ExitStack() as stack, _open_bytes(path) as handle:
        shards = [stack.enter_context(open(output, "wb")) for output in outputs]
        headers = 0
        for line in _lines(handle):
            headers += line.startswith(b">")
            # Anything before the first header stays with record 0, so vqdna still sees it.
            shards[max(headers - 1, 0) * len(outputs) // records].write(line)


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
