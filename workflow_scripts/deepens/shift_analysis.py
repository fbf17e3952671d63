"""Robustness under dataset shift, the numpy side: scores per corruption and intensity.

Inputs: per member ("final", then subspace methods) one shift-predictions file per run
(deepens.shift). One member's runs are in memory at a time (S x sets x N x C).

Rows, for every (corruption, severity) -- severity 0 is the clean test set, corruption "clean":
- kind "single", method "none": each run's final solution (seed = the run, size 1);
- kind "independent", method "none": ensembles of k of the S final solutions, k = 1..S, scores
  averaged over the same subsets as the ensemble tables (seed -1; n_combinations subsets,
  min and max over them);
- kind "<method> alone": each run's subspace ensemble (size = samples averaged; for averaging
  the weight-averaged solution, size 1);
- kind "<method> + ensemble": k-subsets of the runs' subspace ensembles, k = 1..S.
"""
import numpy as np
import pyarrow as pa

from .ensembles import SCORES, batched_scores
from .io import ArtifactError
from .shift import read_shift_predictions
from .subspace_analysis import RANGED, _subset_rows, ordered_methods


def _member_runs(paths, seeds, member):
    """{(corruption, severity): (labels, S x N x C)} and the sample count of each run."""
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
        labels = runs[0][key][0]
        for path, r in zip(paths, runs):
            if not np.array_equal(r[key][0], labels):
                raise ArtifactError(f"shift predictions {path}: labels of {key} differ from {ref[0]}")
        out[key] = (labels, np.stack([r[key][1] for r in runs]))
    return out, counts


def shift_metrics_table(shift_paths: dict, seeds, max_subsets=100, subset_seed=0, bins=15, block=32) -> pa.Table:
    """shift_paths: member -> one file per seed; member "final" is required."""
    if "final" not in shift_paths:
        raise ValueError("shift metrics need the final solutions' shift predictions (member 'final')")
    seeds = [int(s) for s in seeds]
    rows = []
    for member in ["final"] + ordered_methods({m: None for m in shift_paths if m != "final"}):
        sets, counts = _member_runs(shift_paths[member], seeds, member)
        for (corruption, severity), (labels, probs) in sets.items():
            key = {"corruption": corruption, "severity": severity}
            if member == "final":
                scores = batched_scores(probs, labels, bins)
                for i, s in enumerate(seeds):
                    rows.append({**key, "kind": "single", "method": "none", "seed": s, "size": 1, "n_combinations": 1,
                                 **{x: float(scores[x][i]) for x in SCORES}})
                kind, method = "independent", "none"
            else:
                scores = batched_scores(probs, labels, bins)
                for i, s in enumerate(seeds):
                    rows.append({**key, "kind": f"{member} alone", "method": member, "seed": s, "size": counts[i],
                                 "n_combinations": 1, **{x: float(scores[x][i]) for x in SCORES}})
                kind, method = f"{member} + ensemble", member
            for row in _subset_rows(kind, method, probs.astype(np.float64), labels, max_subsets, subset_seed, bins,
                                    block):
                rows.append({**key, "seed": -1, **row})
        del sets
    for row in rows:
        for x in RANGED:
            row.setdefault(f"{x}_min", row[x])
            row.setdefault(f"{x}_max", row[x])
    schema = pa.schema([("corruption", pa.string()), ("severity", pa.int32()), ("kind", pa.string()),
                        ("method", pa.string()), ("seed", pa.int64()), ("size", pa.int32()),
                        ("n_combinations", pa.int64()), *[(x, pa.float64()) for x in SCORES],
                        *[(f"{x}_{b}", pa.float64()) for x in RANGED for b in ("min", "max")]])
    return pa.table({f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}, schema=schema)
