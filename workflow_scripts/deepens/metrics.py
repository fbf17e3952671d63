"""Pure numpy metrics (docs/methods.md): per-checkpoint scores and all-pairs similarity matrices.

NLL is computed from log-probabilities of the label (the prediction tables store the network's
log-softmax value, ensembles combine them by log-mean-exp), never from clipped probabilities,
so an overconfident mistake counts in full.

The pairwise matrices are Gram products computed block by block (BLAS), never Python
loops over pairs, so K checkpoints cost one K x K product per block of parameters or
test points, and memory stays bounded by the block size.
"""
import numpy as np
import pyarrow as pa


def accuracy(probs, labels) -> float:
    return float(np.mean(np.argmax(probs, axis=-1) == labels))


def log_mean_exp(log_values, axis=0) -> np.ndarray:
    """log(mean(exp(a))) along `axis`, in float64 and shifted by the maximum (no underflow);
    the log-probability of an ensemble from its members' log-probabilities."""
    a = np.asarray(log_values, np.float64)
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = top + np.log(np.mean(np.exp(a - top), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis)


def nll(probs, labels, log_prob_label=None) -> float:
    """Mean -log p_y: from log_prob_label when given (exact), else from probs (a zero p_y is inf)."""
    if log_prob_label is None:
        p = np.take_along_axis(np.asarray(probs, np.float64), np.asarray(labels)[:, None], axis=-1)[:, 0]
        with np.errstate(divide="ignore"):
            log_prob_label = np.log(p)
    return float(-np.mean(np.asarray(log_prob_label, np.float64)))


def brier(probs, labels) -> float:
    """Mean over examples of sum_c p_c^2 - 2 p_y + 1 (= squared distance to the one-hot label)."""
    p = probs.astype(np.float64)
    py = np.take_along_axis(p, np.asarray(labels)[:, None], axis=-1)[:, 0]
    return float(np.mean(np.sum(p * p, axis=-1) - 2 * py + 1))


def ece(probs, labels, bins=15) -> float:
    """Expected calibration error, equal-width confidence bins on (0, 1]."""
    conf = probs.max(axis=-1).astype(np.float64)
    correct = (probs.argmax(axis=-1) == labels).astype(np.float64)
    which = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, correct, bins) - np.bincount(which, conf, bins))
    return float(gap.sum() / len(labels)) if count.sum() else 0.0


def scores(probs, labels, log_prob_label=None, bins=15) -> dict:
    return {"accuracy": accuracy(probs, labels), "nll": nll(probs, labels, log_prob_label),
            "brier": brier(probs, labels), "ece": ece(probs, labels, bins)}


def cosine_from_blocks(blocks, chunk_columns=4096) -> np.ndarray:
    """Cosine similarity matrix of K vectors given as column blocks (K x b_i) of them.

    The Gram matrix is accumulated in float64 (`block @ block.T`, which numpy hands to BLAS
    syrk: only one triangle is computed). float64 blocks are used as they are; blocks of
    another dtype (float32 checkpoints as stored) are converted chunk_columns columns at a
    time into a reused float64 buffer, so the conversion stays in cache instead of writing a
    second, float64 copy of every block to memory (about 25 % faster at K = 100).
    """
    gram, buf = None, None
    for block in blocks:
        block = np.asarray(block)
        if block.dtype == np.float64:
            parts = (block,)
        else:
            if buf is None or buf.shape[0] != block.shape[0]:
                buf = np.empty((block.shape[0], max(1, int(chunk_columns))), dtype=np.float64)
            parts = (block[:, s:s + buf.shape[1]] for s in range(0, block.shape[1], buf.shape[1]))
        for part in parts:
            if part.dtype != np.float64:
                converted = buf[:, :part.shape[1]]
                converted[...] = part
                part = converted
            g = part @ part.T
            gram = g if gram is None else gram + g
    norms = np.sqrt(np.clip(np.diag(gram), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = gram / np.outer(norms, norms)
    return np.clip(cos, -1.0, 1.0)


def disagreement_matrix(predicted, num_classes, block_examples=4096) -> np.ndarray:
    """Fraction of examples whose predicted class differs, for all pairs of K label vectors.

    predicted: (K x N) ints in [0, num_classes). Agreements are counted per class as Gram
    products of K x b 0/1 indicator blocks, sum_c [y_i = c] [y_j = c], in float32: exact,
    since every count stays <= b < 2^24. Per class, not of the K x (b C) one-hot matrix,
    so no gather builds a C-times larger block; classes absent from a block are skipped.
    """
    predicted = np.asarray(predicted)
    k, n = predicted.shape
    agree = np.zeros((k, k), dtype=np.float64)
    b = max(1, min(n, int(block_examples), 2 ** 24 - 1))
    indicator = np.empty((k, b), dtype=np.float32)
    hits = np.empty((k, b), dtype=bool)
    for start in range(0, n, b):
        block = predicted[:, start:start + b]
        width = block.shape[1]
        ind, hit = indicator[:, :width], hits[:, :width]
        counts = np.zeros((k, k), dtype=np.float32)
        for c in np.flatnonzero(np.bincount(block.ravel(), minlength=num_classes)):
            np.equal(block, c, out=hit)
            ind[...] = hit
            counts += ind @ ind.T
        agree += counts
    return 1.0 - agree / n


def pairs_table(keys: dict, matrix: np.ndarray, value_name: str) -> pa.Table:
    """Long format: one row per ordered pair (a, b); keys maps a name to K values per side."""
    k = matrix.shape[0]
    a, b = np.divmod(np.arange(k * k), k)
    cols = {}
    for side, idx in (("a", a), ("b", b)):
        for name, values in keys.items():
            cols[f"{name}_{side}"] = pa.array(np.asarray(values)[idx])
    cols[value_name] = pa.array(matrix.reshape(-1))
    return pa.table(cols)
