"""Figures of the loss landscape, dataset shift and representation similarity."""
import numpy as np
import pandas as pd

from .plots import heatmap, plt, square, subject
from .plots_subspace import method_styles
from .subspace_analysis import METHOD_ORDER

KIND_LABELS = {"init_to_solution": "initialisation -> its solution",
               "solution_to_solution": "solution -> solution (other seed)"}
KIND_COLORS = {"init_to_solution": "tab:orange", "solution_to_solution": "tab:blue"}
SPLIT_STYLES = {"test": "-", "train": "--"}


def interpolation(curves: pd.DataFrame, barriers: pd.DataFrame, model, dataset):
    """Loss and accuracy along straight lines; one thin line per pair, split by line style."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    keys = ["kind", "seed_a", "epoch_a", "seed_b", "epoch_b", "split"]
    for (kind, sa, ea, sb, eb, split), g in curves.sort_values("t").groupby(keys, sort=True):
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(g.t, g[metric], color=KIND_COLORS.get(kind, "0.4"), ls=SPLIT_STYLES.get(split, ":"), lw=1.2,
                    alpha=0.8)
    sol = barriers[(barriers.kind == "solution_to_solution") & (barriers.split == "test")]
    for ax, metric, label in ((axes[0], "loss", "cross-entropy loss"), (axes[1], "accuracy", "accuracy")):
        ax.set_xlabel("t  (0: first checkpoint, 1: second)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=KIND_COLORS[k], label=KIND_LABELS[k]) for k in KIND_LABELS
               if k in set(curves.kind)]
    handles += [plt.Line2D([], [], color="0.3", ls=ls, label=f"{s} set") for s, ls in SPLIT_STYLES.items()
                if s in set(curves.split)]
    axes[1].legend(handles=handles, fontsize=8, loc="best")
    note = ""
    if len(sol):
        note = (f"\ntest loss barrier between solutions: mean {sol.loss_barrier.mean():.3f} "
                f"(max {sol.loss_barrier.max():.3f}); error barrier mean {sol.error_barrier.mean():.3f}")
    fig.suptitle(f"Linear interpolation between checkpoints: {subject(model, dataset)}{note}")
    return fig


def plane(table: pd.DataFrame, name, model, dataset, cmap):
    """Test loss and test accuracy on the plane's grid, contours, the three checkpoints marked."""
    grid = table[(table.anchor < 0) & (table.split == "test")]
    anchors = table[(table.anchor >= 0) & (table.split == "test")].sort_values("anchor")
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    for ax, metric, label in ((axes[0], "loss", "test loss"), (axes[1], "accuracy", "test accuracy")):
        z = grid.pivot(index="j", columns="i", values=metric).sort_index().sort_index(axis=1)
        xs = grid.drop_duplicates("i").sort_values("i").x.to_numpy()
        ys = grid.drop_duplicates("j").sort_values("j").y.to_numpy()
        values = z.to_numpy()
        if metric == "loss":  # log levels: the loss spans orders of magnitude off the solutions
            values = np.log10(np.clip(values, 1e-6, None))
            label = "log10 test loss"
        mesh = ax.contourf(xs, ys, values, levels=20, cmap=cmap if metric == "accuracy" else f"{cmap}_r")
        ax.contour(xs, ys, values, levels=10, colors="k", linewidths=0.4, alpha=0.5)
        fig.colorbar(mesh, ax=ax, label=label)
        for _, a in anchors.iterrows():
            what = "init" if a.epoch == 0 else f"epoch {int(a.epoch)}"
            ax.plot(a.x, a.y, marker="o" if a.epoch == 0 else "*", ms=12, mec="white", mfc="black")
            ax.annotate(f"seed {int(a.seed)} {what}\n{metric} {a[metric]:.3f}", (a.x, a.y), xytext=(6, 6),
                        textcoords="offset points", fontsize=8, color="white",
                        bbox=dict(boxstyle="round,pad=0.2", fc="black", alpha=0.55, lw=0))
        ax.set_xlabel("coordinate along u (parameter-space units)")
        ax.set_ylabel("coordinate along v")
        ax.set_aspect("equal", adjustable="box")
    fig.suptitle(f"Plane '{name}' through three checkpoints: {subject(model, dataset)}")
    return fig


SHIFT_PANELS = (("accuracy", "accuracy"), ("nll", "NLL"), ("brier", "Brier score"), ("ece", "ECE"))


def shift(table: pd.DataFrame, model, dataset):
    """Scores against corruption intensity: boxes over corruptions (and seeds, for per-run kinds)."""
    severities = sorted(table.severity.unique())
    n_seeds = int(table[table.kind == "independent"]["size"].max())
    methods = [m for m in METHOD_ORDER if f"{m} alone" in set(table.kind)]
    methods += sorted({k[:-6] for k in table.kind if k.endswith(" alone")} - set(methods))
    styles = method_styles(methods)
    groups = [("single", "single solution", "0.55", lambda t: t[t.kind == "single"])]
    groups += [(f"{m} alone", f"{styles[m]['label']} (one run)", styles[m]["color"],
                lambda t, m=m: t[t.kind == f"{m} alone"]) for m in methods]
    groups.append(("independent", f"ensemble of {n_seeds} seeds", "black",
                   lambda t: t[(t.kind == "independent") & (t["size"] == n_seeds)]))
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.4), constrained_layout=True)
    width = 0.8 / len(groups)
    for ax, (metric, label) in zip(axes.ravel(), SHIFT_PANELS):
        for g, (_, glabel, color, pick) in enumerate(groups):
            rows = pick(table)
            data = [rows.loc[rows.severity == s, metric].to_numpy() for s in severities]
            pos = np.arange(len(severities)) + (g - (len(groups) - 1) / 2) * width
            box = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False,
                             medianprops=dict(color="white" if color == "black" else "black", lw=1.2))
            for patch in box["boxes"]:
                patch.set(facecolor=color, alpha=0.8, lw=0.6)
            ax.plot([], [], color=color, lw=6, alpha=0.8, label=glabel)
        ax.set_xticks(np.arange(len(severities)), [str(s) for s in severities])
        ax.set_xlabel("corruption intensity (0 = clean test set)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    corr = sorted(set(table.corruption) - {"clean"})
    fig.suptitle(f"Under dataset shift: {subject(model, dataset)}\nboxes over {len(corr)} corruptions "
                 f"({', '.join(corr)}) x seeds for per-run kinds")
    return fig


def cka(seeds: pd.DataFrame, trajectory: pd.DataFrame, model, dataset, cmap):
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
