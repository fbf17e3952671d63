"""Where the models err (docs/methods.md, Function space; the seed report's "intrinsically hard examples").

Confusion matrices of every checkpoint, the test examples the final solutions misclassify, and the
overlap (Jaccard) of the misclassified sets of all pairs of checkpoints. Runs are read one at a
time and only argmax labels (plus, at the final epoch, the true-class probability) are kept, so
memory is K x N small ints, never K x N x C floats.
"""
import numpy as np
import pyarrow as pa

from . import metrics
from .io import ArtifactError, iter_runs


def _runs(prediction_paths, seeds):
    """Yield (seed, epochs, labels, probs) per run; every run must cover the same test grid."""
    seeds = [int(s) for s in seeds]
    if len(prediction_paths) != len(seeds):
        raise ValueError(f"expected one predictions file per seed ({len(seeds)}), got {len(prediction_paths)}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be non-empty and distinct, got {seeds}")
    for i, (seed, (epochs, labels, probs, _)) in enumerate(zip(seeds, iter_runs(prediction_paths))):
        if i == 0 and (labels.min() < 0 or labels.max() >= probs.shape[-1]):
            raise ArtifactError(f"predictions {prediction_paths[0]}: labels outside 0..{probs.shape[-1] - 1}")
        yield seed, epochs, labels, probs


def confusion_counts(predicted, labels, num_classes) -> np.ndarray:
    """(E x C x C) counts [epoch, true, predicted] of (E x N) predicted labels, by one bincount.

    Each (epoch, true, predicted) triple gets its own bin, so all epochs are counted at once.
    """
    predicted = np.asarray(predicted, np.int64)
    cells = num_classes * num_classes
    offset = np.arange(predicted.shape[0], dtype=np.int64)[:, None] * cells
    flat = (offset + np.asarray(labels, np.int64) * num_classes + predicted).ravel()
    return np.bincount(flat, minlength=predicted.shape[0] * cells).reshape(-1, num_classes, num_classes)


def confusion_table(prediction_paths, seeds) -> pa.Table:
    """Dense long table: every (seed, epoch) has all C x C (label, predicted) cells, zeros included."""
    parts = []
    for seed, epochs, labels, probs in _runs(prediction_paths, seeds):
        c = probs.shape[-1]
        counts = confusion_counts(probs.argmax(axis=-1), labels, c)
        true, pred = np.divmod(np.arange(c * c, dtype=np.int32), c)
        parts.append(pa.table({
            "seed": pa.array(np.full(counts.size, seed, np.int64)),
            "epoch": pa.array(np.repeat(epochs.astype(np.int32), c * c)),
            "label": pa.array(np.tile(true, len(epochs))),
            "predicted": pa.array(np.tile(pred, len(epochs))),
            "count": pa.array(counts.reshape(-1).astype(np.int64))}))
    return pa.concat_tables(parts)


def hard_examples_table(prediction_paths, seeds) -> pa.Table:
    """Per test example: how many of the final solutions misclassify it, and what each predicts."""
    seeds = [int(s) for s in seeds]
    predicted, p_true, labels = [], [], None
    for _, _, labels, probs in _runs(prediction_paths, seeds):
        final = probs[-1]  # read_predictions sorts epochs ascending
        predicted.append(final.argmax(axis=-1).astype(np.int32))
        p_true.append(np.take_along_axis(final, labels[:, None].astype(np.int64), axis=-1)[:, 0])
    predicted = np.stack(predicted)
    wrong = (predicted != labels).sum(axis=0).astype(np.int32)
    n = len(labels)
    cols = {"example": pa.array(np.arange(n, dtype=np.int32)),
            "label": pa.array(labels.astype(np.int32)),
            "n_models": pa.array(np.full(n, len(seeds), np.int32)),
            "n_misclassified": pa.array(wrong),
            "fraction_misclassified": pa.array(wrong / np.float64(len(seeds))),
            "mean_true_probability": pa.array(np.stack(p_true).astype(np.float64).mean(axis=0))}
    cols.update({f"predicted_seed_{s}": pa.array(row) for s, row in zip(seeds, predicted)})
    return pa.table(cols)


def intersection_counts(indicator, block_examples=4096) -> np.ndarray:
    """(K x K) int64 sizes |A_i & A_j| of K sets given as a K x N 0/1 matrix: one Gram product.

    float32 products are exact while a block's counts stay below 2^24, hence the cap.
    """
    indicator = np.asarray(indicator)
    k, n = indicator.shape
    step = max(1, min(int(block_examples), 1 << 24))
    both = np.zeros((k, k), np.int64)
    for start in range(0, n, step):
        block = indicator[:, start:start + step].astype(np.float32)
        both += np.rint(block @ block.T).astype(np.int64)
    return both


def jaccard(n_a, n_b, n_both) -> np.ndarray:
    """|A & B| / |A | B|, 1.0 where both sets are empty (two checkpoints that make no errors agree)."""
    union = np.asarray(n_a) + np.asarray(n_b) - np.asarray(n_both)
    return np.divide(n_both, union, out=np.ones(union.shape, np.float64), where=union > 0)


def misclassified_overlap_table(prediction_paths, seeds, block_examples=4096) -> pa.Table:
    """All ordered pairs of (seed, epoch) checkpoints: sizes and Jaccard of their misclassified sets."""
    wrong, seed_col, epoch_col = [], [], []
    for seed, epochs, labels, probs in _runs(prediction_paths, seeds):
        wrong.append(probs.argmax(axis=-1) != labels)  # (E+1) x N booleans
        seed_col.append(np.full(len(epochs), seed, np.int64))
        epoch_col.append(epochs.astype(np.int32))
    both = intersection_counts(np.concatenate(wrong), block_examples)
    sizes = np.diag(both)
    k = len(sizes)
    n_a, n_b = np.repeat(sizes, k), np.tile(sizes, k)  # pairs_table's row order: a-major
    table = metrics.pairs_table({"seed": np.concatenate(seed_col), "epoch": np.concatenate(epoch_col)},
                                both, "n_both")
    table = table.add_column(4, "n_a", pa.array(n_a)).add_column(5, "n_b", pa.array(n_b))
    return table.append_column("jaccard", pa.array(jaccard(n_a, n_b, both.reshape(-1))))
