"""The SEQ column of SAM text, checked as a FASTA sequence is.

htslib stores SAM text's bases as 4-bit codes: a character that is no base ('-', '.', '*'
inside a sequence, protein letters, digits) silently becomes N or, for the digits 0-3, a
base. BAM and CRAM cannot hold such characters, so only SAM text needs this look at the
bytes htslib reads, which `SamTextBases` takes beside it: from the file itself, or from the
thread that copies a stream into htslib's pipe.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO

from vqdna_cli.errors import InputError
from vqdna_cli.io.fasta import GZIP_MAGIC, validate_sequence

_CHUNK = 1 << 16
_SEQ_COLUMN = 9  # 0-based: QNAME FLAG RNAME POS MAPQ CIGAR RNEXT PNEXT TLEN SEQ QUAL
_BINARY_STARTS = (b"BAM\x01", b"CRAM")


class SamTextBases:
    """Checks each SAM text record's SEQ as it is fed the file's bytes (gzip or BGZF
    compressed as well); BAM or CRAM bytes turn it off. `problem` holds the first bad
    record's one-line error."""

    def __init__(self, source: str, raw: BinaryIO | None = None) -> None:
        self.source = source
        self.records = 0
        self.problem: str | None = None
        self._raw = raw  # a file to read alongside htslib; None where a stream's copier feeds it
        self._line_number = 0
        self._rest = b""
        self._inflate: zlib._Decompress | None = None
        self._started = self._decided = self._off = self._ended = False

    def feed(self, data: bytes) -> None:
        if self._off or self.problem is not None or not data:
            return
        if not self._started:
            self._started = True
            if data.startswith(GZIP_MAGIC):
                self._inflate = zlib.decompressobj(wbits=31)
        if self._inflate is not None:
            try:
                data = self._inflated(data)
            except zlib.error:  # corrupt: htslib says so itself
                self._off = True
                return
        data = self._rest + data
        if not self._decided:
            if len(data) < len(_BINARY_STARTS[0]):
                self._rest = data
                return
            self._decided = True
            if data.startswith(_BINARY_STARTS):
                self._off = True
                return
        lines = data.split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            self._check_line(line)
            if self.problem is not None:
                return

    def close(self) -> None:
        """The end of the input: the last line, if it has no line feed."""
        self._ended = True
        if self._rest and not self._off and self.problem is None:
            self._check_line(self._rest)
        self._rest = b""

    def check_through(self, records: int | None = None) -> None:
        """Raise the first bad record's error once `records` records (None: all) are read."""
        while self._raw is not None and not self._ended and not self._off and self.problem is None and \
                (records is None or self.records < records):
            data = self._raw.read(_CHUNK)
            if data:
                self.feed(data)
            else:
                self.close()
        if self.problem is not None:
            raise InputError(self.problem)

    def close_file(self) -> None:
        if self._raw is not None:
            self._raw.close()

    def _inflated(self, data: bytes) -> bytes:
        """gzip members one after another (BGZF is a chain of them)."""
        out = []
        while data:
            out.append(self._inflate.decompress(data))
            data = self._inflate.unused_data
            if self._inflate.eof:
                self._inflate = zlib.decompressobj(wbits=31)
        return b"".join(out)

    def _check_line(self, line: bytes) -> None:
        self._line_number += 1
        if line.startswith(b"@"):
            return
        self.records += 1
        fields = line.rstrip(b"\r").split(b"\t", _SEQ_COLUMN + 1)
        if len(fields) <= _SEQ_COLUMN or fields[_SEQ_COLUMN] == b"*":  # htslib refuses a short line itself
            return
        name = fields[0].decode("utf-8", errors="replace")
        try:
            validate_sequence(fields[_SEQ_COLUMN], name, f"{self.source} line {self._line_number:,}", reads=True)
        except InputError as error:
            self.problem = str(error)
