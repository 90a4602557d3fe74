"""The shipped weights on real data from ../shared/data (or $VQDNA_DATA).

Skipped, with the reason, when the data is not there. Test splits are only ever scored here,
never trained on or used to choose anything.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from vqdna_cli import api
from vqdna_cli.runner import default_weights_dir

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path | None:
    for candidate in (os.environ.get("VQDNA_DATA"), ROOT.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


DATA = _data_dir()
pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(DATA is None, reason="no real data: set VQDNA_DATA or provide ../shared/data"),
]


def test_shipped_weights_load_and_record_how_they_were_made():
    info = json.loads((default_weights_dir() / "config.json").read_text())
    assert {"tokenizer", "pretrain"} <= set(info["provenance"])
    tasks = {head["task"]: head for head in api.list_tasks()}
    assert "promoter" in tasks
    assert "test" in tasks["promoter"], "the promoter head's test score is recorded"


def test_tokenize_a_real_genome_is_deterministic(tmp_path: Path):
    genome = DATA / "genomes" / "phage_lambda_NC_001416.fa.gz"
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    api.tokenize(str(genome), first, threads=2)
    api.tokenize(str(genome), second, threads=2)
    assert first.read_bytes() == second.read_bytes()
    tokens = np.load(first)
    assert tokens["offsets"].tolist() == [0, 48502]
    metadata = json.loads(str(tokens["metadata"]))
    for level, size in enumerate(metadata["codebook_sizes"]):
        assert int(tokens["tokens"][:, level].max()) < size
        assert len(np.unique(tokens["tokens"][:, level])) > size // 4  # a real genome uses many codes


def test_reads_of_a_real_bam_region(tmp_path: Path):
    bam = DATA / "sarscov2" / "reads" / "omicron_s_3ins_9del.bam"
    out = tmp_path / "reads.npz"
    summary = api.tokenize(str(bam), out, region="NC_045512.2:22200-22210", threads=2)
    tokens = np.load(out)
    assert summary["records"] == 409  # reads overlapping the region (pysam fetch)
    assert set(tokens["chroms"].tolist()) == {"NC_045512.2"}
    assert np.all(tokens["starts"] < 22210)


def test_promoter_head_on_real_test_sequences(tmp_path: Path):
    """A sanity floor on 400 test rows; the full test score is in README and head.json.
    Every 14th row: the file lists the TATA promoters (the harder half) first."""
    with gzip.open(DATA / "gue" / "prom" / "prom_300_all" / "test.csv.gz", "rt") as handle:
        rows = list(csv.reader(handle))[1:][::14][:400]
    fasta = tmp_path / "prom.fa"
    fasta.write_text("".join(f">row{i}\n{seq}\n" for i, (seq, _) in enumerate(rows)))
    out = tmp_path / "prom.tsv"
    api.classify(str(fasta), out, task="promoter", threads=2)
    lines = [line.split("\t") for line in out.read_text().splitlines() if not line.startswith("#")]
    header, predictions = lines[0], lines[1:]
    assert header[:3] == ["id", "label", "class_index"]
    predicted = np.array([int(p[2]) for p in predictions])
    truth = np.array([int(label) for _, label in rows])
    from vqdna_cli.metrics import classification_metrics

    assert classification_metrics(truth, predicted, 2)["mcc"] > MCC_FLOOR


MCC_FLOOR = 0.3
