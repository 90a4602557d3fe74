"""`vqdna embed` takes a chromosome a run of windows at a time: the windows, and their vectors,
are the whole record's, and the long record is never tokenized whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_WINDOW, initialised_tiny_model, random_dna
from vqdna_cli import api
from vqdna_cli import runner as runner_module
from vqdna_cli.io.embeddings_npz import EmbeddingsNpz
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.options import EmbedOptions, InputSpec, RunOptions
from vqdna_cli.runner import Runner, embed_records, window_runs
from vqdna_cli.window_request import WindowRequest

LONG = 1_000  # bases of the long record: about 16 windows of the tiny model
PART = 200  # bases of a part in these tests


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(initialised_tiny_model(), {}, torch.device("cpu"), Path("."))


def _records() -> list[SequenceRecord]:
    return [SequenceRecord(name, random_dna(length, seed, "ACGTN"), name)
            for name, length, seed in (("short", 40, 31), ("long", LONG, 32), ("after", 90, 33))]


def test_window_runs_cover_the_windows_in_order_within_the_span() -> None:
    windows = [(0, 64), (32, 96), (64, 128), (96, 160), (128, 192), (136, 200)]
    runs = list(window_runs(windows, 100))
    assert [w for run in runs for w in run] == windows
    assert all(run[-1][1] - run[0][0] <= 100 for run in runs)
    assert list(window_runs([(0, 300)], 100)) == [[(0, 300)]]  # a window longer than a run: alone


REQUESTS = {
    "default": WindowRequest(),
    "both strands, overlapping windows": WindowRequest(reverse_complement=True, stride=40),
    "what heads read": WindowRequest(reverse_complement=True, with_code_frequencies=True, center_tokens=8,
                                     segments=4),
    "every layer, max": WindowRequest(all_layers=True, pooling="max"),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_a_long_record_in_parts_gives_the_whole_records_windows_and_vectors(runner, name) -> None:
    request = REQUESTS[name]
    records = _records()
    whole = list(embed_records(runner, records, request, batch_tokens=256))
    encoded, bases = [], []
    tokens_of = runner.tokens_of
    runner.tokens_of = lambda codes, *args: encoded.extend(map(len, codes)) or tokens_of(codes, *args)
    try:
        parts = list(embed_records(runner, records, request, batch_tokens=256, on_bases=bases.append,
                                   part_bases=PART))
    finally:
        runner.tokens_of = tokens_of
    radius = runner.model.cfg.encoder.receptive_radius
    assert max(encoded) <= PART + 2 * radius  # the long record is never tokenized whole
    assert sum(bases) == sum(map(len, records))  # progress counts every base once
    names = [(r.record.name, r.continued) for r in parts]
    assert names[0] == ("short", False) and names[-1] == ("after", False)
    assert names[1] == ("long", False) and len(names) > 4 and set(names[2:-1]) == {("long", True)}
    long_parts = [r for r in parts if r.record.name == "long"]
    assert [w for r in long_parts for w in r.windows] == whole[1].windows
    assert all(r.windows[-1][1] - r.windows[0][0] <= PART for r in long_parts)
    for field in ("pooled", "code_frequencies", "center", "segments"):
        if getattr(whole[1], field) is None:
            continue
        joined = np.concatenate([getattr(r, field) for r in long_parts])
        np.testing.assert_allclose(joined, getattr(whole[1], field), rtol=0, atol=1e-5)
    for before, after in ((whole[0], parts[0]), (whole[2], parts[-1])):
        assert before.windows == after.windows
        np.testing.assert_allclose(before.pooled, after.pooled, rtol=0, atol=1e-5)


def test_per_token_vectors_and_record_frequencies_need_the_whole_record(runner) -> None:
    for request in (WindowRequest(per_token=True), WindowRequest(with_record_frequencies=True)):
        with pytest.raises(ValueError, match="whole record"):
            next(embed_records(runner, _records(), request, batch_tokens=256, part_bases=PART))


def test_records_no_longer_than_a_part_are_one_result_each(runner) -> None:
    results = list(embed_records(runner, _records(), batch_tokens=256, part_bases=LONG))
    assert [(r.record.name, r.continued) for r in results] == [("short", False), ("long", False), ("after", False)]


# --- through `vqdna embed` ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_fasta(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("parts") / "long.fa"
    path.write_text("".join(f">{r.name}\n{r.seq}\n" for r in _records()))
    return path


OPTIONS = {
    "default": EmbedOptions(),
    "--rc --stride 40": EmbedOptions(reverse_complement=True, stride=40),
    "--pool record": EmbedOptions(pool="record"),
    "--pool record --pooling max --rc": EmbedOptions(pool="record", pooling="max", reverse_complement=True),
    "--layer all": EmbedOptions(layer="all"),
}


def _embed(model_dir: Path, fasta: Path, out: Path, options: EmbedOptions) -> dict:
    api.embed(InputSpec(str(fasta)), out, RunOptions(model_dir, threads=1), options)
    with np.load(out, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.mark.parametrize("name", OPTIONS)
def test_embed_writes_the_file_of_the_record_taken_whole(tiny_model_dir, long_fasta, tmp_path, monkeypatch,
                                                         name) -> None:
    """The same records, windows, ids and metadata; vectors equal up to the last float digits
    (parts change which windows share a batch, as --batch-tokens does)."""
    whole = _embed(tiny_model_dir, long_fasta, tmp_path / "whole.npz", OPTIONS[name])
    monkeypatch.setattr(runner_module, "PART_BASES", PART)
    parts = _embed(tiny_model_dir, long_fasta, tmp_path / "parts.npz", OPTIONS[name])
    assert sorted(parts) == sorted(whole)
    for key, array in whole.items():
        if array.dtype.kind == "f":
            np.testing.assert_allclose(parts[key], array, rtol=0, atol=1e-5, err_msg=key)
        else:
            assert np.array_equal(parts[key], array), key
    assert len(whole["ids"]) == 3
    if OPTIONS[name].pool == "window":
        assert len(whole["window_starts"]) > LONG // TINY_WINDOW  # several parts' windows in one record


def test_embed_per_token_keeps_the_record_whole(tiny_model_dir, long_fasta, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runner_module, "PART_BASES", PART)
    got = _embed(tiny_model_dir, long_fasta, tmp_path / "tokens.npz", EmbedOptions(per_token=True))
    assert got["token_embeddings"].shape[0] == 40 + LONG + 90


def test_the_table_joins_a_records_parts(tmp_path) -> None:
    record = SequenceRecord("chrX", "A" * 300, "chrX")
    rows = np.arange(5 * 4, dtype=np.float32).reshape(5, 4)
    spans = [(0, 64), (64, 128), (128, 192), (192, 256), (236, 300)]
    for name, cuts in (("whole", [0, 5]), ("parts", [0, 2, 3, 5])):
        with EmbeddingsNpz(4, None, False, False, tmp_path / f"{name}.npz") as table:
            for number, (first, last) in enumerate(zip(cuts, cuts[1:])):
                table.add(record, rows[first:last], spans[first:last], continued=number > 0)
            table.write(tmp_path / f"{name}.npz", {"made_by": "test"})
    assert (tmp_path / "parts.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()


def test_only_pooled_rows_continue_the_record_before_them(tmp_path) -> None:
    record = SequenceRecord("chrX", "A" * 64, "chrX")
    with EmbeddingsNpz(4, None, False, False, tmp_path / "e.npz") as table:
        with pytest.raises(ValueError, match="after the record's first part"):
            table.add(record, np.zeros((1, 4)), [(0, 64)], continued=True)
    with EmbeddingsNpz(4, None, False, True, tmp_path / "e.npz") as table:
        table.add(record, np.zeros((1, 4)), [(0, 64)], np.zeros((64, 4)))
        with pytest.raises(ValueError, match="only pooled rows"):
            table.add(record, np.zeros((1, 4)), [(0, 64)], np.zeros((64, 4)), continued=True)


# --- through `vqdna classify` -------------------------------------------------------------------


def _classify(model_dir: Path, fasta: Path, out: Path, output_format: str) -> list[list[str]]:
    from vqdna_cli.options import ClassifyOptions

    api.classify(InputSpec(str(fasta)), out, "toy", RunOptions(model_dir, threads=1),
                 ClassifyOptions(output_format=output_format))
    return [line.split("\t") for line in out.read_text().splitlines()]


@pytest.mark.parametrize("output_format", ["tsv", "bed"])
def test_classify_gives_the_rows_of_the_record_taken_whole(tiny_model_dir, long_fasta, tmp_path, monkeypatch,
                                                           output_format) -> None:
    """BED: a row per window, written a part at a time; TSV: the record's one row, the mean
    over all its windows."""
    whole = _classify(tiny_model_dir, long_fasta, tmp_path / "whole.txt", output_format)
    monkeypatch.setattr(runner_module, "GROUP_RECORDS", 3)  # parts of 3 windows
    continued = []

    def embed_records_seen(*args, **kwargs):
        for result in embed_records(*args, **kwargs):
            continued.append(result.continued)
            yield result

    monkeypatch.setattr(runner_module, "embed_records", embed_records_seen)
    parts = _classify(tiny_model_dir, long_fasta, tmp_path / "parts.txt", output_format)
    assert sum(continued) >= LONG // (3 * TINY_WINDOW)  # the long record came in parts
    assert len(parts) == len(whole)
    if output_format == "tsv":
        assert len(whole) == 1 + 3  # the header and a row per record
    probabilities = slice(-2, None)
    for got, expected in zip(parts, whole):
        assert got[:-2] == expected[:-2]
        if expected[0][0] not in "#i":
            np.testing.assert_allclose(np.array(got[probabilities], float), np.array(expected[probabilities], float),
                                       rtol=0, atol=2e-6)
    if output_format == "bed":
        assert sum(row[6] == "long" for row in whole) > LONG // TINY_WINDOW
