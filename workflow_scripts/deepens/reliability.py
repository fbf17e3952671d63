"""Reliability diagrams before and after temperature scaling (docs/methods.md, Calibration).

For one solution (the reference seed's final checkpoint), the ensemble of every seed's final
solution and, per subspace method, the reference solution's ensemble of all its samples: the
confidence bins of metrics.ece with their count, mean confidence and accuracy, raw and after
temperature scaling fitted on the validation split (calibration.calibrated_scores).
"""
import numpy as np
import pyarrow as pa

from .calibration import fit_temperature, log_predictive, reliability, scaled_log_probs
from .io import ArtifactError, iter_runs, read_samples
from .metrics import ece, log_mean_exp

COLUMNS = {"kind": pa.string(), "method": pa.string(), "calibrated": pa.bool_(), "temperature": pa.float64(),
           "ece": pa.float64(), "bin": pa.int32(), "lower": pa.float64(), "upper": pa.float64(),
           "count": pa.int64(), "confidence": pa.float64(), "accuracy": pa.float64()}


def _rows(kind, method, val, test, bins):
    """Both diagrams (raw, calibrated) of one predictive distribution: val and test are (N x C
    probs, labels, N log p_y)."""
    t = float(fit_temperature(log_predictive(val[0][None], val[1], val[2][None]), val[1])[0])
    scaled = np.exp(scaled_log_probs(log_predictive(test[0], test[1], test[2]), t))
    out = []
    for calibrated, probs, temperature in ((False, test[0], 1.0), (True, scaled, t)):
        r = reliability(probs, test[1], bins)
        out.append({"kind": [kind] * bins, "method": [method] * bins, "calibrated": [calibrated] * bins,
                    "temperature": np.full(bins, temperature), "ece": np.full(bins, ece(probs, test[1], bins)), **r})
    return out


def _mean_of_samples(path, labels, split):
    s = read_samples(path, split, "ensemble")
    if s["probs"] is None:
        raise ArtifactError(f"samples {path} hold no 'ensemble' samples on the {split} split")
    if not np.array_equal(s["labels"], labels):
        raise ArtifactError(f"samples {path} cover other {split} examples than the run's predictions")
    return s["probs"].mean(axis=0, dtype=np.float64), labels, log_mean_exp(s["log_prob_label"])


def reliability_table(prediction_paths, seeds, reference_seed, reference_samples: dict, bins=15) -> pa.Table:
    """reference_samples: method -> the reference seed's samples file."""
    seeds = [int(s) for s in seeds]
    if int(reference_seed) not in seeds:
        raise ValueError(f"reference seed {reference_seed} is not one of the seeds {seeds}")
    final = {"test": [], "val": []}
    for run, val in zip(iter_runs(prediction_paths), iter_runs(prediction_paths, "val")):
        for split, r in (("test", run), ("val", val)):
            final[split].append((r.probs[-1].astype(np.float64), r.labels, r.log_prob_label[-1]))
    ref = seeds.index(int(reference_seed))
    parts = _rows("single", "none", final["val"][ref], final["test"][ref], bins)

    def ensemble(split):
        members = final[split]
        return (np.mean([m[0] for m in members], axis=0), members[0][1],
                log_mean_exp(np.stack([m[2] for m in members])))

    parts += _rows("ensemble", "none", ensemble("val"), ensemble("test"), bins)
    for method, path in reference_samples.items():
        val, test = (_mean_of_samples(path, final[x][ref][1], x) for x in ("val", "test"))
        parts += _rows(f"{method} alone", method, val, test, bins)
    return pa.table({c: pa.array(np.concatenate([np.asarray(p[c]) for p in parts]), t) for c, t in COLUMNS.items()})
