"""Test loss and accuracy on a plane through three points of weight space."""
import numpy as np
import pandas as pd

from .common import frame, plt, subject


def draw(table: pd.DataFrame, name, model, dataset, cmap):
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


def render(i, p, w):
    """The figure of rule plot_plane: its named inputs i, params p and wildcards w."""
    return draw(frame(i.plane), w.plane, w.model, w.dataset, p.colormap)
