"""`embed --rc`: averaging both strands makes a sequence and its reverse complement embed
the same, pooled and per token (token j of a sequence is token L-1-j of its reverse
complement)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import fasta_text, random_dna
from vqdna_cli import api
from vqdna_cli.data.alphabet import reverse_complement
from vqdna_cli.options import ClassifyOptions, EmbedOptions, InputSpec, RunOptions

# 40 and 64 bp fit one window; 100 bp has two windows, (0, 64) and (36, 100), which the
# reverse strand maps onto each other, so even its windows swap exactly.
SEQUENCES = {"one40": random_dna(40, 21, "ACGTACGTN"), "full64": random_dna(64, 22), "two100": random_dna(100, 23)}


def load(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def rows_of(result: dict, name: str, key: str, offsets: str) -> np.ndarray:
    index = list(result["ids"]).index(name)
    return result[key][result[offsets][index] : result[offsets][index + 1]]


@pytest.fixture(scope="module")
def embedded(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[bool, dict]:
    """Each sequence and its reverse complement (`<name>_rc`), embedded with and without --rc."""
    folder = tmp_path_factory.mktemp("rc")
    records = {**SEQUENCES, **{f"{n}_rc": reverse_complement(s) for n, s in SEQUENCES.items()}}
    fasta = folder / "both.fa"
    fasta.write_text(fasta_text(records))
    results = {}
    for rc in (False, True):
        out = folder / f"rc_{rc}.npz"
        api.embed(InputSpec(str(fasta)), out, RunOptions(tiny_model_dir, threads=1),
                  EmbedOptions(per_token=True, reverse_complement=rc))
        results[rc] = load(out)
    return results


@pytest.mark.parametrize("name", ["one40", "full64"])
def test_rc_pooled_vector_is_strand_independent(embedded, name: str) -> None:
    forward = rows_of(embedded[True], name, "embeddings", "window_offsets")
    reverse = rows_of(embedded[True], f"{name}_rc", "embeddings", "window_offsets")
    assert forward.shape == (1, 16)
    np.testing.assert_allclose(forward, reverse, atol=1e-5)


def test_rc_pooled_windows_swap_on_the_reverse_strand(embedded) -> None:
    forward = rows_of(embedded[True], "two100", "embeddings", "window_offsets")
    reverse = rows_of(embedded[True], "two100_rc", "embeddings", "window_offsets")
    assert forward.shape == (2, 16)
    np.testing.assert_allclose(forward, reverse[::-1], atol=1e-5)


@pytest.mark.parametrize("name", ["one40", "full64", "two100"])
def test_rc_per_token_vectors_are_flipped(embedded, name: str) -> None:
    forward = rows_of(embedded[True], name, "token_embeddings", "token_offsets")
    reverse = rows_of(embedded[True], f"{name}_rc", "token_embeddings", "token_offsets")
    assert forward.shape == (len(SEQUENCES[name]), 16)
    np.testing.assert_allclose(forward, reverse[::-1], atol=1e-5)


def test_without_rc_the_strands_differ(embedded) -> None:
    """The control: the model itself is not strand-symmetric, so the tests above show the
    effect of --rc, not a degenerate model."""
    forward = rows_of(embedded[False], "one40", "embeddings", "window_offsets")
    reverse = rows_of(embedded[False], "one40_rc", "embeddings", "window_offsets")
    assert np.abs(forward - reverse).max() > 1e-3


def test_rc_is_recorded_in_metadata(embedded) -> None:
    import json

    assert json.loads(str(embedded[True]["metadata"]))["reverse_complement"] is True
    assert json.loads(str(embedded[False]["metadata"]))["reverse_complement"] is False


def test_rc_classification_is_strand_independent(tiny_model_dir: Path, tmp_path: Path) -> None:
    records = {"one40": SEQUENCES["one40"], "one40_rc": reverse_complement(SEQUENCES["one40"])}
    fasta = tmp_path / "pair.fa"
    fasta.write_text(fasta_text(records))
    out = tmp_path / "pred.tsv"
    api.classify(InputSpec(str(fasta)), out, "toy", RunOptions(tiny_model_dir, threads=1),
                 ClassifyOptions(reverse_complement=True))
    rows = [line.split("\t") for line in out.read_text().splitlines() if not line.startswith(("#", "id\t"))]
    assert [row[0] for row in rows] == ["one40", "one40_rc"]
    forward, reverse = ([float(x) for x in row[3:]] for row in rows)
    assert forward == pytest.approx(reverse, abs=1e-4)
