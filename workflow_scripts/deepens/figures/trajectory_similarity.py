"""Within one trajectory: epoch x epoch weight cosine and prediction disagreement."""
import pandas as pd

from .common import cosine_and_disagreement, frame, subject


def draw(cosine: pd.DataFrame, disagreement: pd.DataFrame, seed, model, dataset, cmap):
    """Epoch x epoch weight cosine and prediction disagreement within one run."""
    return cosine_and_disagreement(cosine, disagreement, lambda t: (t.seed_a == seed) & (t.seed_b == seed),
                                   "epoch_a", "epoch_b", "epoch",
                                   f"Within one trajectory (seed {seed}): {subject(model, dataset)}", cmap)


def render(i, p, w):
    """The figure of rule plot_trajectory_similarity: its named inputs i, params p and wildcards w."""
    return draw(frame(i.cosine), frame(i.disagreement), p.seed, w.model, w.dataset, p.colormap)
