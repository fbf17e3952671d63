"""Linear CKA between layer representations, in the minibatch form of Nguyen, Raghu & Kornblith.

Nothing here imports TensorFlow: the training/prediction job turns each minibatch of layer
activations into a *feature vector* (numpy only), stores the vectors of every (epoch, layer)
in one HDF5 file per run, and analysis jobs get the CKA of many (checkpoint, layer)
representations from ONE blocked Gram product of those vectors, as the weight-cosine tables do.

Maths
-----
For a minibatch of n examples with activations X (n x p, each example flattened),
K = X X^T (float64). The unbiased HSIC estimator (Song et al. 2012, "Feature selection via
dependence maximization", JMLR 13, eq. 5; Nguyen et al. 2021, eq. 3) is, with K~, L~ the Grams
with zeroed diagonal,

    HSIC_1(K, L) = 1/(n(n-3)) [ tr(K~ L~) + (1'K~1)(1'L~1)/((n-1)(n-2)) - 2/(n-2) 1'K~L~1 ].

Equivalently (Szekely & Rizzo 2014, "Partial distance correlation with methods for
dissimilarities", Ann. Stat. 42(6), Sec. 4.1; the form used by Nguyen et al.'s released code),
with the U-centred matrix, for i != j (r_i the row sums of K~, T = 1'K~1),

    U(K)_ij = K_ij - r_i/(n-2) - r_j/(n-2) + T/((n-1)(n-2)),   U(K)_ii = 0,

    HSIC_1(K, L) = 1/(n(n-3)) sum_{i != j} U(K)_ij U(L)_ij.

Minibatch CKA over batches k = 1..B of equal size n (Nguyen et al. 2021, eq. 2):

    CKA = mean_k HSIC_1(K_k, L_k) / sqrt(mean_k HSIC_1(K_k, K_k) * mean_k HSIC_1(L_k, L_k)).

U(K) is symmetric, so with f_k(X) = sqrt(2/(n(n-3))) * (U(K_k)_ij for i < j) and f(X) the
concatenation of f_k over the batches, <f(X), f(Y)> = sum_k HSIC_1(K_k, L_k), and the
minibatch CKA is the cosine of f(X) and f(Y). The batches must all have the same size n >= 4
and be the same examples, in the same order, for every representation compared.

The per-run feature files are deepens.cka_features; the CKA tables deepens.cka_tables.
"""
import functools

import numpy as np

from .metrics import cosine_from_blocks

# --- the estimator -----------------------------------------------------------------------

def check_n(n, what="minibatch"):
    if n < 4:
        raise ValueError(f"{what} has {n} examples: unbiased HSIC / minibatch CKA needs batches of "
                         f"the same size n >= 4")


def _check_square(k, name="K"):
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be a square (n x n) Gram matrix, got shape {k.shape}")
    check_n(k.shape[0], f"Gram matrix {name}")
    return k


def gram(acts) -> np.ndarray:
    """Linear Gram matrix X X^T (float64) of activations (n, ...) flattened per example."""
    x = np.asarray(acts)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"activations must have shape (n, ...) with n >= 4, got {x.shape}")
    x = x.reshape(x.shape[0], -1).astype(np.float64, copy=False)
    return x @ x.T


def u_centre(k) -> np.ndarray:
    """U-centred matrix of a symmetric (n x n) Gram (Szekely & Rizzo 2014): zero diagonal,
    zero row and column sums."""
    k = _check_square(k).copy()
    n = k.shape[0]
    np.fill_diagonal(k, 0.0)
    means = k.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))  # r_j/(n-2) - T/(2(n-1)(n-2))
    k -= means[:, None]
    k -= means[None, :]
    np.fill_diagonal(k, 0.0)
    return k


def hsic_unbiased(k, l) -> float:
    """HSIC_1 of Song et al. (2012), the direct formula (the reference for the tests)."""
    k, l = _check_square(k, "K").copy(), _check_square(l, "L").copy()
    if k.shape != l.shape:
        raise ValueError(f"K and L cover different numbers of examples: {k.shape} vs {l.shape}")
    n = k.shape[0]
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones = np.ones(n)
    trace = np.sum(k * l.T)  # tr(K~ L~)
    middle = (ones @ k @ ones) * (ones @ l @ ones) / ((n - 1) * (n - 2))
    last = 2.0 / (n - 2) * ((ones @ k) @ (l @ ones))
    return float((trace + middle - last) / (n * (n - 3)))


@functools.lru_cache(maxsize=8)
def _upper(n):
    return np.triu_indices(n, 1)


def n_pair_features(batch_size: int) -> int:
    """Length n(n-1)/2 of one batch's feature vector."""
    return batch_size * (batch_size - 1) // 2


def hsic_features(k) -> np.ndarray:
    """sqrt(2/(n(n-3))) * upper triangle (i < j) of U(K): 1-D float64, length n(n-1)/2.

    <hsic_features(K), hsic_features(L)> = hsic_unbiased(K, L)."""
    u = u_centre(k)
    n = u.shape[0]
    return u[_upper(n)] * np.sqrt(2.0 / (n * (n - 3)))


def batch_features(acts) -> np.ndarray:
    """Feature vector of one minibatch of activations (n, ...): hsic_features(gram(acts))."""
    return hsic_features(gram(acts))


def _check_batches(batches, name):
    if len(batches) == 0:
        raise ValueError(f"{name}: no batches given")
    sizes = {np.shape(b)[0] for b in batches}
    if len(sizes) != 1:
        raise ValueError(f"{name}: batches have sizes {sorted(sizes)}; minibatch CKA needs batches of "
                         f"the same size n >= 4")
    check_n(sizes.pop(), f"{name} batch")


def minibatch_features(batches) -> np.ndarray:
    """f(X): the concatenated batch_features of a list of per-batch activations."""
    _check_batches(batches, "activations")
    return np.concatenate([batch_features(b) for b in batches])


def cka_minibatch(xs, ys) -> float:
    """Minibatch linear CKA of two representations given as lists of per-batch activations
    (the same examples, batch by batch). Reference implementation through hsic_unbiased."""
    _check_batches(xs, "xs")
    _check_batches(ys, "ys")
    if len(xs) != len(ys) or np.shape(xs[0])[0] != np.shape(ys[0])[0]:
        raise ValueError(f"xs and ys must be the same batches: {len(xs)} x {np.shape(xs[0])[0]} vs "
                         f"{len(ys)} x {np.shape(ys[0])[0]} examples")
    xy = xx = yy = 0.0
    for x, y in zip(xs, ys):
        k, l = gram(x), gram(y)
        xy += hsic_unbiased(k, l)
        xx += hsic_unbiased(k, k)
        yy += hsic_unbiased(l, l)
    return float(xy / np.sqrt(xx * yy))


def cka_from_features(features) -> np.ndarray:
    """Unblocked CKA matrix of the rows of a (K x F) feature matrix (cosines)."""
    return cosine_from_blocks([np.asarray(features, dtype=np.float64)])
