"""Overlap (Jaccard) of the misclassified test sets: along one run and across seeds."""
import pandas as pd

from .common import frame, heatmap, plt, square, subject


def draw(overlap: pd.DataFrame, seed, final_epoch, model, dataset, cmap):
    """Jaccard of misclassified sets: epoch x epoch within one run, seed x seed at the final epoch."""
    within = overlap[(overlap.seed_a == seed) & (overlap.seed_b == seed)]
    across = overlap[(overlap.epoch_a == final_epoch) & (overlap.epoch_b == final_epoch)]
    if within.empty or across.empty:
        raise ValueError(f"overlap table has no rows for seed {seed} or epoch {final_epoch}")
    n_seeds = across.seed_a.nunique()
    # Widen past 6 seeds so the 3-decimal annotations of the seed x seed panel do not touch.
    fig, axes = plt.subplots(1, 2, figsize=(11 + 0.5 * max(0, n_seeds - 6), 4.6 + 0.25 * max(0, n_seeds - 6)),
                             constrained_layout=True)
    label = "Jaccard index of misclassified sets"
    heatmap(axes[0], fig, square(within, "jaccard", "epoch_a", "epoch_b"),
                  f"Within one trajectory (seed {seed})", label, cmap, vmin=0, vmax=1)
    heatmap(axes[1], fig, square(across, "jaccard", "seed_a", "seed_b"),
                  f"Across independent solutions (epoch {final_epoch})", label, cmap, annotate=True, vmin=0, vmax=1)
    for ax, what in ((axes[0], "epoch"), (axes[1], "seed")):
        ax.set_xlabel(what)
        ax.set_ylabel(what)
    fig.suptitle(f"Overlap of misclassified test examples: {subject(model, dataset)}")
    return fig


def render(i, p, w):
    """The figure of rule plot_misclassified_overlap: its named inputs i, params p and wildcards w."""
    return draw(frame(i.overlap), p.seed, p.epoch, w.model, w.dataset, p.colormap)
