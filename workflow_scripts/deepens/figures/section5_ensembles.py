"""The paper's Section 5: subspace samples, alone and ensembled over seeds, vs independent ensembles."""
import matplotlib
import matplotlib.ticker
import pandas as pd

from .common import frame, plt, subject
from .styles import method_styles, methods_in_order

PANELS = (("accuracy", "test accuracy", "higher is better"),
          ("brier", "test Brier score", "lower is better"),
          ("nll", "test NLL", "lower is better"),
          ("dee", "deep-ensemble equivalent", "calibrated NLL"))


def _curve(ax, rows: pd.DataFrame, metric, band=True, **style):
    rows = rows.sort_values("size")
    ax.plot(rows["size"], rows[metric], **style)
    if band and f"{metric}_min" in rows and len(rows) > 1:
        ax.fill_between(rows["size"], rows[f"{metric}_min"], rows[f"{metric}_max"], color=style.get("color"),
                        alpha=0.12, linewidth=0)


def draw(table: pd.DataFrame, model, dataset):
    """Top row: ensembles of k independent solutions, plain (bold) and with each solution replaced
    by the mean of its subspace samples. Bottom row: one solution's m samples alone (mean over
    seeds, band min-max over seeds), against the single solution and the full independent ensemble.
    The columns share their y axis, so both rows compare on one scale. The last column is the
    deep-ensemble equivalent (Ashukha et al. 2020) of every row's temperature-scaled NLL: how many
    independent solutions an ensemble needs to match it (open markers: beyond every seed)."""
    methods = methods_in_order(table.loc[table.kind != "independent", "method"])
    styles = method_styles(methods)
    panels = [p for p in PANELS if p[0] in table]
    fig, axes = plt.subplots(2, len(panels), figsize=(4.7 * len(panels), 8.4), constrained_layout=True,
                             sharey="col", squeeze=False)
    ind = table[table.kind == "independent"].sort_values("size")
    n_seeds = int(ind["size"].max()) if len(ind) else 0
    for col, (metric, label, hint) in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        _curve(top, ind, metric, color="black", lw=2.6, marker="o", ms=5, zorder=4,
               label="independent solutions (band: min-max over subsets)")
        for m in methods:
            st = styles[m]
            _curve(top, table[table.kind == f"{m} + ensemble"], metric, band=False, color=st["color"],
                   marker=st["marker"], ms=5, lw=1.4, label=f"{st['label']} + ensemble")
            _curve(bottom, table[table.kind == f"{m} alone"], metric, color=st["color"], marker=st["marker"],
                   ms=9 if m == "averaging" else 4, lw=1.4, ls="--", label=f"{st['label']} alone")
        if len(ind):
            single, full = ind[metric].iloc[0], ind[metric].iloc[-1]
            bottom.axhline(single, color="0.25", ls=":", lw=1.4, label="one solution, no samples (mean over seeds)")
            bottom.axhline(full, color="black", lw=2.0, alpha=0.45,
                           label=f"ensemble of all {n_seeds} independent solutions")
        top.set_title(f"{label} ({hint})")
        top.set_xlabel("ensemble size k (independent solutions)")
        bottom.set_xlabel("number of samples m of one solution")
        for ax in (top, bottom):
            ax.set_ylabel(label)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.tick_params(labelleft=True)
    if "dee_censored" in table:
        for ax, rows in ((axes[0, -1], table[table.kind.str.endswith(" + ensemble")]),
                         (axes[1, -1], table[table.kind.str.endswith(" alone")])):
            beyond = rows[rows["dee_censored"]]
            ax.scatter(beyond["size"], beyond["dee"], s=60, facecolors="none", edgecolors="black", zorder=5)
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                       title="ensembles over seeds", title_fontsize=8)
    axes[1, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                       title="one solution's samples alone\n(mean over seeds, band: min-max)", title_fontsize=8)
    fig.suptitle(f"Section 5: subspace samples vs independent ensembles: {subject(model, dataset)}")
    return fig


def render(i, p, w):
    """The figure of rule plot_section5_ensembles: its named inputs i, params p and wildcards w."""
    return draw(frame(i.ensembles), w.model, w.dataset)
