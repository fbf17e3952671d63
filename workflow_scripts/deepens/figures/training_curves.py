"""Loss and accuracy per epoch of every run: training, validation and test."""
import matplotlib
import matplotlib.ticker
import pandas as pd

from .common import frame, plt, subject


def draw(histories: dict, checkpoint_metrics: pd.DataFrame, model, dataset):
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


def render(i, p, w):
    """The figure of rule plot_training_curves: its named inputs i, params p and wildcards w."""
    histories = {s: frame(h) for s, h in zip(p.seeds, i.histories)}
    return draw(histories, frame(i.metrics), w.model, w.dataset)
