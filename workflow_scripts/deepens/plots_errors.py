"""Figures of where the models err: confusion matrices, misclassified-set overlap, hard examples.

Confusion matrices are drawn with a square-root colour scale: the diagonal holds most of the
mass, and a linear scale would leave the off-diagonal confusions (the point of the figure) blank.
"""
import math

import numpy as np
import pandas as pd
from matplotlib.colors import PowerNorm

from . import plots
from .plots import plt, subject

SHORT_NAME = 2  # class names up to this length are used in place of indices in compact lines


def _grid(n, max_cols, panel_w, panel_h):
    """n panels in rows of at most max_cols; unused trailing axes hidden."""
    ncols = max(1, min(n, max_cols))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_w * ncols + 1.0, panel_h * nrows + 0.8),
                             squeeze=False, constrained_layout=True)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    return fig, axes.ravel()[:n], ncols


def _stacked(confusion: pd.DataFrame, key, keys, num_classes) -> np.ndarray:
    """(len(keys) x C x C) counts of the rows whose `key` column takes each of `keys`."""
    sub = confusion[confusion[key].isin(keys)].sort_values([key, "label", "predicted"])
    found = sub[key].unique()
    missing = sorted(set(keys) - set(found.tolist()))
    if missing or len(sub) != len(found) * num_classes ** 2:
        raise ValueError(f"confusion table lacks dense {num_classes}x{num_classes} matrices "
                         f"for {key} {missing or keys}")
    counts = sub["count"].to_numpy().reshape(len(found), num_classes, num_classes)
    return counts[np.searchsorted(found, keys)]


def _confusion_panel(ax, counts, colour, norm, cmap, names, title, outer_left, outer_bottom):
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


def _panels(fig, axes, ncols, counts, colour, norm, cmap, names, titles, bar_label):
    n = len(axes)
    for i, ax in enumerate(axes):
        im = _confusion_panel(ax, counts[i], colour[i], norm, cmap, names, titles[i],
                              outer_left=i % ncols == 0, outer_bottom=i + ncols >= n)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label=bar_label)


def confusion_final(confusion: pd.DataFrame, epoch, class_names, model, dataset, cmap):
    """One confusion matrix per seed at `epoch`, on one shared count scale."""
    c = len(class_names)
    seeds = sorted(confusion.loc[confusion.epoch == epoch, "seed"].unique().tolist())
    if not seeds:
        raise ValueError(f"confusion table has no rows at epoch {epoch}")
    counts = _stacked(confusion[confusion.epoch == epoch], "seed", seeds, c)
    accuracy = np.trace(counts, axis1=1, axis2=2) / counts.sum(axis=(1, 2))
    fig, axes, ncols = _grid(len(seeds), 5, 3.0, 3.0)
    norm = PowerNorm(0.5, vmin=0, vmax=max(1, counts.max()))
    _panels(fig, axes, ncols, counts, counts, norm, cmap, list(class_names),
            [f"seed {s} (accuracy {a:.3f})" for s, a in zip(seeds, accuracy)], "test examples (square-root scale)")
    fig.suptitle(f"Confusion matrices of independent solutions at epoch {epoch}: {subject(model, dataset)}")
    return fig


def confusion_epochs(confusion: pd.DataFrame, seed, epochs, class_names, model, dataset, cmap):
    """Confusion matrices of one run at the given epochs; colour = fraction of each true class."""
    c = len(class_names)
    epochs = [int(e) for e in epochs]
    counts = _stacked(confusion[confusion.seed == seed], "epoch", epochs, c)
    rows = counts.sum(axis=2, keepdims=True)
    # Row-normalised so classes of unequal size compare, and early all-one-class epochs read clearly.
    fraction = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    fig, axes, ncols = _grid(len(epochs), 6, 3.0, 3.0)
    _panels(fig, axes, ncols, counts, fraction, PowerNorm(0.5, vmin=0, vmax=1), cmap, list(class_names),
            [f"epoch {e}" for e in epochs], "fraction of the true class (square-root scale)")
    fig.suptitle(f"Confusion matrices over training (seed {seed}; cells show counts): {subject(model, dataset)}")
    return fig


def misclassified_overlap(overlap: pd.DataFrame, seed, final_epoch, model, dataset, cmap):
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
    plots.heatmap(axes[0], fig, plots.square(within, "jaccard", "epoch_a", "epoch_b"),
                  f"Within one trajectory (seed {seed})", label, cmap, vmin=0, vmax=1)
    plots.heatmap(axes[1], fig, plots.square(across, "jaccard", "seed_a", "seed_b"),
                  f"Across independent solutions (epoch {final_epoch})", label, cmap, annotate=True, vmin=0, vmax=1)
    for ax, what in ((axes[0], "epoch"), (axes[1], "seed")):
        ax.set_xlabel(what)
        ax.set_ylabel(what)
    fig.suptitle(f"Overlap of misclassified test examples: {subject(model, dataset)}")
    return fig


def hardest(hard: pd.DataFrame, n) -> pd.DataFrame:
    """The n hardest examples: most solutions wrong, then least true-class probability, then index."""
    order = hard.sort_values(["n_misclassified", "mean_true_probability", "example"], ascending=[False, True, True],
                             kind="stable")
    return order.head(max(0, int(n)))


def _thumbnail(ax, image):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def hard_examples_gallery(hard: pd.DataFrame, images, class_names, seeds, n, model, dataset):
    """Thumbnails of the n hardest test images: true class, each seed's prediction, errors."""
    top = hardest(hard, n)
    short = max(map(len, class_names)) <= SHORT_NAME
    name = (lambda k: class_names[k]) if short else str
    preds = top[[f"predicted_seed_{s}" for s in seeds]].to_numpy()
    fig, axes, _ = _grid(max(1, len(top)), 8, 1.55, 2.0)
    if top.empty:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no test examples", ha="center", va="center")
    for ax, row, p in zip(axes, top.itertuples(index=False), preds):
        _thumbnail(ax, np.asarray(images[row.example]))
        true = class_names[row.label] if short else f"{row.label} {class_names[row.label]}"
        colour = "firebrick" if row.n_misclassified == row.n_models else "black"
        ax.set_title(f"#{row.example} true {true}\n{' '.join(name(k) for k in p)}\n"
                     f"wrong {row.n_misclassified}/{row.n_models}", fontsize=7, color=colour)
    legend = "" if short else "\nclasses: " + ", ".join(f"{k} {c}" for k, c in enumerate(class_names))
    fig.suptitle(f"Hardest test examples ({len(top)} of {len(hard)}): {subject(model, dataset)}\n"
                 f"second line: final-epoch predictions of seeds {', '.join(map(str, seeds))}; "
                 f"red: every seed wrong{legend}",
                 fontsize=9)
    return fig
