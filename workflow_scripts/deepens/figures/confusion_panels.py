"""Confusion-matrix panels shared by the confusion figures: a square-root colour scale (the diagonal
holds most of the mass; a linear scale would leave the off-diagonal confusions blank)."""
import math

import numpy as np
import pandas as pd

from .common import plt

SHORT_NAME = 2  # class names up to this length are used in place of indices in compact lines


def grid(n, max_cols, panel_w, panel_h):
    """n panels in rows of at most max_cols; unused trailing axes hidden."""
    ncols = max(1, min(n, max_cols))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_w * ncols + 1.0, panel_h * nrows + 0.8),
                             squeeze=False, constrained_layout=True)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    return fig, axes.ravel()[:n], ncols


def stacked(confusion: pd.DataFrame, key, keys, num_classes) -> np.ndarray:
    """(len(keys) x C x C) counts of the rows whose `key` column takes each of `keys`."""
    sub = confusion[confusion[key].isin(keys)].sort_values([key, "label", "predicted"])
    found = sub[key].unique()
    missing = sorted(set(keys) - set(found.tolist()))
    if missing or len(sub) != len(found) * num_classes ** 2:
        raise ValueError(f"confusion table lacks dense {num_classes}x{num_classes} matrices "
                         f"for {key} {missing or keys}")
    counts = sub["count"].to_numpy().reshape(len(found), num_classes, num_classes)
    return counts[np.searchsorted(found, keys)]


def confusion_panel(ax, counts, colour, norm, cmap, names, title, outer_left, outer_bottom):
    im = ax.imshow(colour, cmap=cmap, norm=norm, interpolation="nearest")
    c = len(names)
    rotate = 90 if max(map(len, names)) > SHORT_NAME else 0
    ax.set_xticks(range(c), names, rotation=rotate, fontsize=7)
    ax.set_yticks(range(c), names, fontsize=7)
    ax.tick_params(labelleft=outer_left, labelbottom=outer_bottom, length=2)
    if outer_left:
        ax.set_ylabel("true class")
    if outer_bottom:
        ax.set_xlabel("predicted class")
    ax.set_title(title, fontsize=9)
    if c <= 10:
        # Text colour follows the cell's luminance so counts stay legible on any colormap.
        rgba = plt.get_cmap(cmap)(norm(colour))
        dark = rgba[..., :3] @ np.array([0.299, 0.587, 0.114]) < 0.5
        size = 7 if c <= 5 else 5.5
        for (i, j), v in np.ndenumerate(counts):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=size, color="white" if dark[i, j] else "black")
    return im


def panels(fig, axes, ncols, counts, colour, norm, cmap, names, titles, bar_label):
    n = len(axes)
    for i, ax in enumerate(axes):
        im = confusion_panel(ax, counts[i], colour[i], norm, cmap, names, titles[i],
                              outer_left=i % ncols == 0, outer_bottom=i + ncols >= n)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label=bar_label)
