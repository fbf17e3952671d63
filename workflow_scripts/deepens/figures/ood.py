"""Out-of-distribution detection: AUROC by ensemble size and kind, and predictive-entropy
histograms in and out of distribution, one row per OOD set."""
import matplotlib.ticker
import pandas as pd

from .common import frame, plt, subject
from .styles import method_styles, methods_in_order

SCORE_PANELS = (("entropy", "AUROC, predictive entropy"), ("mutual_information", "AUROC, mutual information"))
SNAPSHOT = dict(color="tab:gray", marker="v", label="snapshot ensemble")


def _style(method, styles):
    return SNAPSHOT if method == "snapshot" else styles[method]


def _auroc_panel(ax, rows: pd.DataFrame, score, styles):
    col = f"auroc_{score}"
    ind = rows[rows.kind == "independent"].sort_values("size")
    ax.plot(ind["size"], ind[col], color="black", lw=2.4, marker="o", label="independent solutions", zorder=4)
    for method in [m for m in rows.method.unique() if m != "none"]:
        st = _style(method, styles)
        ens = rows[rows.kind == f"{method} + ensemble"].sort_values("size")
        ax.plot(ens["size"], ens[col], color=st["color"], marker=st["marker"], lw=1.2, ms=4,
                label=f"{st['label']} + ensemble")
        alone = rows[rows.kind == f"{method} alone"]
        ax.scatter([0.6] * len(alone), alone[col], color=st["color"], marker=st["marker"], s=40, edgecolors="black",
                   linewidths=0.5, zorder=5)
    ax.axhline(0.5, color="0.4", ls=":", lw=1)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlim(0.3, None)
    ax.set_xlabel("ensemble size k (solutions); left of 1: one solution's member alone")
    ax.grid(alpha=0.3)


def _histogram_panel(ax, hist: pd.DataFrame):
    for kind, ls in (("single", "--"), ("ensemble", "-")):
        for side, color in (("in", "tab:blue"), ("out", "tab:red")):
            h = hist[(hist.kind == kind) & (hist.side == side)].sort_values("lower")
            share = h["count"] / max(h["count"].sum(), 1)
            ax.step(h["lower"], share, where="post", color=color, ls=ls, lw=1.4,
                    label=f"{'one solution' if kind == 'single' else 'ensemble of all seeds'}, "
                          f"{'test set' if side == 'in' else 'OOD set'}")
    ax.set_xlabel("predictive entropy (nats)")
    ax.set_ylabel("share of examples")
    ax.grid(alpha=0.3)


def draw(metrics: pd.DataFrame, histograms: pd.DataFrame, model, dataset):
    sets = list(dict.fromkeys(metrics["set"]))
    styles = method_styles(methods_in_order(m for m in metrics.method.unique() if m not in ("none", "snapshot")))
    fig, axes = plt.subplots(len(sets), 3, figsize=(15, 3.9 * len(sets)), constrained_layout=True, squeeze=False)
    for row, name in enumerate(sets):
        rows = metrics[metrics["set"] == name]
        for col, (score, title) in enumerate(SCORE_PANELS):
            _auroc_panel(axes[row, col], rows, score, styles)
            axes[row, col].set_title(f"{name}: {title}")
            axes[row, col].set_ylabel("AUROC (1 = perfect, 0.5 = chance)")
        _histogram_panel(axes[row, 2], histograms[histograms["set"] == name])
        axes[row, 2].set_title(f"{name}: entropy in vs out of distribution")
    axes[0, 1].legend(fontsize=7, loc="lower right")
    axes[0, 2].legend(fontsize=7, loc="upper center")
    fig.suptitle(f"Out-of-distribution detection: {subject(model, dataset)}")
    return fig


def render(i, p, w):
    """The figure of rule plot_ood: its named inputs i, params p and wildcards w."""
    return draw(frame(i.metrics), frame(i.histograms), w.model, w.dataset)
