"""Subspace figures: samples in the function-space t-SNE, and the Section-5 ensembles by size."""
import itertools

import pandas as pd
from matplotlib.lines import Line2D

from .plots import matplotlib, plt, subject
from .plots_function_space import METHOD_COLORS, METHOD_LABELS, METHOD_MARKERS, draw_run, seed_colors
from .subspace_analysis import METHOD_ORDER

OTHER_MARKERS = ["v", "X", "<", ">", "h", "*"]
OTHER_COLORS = ["tab:pink", "tab:olive", "tab:cyan", "tab:red", "tab:gray"]
PANELS = (("accuracy", "test accuracy", "higher is better"),
          ("brier", "test Brier score", "lower is better"),
          ("nll", "test NLL", "lower is better"))


def _methods(values) -> list[str]:
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


def subspace_tsne(table: pd.DataFrame, model, dataset):
    """Trajectories as lines per seed (init hollow circle, end star), each run's subspace samples
    as small markers in that run's colour, one marker shape per method."""
    fig, ax = plt.subplots(figsize=(9, 6.8), constrained_layout=True)
    traj = table[table.kind == "trajectory"]
    samples = table[table.kind != "trajectory"]
    seeds = sorted(table.seed.unique())
    colors = dict(zip(seeds, seed_colors(len(seeds))))
    styles = method_styles(_methods(samples.kind))
    for seed in seeds:
        run = traj[traj.seed == seed]
        if len(run):
            draw_run(ax, run, colors[seed], f"seed {seed}")
        for method, style in styles.items():
            one = samples[(samples.seed == seed) & (samples.kind == method)]
            # Below the end stars (zorder 5), above the lines, translucent so clusters show density.
            ax.scatter(one.x, one.y, s=16, marker=style["marker"], color=colors[seed], alpha=0.55,
                       edgecolors="none", zorder=2.5)
    handles = ax.get_legend_handles_labels()[0]
    handles += [Line2D([], [], ls="", marker="o", mfc="white", mec="black", ms=8, label="init (epoch 0)"),
                Line2D([], [], ls="", marker="*", color="black", ms=12, label="final epoch")]
    handles += [Line2D([], [], ls="", marker=st["marker"], color="0.35", ms=6, label=f"samples: {st['label']}")
                for st in styles.values()]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.grid(alpha=0.25)
    detail = [f"{int(table.test_points.iloc[0])} test points", f"perplexity {table.perplexity.iloc[0]:.3g}",
              f"{len(samples)} samples", "numbers: epochs", "marker colour: seed"]
    ax.set_title(f"Function-space t-SNE of trajectories and subspace samples: {subject(model, dataset)}\n"
                 f"({', '.join(detail)})")
    return fig


def _curve(ax, rows: pd.DataFrame, metric, band=True, **style):
    rows = rows.sort_values("size")
    ax.plot(rows["size"], rows[metric], **style)
    if band and f"{metric}_min" in rows and len(rows) > 1:
        ax.fill_between(rows["size"], rows[f"{metric}_min"], rows[f"{metric}_max"], color=style.get("color"),
                        alpha=0.12, linewidth=0)


def section5_ensembles(table: pd.DataFrame, model, dataset):
    """Top row: ensembles of k independent solutions, plain (bold) and with each solution replaced
    by the mean of its subspace samples. Bottom row: one solution's m samples alone (mean over
    seeds, band min-max over seeds), against the single solution and the full independent ensemble.
    The columns share their y axis, so both rows compare on one scale."""
    methods = _methods(table.loc[table.kind != "independent", "method"])
    styles = method_styles(methods)
    fig, axes = plt.subplots(2, 3, figsize=(14, 8.4), constrained_layout=True, sharey="col")
    ind = table[table.kind == "independent"].sort_values("size")
    n_seeds = int(ind["size"].max()) if len(ind) else 0
    for col, (metric, label, hint) in enumerate(PANELS):
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
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                       title="ensembles over seeds", title_fontsize=8)
    axes[1, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                       title="one solution's samples alone\n(mean over seeds, band: min-max)", title_fontsize=8)
    fig.suptitle(f"Section 5: subspace samples vs independent ensembles: {subject(model, dataset)}")
    return fig

