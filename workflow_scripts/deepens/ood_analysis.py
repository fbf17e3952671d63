"""Out-of-distribution detection, the tables (docs/methods.md, Out-of-distribution detection).

Inputs: per member ("final", "snapshot", then subspace methods) one OOD-predictions file per run
(deepens.ood.ood_table, written by evaluate_solution): the member's mean probabilities and mean
member entropy on the clean test set ("in_distribution") and on every OOD set.

Rows of the metrics table, for every OOD set:
- kind "independent", method "none": ensembles of k of the S final solutions, k = 1..S (k = 1 is
  a single network), over the subsets of the ensemble tables; n_combinations of them;
- kind "<member> alone": each run's member (snapshot ensemble, subspace ensemble, weight average),
  averaged over the runs (size = weight vectors averaged in the first run);
- kind "<member> + ensemble": k-subsets of the runs' members, k = 1..S.
Columns auroc_<score>, aupr_<score>, fpr95_<score> for the scores of deepens.ood (means over the
combinations), the Jensen-Shannon diversity on the OOD set and on the clean test set, and the mean
predictive entropy on both.

The histograms table holds, per OOD set and for the first seed's final solution ("single") and the
ensemble of all seeds ("ensemble"), the counts of predictive entropies in HIST_BINS equal bins on
[0, log C], in and out of distribution.
"""
import numpy as np
import pyarrow as pa

from .ensembles import subsets
from .io import ArtifactError
from .ood import IN_DISTRIBUTION, SCORES, detection, entropy, read_ood_predictions, scores
from .shift_analysis import ordered_members

HIST_BINS = 30
METRICS = ("auroc", "aupr", "fpr95")


def _member_runs(paths, seeds, member):
    """{set: {"probs": S x N x C, "member_entropy": S x N}} over the runs, and each run's sample count."""
    if len(paths) != len(seeds):
        raise ValueError(f"{member}: need one OOD-predictions file per seed, got {len(paths)} for {len(seeds)} seeds")
    runs, counts = zip(*(read_ood_predictions(p) for p in paths))
    names = sorted(runs[0])
    for path, r in zip(paths, runs):
        if sorted(r) != names or any(r[n]["probs"].shape != runs[0][n]["probs"].shape for n in names):
            raise ArtifactError(f"OOD predictions {path} cover other sets or sizes than {paths[0]}")
    return {n: {k: np.stack([r[n][k] for r in runs]) for k in ("probs", "member_entropy")} for n in names}, counts


def _ensemble(part, rows):
    """Mean probabilities and mean member entropy of the members `rows` (B x k) of S x N arrays."""
    return part["probs"][rows].mean(axis=1, dtype=np.float64), part["member_entropy"][rows].mean(axis=1)


def _scored(inside, outside, rows):
    """Detection metrics and diversity of the ensembles of `rows` (one dict per row)."""
    p_in, h_in = _ensemble(inside, rows)
    p_out, h_out = _ensemble(outside, rows)
    out = []
    for b in range(len(rows)):
        s_in, s_out = scores(p_in[b], h_in[b]), scores(p_out[b], h_out[b])
        row = {}
        for score in SCORES:
            for metric, value in detection(s_in[score], s_out[score]).items():
                row[f"{metric}_{score}"] = value
        row["diversity_in"], row["diversity_out"] = float(np.mean(s_in["mutual_information"])), \
            float(np.mean(s_out["mutual_information"]))
        row["entropy_in"], row["entropy_out"] = float(np.mean(s_in["entropy"])), float(np.mean(s_out["entropy"]))
        out.append(row)
    return out


def _aggregate(key, kind, method, size, rows) -> dict:
    return {**key, "kind": kind, "method": method, "size": size, "n_combinations": len(rows),
            **{c: float(np.mean([r[c] for r in rows])) for c in rows[0]}}


def ood_metrics_table(ood_paths: dict, seeds, max_subsets=100, subset_seed=0) -> pa.Table:
    """ood_paths: member -> one file per seed; member "final" is required."""
    if "final" not in ood_paths:
        raise ValueError("OOD metrics need the final solutions' OOD predictions (member 'final')")
    seeds = [int(s) for s in seeds]
    s = len(seeds)
    out = []
    for member in ordered_members(ood_paths):
        sets, counts = _member_runs(ood_paths[member], seeds, member)
        inside = sets[IN_DISTRIBUTION]
        for name in (n for n in sets if n != IN_DISTRIBUTION):
            key = {"set": name}
            if member != "final":
                out.append(_aggregate(key, f"{member} alone", member, counts[0],
                                      _scored(inside, sets[name], np.arange(s)[:, None])))
            kind, method = ("independent", "none") if member == "final" else (f"{member} + ensemble", member)
            for k in range(1, s + 1):
                out.append(_aggregate(key, kind, method, k,
                                      _scored(inside, sets[name], subsets(s, k, max_subsets, subset_seed + k))))
    columns = {"set": pa.string(), "kind": pa.string(), "method": pa.string(), "size": pa.int32(),
               "n_combinations": pa.int64(), **{c: pa.float64() for c in out[0] if c not in
                                                ("set", "kind", "method", "size", "n_combinations")}}
    return pa.table({c: pa.array([r[c] for r in out], t) for c, t in columns.items()})


def ood_histograms_table(final_paths, seeds, bins=HIST_BINS) -> pa.Table:
    """Entropy histograms, in and out of distribution, of the first seed's final solution and of the
    ensemble of every seed's, per OOD set."""
    sets, _ = _member_runs(final_paths, seeds, "final")
    num_classes = sets[IN_DISTRIBUTION]["probs"].shape[-1]
    edges = np.linspace(0.0, np.log(num_classes), bins + 1)
    parts = []
    for name in (n for n in sets if n != IN_DISTRIBUTION):
        for which, probs in (("single", lambda p: p[0]), ("ensemble", lambda p: p.mean(axis=0, dtype=np.float64))):
            for side, part in (("in", sets[IN_DISTRIBUTION]), ("out", sets[name])):
                h = np.clip(entropy(probs(part["probs"])), 0.0, edges[-1])
                count, _ = np.histogram(h, edges)
                parts.append({"set": [name] * bins, "kind": [which] * bins, "side": [side] * bins,
                              "lower": edges[:-1], "upper": edges[1:], "count": count})
    types = {"set": pa.string(), "kind": pa.string(), "side": pa.string(), "lower": pa.float64(),
             "upper": pa.float64(), "count": pa.int64()}
    return pa.table({c: pa.array(np.concatenate([np.asarray(p[c]) for p in parts]), t) for c, t in types.items()})
