"""The paper's claims checked: estimate, bootstrap interval and verdict per claim."""
import numpy as np
import pandas as pd

from .common import frame, plt, subject

VERDICT_COLORS = {"holds": "tab:green", "fails": "tab:red", "inconclusive": "tab:orange"}


def draw(table: pd.DataFrame, model, dataset):
    """One row per claim: the statement, then the estimate (dot) with its interval (bar) on the
    claim's own scale, the threshold (dashed) and the verdict (colour)."""
    n = len(table)
    height = 0.55 * max(n, 1) + 1.2
    fig, axes = plt.subplots(max(n, 1), 1, figsize=(14, height), squeeze=False)
    fig.subplots_adjust(left=0.47, right=0.8, top=1 - 0.9 / height, bottom=0.35 / height, hspace=0.9)
    for ax, (_, row) in zip(axes[:, 0], table.iterrows()):
        color = VERDICT_COLORS.get(row.verdict, "0.4")
        lo, hi, est, thr = (float(row[k]) for k in ("ci_low", "ci_high", "estimate", "threshold"))
        values = [v for v in (lo, hi, est, thr) if np.isfinite(v)]
        span = (max(values) - min(values)) if values else 1.0
        span = span if span > 0 else max(abs(thr), 1e-3)
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [0, 0], color=color, lw=5, alpha=0.45, solid_capstyle="butt")
        if np.isfinite(est):
            ax.plot([est], [0], "o", color=color, ms=7)
        ax.axvline(thr, color="0.2", ls="--", lw=1)
        left = min(values) - 0.15 * span if values else -1
        right = max(values) + 0.15 * span if values else 1
        ax.set_xlim(left, right)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=7, pad=1)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        sign = ">" if row.direction == "above" else "<"
        what = f"{row.claim}. {row.statement}" + (f" [{row.subject}]" if row.subject else "")
        ax.text(-0.01, 0.5, what, transform=ax.transAxes, ha="right", va="center", fontsize=8)
        ax.text(1.01, 0.5, f"{row.verdict}\n{row.metric} {est:.3g} (needs {sign} {thr:g})", transform=ax.transAxes,
                ha="left", va="center", fontsize=7.5, color=color)
    if n == 0:
        axes[0, 0].set_axis_off()
        axes[0, 0].set_title("no claims were checked")
    fig.suptitle(f"The paper's findings checked: {subject(model, dataset)}\n"
                 f"dot = estimate, bar = bootstrap interval, dashed = threshold; green holds, red fails, "
                 f"orange inconclusive", fontsize=10)
    return fig


def render(i, p, w):
    """The figure of rule plot_findings: its named inputs i, params p and wildcards w."""
    return draw(frame(i.findings), w.model, w.dataset)
