"""Pure numpy metrics (METHODS.md): per-checkpoint scores and all-pairs similarity matrices.

The pairwise matrices are Gram products computed block by block (BLAS), never Python
loops over pairs, so K checkpoints cost one K x K product per block of parameters or
test points, and memory stays bounded by the block size.
"""
import numpy as np
import pyarrow as pa

EPS = 1e-12


def accuracy(probs, labels) -> float:
    return float(np.mean(np.argmax(probs, axis=-1) == labels))


def nll(probs, labels) -> float:
    p = np.take_along_axis(probs, np.asarray(labels)[:, None], axis=-1)[:, 0]
    return float(-np.mean(np.log(np.clip(p.astype(np.float64), EPS, 1.0))))


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


def scores(probs, labels) -> dict:
    return {"accuracy": accuracy(probs, labels), "nll": nll(probs, labels),
            "brier": brier(probs, labels), "ece": ece(probs, labels)}


def cosine_from_blocks(blocks) -> np.ndarray:
    """Cosine similarity matrix of K vectors given as column blocks (K x b_i) of them."""
    gram = None
    for block in blocks:
        g = block @ block.T
        gram = g if gram is None else gram + g
    norms = np.sqrt(np.clip(np.diag(gram), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = gram / np.outer(norms, norms)
    return np.clip(cos, -1.0, 1.0)


def disagreement_matrix(predicted, num_classes, block_examples=4096) -> np.ndarray:
    """Fraction of examples whose predicted class differs, for all pairs of K label vectors.

    predicted: (K x N) ints. Agreement counts are one-hot Gram products, exact in float32
    (counts stay far below 2^24 per block).
    """
    predicted = np.asarray(predicted)
    k, n = predicted.shape
    agree = np.zeros((k, k), dtype=np.float64)
    eye = np.eye(num_classes, dtype=np.float32)
    for start in range(0, n, block_examples):
        onehot = eye[predicted[:, start:start + block_examples]].reshape(k, -1)
        agree += onehot @ onehot.T
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
