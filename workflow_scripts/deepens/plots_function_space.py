"""Function-space figures: t-SNE trajectories and the diversity-accuracy plane."""
import itertools

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .plots import plt, subject

KIND_STYLES = {
    "independent": dict(label="independent solutions (other seeds)", color="tab:red", marker="*", s=170,
                        edgecolors="black", linewidths=0.5, zorder=4),
    "trajectory": dict(label="checkpoints of the reference's trajectory", color="tab:gray", marker="o", s=28,
                       alpha=0.8, zorder=3),
}
# Later point sets (subspace samples, ...) get the next free colour and marker.
OTHER_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
OTHER_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
CURVE_STYLES = {"uncorrelated": ("errors uncorrelated (upper limit)", "-."),
                "correlated": ("errors fully correlated (lower limit)", "--")}


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


def tsne_trajectories(table: pd.DataFrame, model, dataset):
    """Each run as a line in t-SNE space from its initialisation (hollow circle) to its end (star)."""
    fig, ax = plt.subplots(figsize=(8.5, 6.5), constrained_layout=True)
    seeds = sorted(table.seed.unique())
    for seed, color in zip(seeds, seed_colors(len(seeds))):
        draw_run(ax, table[table.seed == seed], color, f"seed {seed}")
    markers = [Line2D([], [], ls="", marker="o", mfc="white", mec="black", ms=8, label="init (epoch 0)"),
               Line2D([], [], ls="", marker="*", color="black", ms=12, label="final epoch")]
    handles = ax.get_legend_handles_labels()[0] + markers
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.grid(alpha=0.25)
    detail = [f"perplexity {table.perplexity.iloc[0]:.3g}", "numbers: epochs"]
    if "test_points" in table:
        detail.insert(0, f"{int(table.test_points.iloc[0])} test points")
    ax.set_title(f"Function-space t-SNE of training trajectories: {subject(model, dataset)}\n"
                 f"({', '.join(detail)})")
    return fig


METHOD_LABELS = {"random": "random subspace", "dropout": "dropout subspace", "diagonal": "diagonal Gaussian",
                 "lowrank": "low-rank Gaussian", "averaging": "weight averaging"}
METHOD_MARKERS = {"random": "o", "dropout": "s", "diagonal": "^", "lowrank": "D", "averaging": "P"}
METHOD_COLORS = {"random": "tab:blue", "dropout": "tab:orange", "diagonal": "tab:green", "lowrank": "tab:purple",
                 "averaging": "tab:brown"}


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


def diversity_accuracy(points: list[pd.DataFrame], curves: pd.DataFrame, model, dataset):
    """Normalised disagreement with the reference vs accuracy, with the two analytic limits."""
    pts = pd.concat(points, ignore_index=True)
    pts = pts[np.isfinite(pts.normalized_disagreement)]
    kinds = [k for k in KIND_STYLES if k in set(pts.kind)] + sorted(set(pts.kind) - set(KIND_STYLES))
    fig, ax = plt.subplots(figsize=(8, 5.8), constrained_layout=True)
    for kind, style in kind_styles(kinds).items():
        one = pts[pts.kind == kind]
        ax.scatter(one.accuracy, one.normalized_disagreement, **style)
    for name, (label, ls) in CURVE_STYLES.items():
        c = curves[curves.curve == name].sort_values("accuracy")
        ax.plot(c.accuracy, c.normalized_disagreement, color="black", ls=ls, lw=1.5, label=label, zorder=1)
    a_r = float(curves.reference_accuracy.iloc[0])
    ref_seeds = pts.reference_seed.dropna().unique() if "reference_seed" in pts else []
    ref = f"reference accuracy {a_r:.3f}" + (f" (seed {int(ref_seeds[0])})" if len(ref_seeds) == 1 else "")
    ax.axvline(a_r, color="tab:green", ls=":", lw=1.5, label=ref, zorder=1)
    upper = curves[curves.curve == "uncorrelated"].normalized_disagreement
    ax.set_ylim(-0.05, 1.08 * np.nanmax([1.0, *pts.normalized_disagreement, *upper[np.isfinite(upper)]]))
    ax.set_xlim(0, min(1.0, max(a_r, pts.accuracy.max() if len(pts) else 0) + 0.05))
    ax.set_xlabel("accuracy")
    ax.set_ylabel("disagreement with reference / (1 - accuracy)")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=8, loc="lower left", framealpha=0.85)
    ax.set_title(f"Diversity vs accuracy around one solution: {subject(model, dataset)}")
    return fig
