"""Ensembles by size: independent seeds vs snapshots of one run (mean, min-max band)."""
import matplotlib
import matplotlib.ticker
import pandas as pd

from .common import frame, plt, subject

PANELS = (("accuracy", "test accuracy", "higher is better"),
          ("nll", "test NLL", "lower is better"),
          ("brier", "test Brier score", "lower is better"),
          ("ece", "test ECE (15 bins)", "lower is better"))


KINDS = (("independent", "independent seeds (final epoch)", "C0", "o"),
         ("snapshot", "snapshots: last k epochs of one run (mean over runs)", "C1", "s"))


def _band(ax, x, centre, low, high, color, label, marker):
    ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
    ax.plot(x, centre, color=color, marker=marker, label=label)


def draw(table: pd.DataFrame, model, dataset):
    """2 x 2 panels of scores vs ensemble size: mean over subsets (and runs), min-max band; NLL,
    Brier and ECE also after temperature scaling (dashed, the mean)."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    for ax, (metric, label, hint) in zip(axes.flat, PANELS):
        for kind, name, color, marker in KINDS:
            rows = table[table.kind == kind]
            stats = rows.groupby("size")[metric].agg(["mean", "min", "max"])
            if len(stats):
                _band(ax, stats.index, stats["mean"], stats["min"], stats["max"], color, name, marker)
            if f"{metric}_calibrated" in rows and len(rows):
                ax.plot(stats.index, rows.groupby("size")[f"{metric}_calibrated"].mean(), color=color, ls="--",
                        marker=marker, mfc="none", label=f"{name.split(':')[0]}, temperature-scaled")
        ax.set_title(f"{label} ({hint})")
        ax.set_xlabel("ensemble size (members)")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8, loc="lower right", title="line: mean; band: min-max", title_fontsize=8)
    fig.suptitle(f"Ensembles by size: {subject(model, dataset)}\n"
                 "dashed, open markers: after temperature scaling fitted on the validation split (mean)")
    return fig


def render(i, p, w):
    """The figure of rule plot_ensemble_size: its named inputs i, params p and wildcards w."""
    return draw(frame(i.ensembles), w.model, w.dataset)
