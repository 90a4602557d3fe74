"""mutations.png (needs matplotlib, the `plot` extra): per HRQ level, a genome track of
token changes per sample (tokens changed per 100 bp bin; variants marked for up to 40 samples) and a 2-D map
(first two principal components of the level's genome embeddings) coloured by lineage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MISSING = "matplotlib is not installed (pip install 'vqdna[plot]'): mutations.png skipped"
BIN = 100
MARKED_SAMPLES = 40
LEGEND_LINEAGES = 20


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw(path: Path, samples: list[str], labels: dict[str, str], genome_length: int,
         changes: dict[str, list[tuple[int, list[int]]]], maps: list[np.ndarray]) -> None:
    """`changes[sample]`: (1-based pos, tokens changed per level) per variant; `maps`: per
    level a (samples, 2) projection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = len(maps)
    bins = genome_length // BIN + 1
    figure, axes = plt.subplots(levels, 2, figsize=(14, 3.2 * levels + 1), squeeze=False,
                                gridspec_kw={"width_ratios": [3, 1]})
    lineages = sorted(set(labels.values()))
    palette = plt.get_cmap("tab20")
    colour = {name: palette(i % 20) for i, name in enumerate(lineages)}
    for level in range(levels):
        track = np.zeros((len(samples), bins))
        dots_x, dots_y = [], []
        for row, sample in enumerate(samples):
            for pos, per_level in changes[sample]:
                track[row, pos // BIN] += per_level[level]
                dots_x.append(pos / 1000)
                dots_y.append(row)
        ax = axes[level][0]
        # Clustered spike mutations would otherwise set the colour scale for the whole genome.
        top = max(1.0, float(np.percentile(track[track > 0], 99))) if track.any() else 1.0
        image = ax.imshow(track, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=top,
                          extent=(0, bins * BIN / 1000, len(samples) - 0.5, -0.5))
        if len(samples) <= MARKED_SAMPLES:  # beyond that the marks hide the track
            ax.scatter(dots_x, dots_y, s=2, c="red", marker="|", linewidths=0.5)
        ax.set_xlabel("reference position (kb)")
        ax.set_ylabel("sample")
        marks = " (red: variants)" if len(samples) <= MARKED_SAMPLES else ""
        ax.set_title(f"level {level + 1}: tokens changed per {BIN} bp{marks}")
        if len(samples) <= 30:
            ax.set_yticks(range(len(samples)), [s[:30] for s in samples], fontsize=6)
        figure.colorbar(image, ax=ax, fraction=0.02)
        ax = axes[level][1]
        points = maps[level]
        for name in lineages or ["all"]:
            rows = [i for i, s in enumerate(samples) if labels.get(s, "all") == name] if lineages else list(range(len(samples)))
            ax.scatter(points[rows, 0], points[rows, 1], s=10, color=colour.get(name, "grey"), label=name)
        unlabelled = [i for i, s in enumerate(samples) if lineages and s not in labels]
        if unlabelled:
            ax.scatter(points[unlabelled, 0], points[unlabelled, 1], s=10, color="lightgrey", label="(no label)")
        ax.set_title(f"level {level + 1}: genome embeddings (PCA)")
        if 0 < len(lineages) <= LEGEND_LINEAGES:  # a longer legend would hide the map
            ax.legend(fontsize=6, markerscale=1, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
