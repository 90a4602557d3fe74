"""DNA alphabet: bases to small integer codes, and codes to (soft) one-hot rows.

Policy for ambiguous bases (written here once, quoted in the README): every IUPAC code
keeps its position (coordinates never shift) and becomes the uniform distribution over
the bases it stands for, so N is (0.25, 0.25, 0.25, 0.25) and R (A or G) is
(0.5, 0, 0.5, 0). Nothing silently becomes A. U is read as T. Lowercase is uppercased by
the readers before it gets here.
"""

from __future__ import annotations

import numpy as np

BASES = "ACGT"
# Code order: the four bases, N, then the two- and three-base IUPAC codes, then padding.
CODE_LETTERS = "ACGTNRYSWKMBDHV"
PAD_CODE = len(CODE_LETTERS)  # 15: padding, a zero row, never a base
N_CODES = PAD_CODE + 1

_IUPAC_MEANING = {
    "A": "A", "C": "C", "G": "G", "T": "T", "N": "ACGT",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG",
}


def _soft_onehot_table() -> np.ndarray:
    table = np.zeros((N_CODES, 4), dtype=np.float32)
    for code, letter in enumerate(CODE_LETTERS):
        meaning = _IUPAC_MEANING[letter]
        for base in meaning:
            table[code, BASES.index(base)] = 1.0 / len(meaning)
    return table


# (16, 4): row `code` is the base distribution of that code; the model embeds codes with it.
SOFT_ONEHOT = _soft_onehot_table()

# Byte -> code lookup for fast vectorised encoding. Unknown bytes map to 255 so that a
# caller that skipped validation is caught by `encode` instead of getting garbage.
_BYTE_TO_CODE = np.full(256, 255, dtype=np.uint8)
for _code, _letter in enumerate(CODE_LETTERS):
    _BYTE_TO_CODE[ord(_letter)] = _code
    _BYTE_TO_CODE[ord(_letter.lower())] = _code
_BYTE_TO_CODE[ord("U")] = _BYTE_TO_CODE[ord("u")] = BASES.index("T")

_COMPLEMENT_LETTERS = str.maketrans("ACGTUNRYSWKMBDHV", "TGCAANYRSWMKVHDB")  # U pairs with A, as T does
# code -> code of the complementary base (padding stays padding).
COMPLEMENT_CODE = np.array(
    [CODE_LETTERS.index(c.translate(_COMPLEMENT_LETTERS)) for c in CODE_LETTERS] + [PAD_CODE],
    dtype=np.uint8,
)


def encode(seq: str) -> np.ndarray:
    """Uppercase or lowercase IUPAC string -> uint8 codes of the same length."""
    try:
        raw = seq.encode("ascii")
    except UnicodeEncodeError as error:  # one message for every letter that is not a base
        raise ValueError(f"not an IUPAC nucleotide: {seq[error.start]!r} at position {error.start + 1}") from None
    codes = _BYTE_TO_CODE[np.frombuffer(raw, dtype=np.uint8)]
    if codes.size and codes.max() == 255:
        bad = int(np.argmax(codes == 255))
        raise ValueError(f"not an IUPAC nucleotide: {seq[bad]!r} at position {bad + 1}")
    return codes


def decode(codes: np.ndarray) -> str:
    """uint8 codes -> uppercase string (padding is dropped)."""
    codes = np.asarray(codes)
    return "".join(CODE_LETTERS[c] for c in codes if c != PAD_CODE)


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of a code array: the opposite strand, read 5' to 3'."""
    return COMPLEMENT_CODE[np.asarray(codes)[..., ::-1]]


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT_LETTERS)[::-1]


def is_ambiguous(codes: np.ndarray) -> np.ndarray:
    """True where a code is not one of A, C, G, T (N and other IUPAC codes)."""
    return (codes >= 4) & (codes != PAD_CODE)
