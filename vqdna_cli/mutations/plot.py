"""mutations.png (needs matplotlib, the `plot` extra): a gene track (with --annotation), then
per HRQ level a genome track of token changes per sample (tokens changed per 100 bp bin;
variants marked for up to 40 samples; each row labelled with its sample and lineage, and a
lineage colour strip beside the rows) and a 2-D map (first two principal components of the
level's genome embeddings) coloured by lineage. What made it (vqdna version, model, reference)
is printed in its bottom corner and kept in the PNG's Description text, as the tables' first
line keeps it, so a figure taken out of its folder still says where it came from."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

MISSING = "matplotlib is not installed (pip install 'vqdna[plot]'): mutations.png skipped"
BIN = 100
MARKED_SAMPLES = 40
LABELLED_ROWS = 30
LEGEND_LINEAGES = 20
DPI = 110
WIDTH_INCHES = 14
LEVEL_INCHES = 3.2
GENE_TRACK_INCHES = 0.9
CAPTION_INCHES = 0.15  # the line saying what made the figure, below the tracks
# Variant marks 2 points wide: 3 pixels at 110 dpi, where a hairline mark vanished into the
# track at genome scale.
MARK_WIDTH_POINTS = 2.0


def available() -> bool:
    try:
        with _matplotlib_hushed():
            import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _matplotlib_hushed() -> Iterator[None]:
    """matplotlib logs its own warnings where HOME is read-only (compute nodes, containers):
    it then caches in a temporary folder, which is all a plot needs; --quiet could not hush
    them. Its logger is put back after, as a notebook's own plots may want its messages."""
    logger = logging.getLogger("matplotlib")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def figure_inches(levels: int, with_genes: bool) -> tuple[float, float]:
    """Width and height of mutations.png in inches (times DPI: its pixels)."""
    return WIDTH_INCHES, LEVEL_INCHES * levels + 1 + (GENE_TRACK_INCHES if with_genes else 0)


def draw(path: Path, samples: list[str], labels: dict[str, str], genome_length: int,
         changes: dict[str, list[tuple[int, list[int]]]], maps: list[np.ndarray],
         genes: list[tuple[str, int, int]] | None = None, made_by: str = "") -> None:
    """`changes[sample]`: (1-based pos, tokens changed per level) per variant; `maps`: per
    level a (samples, 2) projection; `genes`: (name, 0-based start, end) of the annotation's
    coding sequences, drawn as a track above the levels; `made_by`: the tables' `# vqdna
    ...` line."""
    with _matplotlib_hushed():
        _draw(path, samples, labels, genome_length, changes, maps, genes, made_by)


def _draw(path: Path, samples: list[str], labels: dict[str, str], genome_length: int,
          changes: dict[str, list[tuple[int, list[int]]]], maps: list[np.ndarray],
          genes: list[tuple[str, int, int]] | None, made_by: str) -> None:
    # A Figure of its own, not pyplot: pyplot would need its backend switched to Agg for the
    # whole process (a notebook's inline plots then stopped showing) and keeps figures alive.
    import matplotlib
    from matplotlib.figure import Figure

    levels = len(maps)
    genes = genes or []
    heights = ([GENE_TRACK_INCHES] if genes else []) + [LEVEL_INCHES] * levels
    figure = Figure(figsize=figure_inches(levels, bool(genes)))
    axes = figure.subplots(len(heights), 2, squeeze=False,
                           gridspec_kw={"width_ratios": [3, 1], "height_ratios": heights})
    lineages = sorted(set(labels.values()))
    palette = matplotlib.colormaps["tab20"]
    colour = {name: palette(i % 20) for i, name in enumerate(lineages)}
    kb = (genome_length // BIN + 1) * BIN / 1000
    if genes:
        _gene_track(axes[0][0], genes, kb)
        axes[0][1].axis("off")
    for level in range(levels):
        row = level + (1 if genes else 0)
        _level_track(figure, axes[row][0], level, samples, labels, changes, genome_length, colour)
        _level_map(axes[row][1], level, samples, labels, maps[level], lineages, colour)
    figure.tight_layout(rect=(0, CAPTION_INCHES / figure.get_figheight(), 1, 1))
    if made_by:
        figure.text(0.995, 0.004, made_by, ha="right", va="bottom", fontsize=6, color="dimgrey")
    if genes:  # the levels' colour bars narrow their tracks: give the gene track the same x span
        track, gene_box = axes[1][0].get_position(), axes[0][0].get_position()
        axes[0][0].set_position([track.x0, gene_box.y0, track.width, gene_box.height])
    # No Software entry: matplotlib's version in it would make the bytes differ between installs.
    figure.savefig(path, dpi=DPI, metadata={"Software": None, "Description": made_by or None})


def _gene_track(ax, genes: list[tuple[str, int, int]], kb: float) -> None:
    """Genes as boxes on alternating lanes, so neighbours (ORF7a, ORF7b) stay readable."""
    for number, (name, start, end) in enumerate(sorted(genes, key=lambda g: g[1])):
        lane = number % 2
        ax.broken_barh([(start / 1000, (end - start) / 1000)], (lane, 0.8), facecolors="lightsteelblue",
                       edgecolors="steelblue", linewidth=0.5)
        ax.text((start + end) / 2000, lane + 0.4, name, ha="center", va="center", fontsize=6, clip_on=True)
    ax.set_xlim(0, kb)
    ax.set_ylim(-0.1, 1.9)
    ax.set_yticks([])
    ax.set_title("genes (CDS of --annotation)", fontsize=8)


def _row_label(sample: str, labels: dict[str, str]) -> str:
    return f"{sample[:30]} ({labels[sample]})" if sample in labels else sample[:30]


def _level_track(figure, ax, level: int, samples: list[str], labels: dict[str, str], changes: dict,
                 genome_length: int, colour: dict) -> None:
    bins = genome_length // BIN + 1
    track = np.zeros((len(samples), bins))
    marks_x, marks_y = [], []
    for row, sample in enumerate(samples):
        for pos, per_level in changes[sample]:
            track[row, pos // BIN] += per_level[level]
            marks_x.append(pos / 1000)
            marks_y.append(row)
    # Clustered spike mutations would otherwise set the colour scale for the whole genome.
    top = max(1.0, float(np.percentile(track[track > 0], 99))) if track.any() else 1.0
    image = ax.imshow(track, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=top,
                      extent=(0, bins * BIN / 1000, len(samples) - 0.5, -0.5))
    marked = len(samples) <= MARKED_SAMPLES  # beyond that the marks hide the track
    if marked:
        ax.scatter(marks_x, marks_y, s=20, c="red", marker="|", linewidths=MARK_WIDTH_POINTS)
    ax.set_xlim(0, bins * BIN / 1000)
    ax.set_xlabel("reference position (kb)")
    ax.set_ylabel("sample (lineage)" if labels else "sample")
    ax.set_title(f"level {level + 1}: tokens changed per {BIN} bp{' (red: variants)' if marked else ''}")
    if len(samples) <= LABELLED_ROWS:
        ax.set_yticks(range(len(samples)), [_row_label(s, labels) for s in samples], fontsize=6)
    if labels:  # a strip of lineage colours beside the rows, readable however many rows there are
        strip = ax.inset_axes([-0.012, 0, 0.008, 1], transform=ax.transAxes)
        strip.imshow([[colour.get(labels.get(s), (0.85, 0.85, 0.85, 1.0))] for s in samples], aspect="auto",
                     interpolation="nearest")
        strip.set_axis_off()
    figure.colorbar(image, ax=ax, fraction=0.02)


def _level_map(ax, level: int, samples: list[str], labels: dict[str, str], points: np.ndarray,
               lineages: list[str], colour: dict) -> None:
    for name in lineages or ["all"]:
        rows = [i for i, s in enumerate(samples) if labels.get(s, "all") == name] if lineages else list(range(len(samples)))
        ax.scatter(points[rows, 0], points[rows, 1], s=10, color=colour.get(name, "grey"), label=name)
    unlabelled = [i for i, s in enumerate(samples) if lineages and s not in labels]
    if unlabelled:
        ax.scatter(points[unlabelled, 0], points[unlabelled, 1], s=10, color="lightgrey", label="(no label)")
    ax.set_title(f"level {level + 1}: genome embeddings (PCA)")
    if 0 < len(lineages) <= LEGEND_LINEAGES:  # a longer legend would hide the map
        ax.legend(fontsize=6, markerscale=1, loc="best")
