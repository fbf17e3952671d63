"""Ensemble figures: scores against ensemble size, and ensemble vs single models per epoch.

Built on deepens.plots (Agg backend, save_figure without timestamps, subject titles).
"""
import pandas as pd

from .plots import matplotlib, plt, subject

PANELS = (("accuracy", "test accuracy", "higher is better"),
          ("nll", "test NLL", "lower is better"),
          ("brier", "test Brier score", "lower is better"),
          ("ece", "test ECE (15 bins)", "lower is better"))
KINDS = (("independent", "independent seeds (final epoch)", "C0", "o"),
         ("snapshot", "snapshots: last k epochs of one run (mean over runs)", "C1", "s"))


def _band(ax, x, centre, low, high, color, label, marker):
    ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
    ax.plot(x, centre, color=color, marker=marker, label=label)


def ensemble_size(table: pd.DataFrame, model, dataset):
    """2 x 2 panels of scores vs ensemble size: mean over subsets (and runs), min-max band."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    for ax, (metric, label, hint) in zip(axes.flat, PANELS):
        for kind, name, color, marker in KINDS:
            stats = table[table.kind == kind].groupby("size")[metric].agg(["mean", "min", "max"])
            if len(stats):
                _band(ax, stats.index, stats["mean"], stats["min"], stats["max"], color, name, marker)
        ax.set_title(f"{label} ({hint})")
        ax.set_xlabel("ensemble size (members)")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8, loc="lower right", title="line: mean; band: min-max", title_fontsize=8)
    fig.suptitle(f"Ensembles by size: {subject(model, dataset)}")
    return fig


def ensemble_by_epoch(table: pd.DataFrame, model, dataset):
    """Accuracy and NLL per epoch: ensemble of all seeds vs the mean single model (band: ± std)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    ens = table[table.kind == "ensemble"].sort_values("epoch")
    single = table[table.kind == "single_mean"].sort_values("epoch")
    axes[0].fill_between(single.epoch, single.accuracy - single.accuracy_std, single.accuracy + single.accuracy_std,
                         color="C1", alpha=0.2, linewidth=0, label="single model ± 1 std over seeds")
    for ax, metric, label in ((axes[0], "accuracy", "test accuracy"), (axes[1], "nll", "test NLL")):
        ax.plot(ens.epoch, ens[metric], color="C0", marker=".", label="ensemble of all seeds")
        ax.plot(single.epoch, single[metric], color="C1", marker=".", label="single model (mean over seeds)")
        ax.set_title(f"{label} per epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Ensemble of all seeds vs single models: {subject(model, dataset)}")
    return fig
