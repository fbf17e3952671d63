"""Confusion matrices of every seed's final solution."""
import numpy as np
import pandas as pd
from matplotlib.colors import PowerNorm

from ..data import load_dataset
from .common import frame, subject
from .confusion_panels import grid, panels, stacked


def draw(confusion: pd.DataFrame, epoch, class_names, model, dataset, cmap):
    """One confusion matrix per seed at `epoch`, on one shared count scale."""
    c = len(class_names)
    seeds = sorted(confusion.loc[confusion.epoch == epoch, "seed"].unique().tolist())
    if not seeds:
        raise ValueError(f"confusion table has no rows at epoch {epoch}")
    counts = stacked(confusion[confusion.epoch == epoch], "seed", seeds, c)
    accuracy = np.trace(counts, axis1=1, axis2=2) / counts.sum(axis=(1, 2))
    fig, axes, ncols = grid(len(seeds), 5, 3.0, 3.0)
    norm = PowerNorm(0.5, vmin=0, vmax=max(1, counts.max()))
    panels(fig, axes, ncols, counts, counts, norm, cmap, list(class_names),
            [f"seed {s} (accuracy {a:.3f})" for s, a in zip(seeds, accuracy)], "test examples (square-root scale)")
    fig.suptitle(f"Confusion matrices of independent solutions at epoch {epoch}: {subject(model, dataset)}")
    return fig


def render(i, p, w):
    """The figure of rule plot_confusion_final: its named inputs i, params p and wildcards w."""
    names = load_dataset(i.dataset).class_names
    return draw(frame(i.confusion), p.epoch, names, w.model, w.dataset, p.colormap)
