"""Figures (matplotlib, Agg): every figure is written as PNG and PDF, atomically.

PDF and PNG metadata carry no timestamps, so the same tables give byte-identical figures.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .io import atomic_path  # noqa: E402

MODEL_LABELS = {"small_cnn": "SmallCNN", "medium_cnn": "MediumCNN", "resnet20v1": "ResNet20v1"}
DATASET_LABELS = {"digits": "digits", "cifar10": "CIFAR-10"}


def subject(model, dataset) -> str:
    return f"{MODEL_LABELS.get(model, model)} on {DATASET_LABELS.get(dataset, dataset)}"


def save_figure(fig, paths, dpi=150):
    for path in paths:
        fmt = str(path).rsplit(".", 1)[-1]
        meta = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        with atomic_path(path, suffix=f".tmp.{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)
    plt.close(fig)


def square(table: pd.DataFrame, value, index, columns) -> pd.DataFrame:
    return table.pivot(index=index, columns=columns, values=value).sort_index().sort_index(axis=1)


def heatmap(ax, fig, matrix: pd.DataFrame, title, label, cmap, annotate=False, vmin=None, vmax=None):
    im = ax.imshow(matrix.to_numpy(), cmap=cmap, origin="lower", vmin=vmin, vmax=vmax, interpolation="nearest")
    n = len(matrix)
    ticks = np.arange(n) if n <= 12 else np.linspace(0, n - 1, 6).round().astype(int)
    ax.set_xticks(ticks, [str(matrix.columns[t]) for t in ticks])
    ax.set_yticks(ticks, [str(matrix.index[t]) for t in ticks])
    ax.set_title(title)
    if annotate:
        values = matrix.to_numpy()
        mid = np.nanmean([np.nanmin(values), np.nanmax(values)])
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=8,
                    color="white" if v < mid else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)


def trajectory_similarity(cosine: pd.DataFrame, disagreement: pd.DataFrame, seed, model, dataset, cmap):
    """Epoch x epoch weight cosine and prediction disagreement within one run."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    for ax, table, value, label, title in (
            (axes[0], cosine, "cosine", "cosine similarity", "Weight cosine similarity"),
            (axes[1], disagreement, "disagreement", "fraction of test points", "Prediction disagreement")):
        one = table[(table.seed_a == seed) & (table.seed_b == seed)]
        heatmap(ax, fig, square(one, value, "epoch_a", "epoch_b"), title, label, cmap)
        ax.set_xlabel("epoch")
        ax.set_ylabel("epoch")
    fig.suptitle(f"Within one trajectory (seed {seed}): {subject(model, dataset)}")
    return fig


def seed_similarity(cosine: pd.DataFrame, disagreement: pd.DataFrame, epoch, model, dataset, cmap):
    """Seed x seed weight cosine and prediction disagreement of the solutions at one epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    for ax, table, value, label, title in (
            (axes[0], cosine, "cosine", "cosine similarity", "Weight cosine similarity"),
            (axes[1], disagreement, "disagreement", "fraction of test points", "Prediction disagreement")):
        one = table[(table.epoch_a == epoch) & (table.epoch_b == epoch)]
        heatmap(ax, fig, square(one, value, "seed_a", "seed_b"), title, label, cmap, annotate=True)
        ax.set_xlabel("seed")
        ax.set_ylabel("seed")
    fig.suptitle(f"Across independent solutions (epoch {epoch}): {subject(model, dataset)}")
    return fig


def training_curves(histories: dict, checkpoint_metrics: pd.DataFrame, model, dataset):
    """Loss and accuracy per epoch: training (running mean over the epoch), validation, test."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    test = checkpoint_metrics[checkpoint_metrics.split == "test"]
    for i, (seed, hist) in enumerate(sorted(histories.items())):
        c = colors[i % len(colors)]
        t = test[test.seed == seed].sort_values("epoch")
        for ax, train_col, val_col, test_col in ((axes[0], "loss", "val_loss", "nll"),
                                                 (axes[1], "accuracy", "val_accuracy", "accuracy")):
            ax.plot(hist.epoch, hist[train_col], color=c, ls="-", label=f"seed {seed} train")
            ax.plot(hist.epoch, hist[val_col], color=c, ls="--", label=f"seed {seed} validation")
            ax.plot(t.epoch, t[test_col], color=c, ls=":", marker=".", label=f"seed {seed} test")
    axes[0].set_ylabel("cross-entropy loss (test: NLL)")
    axes[1].set_ylabel("accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=max(1, len(histories) // 4 + 1), loc="lower right")
    fig.suptitle(f"Training curves: {subject(model, dataset)}")
    return fig
