"""A head's training rows, remembered compactly enough to recognise them again.

`vqdna train evaluate --record` stores a test score in head.json, shown to users as how the
head does on data it never saw. A test file that holds the head's own training or validation
rows (the training CSV given as --test by mistake) would make that score a training score.
head.json keeps a bottom-k sketch of those rows: the SKETCH_SIZE smallest digests of their
distinct sequences. A test set that repeats a share of the training rows holds about that
share of the sketch, and one that repeats none holds none of it (a digest collision aside).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SKETCH_SIZE = 512
DIGEST_HEX = 16  # 64-bit digests, written as hex text in head.json


def _digest(sequence: str) -> str:
    # U is read as T: a row written as RNA is the same row to a head (sketches of T rows unchanged)
    return hashlib.blake2b(sequence.replace("U", "T").encode("ascii"), digest_size=DIGEST_HEX // 2).hexdigest()


def sketch(sequences: Iterable[str]) -> dict:
    """The head.json record of `sequences` (uppercase, as the training rows are kept)."""
    distinct = {_digest(sequence) for sequence in sequences}
    return {"digests": sorted(distinct)[:SKETCH_SIZE], "rows": len(distinct), "digest": f"blake2b-{DIGEST_HEX * 4}"}


def share_seen(record: dict, sequences: Iterable[str]) -> float:
    """About what share of the sketched rows are among `sequences` (0 when none is)."""
    digests = set(record.get("digests") or ())
    if not digests:
        return 0.0
    return len(digests & {_digest(sequence) for sequence in sequences}) / len(digests)
