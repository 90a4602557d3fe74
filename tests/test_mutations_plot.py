"""mutations.png: rendered (matplotlib, the `plot` extra), its size, the gene track, rows
labelled with sample and lineage, and variant marks wider than one pixel."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from test_mutations import files, run  # noqa: F401  (files: the fixture)
from vqdna_cli.mutations import plot

pytest.importorskip("matplotlib", reason="mutations.png needs matplotlib (pip install 'vqdna[plot]')")


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def expected_size(levels: int, genes: bool) -> tuple[int, int]:
    width, height = plot.figure_inches(levels, genes)
    return round(width * plot.DPI), round(height * plot.DPI)


def longest_red_run(path: Path) -> int:
    """The widest horizontal run of the variant marks' pure red, in pixels."""
    import matplotlib.image

    pixels = matplotlib.image.imread(str(path))
    red = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.15) & (pixels[..., 2] < 0.15)
    best = 0
    for row in red:
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        best = max(best, int((ends - starts).max(initial=0)))
    return best


def draw(path: Path, genes=None, labels=None) -> None:
    samples = ["alpha_1", "delta_1", "omicron_1"]
    changes = {"alpha_1": [(1200, [1, 2])], "delta_1": [(15000, [0, 1]), (22000, [2, 3])], "omicron_1": []}
    maps = [np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])] * 2
    plot.draw(path, samples, labels if labels is not None else {"alpha_1": "Alpha", "delta_1": "Delta"}, 29903,
              changes, maps, genes)


def test_rendered_with_a_gene_track_at_the_documented_size(tmp_path):
    with_genes, without = tmp_path / "genes.png", tmp_path / "plain.png"
    draw(with_genes, genes=[("ORF1ab", 265, 21555), ("S", 21562, 25384), ("N", 28273, 29533)])
    draw(without)
    assert png_size(with_genes) == expected_size(2, True)
    assert png_size(without) == expected_size(2, False)
    # The gene track adds its own height, nothing else.
    assert png_size(with_genes)[1] - png_size(without)[1] == round(plot.GENE_TRACK_INCHES * plot.DPI)


def test_variant_marks_are_wider_than_a_pixel(tmp_path):
    assert plot.MARK_WIDTH_POINTS * plot.DPI / 72 > 2
    path = tmp_path / "marks.png"
    draw(path)
    assert longest_red_run(path) >= 2


def test_rows_are_labelled_with_sample_and_lineage():
    assert plot._row_label("alpha_1", {"alpha_1": "Alpha"}) == "alpha_1 (Alpha)"
    assert plot._row_label("x" * 40, {}) == "x" * 30


def test_pipeline_draws_genes_and_lineages(files, tiny_model_dir, tmp_path):
    labels = tmp_path / "labels.tsv"
    labels.write_text("variant\tA\nsame\tB\n")
    out = tmp_path / "out"
    run(files, [files["genomes"]], out, tiny_model_dir, annotation=files["gff"], labels=labels)
    image = out / "mutations.png"
    assert png_size(image) == expected_size(2, True)  # the tiny model has two HRQ levels
    assert longest_red_run(image) >= 2
    # What made it, as the tables' first line says it
    from PIL import Image

    first_line = (out / "variants.tsv").read_text().splitlines()[0]
    assert first_line.startswith("# vqdna ")
    assert Image.open(image).text["Description"] == first_line[2:]


def test_the_map_of_two_genomes_has_no_second_axis_of_rounding_noise():
    """Two genomes span one axis; the second component is drawn flat, not at the 1e-16 scale."""
    from vqdna_cli.mutations.summary import projection

    rng = np.random.default_rng(3)
    two = projection(rng.normal(size=(2, 64)))
    assert np.all(two[:, 1] == 0) and abs(two[0, 0] - two[1, 0]) > 1
    three = projection(rng.normal(size=(3, 64)))
    assert np.all(np.abs(three[:, 1]) > 1e-6)
    assert np.all(projection(np.ones((4, 8))) == 0)


def test_a_read_only_home_adds_no_matplotlib_warnings(tmp_path) -> None:
    """On compute nodes and in containers HOME is often read-only: matplotlib logged two
    warnings of its own (its cache then goes to a temporary folder), which --quiet could not hush."""
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs setpriv and root to drop the right to write anywhere")
    home = tmp_path / "home"
    home.mkdir(mode=0o555)
    env = {k: v for k, v in os.environ.items() if k != "MPLCONFIGDIR"} | {"HOME": str(home)}
    code = "from vqdna_cli.mutations import plot; assert plot.available(); import matplotlib.pyplot"
    result = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner,-chown",
                             sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert result.returncode == 0 and result.stderr == b"", result.stderr.decode()
