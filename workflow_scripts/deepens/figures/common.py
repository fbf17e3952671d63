"""What every figure shares: the Agg backend, titles, heatmaps, reading a rule's tables, and
saving PNG and PDF atomically. PDF and PNG metadata carry no timestamps, so the same tables
give byte-identical figures."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..io import atomic_path, read_table  # noqa: E402

MODEL_LABELS = {"small_cnn": "SmallCNN", "medium_cnn": "MediumCNN", "resnet20v1": "ResNet20v1"}


DATASET_LABELS = {"digits": "digits", "cifar10": "CIFAR-10"}


def subject(model, dataset) -> str:
    return f"{MODEL_LABELS.get(model, model)} on {DATASET_LABELS.get(dataset, dataset)}"


def frame(path) -> pd.DataFrame:
    """A Parquet table of the pipeline as a pandas DataFrame."""
    return read_table(path).to_pandas()


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


def cosine_and_disagreement(cosine: pd.DataFrame, disagreement: pd.DataFrame, keep, index, columns, axis_label,
                            title, cmap, annotate=False):
    """Two heatmaps side by side, weight cosine and prediction disagreement, of the pairs `keep`
    selects (a function of a table, giving a boolean row mask)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    for ax, table, value, label, name in (
            (axes[0], cosine, "cosine", "cosine similarity", "Weight cosine similarity"),
            (axes[1], disagreement, "disagreement", "fraction of test points", "Prediction disagreement")):
        heatmap(ax, fig, square(table[keep(table)], value, index, columns), name, label, cmap, annotate=annotate)
        ax.set_xlabel(axis_label)
        ax.set_ylabel(axis_label)
    fig.suptitle(title)
    return fig
