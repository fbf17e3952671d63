"""A gallery of the hardest test images with every seed's prediction."""
import numpy as np
import pandas as pd

from ..data import load_dataset
from .common import frame, subject
from .confusion_panels import SHORT_NAME, grid


def hardest(hard: pd.DataFrame, n) -> pd.DataFrame:
    """The n hardest examples: most solutions wrong, then least true-class probability, then index."""
    order = hard.sort_values(["n_misclassified", "mean_true_probability", "example"], ascending=[False, True, True],
                             kind="stable")
    return order.head(max(0, int(n)))


def _thumbnail(ax, image):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def draw(hard: pd.DataFrame, images, class_names, seeds, n, model, dataset):
    """Thumbnails of the n hardest test images: true class, each seed's prediction, errors."""
    top = hardest(hard, n)
    short = max(map(len, class_names)) <= SHORT_NAME
    name = (lambda k: class_names[k]) if short else str
    preds = top[[f"predicted_seed_{s}" for s in seeds]].to_numpy()
    fig, axes, _ = grid(max(1, len(top)), 8, 1.55, 2.0)
    if top.empty:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no test examples", ha="center", va="center")
    for ax, row, p in zip(axes, top.itertuples(index=False), preds):
        _thumbnail(ax, np.asarray(images[row.example]))
        true = class_names[row.label] if short else f"{row.label} {class_names[row.label]}"
        colour = "firebrick" if row.n_misclassified == row.n_models else "black"
        ax.set_title(f"#{row.example} true {true}\n{' '.join(name(k) for k in p)}\n"
                     f"wrong {row.n_misclassified}/{row.n_models}", fontsize=7, color=colour)
    legend = "" if short else "\nclasses: " + ", ".join(f"{k} {c}" for k, c in enumerate(class_names))
    fig.suptitle(f"Hardest test examples ({len(top)} of {len(hard)}): {subject(model, dataset)}\n"
                 f"second line: final-epoch predictions of seeds {', '.join(map(str, seeds))}; "
                 f"red: every seed wrong{legend}",
                 fontsize=9)
    return fig


def render(i, p, w):
    """The figure of rule plot_hard_examples: its named inputs i, params p and wildcards w."""
    ds = load_dataset(i.dataset)
    return draw(frame(i.hard), ds.x_test, ds.class_names, p.seeds, p.n, w.model, w.dataset)
