"""Styles shared by several figures: colours of seeds, markers and colours of the subspace methods and
of the point sets on the diversity-accuracy plane, and a training trajectory drawn in 2-D."""
import itertools

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd

from ..subspace_analysis import METHOD_ORDER
from .common import plt

KIND_STYLES = {
    "independent": dict(label="independent solutions (other seeds)", color="tab:red", marker="*", s=170,
                        edgecolors="black", linewidths=0.5, zorder=4),
    "trajectory": dict(label="checkpoints of the reference's trajectory", color="tab:gray", marker="o", s=28,
                       alpha=0.8, zorder=3),
    "curve path": dict(label="points of a trained curve to another solution", color="black", marker="x", s=30,
                       linewidths=1.2, zorder=4),
}


# Later point sets (subspace samples, ...) get the next free colour and marker.
OTHER_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]


OTHER_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]


METHOD_LABELS = {"random": "random subspace", "dropout": "dropout subspace", "diagonal": "diagonal Gaussian",
                 "lowrank": "low-rank Gaussian", "averaging": "weight averaging"}


METHOD_MARKERS = {"random": "o", "dropout": "s", "diagonal": "^", "lowrank": "D", "averaging": "P"}


METHOD_COLORS = {"random": "tab:blue", "dropout": "tab:orange", "diagonal": "tab:green", "lowrank": "tab:purple",
                 "averaging": "tab:brown"}


EXTRA_METHOD_MARKERS = ["v", "X", "<", ">", "h", "*"]


EXTRA_METHOD_COLORS = ["tab:pink", "tab:olive", "tab:cyan", "tab:red", "tab:gray"]


def seed_colors(n):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def labelled_epochs(first, last):
    """A few round epoch numbers strictly inside (first, last): readable, not cluttered."""
    ticks = matplotlib.ticker.MaxNLocator(nbins=4, integer=True, steps=[1, 2, 5, 10]).tick_values(first, last)
    return {int(t) for t in ticks if first < t < last}


def draw_run(ax, run: pd.DataFrame, color, label):
    run = run.sort_values("epoch")
    x, y, ep = run.x.to_numpy(), run.y.to_numpy(), run.epoch.to_numpy()
    first, last = ep[0], ep[-1]
    ax.plot(x, y, color=color, lw=1.2, alpha=0.7, label=label, zorder=2)
    # Marker size grows with epoch, so direction along the line is visible without labels.
    grow = (ep - first) / max(last - first, 1)
    ax.scatter(x[1:-1], y[1:-1], s=(6 + 34 * grow)[1:-1], color=color, edgecolors="none", zorder=3)
    ax.scatter(x[0], y[0], s=90, facecolors="white", edgecolors=color, linewidths=1.8, zorder=4)
    ax.scatter(x[-1], y[-1], s=260, marker="*", color=color, edgecolors="black", linewidths=0.6, zorder=5)
    for i in np.flatnonzero(np.isin(ep, list(labelled_epochs(first, last)))):
        ax.annotate(str(ep[i]), (x[i], y[i]), xytext=(3, 3), textcoords="offset points", fontsize=7,
                    color=color, zorder=6)


def kind_styles(kinds):
    others = zip(itertools.cycle(OTHER_COLORS), itertools.cycle(OTHER_MARKERS))
    styles = {}
    for kind in kinds:
        if kind in METHOD_LABELS:  # subspace samples look the same in every figure
            style = dict(color=METHOD_COLORS[kind], marker=METHOD_MARKERS[kind], label=METHOD_LABELS[kind])
        else:
            style = dict(zip(("color", "marker"), next(others)), label=kind.replace("_", " "))
        styles[kind] = KIND_STYLES.get(kind) or dict(style, s=22, alpha=0.7, zorder=3)
    return styles


def methods_in_order(values) -> list[str]:
    present = set(values)
    return [m for m in METHOD_ORDER if m in present] + sorted(present - set(METHOD_ORDER))


def method_styles(methods) -> dict:
    """Marker, colour and label of every method, stable for the known ones."""
    others = zip(itertools.cycle(OTHER_MARKERS), itertools.cycle(OTHER_COLORS))
    styles = {}
    for m in methods:
        marker, color = (METHOD_MARKERS[m], METHOD_COLORS[m]) if m in METHOD_MARKERS else next(others)
        styles[m] = dict(marker=marker, color=color, label=METHOD_LABELS.get(m, m.replace("_", " ")))
    return styles
