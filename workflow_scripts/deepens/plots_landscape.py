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
        radial = "point" in anchors and (anchors.point == "origin").any()
        for _, a in anchors.iterrows():
            if radial and a.point == "origin":
                what, marker = "origin of weight space", "X"
            else:
                what = f"seed {int(a.seed)} " + ("init" if a.epoch == 0 else f"epoch {int(a.epoch)}")
                marker = "o" if a.epoch == 0 else "*"
                if radial:  # the paper's radial cut: solutions at similar radius, apart in angle
                    ax.add_patch(plt.Circle((0, 0), float(np.hypot(a.x, a.y)), fill=False, ls=":", lw=0.8,
                                            color="white", alpha=0.8, clip_on=True))
            ax.plot(a.x, a.y, marker=marker, ms=12, mec="white", mfc="black")
            ax.annotate(f"{what}\n{metric} {a[metric]:.3f}", (a.x, a.y), xytext=(6, 6),
                        textcoords="offset points", fontsize=8, color="white",
                        bbox=dict(boxstyle="round,pad=0.2", fc="black", alpha=0.55, lw=0))
        ax.set_xlabel("coordinate along u (parameter-space units)" + (": u points to the first solution"
                                                                        if radial else ""))
        ax.set_ylabel("coordinate along v")
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(ys[0], ys[-1])
        ax.set_aspect("equal", adjustable="box")
    fig.suptitle(f"Plane '{name}' through three points: {subject(model, dataset)}")
    return fig


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


def shift(table: pd.DataFrame, model, dataset):
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
