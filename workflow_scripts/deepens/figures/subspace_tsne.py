"""Function-space t-SNE of the trajectories and every run's subspace samples."""
import pandas as pd
from matplotlib.lines import Line2D

from .common import frame, plt, subject
from .styles import draw_run, method_styles, methods_in_order, seed_colors

CURVE = "curve path"  # points of a connectivity curve (deepens.subspace_analysis.subspace_tsne_table)


def draw(table: pd.DataFrame, model, dataset):
    """Trajectories as lines per seed (init hollow circle, end star), each run's subspace samples
    as small markers in that run's colour, one marker shape per method, and the trained curves
    between solutions as dashed black lines through their points."""
    fig, ax = plt.subplots(figsize=(9, 6.8), constrained_layout=True)
    traj = table[table.kind == "trajectory"]
    curves = table[table.kind == CURVE]
    samples = table[~table.kind.isin(["trajectory", CURVE])]
    seeds = sorted(table.seed.unique())
    colors = dict(zip(seeds, seed_colors(len(seeds))))
    styles = method_styles(methods_in_order(samples.kind))
    for seed in seeds:
        run = traj[traj.seed == seed]
        if len(run):
            draw_run(ax, run, colors[seed], f"seed {seed}")
        for method, style in styles.items():
            one = samples[(samples.seed == seed) & (samples.kind == method)]
            # Below the end stars (zorder 5), above the lines, translucent so clusters show density.
            ax.scatter(one.x, one.y, s=16, marker=style["marker"], color=colors[seed], alpha=0.55,
                       edgecolors="none", zorder=2.5)
    for (a, b), g in curves.groupby(["seed", "seed_b"]):
        ends = [traj[(traj.seed == s) & (traj.epoch == traj.epoch.max())] for s in (a, b)]
        g = g.sort_values("sample")
        ax.plot([*ends[0].x, *g.x, *ends[1].x], [*ends[0].y, *g.y, *ends[1].y], color="black", lw=1.0, ls="--",
                marker="x", ms=5, zorder=4.5)
    handles = ax.get_legend_handles_labels()[0]
    handles += [Line2D([], [], ls="", marker="o", mfc="white", mec="black", ms=8, label="init (epoch 0)"),
                Line2D([], [], ls="", marker="*", color="black", ms=12, label="final epoch")]
    handles += [Line2D([], [], ls="", marker=st["marker"], color="0.35", ms=6, label=f"samples: {st['label']}")
                for st in styles.values()]
    if len(curves):
        handles.append(Line2D([], [], ls="--", marker="x", color="black", ms=5,
                              label="trained curve between two solutions"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.grid(alpha=0.25)
    detail = [f"{int(table.test_points.iloc[0])} test points", f"perplexity {table.perplexity.iloc[0]:.3g}",
              f"{len(samples)} samples", "numbers: epochs", "marker colour: seed"]
    ax.set_title(f"Function-space t-SNE of trajectories and subspace samples: {subject(model, dataset)}\n"
                 f"({', '.join(detail)})")
    return fig


def render(i, p, w):
    """The figure of rule plot_subspace_tsne: its named inputs i, params p and wildcards w."""
    return draw(frame(i.tsne), w.model, w.dataset)
