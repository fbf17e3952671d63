"""Calibrated comparisons (docs/methods.md, Calibration): temperature scaling, the deep-ensemble
equivalent and reliability diagrams, from stored predictions (numpy only).

Temperature scaling (Guo et al. 2017) divides a network's logits by one scalar T > 0 fitted on
held-out data. For any predictive distribution p (one network's softmax, an ensemble's mean) the
same operation is p_T = softmax(log p / T): for one network exactly softmax(logits / T), since
log softmax(z) = z - logsumexp(z). An ensemble is calibrated as a whole, its mean probability
scaled (Ashukha et al. 2020, "Pitfalls of in-domain uncertainty estimation and ensembling in deep
learning"), and every ensemble gets its own T.

T minimises the NLL on the validation split. With beta = 1 / T the NLL is
mean_n [logsumexp_c(beta L_nc) - beta L_ny], L = log p: a log-sum-exp of functions linear in beta
minus a linear one, hence convex in beta and unimodal in log T, so a golden-section search over
log T in TEMPERATURE_RANGE finds its minimum (deterministic: nothing is drawn, so no seed).
L comes from the stored float32 probabilities (a class whose probability underflowed to 0 stays
at 0 for every T) with the label's entry replaced by the exact stored log-probability, so the
calibrated NLL has no floor either.
"""
import numpy as np

TEMPERATURE_RANGE = (0.05, 20.0)
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def log_predictive(probs, labels, log_prob_label) -> np.ndarray:
    """(... x N x C) float64 log-probabilities: log of `probs`, the label's entry exact."""
    with np.errstate(divide="ignore"):
        out = np.log(np.asarray(probs, np.float64))
    labels = np.asarray(labels)
    np.put_along_axis(out, np.broadcast_to(labels[:, None], out.shape[:-1] + (1,)),
                      np.asarray(log_prob_label, np.float64)[..., None], axis=-1)
    return out


def scaled_log_probs(log_p, temperature) -> np.ndarray:
    """log softmax(log_p / T) over the last axis; `temperature` broadcasts against log_p's leading axes."""
    t = np.asarray(temperature, np.float64)
    z = log_p / t.reshape(t.shape + (1,) * (log_p.ndim - t.ndim))
    top = z.max(axis=-1, keepdims=True)
    return z - (top + np.log(np.exp(z - top).sum(axis=-1, keepdims=True)))


def scaled_nll(log_p, labels, temperature) -> np.ndarray:
    """(B,) NLL of every (N x C) slice of (B x N x C) log_p at its temperature (B,)."""
    scaled = scaled_log_probs(log_p, temperature)
    n = log_p.shape[-2]
    return -scaled[..., np.arange(n), np.asarray(labels)].mean(axis=-1)


def fit_temperature(log_p, labels, tol=1e-6, bounds=TEMPERATURE_RANGE) -> np.ndarray:
    """(B,) temperatures minimising the NLL of each of the (B x N x C) predictive log-probabilities
    on `labels`: golden-section search over log T in `bounds` until the bracket is below `tol`
    in log T; a minimum at a bound converges to it)."""
    log_p = np.asarray(log_p, np.float64)
    b = log_p.shape[0]
    lo, hi = np.full(b, np.log(bounds[0])), np.full(b, np.log(bounds[1]))
    x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    f1, f2 = scaled_nll(log_p, labels, np.exp(x1)), scaled_nll(log_p, labels, np.exp(x2))
    while np.max(hi - lo) > tol:
        left = f1 <= f2  # the minimum lies in [lo, x2]: drop (x2, hi]
        hi, lo = np.where(left, x2, hi), np.where(left, lo, x1)
        x2, x1 = np.where(left, x1, lo + _GOLDEN * (hi - lo)), np.where(left, hi - _GOLDEN * (hi - lo), x2)
        f2, f1 = np.where(left, f1, np.nan), np.where(left, np.nan, f2)
        new = np.where(left, x1, x2)
        f_new = scaled_nll(log_p, labels, np.exp(new))
        f1, f2 = np.where(left, f_new, f1), np.where(left, f2, f_new)
    return np.exp((lo + hi) / 2)


def calibrated_scores(val, test, bins=15) -> dict:
    """Temperature-scale B predictive distributions: fit T on `val`, score on `test`.

    val, test: (probs B x N x C, labels N, log_prob_label B x N). Returns (B,) arrays:
    temperature, nll_calibrated, brier_calibrated, ece_calibrated (accuracy is unchanged)."""
    return scaled_scores(test, fit_temperature(log_predictive(*val), val[1]), bins)


def scaled_scores(test, temperature, bins=15) -> dict:
    """The calibrated scores of B predictive distributions `test` (as in calibrated_scores) at
    given temperatures (B,)."""
    from .ensembles import batched_scores

    t = np.asarray(temperature, np.float64)
    scaled = scaled_log_probs(log_predictive(*test), t)
    labels = np.asarray(test[1])
    got = batched_scores(np.exp(scaled), labels, bins, scaled[:, np.arange(len(labels)), labels])
    return {"temperature": t, **{f"{k}_calibrated": got[k] for k in ("nll", "brier", "ece")}}


CALIBRATED = ("temperature", "nll_calibrated", "brier_calibrated", "ece_calibrated")


def deep_ensemble_equivalent(sizes, curve, value) -> tuple[float, bool]:
    """Ashukha et al.'s DEE: the smallest l in [1, max(sizes)] at which the piecewise-linear
    interpolation of `curve` (a loss of independent ensembles of `sizes` members, lower is better)
    reaches `value`. Returns (l, censored): 1.0 when value is no better than one network,
    (max size, True) when no ensemble of the given sizes reaches it."""
    order = np.argsort(sizes)
    x, y = np.asarray(sizes, np.float64)[order], np.asarray(curve, np.float64)[order]
    if value >= y[0]:
        return 1.0, False
    for k in range(1, len(x)):
        if y[k] <= value:
            # the first segment that crosses: linear interpolation between its ends
            return float(x[k - 1] + (x[k] - x[k - 1]) * (y[k - 1] - value) / (y[k - 1] - y[k])), False
    return float(x[-1]), True


def reliability(probs, labels, bins=15) -> dict:
    """Per confidence bin ((i / bins, (i + 1) / bins], as metrics.ece): count, mean confidence and
    accuracy (NaN where empty) of an (N x C) predictive distribution."""
    probs = np.asarray(probs, np.float64)
    conf = probs.max(axis=-1)
    correct = (probs.argmax(axis=-1) == np.asarray(labels)).astype(np.float64)
    which = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"bin": np.arange(bins), "lower": np.arange(bins) / bins, "upper": np.arange(1, bins + 1) / bins,
                "count": count, "confidence": np.bincount(which, conf, bins) / count,
                "accuracy": np.bincount(which, correct, bins) / count}
