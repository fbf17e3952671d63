"""Mode connectivity: loss, accuracy and disagreement with both ends along the straight line, the
straight line after permutation alignment and the trained Bezier curve between pairs of solutions."""
import pandas as pd

from .common import frame, plt, subject

PATH_LABELS = {"straight": "straight line", "aligned": "straight line after alignment", "curve": "trained curve"}
PATH_COLORS = {"straight": "tab:red", "aligned": "tab:purple", "curve": "tab:blue"}
SPLIT_STYLES = {"test": "-", "train": "--"}


def draw(points: pd.DataFrame, barriers: pd.DataFrame, model, dataset):
    """Three panels against t: loss (test and training subset), test accuracy, and the test
    disagreement with endpoint a (solid) and endpoint b (dotted); one line per pair and path."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    paths = [p for p in PATH_LABELS if p in set(points.path)]
    for (path, sa, sb, split), g in points.sort_values("t").groupby(["path", "seed_a", "seed_b", "split"]):
        color = PATH_COLORS.get(path, "0.4")
        axes[0].plot(g.t, g.loss, color=color, ls=SPLIT_STYLES.get(split, ":"), lw=1.3, alpha=0.85)
        if split == "test":
            axes[1].plot(g.t, g.accuracy, color=color, lw=1.3, alpha=0.85)
            axes[2].plot(g.t, g.disagreement_a, color=color, lw=1.3, alpha=0.85)
            axes[2].plot(g.t, g.disagreement_b, color=color, lw=1.3, ls=":", alpha=0.85)
    for ax, label in zip(axes, ("cross-entropy loss", "test accuracy", "test disagreement with an end")):
        ax.set_xlabel("t  (0: solution a, 1: solution b)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=PATH_COLORS[p], label=PATH_LABELS[p]) for p in paths]
    handles += [plt.Line2D([], [], color="0.3", ls=ls, label=f"{s} set") for s, ls in SPLIT_STYLES.items()
                if s in set(points.split)]
    axes[0].legend(handles=handles, fontsize=8, loc="best")
    axes[2].legend(handles=[plt.Line2D([], [], color="0.3", label="with a"),
                            plt.Line2D([], [], color="0.3", ls=":", label="with b")], fontsize=8, loc="best")
    test = barriers[barriers.split == "test"]
    summary = "; ".join(f"{PATH_LABELS[p]} {g.loss_barrier.mean():.3f} ({g.interior_disagreement.mean():.3f})"
                        for p in paths for g in [test[test.path == p]])
    ends = barriers[(barriers.split == "test") & (barriers.path == "straight")].endpoint_disagreement
    pairs = len(barriers[["seed_a", "seed_b"]].drop_duplicates())
    fig.suptitle(f"Mode connectivity between {pairs} pair{'s' * (pairs != 1)} of solutions: "
                 f"{subject(model, dataset)}\nmean test-loss barrier (mean disagreement between its interior points): "
                 f"{summary}\nthe two solutions disagree on {ends.mean():.3f} of the test set", fontsize=10)
    return fig


def render(i, p, w):
    """The figure of rule plot_connectivity: its named inputs i, params p and wildcards w."""
    return draw(frame(i.points), frame(i.barriers), w.model, w.dataset)
