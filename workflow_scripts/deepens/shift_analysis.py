"""Robustness under dataset shift, the numpy side: scores per corruption and intensity.

Inputs: per member ("final", "snapshot", then subspace methods) one shift-predictions file per run
(deepens.shift). One member's runs are in memory at a time (S x sets x N x C).

Rows, for every (corruption, severity) -- severity 0 is the clean test set, corruption "clean":
- kind "single", method "none": each run's final solution (seed = the run, size 1);
- kind "independent", method "none": ensembles of k of the S final solutions, k = 1..S, scores
  averaged over the same subsets as the ensemble tables (seed -1; n_combinations subsets,
  min and max over them);
- kind "<member> alone": each run's member (a snapshot ensemble of its last checkpoints, a
  subspace ensemble; size = weight vectors averaged; for averaging the weight-averaged solution);
- kind "<member> + ensemble": k-subsets of the runs' members, k = 1..S.
Every row has the Jensen-Shannon `diversity` of all weight vectors behind it (as in the Section-5
table), from the members' stored mean entropies, and the scores after temperature scaling: each
run's member and each ensemble of members gets the temperature fitted on its predictions on the
validation split (stored with the member as corruption "validation"), applied to every shifted
test set (the standard protocol: calibrate in distribution, evaluate under shift).
"""
import numpy as np
import pyarrow as pa

from .calibration import CALIBRATED, fit_temperature, log_predictive, scaled_scores
from .ensembles import SCORES, batched_scores, mean_entropy
from .io import ArtifactError
from .shift import VALIDATION, read_shift_predictions
from .subspace_analysis import (
    RANGED,
    SECTION5_SCORES,
    ordered_methods,
    section5_schema,
    subset_ensemble_rows,
    subset_temperatures,
)

MEMBER_ORDER = ("final", "snapshot")


def _member_runs(paths, seeds, member):
    """{(corruption, severity): dict of S-stacked arrays} and the sample count of each run."""
    if len(paths) != len(seeds):
        raise ValueError(f"{member}: need one shift-predictions file per seed, got {len(paths)} for {len(seeds)} seeds")
    runs, counts, ref = [], [], None
    for path in paths:
        preds, count = read_shift_predictions(path)
        if ref is None:
            ref = (path, sorted(preds))
        elif sorted(preds) != ref[1]:
            raise ArtifactError(f"shift predictions {path} cover other corruptions/severities than {ref[0]}")
        runs.append(preds)
        counts.append(count)
    out = {}
    for key in ref[1]:
        labels = runs[0][key]["labels"]
        for path, r in zip(paths, runs):
            if not np.array_equal(r[key]["labels"], labels):
                raise ArtifactError(f"shift predictions {path}: labels of {key} differ from {ref[0]}")
        out[key] = {"labels": labels, **{k: np.stack([r[key][k] for r in runs])
                                         for k in ("probs", "log_prob_label", "member_entropy")}}
    return out, counts


def ordered_members(members) -> list[str]:
    return [m for m in MEMBER_ORDER if m in members] + ordered_methods({m: None for m in members
                                                                        if m not in MEMBER_ORDER})


def _part(s):
    return s["probs"].astype(np.float64), s["labels"], s["log_prob_label"]


def _per_run_rows(key, kind, method, seeds, sizes, s, bins, temperatures):
    scores = batched_scores(s["probs"], s["labels"], bins, s["log_prob_label"])
    scores["diversity"] = mean_entropy(s["probs"]) - s["member_entropy"].mean(axis=1)
    scores.update(scaled_scores(_part(s), temperatures, bins))
    return [{**key, "kind": kind, "method": method, "seed": seed, "size": size, "n_combinations": 1,
             **{x: float(scores[x][i]) for x in (*SECTION5_SCORES, *CALIBRATED)}}
            for i, (seed, size) in enumerate(zip(seeds, sizes))]


def shift_metrics_table(shift_paths: dict, seeds, max_subsets=100, subset_seed=0, bins=15, block=32) -> pa.Table:
    """shift_paths: member -> one file per seed; member "final" is required."""
    if "final" not in shift_paths:
        raise ValueError("shift metrics need the final solutions' shift predictions (member 'final')")
    seeds = [int(s) for s in seeds]
    rows = []
    for member in ordered_members(shift_paths):
        sets, counts = _member_runs(shift_paths[member], seeds, member)
        val = sets.pop((VALIDATION, 0), None)
        if val is None:
            raise ArtifactError(f"shift predictions of {member} have no '{VALIDATION}' rows (made by an older "
                                f"version? rerun evaluate_solution)")
        per_run_t = fit_temperature(log_predictive(*_part(val)), val["labels"])
        subset_t = subset_temperatures(_part(val), max_subsets, subset_seed, block)
        for (corruption, severity), s in sets.items():
            key = {"corruption": corruption, "severity": severity}
            if member == "final":
                rows += _per_run_rows(key, "single", "none", seeds, [1] * len(seeds), s, bins, per_run_t)
                kind, method = "independent", "none"
            else:
                rows += _per_run_rows(key, f"{member} alone", member, seeds, counts, s, bins, per_run_t)
                kind, method = f"{member} + ensemble", member
            for row in subset_ensemble_rows(kind, method, s["probs"].astype(np.float64), s["labels"], max_subsets,
                                            subset_seed, bins, block, s["log_prob_label"],
                                            s["member_entropy"].mean(axis=1), temperatures=subset_t):
                rows.append({**key, "seed": -1, **row})
        del sets
    for row in rows:
        for x in RANGED:
            row.setdefault(f"{x}_min", row[x])
            row.setdefault(f"{x}_max", row[x])
    schema = section5_schema([("corruption", pa.string()), ("severity", pa.int32())], calibrated=True)
    schema = schema.insert(4, pa.field("seed", pa.int64()))
    return pa.table({f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}, schema=schema)


def mean_over_corruptions(table) -> "pandas.DataFrame":  # noqa: F821
    """Scores averaged over the corruptions at each intensity (the paper's presentation), per kind,
    method, seed and size; the clean test set is intensity 0."""
    df = table.to_pandas() if isinstance(table, pa.Table) else table
    keys = ["kind", "method", "seed", "size", "severity"]
    scores = list(SCORES) + ["diversity"] + [c for c in CALIBRATED if c in df]
    return df.groupby(keys, as_index=False)[scores].mean()
