"""Subspace sampling around one solution (docs/methods.md, Subspace sampling): numpy only.

Pure functions of flat parameter vectors and an np.random.Generator; the TensorFlow side
(deepens.nets.subspace_sampling) reads checkpoints, swaps samples into a model and predicts.

What the authors' notebook does
-------------------------------
google-deepmind/deepmind-research, ensemble_loss_landscape/cifar10_medium_cnn_experiments.ipynb
(MediumCNN on CIFAR-10, N_val = 500 validation images), by cell id:

Late checkpoints -- cell "Ls0ziO7ivQo4" / "Fw6WhPz-slnf": `collect_solution_after_epoch = 30`,
  `epochs = 40`; the weights after epoch e (0-based) are kept when `e >= 30`, i.e. the
  after-epoch checkpoints 31..40 here (10 points, the last quarter). The final solution
  (`Ws_many`) is the last of them.

Section "Effects of Ensemble + Subspace Sampling" (the samples that get ensembled):
- cell "d5TWmKrc53kK" defines the samplers:
  `get_gaussian_sample(var_mean, var_std, scale)` = np.random.normal(var_mean, scale * var_std);
  `get_pca_gaussian_flat_sampling(pca, means, rank, scale)` = means +
  pca.inverse_transform(np.random.normal(0, scale, size=rank)) with `pca = PCA(n_components=rank)`
  (sklearn, whiten=False) fitted to the CENTRED late checkpoints, so pca.mean_ ~ 0 and the
  shift is z @ pca.components_: UNIT principal directions, z ~ N(0, scale^2) -- NOT scaled by
  the singular values; `get_rand_norm_direction` = Gaussian vector / its norm.
- cell "mtGq9Qkj7iEG": `rank = 5`, `num_sample = 30`; `means = np.mean(vs_np, 0)`,
  `stds = np.std(vs_np, 0)` (ddof 0) over the late checkpoints; diagonal Gaussian at
  `scale=1.0`, low-rank (PCA) Gaussian at `scale=1.0`.
- cell "PGILtMX7zUHp" (random): `acc_threshold = 0.70` on the VALIDATION set;
  `scale = 10*np.random.uniform()`, `v_sample = vs + scale * get_rand_norm_direction(...)`;
  up to 5 trials per sample (`for trial in range(5)`), each with a fresh scale and direction;
  after 5 failures the sample is dropped ("No luck"), so a solution may get < 30 samples.
- no dropout samples are ensembled in the notebook.
- cell "gKnPAilsoSNB"/"RR2UKvMcdpJm": weight averaging `average_var(Ws_by_epochs_many[i])`,
  the plain mean of the late checkpoints (no batch norm in the CNN).
- cell "NJ5_RCriP-p5" also fits a rank-5 PCA Gaussian to the accepted random samples
  ("pca_rand"); not implemented here.

Section "Diversity vs Accuracy" (the plane; markdown cell "zCZUtnjKljz-": "unlike the previous
section ... where we only keep samples with good accuracy ..., in this section we include
samples that sacrifices accuracy"; so NO acceptance threshold), predictions on X_test
(feed_dict of cell "TkwIdoOJvgz2"), one solution (`base_id = 0`):
- cell "czoWhgyGAFoC": `num_sample = 50`, `rank = 5`; diagonal Gaussian with
  `scale = np.random.uniform()`, `get_gaussian_sample(means, stds, scale=10.0 * scale)` --
  a scale drawn per sample, U(0, 10); low-rank Gaussian at fixed `scale=6.0`.
- cell "uJpRJaDLaFRa" (random): `scale = 70.0 * np.random.uniform()`.
- cell "MBiCleCgb8r1" (dropout): `apply_dropout_to_array`: mask = rand < 1 - p, kept entries
  divided by 1 - p; `dropout = 0.1 * np.random.uniform()`.

Defaults, then: ensemble -- random 10 (U(0,10), accept val acc >= 0.70), diagonal 1.0,
lowrank 1.0 (rank 5), 30 samples; plane -- random 70 (U(0,70)), diagonal 10 (drawn U(0,10)),
lowrank 6.0, dropout 0.1 (p ~ U(0,0.1)), 50 samples.

Conventions here
----------------
- random and dropout always draw their magnitude uniformly: s = scale * U(0,1), p = scale * U(0,1).
- diagonal uses `scale` as is unless `uniform=True`, which draws s = scale * U(0,1) per sample
  (the notebook's plane); lowrank always uses `scale` as is (the notebook does so in both places).
- Every sampler is a generator yielding (vector, drawn_scale) one sample at a time, so memory
  stays O(P * K) for P parameters and K late checkpoints; `*_samples` stack n of them (tests,
  small models). The order of draws from `rng` per sample is fixed (scale first, then the vector),
  so a given (rng seed, n) gives the same samples whether drawn one at a time or stacked, and the
  first m of n samples do not depend on n.
"""
import itertools
import math

import numpy as np

# The subspace methods, in the order every table and figure lists them (the one registry).
METHODS = ("random", "dropout", "diagonal", "lowrank", "averaging")


def late_epochs(epochs: int, fraction: float) -> list[int]:
    """The last ceil(epochs * fraction) after-epoch checkpoints, ending at `epochs` (never epoch 0).

    At least two when epochs >= 2, since a Gaussian needs two points.
    """
    epochs = int(epochs)
    if epochs < 1:
        raise ValueError(f"need at least one trained epoch, got epochs={epochs}")
    if not 0 < fraction <= 1:
        raise ValueError(f"late fraction must be in (0, 1], got {fraction}")
    k = math.ceil(epochs * fraction - 1e-9)  # 10 * 0.3 = 3.0000000000000004 means 3
    k = min(epochs, max(k, 2))
    return list(range(epochs - k + 1, epochs + 1))


def _as_vector(theta):
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 1:
        raise ValueError(f"expected a flat parameter vector, got shape {theta.shape}")
    return theta


def _stack(iterator, n, p):
    samples, scales = np.empty((n, p), np.float64), np.empty(n, np.float64)
    for i, (vec, s) in enumerate(itertools.islice(iterator, n)):
        samples[i], scales[i] = vec, s
    return samples, scales


def _count(n):
    return itertools.count() if n is None else range(int(n))


# --- random subspace --------------------------------------------------------------------

def iter_random(theta, scale, rng: np.random.Generator, n=None):
    """theta + s u: u a Gaussian direction of unit length, s = scale * U(0,1). n=None: endless."""
    theta = _as_vector(theta)
    if scale < 0:
        raise ValueError(f"random subspace scale must be >= 0, got {scale}")
    for _ in _count(n):
        s = scale * rng.random()
        u = rng.standard_normal(theta.size)
        u /= np.linalg.norm(u)
        yield theta + s * u, s


def random_samples(theta, scale, n, rng):
    theta = _as_vector(theta)
    return _stack(iter_random(theta, scale, rng, n), n, theta.size)


# --- weight-space dropout ---------------------------------------------------------------

def iter_dropout(theta, scale, rng: np.random.Generator, n=None):
    """Keep each parameter with probability 1 - p (rescaled by 1/(1-p)), zero it otherwise; p = scale * U(0,1)."""
    theta = _as_vector(theta)
    if not 0 <= scale < 1:
        raise ValueError(f"dropout subspace scale is the largest drop probability; it must be in [0, 1), got {scale}")
    for _ in _count(n):
        p = scale * rng.random()
        keep = rng.random(theta.size) < 1.0 - p  # the notebook's mask
        yield np.where(keep, theta / (1.0 - p), 0.0), p


def dropout_samples(theta, scale, n, rng):
    theta = _as_vector(theta)
    return _stack(iter_dropout(theta, scale, rng, n), n, theta.size)


# --- diagonal Gaussian ------------------------------------------------------------------

def _as_late(late):
    late = np.asarray(late, dtype=np.float64)
    if late.ndim != 2 or late.shape[0] < 1:
        raise ValueError(f"expected a (checkpoints x parameters) matrix, got shape {late.shape}")
    return late


def diagonal_fit(late):
    """Per-parameter mean and standard deviation (ddof 0, as np.std in the notebook) over the late checkpoints."""
    late = _as_late(late)
    return late.mean(axis=0), late.std(axis=0)


def iter_diagonal(mean, std, scale, rng: np.random.Generator, n=None, uniform=False):
    """mean + s * std * N(0,1); s = scale, or scale * U(0,1) drawn per sample when `uniform`."""
    mean, std = _as_vector(mean), _as_vector(std)
    if scale < 0:
        raise ValueError(f"diagonal Gaussian scale must be >= 0, got {scale}")
    for _ in _count(n):
        s = scale * rng.random() if uniform else float(scale)
        yield mean + s * std * rng.standard_normal(mean.size), s


def diagonal_samples(mean, std, scale, n, rng, uniform=False):
    mean = _as_vector(mean)
    return _stack(iter_diagonal(mean, std, scale, rng, n, uniform), n, mean.size)


# --- low-rank (PCA) Gaussian ------------------------------------------------------------

def lowrank_fit(late, rank):
    """PCA of the centred late checkpoints: (mean, directions (r x P), singular values (r,)).

    r = min(rank, K - 1) for K checkpoints (centring removes one dimension). The directions
    are orthonormal right singular vectors, largest singular value first, each signed so its
    largest-magnitude entry is positive (a fixed convention; sklearn's svd_flip differs, which
    does not matter for a symmetric Gaussian).
    """
    late = _as_late(late)
    if rank < 1:
        raise ValueError(f"low-rank Gaussian rank must be >= 1, got {rank}")
    mean = late.mean(axis=0)
    r = min(int(rank), late.shape[0] - 1)
    if r < 1:
        raise ValueError(f"a low-rank Gaussian needs at least two late checkpoints, got {late.shape[0]}")
    _, sv, vt = np.linalg.svd(late - mean, full_matrices=False)
    directions = vt[:r].copy()
    signs = np.sign(directions[np.arange(r), np.abs(directions).argmax(axis=1)])
    directions *= np.where(signs == 0, 1.0, signs)[:, None]
    return mean, directions, sv[:r].copy()


def iter_lowrank(mean, directions, scale, rng: np.random.Generator, n=None):
    """mean + sum_i z_i v_i, z ~ N(0, scale^2), v_i the unit principal directions (as the notebook)."""
    mean = _as_vector(mean)
    directions = np.atleast_2d(np.asarray(directions, np.float64))
    if scale < 0:
        raise ValueError(f"low-rank Gaussian scale must be >= 0, got {scale}")
    for _ in _count(n):
        z = rng.normal(0.0, 1.0, size=directions.shape[0]) * scale
        yield mean + z @ directions, float(scale)


def lowrank_samples(mean, directions, scale, n, rng):
    mean = _as_vector(mean)
    return _stack(iter_lowrank(mean, directions, scale, rng, n), n, mean.size)


# --- weight averaging -------------------------------------------------------------------

def weight_average(late):
    """The mean of the late checkpoints (SWA-like)."""
    return _as_late(late).mean(axis=0)
