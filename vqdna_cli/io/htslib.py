"""htslib (through pysam) speaks for itself on stderr; vqdna's one-line errors say the same
with the fix, so its own messages are turned off while pysam opens or reads a file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pysam


@contextmanager
def quiet_htslib() -> Iterator[None]:
    """htslib's stderr messages off (`[E::fai_read] ...`, `[W::vcf_parse] ...`, a missing
    index), and the "Exception ignored in __dealloc__" noise pysam prints when a half-opened
    file is freed after a failed open (Cython prints it through both hooks)."""
    previous_verbosity = pysam.set_verbosity(0)
    previous_hooks = sys.excepthook, sys.unraisablehook
    sys.excepthook = lambda *_: None
    sys.unraisablehook = lambda _: None
    try:
        yield
    finally:
        sys.excepthook, sys.unraisablehook = previous_hooks
        pysam.set_verbosity(previous_verbosity)
