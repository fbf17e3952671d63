"""The diversity-accuracy plane: normalised disagreement with a reference vs accuracy, with the two
analytic limit curves."""
import numpy as np
import pandas as pd

from .common import frame, plt, subject
from .styles import KIND_STYLES, kind_styles

CURVE_STYLES = {"uncorrelated": ("errors uncorrelated (upper limit)", "-."),
                "correlated": ("errors fully correlated (lower limit)", "--")}


def draw(points: list[pd.DataFrame], curves: pd.DataFrame, model, dataset):
    """Normalised disagreement with the reference vs accuracy, with the two analytic limits."""
    pts = pd.concat(points, ignore_index=True)
    pts = pts[np.isfinite(pts.normalized_disagreement)]
    kinds = [k for k in KIND_STYLES if k in set(pts.kind)] + sorted(set(pts.kind) - set(KIND_STYLES))
    fig, ax = plt.subplots(figsize=(8, 5.8), constrained_layout=True)
    for kind, style in kind_styles(kinds).items():
        one = pts[pts.kind == kind]
        ax.scatter(one.accuracy, one.normalized_disagreement, **style)
    for name, (label, ls) in CURVE_STYLES.items():
        c = curves[curves.curve == name].sort_values("accuracy")
        ax.plot(c.accuracy, c.normalized_disagreement, color="black", ls=ls, lw=1.5, label=label, zorder=1)
    a_r = float(curves.reference_accuracy.iloc[0])
    ref_seeds = pts.reference_seed.dropna().unique() if "reference_seed" in pts else []
    ref = f"reference accuracy {a_r:.3f}" + (f" (seed {int(ref_seeds[0])})" if len(ref_seeds) == 1 else "")
    ax.axvline(a_r, color="tab:green", ls=":", lw=1.5, label=ref, zorder=1)
    upper = curves[curves.curve == "uncorrelated"].normalized_disagreement
    ax.set_ylim(-0.05, 1.08 * np.nanmax([1.0, *pts.normalized_disagreement, *upper[np.isfinite(upper)]]))
    ax.set_xlim(0, min(1.0, max(a_r, pts.accuracy.max() if len(pts) else 0) + 0.05))
    ax.set_xlabel("accuracy")
    ax.set_ylabel("disagreement with reference / (1 - accuracy)")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=8, loc="lower left", framealpha=0.85)
    ax.set_title(f"Diversity vs accuracy around one solution: {subject(model, dataset)}")
    return fig


def render(i, p, w):
    """The figure of rule plot_diversity_accuracy: its named inputs i, params p and wildcards w."""
    return draw([frame(t) for t in i.points], frame(i.limits), w.model, w.dataset)
