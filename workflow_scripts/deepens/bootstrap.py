"""The bootstrap behind the findings table: example weights drawn in bulk (one matrix product per chunk
of replicates), seed-pair and ensemble-vs-runs replicates, percentile intervals and verdicts."""
import numpy as np

_CELLS = 1 << 22  # example-weight cells per chunk: peak memory ~150 MB whatever N and n_boot


def verdict(low, high, threshold, direction) -> str:
    if direction not in ("above", "below"):
        raise ValueError(f"direction must be 'above' or 'below', got {direction!r}")
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if direction == "above":
        return "holds" if low > threshold else "fails" if high < threshold else "inconclusive"
    return "holds" if high < threshold else "fails" if low > threshold else "inconclusive"


def _example_means(rng, x, n_boot):
    """(k, n_boot): each row of x (k, N) averaged under n_boot resamples of the N examples."""
    x = np.asarray(x, np.float64)
    n = x.shape[1]
    out = np.full((x.shape[0], n_boot), np.nan)  # no examples: no replicate
    step = max(1, min(n_boot, _CELLS // max(n, 1)))
    for s in range(0, n_boot if n else 0, step):
        b = min(step, n_boot - s)
        draws = rng.integers(0, n, size=(b, n)) + (n * np.arange(b))[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)
        out[:, s:s + b] = x @ counts.T.astype(np.float64) / n
    return out


def _pair_reps(idx, value):
    """Per replicate, mean over position pairs a<b of value(idx_a, idx_b), skipping pairs of two
    copies of one seed; NaN where no pair is left."""
    a, b = np.triu_indices(idx.shape[1], 1)
    ia, ib = idx[:, a], idx[:, b]
    ok = ia != ib
    total = np.where(ok, value(ia, ib), 0.0).sum(1)
    n = ok.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan)


def _gap_reps(rng, ens, runs, n_boot):
    """Replicates of mean(ens) - mean over runs of mean(runs[r]): runs and examples resampled,
    the ensemble (of all runs) only over examples."""
    idx = rng.integers(0, runs.shape[0], size=(n_boot, runs.shape[0]))
    m = _example_means(rng, np.vstack([ens[None], runs]), n_boot)
    return m[0] - m[1:][idx, np.arange(n_boot)[:, None]].mean(1)


def _interval(estimate, reps, confidence):
    if reps is None:
        return np.nan, np.nan, ""
    if not np.isfinite(estimate):
        return np.nan, np.nan, "estimate not finite: no interval"
    finite = reps[np.isfinite(reps)]
    dropped = reps.size - finite.size
    if finite.size < reps.size / 2:
        return np.nan, np.nan, f"only {finite.size} of {reps.size} bootstrap replicates finite: no interval"
    q = (1 - confidence) / 2
    low, high = np.quantile(finite, [q, 1 - q])
    return float(low), float(high), f"{dropped} of {reps.size} replicates dropped (NaN)" if dropped else ""
