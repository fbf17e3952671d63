"""Confusion matrices of one run over its epochs."""
import numpy as np
import pandas as pd
from matplotlib.colors import PowerNorm

from ..data import load_dataset
from .common import frame, subject
from .confusion_panels import grid, panels, stacked


def draw(confusion: pd.DataFrame, seed, epochs, class_names, model, dataset, cmap):
    """Confusion matrices of one run at the given epochs; colour = fraction of each true class."""
    c = len(class_names)
    epochs = [int(e) for e in epochs]
    counts = stacked(confusion[confusion.seed == seed], "epoch", epochs, c)
    rows = counts.sum(axis=2, keepdims=True)
    # Row-normalised so classes of unequal size compare, and early all-one-class epochs read clearly.
    fraction = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    fig, axes, ncols = grid(len(epochs), 6, 3.0, 3.0)
    panels(fig, axes, ncols, counts, fraction, PowerNorm(0.5, vmin=0, vmax=1), cmap, list(class_names),
            [f"epoch {e}" for e in epochs], "fraction of the true class (square-root scale)")
    fig.suptitle(f"Confusion matrices over training (seed {seed}; cells show counts): {subject(model, dataset)}")
    return fig


def render(i, p, w):
    """The figure of rule plot_confusion_epochs: its named inputs i, params p and wildcards w."""
    names = load_dataset(i.dataset).class_names
    return draw(frame(i.confusion), p.seed, p.epochs, names, w.model, w.dataset, p.colormap)
