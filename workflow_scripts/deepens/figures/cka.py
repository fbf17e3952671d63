"""Linear CKA: layer x layer across seeds, epoch x epoch along one trajectory."""
import numpy as np
import pandas as pd

from .common import frame, heatmap, plt, square, subject


def draw(seeds: pd.DataFrame, trajectory: pd.DataFrame, model, dataset, cmap):
    """Top: layer x layer CKA between different seeds (mean over seed pairs) and within one seed.
    Below: CKA of each layer with itself across the epochs of one trajectory (small multiples)."""
    layers = list(dict.fromkeys(seeds.sort_values("layer_index_a").layer_a)) if "layer_index_a" in seeds \
        else list(dict.fromkeys(seeds.layer_a))
    cross = seeds[seeds.seed_a != seeds.seed_b]
    within = seeds[seeds.seed_a == seeds.seed_b]
    n = len(layers)
    ncols = 4
    rows_t = int(np.ceil(n / ncols))
    fig = plt.figure(figsize=(15, 6.2 + 3.3 * rows_t), constrained_layout=True)
    grid = fig.add_gridspec(1 + rows_t, ncols, height_ratios=[1.9] + [1.0] * rows_t)
    for col, (part, title) in enumerate(((cross, "between different seeds (mean over seed pairs)"),
                                         (within, "within one seed (mean over seeds)"))):
        ax = fig.add_subplot(grid[0, 2 * col:2 * col + 2])
        if len(part) == 0:
            ax.set_axis_off()
            ax.set_title(f"Final epoch, {title}: needs two seeds")
            continue
        m = part.groupby(["layer_a", "layer_b"]).cka.mean().reset_index()
        mat = square(m, "cka", "layer_a", "layer_b").reindex(index=layers, columns=layers)
        heatmap(ax, fig, mat, f"Final epoch, {title}", "linear CKA", cmap, annotate=n <= 8, vmin=0, vmax=1)
        ax.set_xticks(range(n), layers, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), layers, fontsize=8)
    seed = int(trajectory.seed_a.iloc[0]) if len(trajectory) else -1
    present = [name for name in layers if name in set(trajectory.layer_a)]
    for k, name in enumerate(present):
        ax = fig.add_subplot(grid[1 + k // ncols, k % ncols])
        one = trajectory[(trajectory.layer_a == name) & (trajectory.layer_b == name)]
        heatmap(ax, fig, square(one, "cka", "epoch_a", "epoch_b"), f"seed {seed}, {name}: epoch x epoch", "CKA",
                cmap, vmin=0, vmax=1)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("epoch", fontsize=8)
    fig.suptitle(f"Representation similarity (minibatch linear CKA): {subject(model, dataset)}")
    return fig


def render(i, p, w):
    """The figure of rule plot_cka: its named inputs i, params p and wildcards w."""
    return draw(frame(i.seeds), frame(i.trajectory), w.model, w.dataset, p.colormap)
