"""Across independent solutions: seed x seed weight cosine and prediction disagreement at one epoch."""
import pandas as pd

from .common import cosine_and_disagreement, frame, subject


def draw(cosine: pd.DataFrame, disagreement: pd.DataFrame, epoch, model, dataset, cmap):
    """Seed x seed weight cosine and prediction disagreement of the solutions at one epoch."""
    return cosine_and_disagreement(cosine, disagreement, lambda t: (t.epoch_a == epoch) & (t.epoch_b == epoch),
                                   "seed_a", "seed_b", "seed",
                                   f"Across independent solutions (epoch {epoch}): {subject(model, dataset)}", cmap,
                                   annotate=True)


def render(i, p, w):
    """The figure of rule plot_seed_similarity: its named inputs i, params p and wildcards w."""
    return draw(frame(i.cosine), frame(i.disagreement), p.epoch, w.model, w.dataset, p.colormap)
