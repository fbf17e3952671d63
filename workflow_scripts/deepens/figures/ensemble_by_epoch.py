"""The ensemble of all seeds vs the mean single model, epoch by epoch."""
import matplotlib
import matplotlib.ticker
import pandas as pd

from .common import frame, plt, subject


def draw(table: pd.DataFrame, model, dataset):
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


def render(i, p, w):
    """The figure of rule plot_ensemble_by_epoch: its named inputs i, params p and wildcards w."""
    return draw(frame(i.ensembles), w.model, w.dataset)
