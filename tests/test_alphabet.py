"""The DNA alphabet: codes, soft one-hot rows, reverse complement."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vqdna_cli.data.alphabet import (
    CODE_LETTERS,
    COMPLEMENT_CODE,
    PAD_CODE,
    SOFT_ONEHOT,
    decode,
    encode,
    is_ambiguous,
    reverse_complement,
    reverse_complement_codes,
)

IUPAC = "ACGTNRYSWKMBDHV"  # all 15 letters


def onehot_row(letter: str) -> list[float]:
    return SOFT_ONEHOT[encode(letter)[0]].tolist()


def test_encode_bases_and_n() -> None:
    assert encode("ACGTN").tolist() == [0, 1, 2, 3, 4]
    assert encode("ACGTN").dtype == np.uint8


def test_encode_every_iupac_letter_in_code_order() -> None:
    assert CODE_LETTERS == IUPAC
    assert encode(IUPAC).tolist() == list(range(15))
    assert PAD_CODE == 15


def test_lowercase_encodes_like_uppercase() -> None:
    assert encode(IUPAC.lower()).tolist() == encode(IUPAC).tolist()
    assert encode("aCgT").tolist() == [0, 1, 2, 3]


def test_u_is_read_as_t() -> None:
    assert encode("UuT").tolist() == [3, 3, 3]


def test_encode_empty() -> None:
    assert encode("").shape == (0,)


@pytest.mark.parametrize("bad, position", [("ACGX", 4), ("AC-GT", 3), ("ACG T", 4), ("ACGTÉ", 5), ("ACG*", 4)])
def test_encode_rejects_non_nucleotides(bad: str, position: int) -> None:
    said = f"not an IUPAC nucleotide: {bad[position - 1]!r} at position {position}"
    with pytest.raises(ValueError, match=re.escape(said)):
        encode(bad)


def test_encode_error_names_the_position() -> None:
    with pytest.raises(ValueError, match="position 4"):
        encode("ACGX")


def test_soft_onehot_bases() -> None:
    assert onehot_row("A") == [1, 0, 0, 0]
    assert onehot_row("C") == [0, 1, 0, 0]
    assert onehot_row("G") == [0, 0, 1, 0]
    assert onehot_row("T") == [0, 0, 0, 1]


def test_soft_onehot_ambiguous_codes_are_uniform_over_their_bases() -> None:
    assert onehot_row("N") == [0.25, 0.25, 0.25, 0.25]
    assert onehot_row("R") == [0.5, 0, 0.5, 0]  # A or G
    assert onehot_row("Y") == [0, 0.5, 0, 0.5]  # C or T
    assert onehot_row("B") == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3])  # not A


def test_soft_onehot_pad_row_is_zero() -> None:
    assert SOFT_ONEHOT.shape == (16, 4)
    assert SOFT_ONEHOT[PAD_CODE].tolist() == [0, 0, 0, 0]


def test_every_letter_row_is_a_distribution() -> None:
    assert np.allclose(SOFT_ONEHOT[:PAD_CODE].sum(1), 1.0)


def test_is_ambiguous() -> None:
    assert is_ambiguous(np.array([0, 1, 2, 3, 4, 5, 14, PAD_CODE])).tolist() == [
        False, False, False, False, True, True, True, False]


def test_reverse_complement_string() -> None:
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("RYKMBDHV") == "BDHVKMRY"
    assert reverse_complement("UUAG") == "CTAA"  # U is read as T: its complement is A


def test_reverse_complement_codes_matches_string() -> None:
    assert reverse_complement_codes(encode("AACGTN")).tolist() == encode("NACGTT").tolist()
    assert decode(reverse_complement_codes(encode(IUPAC))) == reverse_complement(IUPAC)


def test_reverse_complement_is_an_involution_for_all_letters() -> None:
    codes = np.arange(15, dtype=np.uint8)
    assert reverse_complement_codes(reverse_complement_codes(codes)).tolist() == codes.tolist()
    assert COMPLEMENT_CODE[COMPLEMENT_CODE[codes]].tolist() == codes.tolist()
    assert reverse_complement(reverse_complement(IUPAC)) == IUPAC


def test_complement_mirrors_the_base_distribution() -> None:
    """With bases ordered ACGT, the complement's distribution is the row reversed (A<->T,
    C<->G): what makes the reverse strand's soft one-hot input exact for IUPAC codes."""
    for code in range(15):
        assert SOFT_ONEHOT[COMPLEMENT_CODE[code]].tolist() == SOFT_ONEHOT[code][::-1].tolist(), CODE_LETTERS[code]


def test_padding_stays_padding() -> None:
    assert COMPLEMENT_CODE[PAD_CODE] == PAD_CODE
    assert reverse_complement_codes(np.array([0, 1, PAD_CODE], dtype=np.uint8)).tolist() == [PAD_CODE, 2, 3]


def test_decode_round_trip_drops_padding() -> None:
    codes = np.append(encode("ACGTNRY"), [PAD_CODE, PAD_CODE]).astype(np.uint8)
    assert decode(codes) == "ACGTNRY"
