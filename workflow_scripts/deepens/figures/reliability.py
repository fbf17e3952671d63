"""Reliability diagrams: one solution, the ensemble of every seed and each subspace method's
ensemble around one solution, before and after temperature scaling."""
import math

import pandas as pd

from .common import frame, plt, subject
from .styles import METHOD_LABELS

RAW, CALIBRATED = "tab:gray", "tab:blue"


def _panel_title(kind, method, n_seeds):
    if kind == "single":
        return "one solution (reference seed)"
    if kind == "ensemble":
        return f"ensemble of {n_seeds} independent solutions"
    return f"{METHOD_LABELS.get(method, method)} (one solution's samples)"


def draw(table: pd.DataFrame, model, dataset, n_seeds):
    """One panel per predictive distribution: accuracy against mean confidence per bin (markers
    sized by count; raw grey, calibrated blue) on the diagonal of perfect calibration, with the
    bins' share of the test set as bars below; ECE and temperature in the legend."""
    kinds = list(dict.fromkeys(zip(table.kind, table.method)))
    cols = min(4, len(kinds))
    rows = math.ceil(len(kinds) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.8 * rows), constrained_layout=True, squeeze=False)
    for ax, (kind, method) in zip(axes.flat, kinds):
        part = table[(table.kind == kind) & (table.method == method)]
        ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls=":")
        for calibrated, color in ((False, RAW), (True, CALIBRATED)):
            d = part[part.calibrated == calibrated].sort_values("bin")
            full = d[d["count"] > 0]
            share = full["count"] / d["count"].sum()
            t, e = d["temperature"].iloc[0], d["ece"].iloc[0]
            label = f"T = {t:.2f}: ECE {e:.3f}" if calibrated else f"raw: ECE {e:.3f}"
            ax.plot(full["confidence"], full["accuracy"], color=color, marker="o", lw=1.2, ms=3, label=label)
            ax.scatter(full["confidence"], full["accuracy"], s=8 + 120 * share, color=color, alpha=0.5)
            width = (d["upper"] - d["lower"]).iloc[0] / 2
            offset = width if calibrated else 0.0
            ax.bar(d["lower"] + offset, 0.25 * d["count"] / d["count"].sum(), width=width, align="edge",
                   color=color, alpha=0.35)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(_panel_title(kind, method, n_seeds), fontsize=9)
        ax.set_xlabel("confidence (max probability)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(kinds):]:
        ax.set_visible(False)
    fig.suptitle(f"Reliability before and after temperature scaling (fitted on the validation split): "
                 f"{subject(model, dataset)}\nbars: share of test examples per bin (x 0.25)")
    return fig


def render(i, p, w):
    """The figure of rule plot_reliability: its named inputs i, params p and wildcards w."""
    return draw(frame(i.reliability), w.model, w.dataset, len(p.seeds))
