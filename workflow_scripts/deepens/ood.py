"""Out-of-distribution detection (docs/methods.md, Out-of-distribution detection), numpy only.

An OOD set is a collection of images of the dataset's shape that belong to none of its classes,
saved by `save_ood_set` as an .npz (`images` N x H x W x C uint8, JSON `meta`):
- "uniform_noise": every pixel uniform on 0..255 (seeded);
- "shuffled_pixels": test images whose pixel positions are permuted, independently per image
  (seeded): the colour histogram stays, every shape is gone;
- "file": a local file, either an .npz with `images` (N x H x W x C uint8) or SVHN's
  `test_32x32.mat` (`X`: H x W x C x N uint8), e.g. SVHN against CIFAR-10.

The run's evaluate_solution job predicts every OOD set with each member (deepens.shift.ShiftMember:
final, snapshot, subspace ensembles); the scoring here never imports TensorFlow. Detection is a
binary problem with OOD as the positive class, scored by a higher-is-more-OOD score per example:
1 - max_c p_c ("max_prob"), the predictive entropy H(p), and for ensembles the mutual information
H(mean p) - mean H(p_m) (the member entropies stored with the predictions).
"""
import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from .io import ArtifactError, atomic_path, probabilities, read_table

KINDS = ("uniform_noise", "shuffled_pixels", "file")
SCORES = ("max_prob", "entropy", "mutual_information")
IN_DISTRIBUTION = "in_distribution"


def generate(kind, x_test, size, seed) -> np.ndarray:
    """A generated OOD set of `size` images shaped like x_test (uint8)."""
    rng = np.random.default_rng(seed)
    shape = x_test.shape[1:]
    if kind == "uniform_noise":
        return rng.integers(0, 256, (size, *shape), dtype=np.uint8)
    if kind == "shuffled_pixels":
        images = np.asarray(x_test, np.uint8)[np.arange(size) % len(x_test)]
        flat = images.reshape(size, -1, shape[-1])  # pixels x channels: a pixel keeps its colour
        perm = np.argsort(rng.random(flat.shape[:2]), axis=1)  # one permutation of the pixels per image
        return flat[np.arange(size)[:, None], perm].reshape(size, *shape)
    raise ValueError(f"unknown generated OOD kind {kind!r}; expected one of {KINDS[:2]}")


def load_file(path, input_shape, size=None) -> np.ndarray:
    """Images of a local OOD file (.npz `images` N x H x W x C, or SVHN .mat `X` H x W x C x N),
    checked against the dataset's input shape; the first `size` of them when given."""
    path = Path(path)
    try:
        if path.suffix == ".mat":
            from scipy.io import loadmat

            images = np.moveaxis(loadmat(path, variable_names=["X"])["X"], -1, 0)
        else:
            with np.load(path, allow_pickle=False) as z:
                images = z["images"]
    except (OSError, ValueError, KeyError, NotImplementedError, zipfile.BadZipFile) as err:
        raise ArtifactError(f"cannot read OOD file {path}: {err} (expected an .npz with 'images' "
                            f"N x H x W x C uint8, or SVHN's .mat with 'X' H x W x C x N)") from err
    if images.dtype != np.uint8 or images.shape[1:] != tuple(input_shape):
        raise ArtifactError(f"OOD file {path}: images are {images.dtype} {images.shape[1:]}, the dataset's "
                            f"are uint8 {tuple(input_shape)}")
    return images if size is None else images[:size]


def save_ood_set(path, images, meta: dict):
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
        raise ValueError(f"an OOD set is (N x H x W x C) uint8 with N > 0, got {images.dtype} {images.shape}")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, images=images, meta=np.array(json.dumps(meta, sort_keys=True, default=str)))


def load_ood_set(path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as z:
            images = z["images"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise ArtifactError(f"cannot read OOD set {path}: {err}") from err
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ArtifactError(f"OOD set {path}: expected (N x H x W x C) uint8 images, got {images.dtype} {images.shape}")
    return images


def ood_table(sets, samples) -> pa.Table:
    """One member's OOD predictions: sets = [(name, probs N x C float32, member_entropy N)], the
    first the in-distribution test set; `samples` weight vectors were averaged."""
    parts = []
    for name, probs, member_entropy in sets:
        n, c = probs.shape
        cols = {"samples": pa.array(np.full(n, samples, np.int32)), "set": pa.array([name] * n, pa.string()),
                "example": pa.array(np.arange(n, dtype=np.int32)),
                "member_entropy": pa.array(np.asarray(member_entropy, np.float64))}
        cols.update({f"prob_{k}": pa.array(np.asarray(probs[:, k], np.float32)) for k in range(c)})
        parts.append(pa.table(cols))
    return pa.concat_tables(parts)


def read_ood_predictions(path) -> tuple[dict, int]:
    """({set: {"probs": N x C, "member_entropy": N}}, sample count) of one member's OOD file
    (in_distribution included)."""
    t = read_table(path)
    if t.num_rows == 0 or "set" not in t.column_names:
        raise ArtifactError(f"OOD predictions {path} hold no rows or no 'set' column")
    t = t.sort_by([("set", "ascending"), ("example", "ascending")])
    names = np.asarray(t["set"].to_pylist(), object)
    probs, ent = probabilities(t), t["member_entropy"].to_numpy()
    out = {}
    for name in dict.fromkeys(names):
        part = names == name
        out[str(name)] = {"probs": probs[part], "member_entropy": ent[part]}
    if IN_DISTRIBUTION not in out:
        raise ArtifactError(f"OOD predictions {path} have no '{IN_DISTRIBUTION}' rows (the clean test set)")
    return out, int(t["samples"][0].as_py())


def entropy(probs) -> np.ndarray:
    p = np.asarray(probs, np.float64)
    return -np.einsum("...c,...c->...", p, np.log(np.where(p > 0, p, 1.0)))


def scores(probs, member_entropy) -> dict:
    """Per example, higher = more OOD: 1 - max prob, entropy, mutual information (>= 0 up to
    rounding; 0 for a single weight vector)."""
    h = entropy(probs)
    return {"max_prob": 1.0 - np.asarray(probs, np.float64).max(axis=-1), "entropy": h,
            "mutual_information": h - np.asarray(member_entropy, np.float64)}


def _ranks(values):
    """Average ranks (1-based) with ties sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, start, count = np.unique(sorted_values, return_index=True, return_counts=True)
    mean = start + (count + 1) / 2.0
    ranks[order] = np.repeat(mean, count)
    return ranks


def auroc(in_scores, out_scores) -> float:
    """P(score_out > score_in) + P(tie) / 2 (the Mann-Whitney statistic)."""
    a, b = np.asarray(in_scores, np.float64), np.asarray(out_scores, np.float64)
    r = _ranks(np.concatenate([a, b]))
    return float((r[len(a):].sum() - len(b) * (len(b) + 1) / 2) / (len(a) * len(b)))


def _curve(in_scores, out_scores):
    """Thresholds from high to low (each distinct score once): true and false positive counts."""
    s = np.concatenate([in_scores, out_scores]).astype(np.float64)
    positive = np.concatenate([np.zeros(len(in_scores)), np.ones(len(out_scores))])
    order = np.argsort(-s, kind="mergesort")
    s, positive = s[order], positive[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # the last index of each distinct score
    tp = np.cumsum(positive)[last]
    return tp, (last + 1) - tp


def _aupr(tp, fp, n_out) -> float:
    recall, precision = tp / n_out, tp / (tp + fp)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _fpr(tp, fp, n_in, n_out, tpr) -> float:
    return float(fp[np.argmax(tp / n_out >= tpr - 1e-12)] / n_in)


def aupr(in_scores, out_scores) -> float:
    """Average precision with OOD positive: sum over thresholds of (recall step) x precision."""
    return _aupr(*_curve(in_scores, out_scores), len(out_scores))


def fpr_at_tpr(in_scores, out_scores, tpr=0.95) -> float:
    """The false positive rate at the first threshold whose true positive rate reaches `tpr`."""
    return _fpr(*_curve(in_scores, out_scores), len(in_scores), len(out_scores), tpr)


def detection(in_scores, out_scores) -> dict:
    """AUROC, AUPR and FPR95; AUPR and FPR95 share one pass over the thresholds."""
    tp, fp = _curve(in_scores, out_scores)
    return {"auroc": auroc(in_scores, out_scores), "aupr": _aupr(tp, fp, len(out_scores)),
            "fpr95": _fpr(tp, fp, len(in_scores), len(out_scores), 0.95)}
