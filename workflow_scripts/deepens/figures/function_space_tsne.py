"""Function-space t-SNE: each run as a line from its initialisation to its solution."""
import pandas as pd
from matplotlib.lines import Line2D

from .common import frame, plt, subject
from .styles import draw_run, seed_colors


def draw(table: pd.DataFrame, model, dataset):
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


def render(i, p, w):
    """The figure of rule plot_function_space_tsne: its named inputs i, params p and wildcards w."""
    return draw(frame(i.tsne), w.model, w.dataset)
