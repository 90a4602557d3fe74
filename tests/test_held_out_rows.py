"""GUE rows that lie in the held-out human regions are found, on either strand, so that
`gue.py train` keeps them from training and selecting the heads scored on real genomes."""

from __future__ import annotations

import gzip
from pathlib import Path

from benchmarks import held_out_rows
from benchmarks.genome_sets import Span, reverse_complement
from conftest import random_dna
from vqdna_cli.train.benchmark_overlap import SequenceMask


def test_rows_are_found_on_either_strand_and_across_chunk_edges(monkeypatch):
    monkeypatch.setattr(SequenceMask, "CHUNK", 1_000)  # the region is scanned in three chunks
    region = random_dna(2_500, 1)
    rows = [region[100:170],                      # forward
            reverse_complement(region[400:700]),  # other strand
            region[980:1_050],                    # crosses the first chunk's edge
            random_dna(70, 2),                    # nowhere
            region[2_000:2_020],                  # shorter than the anchor: never found
            region[1_500:1_569] + "A" if region[1_569] != "A" else region[1_500:1_569] + "C"]  # differs in its last base
    assert held_out_rows.rows_lying_in(rows, region, region_start=5_000) == [5_100, 5_400, 5_980, None, None, None]


def test_a_region_with_n_runs_finds_rows_beside_them():
    region = "N" * 300 + random_dna(500, 3) + "N" * 40 + random_dna(200, 4)
    rows = [region[300:370], region[840:910], region[250:320]]  # the last one holds N: GUE rows never do
    assert held_out_rows.rows_lying_in(rows, region) == [300, 840, None]


def test_the_held_out_rows_file_lists_the_rows_of_the_region_with_their_labels(tmp_path: Path, monkeypatch):
    chrx = random_dna(1_000, 5)
    (tmp_path / "genomes").mkdir()
    with gzip.open(tmp_path / "genomes" / held_out_rows.CHRX_FASTA, "wt") as handle:
        handle.write(">X\n" + "\n".join(chrx[i:i + 60] for i in range(0, len(chrx), 60)) + "\n")
    monkeypatch.setattr(held_out_rows, "HELD_OUT_REGIONS", (Span("chrX", 400, 800),))
    monkeypatch.setattr(held_out_rows, "REACH", 100)
    inside, outside, rc_inside = chrx[500:570], chrx[100:170], reverse_complement(chrx[700:770])
    straddling = chrx[380:450]  # begins before the region, ends in it
    (tmp_path / "train.csv").write_text(f"sequence,label\n{inside},1\n{outside},1\n{rc_inside},0\n{straddling},1\n")
    path = held_out_rows.ensure_held_out_rows("demo", [str(tmp_path / "train.csv")], tmp_path, tmp_path / "work")
    assert path.read_text() == f"sequence,label\n{inside},1\n{rc_inside},0\n{straddling},1\n"
    path.write_text("sequence,label\n")  # an existing file is kept, not remade
    assert held_out_rows.ensure_held_out_rows("demo", [str(tmp_path / "train.csv")], tmp_path,
                                              tmp_path / "work").read_text() == "sequence,label\n"
