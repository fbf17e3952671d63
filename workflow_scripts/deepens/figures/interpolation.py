"""Loss and accuracy along straight lines between checkpoints, with the barrier heights."""
import pandas as pd

from .common import frame, plt, subject

KIND_LABELS = {"init_to_solution": "initialisation -> its solution",
               "solution_to_solution": "solution -> solution (other seed)"}


KIND_COLORS = {"init_to_solution": "tab:orange", "solution_to_solution": "tab:blue"}


SPLIT_STYLES = {"test": "-", "train": "--"}


def draw(curves: pd.DataFrame, barriers: pd.DataFrame, model, dataset):
    """Loss and accuracy along straight lines; one thin line per pair, split by line style."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    keys = ["kind", "seed_a", "epoch_a", "seed_b", "epoch_b", "split"]
    for (kind, sa, ea, sb, eb, split), g in curves.sort_values("t").groupby(keys, sort=True):
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(g.t, g[metric], color=KIND_COLORS.get(kind, "0.4"), ls=SPLIT_STYLES.get(split, ":"), lw=1.2,
                    alpha=0.8)
    sol = barriers[(barriers.kind == "solution_to_solution") & (barriers.split == "test")]
    for ax, metric, label in ((axes[0], "loss", "cross-entropy loss"), (axes[1], "accuracy", "accuracy")):
        ax.set_xlabel("t  (0: first checkpoint, 1: second)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=KIND_COLORS[k], label=KIND_LABELS[k]) for k in KIND_LABELS
               if k in set(curves.kind)]
    handles += [plt.Line2D([], [], color="0.3", ls=ls, label=f"{s} set") for s, ls in SPLIT_STYLES.items()
                if s in set(curves.split)]
    axes[1].legend(handles=handles, fontsize=8, loc="best")
    note = ""
    if len(sol):
        note = (f"\ntest loss barrier between solutions: mean {sol.loss_barrier.mean():.3f} "
                f"(max {sol.loss_barrier.max():.3f}); error barrier mean {sol.error_barrier.mean():.3f}")
    fig.suptitle(f"Linear interpolation between checkpoints: {subject(model, dataset)}{note}")
    return fig


def render(i, p, w):
    """The figure of rule plot_interpolation: its named inputs i, params p and wildcards w."""
    return draw(frame(i.curves), frame(i.barriers), w.model, w.dataset)
