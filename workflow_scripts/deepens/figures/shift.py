"""Scores under dataset shift against corruption intensity: boxes and the mean over corruptions."""
import numpy as np
import pandas as pd

from ..subspace_analysis import METHOD_ORDER
from .common import frame, plt, subject
from .styles import method_styles

SHIFT_PANELS = (("accuracy", "accuracy"), ("nll", "NLL"), ("brier", "Brier score"), ("ece", "ECE"))


def _shift_groups(table):
    """(label, colour, rows) per compared kind: singles, snapshots, each method alone, the full ensemble."""
    n_seeds = int(table[table.kind == "independent"]["size"].max())
    methods = [m for m in METHOD_ORDER if f"{m} alone" in set(table.kind)]
    methods += sorted({k[:-6] for k in table.kind if k.endswith(" alone")} - set(methods) - {"snapshot"})
    styles = method_styles(methods)
    groups = [("single solution", "0.55", table[table.kind == "single"])]
    if "snapshot alone" in set(table.kind):
        snap = table[table.kind == "snapshot alone"]
        groups.append((f"snapshot ensemble ({int(snap['size'].max())} checkpoints)", "tab:pink", snap))
    groups += [(f"{styles[m]['label']} (one run)", styles[m]["color"], table[table.kind == f"{m} alone"])
               for m in methods]
    groups.append((f"ensemble of {n_seeds} seeds", "black",
                   table[(table.kind == "independent") & (table["size"] == n_seeds)]))
    return groups


def draw(table: pd.DataFrame, model, dataset):
    """Scores against corruption intensity. Left: boxes over corruptions (and seeds, for per-run
    kinds). Right: the mean over corruptions (and seeds) at each intensity, as the paper shows it."""
    severities = sorted(table.severity.unique())
    groups = _shift_groups(table)
    fig, axes = plt.subplots(len(SHIFT_PANELS), 2, figsize=(14, 3.1 * len(SHIFT_PANELS)), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1.6, 1]})
    width = 0.8 / len(groups)
    for (box_ax, mean_ax), (metric, label) in zip(axes, SHIFT_PANELS):
        for g, (glabel, color, rows) in enumerate(groups):
            data = [rows.loc[rows.severity == s, metric].to_numpy() for s in severities]
            pos = np.arange(len(severities)) + (g - (len(groups) - 1) / 2) * width
            box = box_ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False,
                                 medianprops=dict(color="white" if color == "black" else "black", lw=1.2))
            for patch in box["boxes"]:
                patch.set(facecolor=color, alpha=0.8, lw=0.6)
            box_ax.plot([], [], color=color, lw=6, alpha=0.8, label=glabel)
            means = [rows.loc[rows.severity == s].groupby("corruption")[metric].mean().mean() for s in severities]
            mean_ax.plot(severities, means, "o-", color=color, lw=1.6, ms=4, label=glabel)
        box_ax.set_xticks(np.arange(len(severities)), [str(s) for s in severities])
        for ax in (box_ax, mean_ax):
            ax.set_xlabel("corruption intensity (0 = clean test set)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3, axis="y")
        mean_ax.set_xticks(severities)
        mean_ax.set_title(f"{label}: mean over corruptions", fontsize=9)
    axes[0, 0].legend(fontsize=8, loc="lower left")
    corr = sorted(set(table.corruption) - {"clean"})
    fig.suptitle(f"Under dataset shift: {subject(model, dataset)}\nleft: boxes over {len(corr)} corruptions "
                 f"({', '.join(corr)}) x seeds for per-run kinds; right: their mean per intensity")
    return fig


def render(i, p, w):
    """The figure of rule plot_shift: its named inputs i, params p and wildcards w."""
    return draw(frame(i.metrics), w.model, w.dataset)
