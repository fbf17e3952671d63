"""Subspace samples around each solution (docs/methods.md, Subspace sampling and Ensembles): their place in
function space (joint t-SNE with the trajectories, diversity-accuracy plane) and the paper's
Section-5 ensembles.

Inputs are the per-run predictions files and, per method, one samples file per run (the
io.samples_table contract: purpose "ensemble" or "plane", probs S x N x C on the test split).
Runs are streamed: one run's predictions and one (run, method) samples file are in memory at a
time; what outlives them is small (a fixed subset of test points for the t-SNE, per-run
N x C means and final predictions for the ensembles).
"""
import numpy as np
import pyarrow as pa

from .calibration import (
    CALIBRATED,
    calibrated_scores,
    deep_ensemble_equivalent,
    fit_temperature,
    log_predictive,
    scaled_scores,
)
from .ensembles import SCORES, cumulative_log_probs, mean_entropy, score, subset_ensembles, subsets
from .function_space import diversity_points, embed, test_subset
from .io import ArtifactError, iter_runs, read_predictions, read_samples
from .subspace import METHODS

METHOD_ORDER = METHODS
# Weight averaging yields one function per solution (the averaged weights), not a distribution.
SINGLE_SAMPLE_METHODS = ("averaging",)
RANGED = ("accuracy", "brier", "nll")  # scores reported with min and max as well as the mean


def ordered_methods(sample_paths) -> list[str]:
    """The given methods in the canonical order of METHOD_ORDER, any others after it, sorted."""
    return [m for m in METHOD_ORDER if m in sample_paths] + sorted(set(sample_paths) - set(METHOD_ORDER))


def _check_inputs(prediction_paths, sample_paths, seeds):
    if len(prediction_paths) != len(seeds) or len(seeds) == 0:
        raise ValueError(f"need one predictions file per seed, got {len(prediction_paths)} files "
                         f"for {len(seeds)} seeds")
    for method, paths in sample_paths.items():
        if len(paths) != len(seeds):
            raise ValueError(f"method {method!r}: expected one samples file per seed ({len(seeds)}), got {len(paths)}")


def _samples(path, labels, purpose, split="test") -> dict:
    """One (run, method) samples file on one split, checked against the run's examples of that split."""
    s = read_samples(path, split, purpose)
    if s["probs"] is not None and not np.array_equal(s["labels"], labels):
        raise ArtifactError(f"samples {path} cover other {split} examples than the run's predictions")
    return s


# --- t-SNE ---------------------------------------------------------------------------------------

def subspace_tsne_table(prediction_paths, sample_paths, seeds, test_points=500, perplexity=10.0, seed=0,
                        max_iter=1000, purpose="plane", split="test", curves=None, log=print) -> pa.Table:
    """One joint t-SNE of every run's checkpoints, every run's subspace samples and the interior
    points of the connectivity curves.

    Rows: kind "trajectory" (epoch e, sample -1) per checkpoint, kind = method (epoch -1, the
    sample id) per sample of `purpose`, kind "curve path" (seed and seed_b = the pair's seeds,
    epoch -1, sample = the point's index) per interior point of the curve of each pair in
    `curves` ({(seed_a, seed_b): its path-predictions file}; test split only). All are flattened
    over the same seeded subset of the `split`'s points as function_space.tsne_table. A (run,
    method) with no samples of `purpose` adds no rows. seed_b is -1 on every other row.
    """
    _check_inputs(prediction_paths, sample_paths, seeds)
    methods = ordered_methods(sample_paths)
    vectors, kind, seed_col, epoch_col, sample_col, subset = [], [], [], [], [], None
    for i, (s, run) in enumerate(zip(seeds, iter_runs(prediction_paths, split))):
        epochs, labels = run.epochs, run.labels
        if subset is None:
            subset = test_subset(len(labels), test_points, seed)
        blocks = [(run.probs[:, subset, :], "trajectory", np.asarray(epochs, np.int32),
                   np.full(len(epochs), -1, np.int32))]
        del run
        for method in methods:
            smp = _samples(sample_paths[method][i], labels, purpose, split)
            if smp["probs"] is None:
                log(f"seed {s}: no {purpose!r} samples of {method!r} in {sample_paths[method][i]}")
                continue
            m = len(smp["sample"])
            blocks.append((smp["probs"][:, subset, :], method, np.full(m, -1, np.int32),
                           np.asarray(smp["sample"], np.int32)))
        for vec, k, ep, sm in blocks:
            vectors.append(vec.reshape(len(vec), -1))
            kind += [k] * len(vec)
            seed_col.append(np.full(len(vec), s, np.int64))
            epoch_col.append(ep)
            sample_col.append(sm)
        test_labels = labels
    seed_b_col = [np.full(len(kind), -1, np.int64)]
    curves = (curves or {}) if split == "test" else {}  # the path points are predicted on the test split
    for (a, b), path in curves.items():
        smp = _samples(path, test_labels, "curve")
        if smp["probs"] is None:
            raise ArtifactError(f"path predictions {path} hold no curve points")
        inner = smp["sample"][1:-1]  # the endpoints are the two solutions, already in as trajectories
        vectors.append(smp["probs"][1:-1][:, subset, :].reshape(len(inner), -1))
        kind += ["curve path"] * len(inner)
        seed_col.append(np.full(len(inner), a, np.int64))
        epoch_col.append(np.full(len(inner), -1, np.int32))
        sample_col.append(np.asarray(inner, np.int32))
        seed_b_col.append(np.full(len(inner), b, np.int64))
    vectors = np.concatenate(vectors)
    n_traj = kind.count("trajectory")
    log(f"{n_traj} checkpoints + {len(vectors) - n_traj} samples x {len(subset)} test points "
        f"x {vectors.shape[1] // len(subset)} classes")
    xy, p_eff = embed(vectors, perplexity, seed, max_iter, log)
    k = len(vectors)
    return pa.table({"kind": pa.array(kind, pa.string()),
                     "seed": pa.array(np.concatenate(seed_col)),
                     "epoch": pa.array(np.concatenate(epoch_col)),
                     "sample": pa.array(np.concatenate(sample_col)),
                     "seed_b": pa.array(np.concatenate(seed_b_col)),
                     "x": pa.array(xy[:, 0].astype(np.float64)),
                     "y": pa.array(xy[:, 1].astype(np.float64)),
                     "perplexity": pa.array(np.full(k, p_eff, np.float64)),
                     "test_points": pa.array(np.full(k, len(subset), np.int32))})


# --- diversity-accuracy plane --------------------------------------------------------------------

def subspace_diversity_points_table(prediction_paths, sample_paths, seeds, reference_seed,
                                    purpose="plane") -> pa.Table:
    """The reference seed's own samples of every method, relative to its final solution.

    Same schema as function_space.diversity_points_table (kind = method, seed = reference_seed,
    epoch = -1), so both tables concatenate into the points of one diversity-accuracy plane.
    A method with no samples of `purpose` contributes no rows.
    """
    seeds = [int(s) for s in seeds]
    _check_inputs(prediction_paths, sample_paths, seeds)
    if reference_seed is None or int(reference_seed) not in seeds:
        raise ValueError(f"diversity.reference_seed {reference_seed} is not among the seeds {seeds}")
    reference_seed = int(reference_seed)
    ref = seeds.index(reference_seed)
    run = read_predictions(prediction_paths[ref], "test")
    labels, reference = run.labels, run.probs[-1]
    del run
    parts = []
    for method in ordered_methods(sample_paths):
        smp = _samples(sample_paths[method][ref], labels, purpose)
        points = np.zeros((0,) + reference.shape, np.float32) if smp["probs"] is None else smp["probs"]
        parts.append(diversity_points(reference, labels, points, method, reference_seed, -1, reference_seed))
    if not parts:  # no methods: an empty table of the shared schema
        parts.append(diversity_points(reference, labels, np.zeros((0,) + reference.shape), "none",
                                      reference_seed, -1, reference_seed))
    return pa.concat_tables(parts)


# --- Section-5 ensembles -------------------------------------------------------------------------
# Every row also has `diversity`, the Jensen-Shannon divergence of ALL weight vectors in the
# ensemble, H(mean p) - mean H(p) averaged over examples, with each run weighted 1/k and its
# samples equally within it: for "<method> + ensemble" the mean member entropy is the mean over
# the k runs of their samples' mean entropy (member_entropy below).

SECTION5_SCORES = (*SCORES, "diversity")


def _aggregate(kind, method, size, scores) -> dict:
    """One row: mean of every score over the given ensembles (the calibrated ones too where given),
    min and max of RANGED."""
    row = {"kind": kind, "method": method, "size": size, "n_combinations": len(scores["accuracy"])}
    row.update({s: float(np.mean(scores[s])) for s in (*SECTION5_SCORES, *CALIBRATED) if s in scores})
    for s in RANGED:
        row[f"{s}_min"], row[f"{s}_max"] = float(np.min(scores[s])), float(np.max(scores[s]))
    return row


def subset_temperatures(val, max_subsets, subset_seed, block=32) -> dict:
    """{k: (B,) temperatures} of the ensembles of every k-subset (subset_ensemble_rows' subsets) of
    the members `val` (S x N x C probs, labels, S x N log p_y on the validation split)."""
    s, out = len(val[0]), {}
    for k in range(1, s + 1):
        chosen = subsets(s, k, max_subsets, subset_seed + k)
        out[k] = np.concatenate([fit_temperature(log_predictive(*subset_ensembles(*val, chosen[i:i + block])), val[1])
                                 for i in range(0, len(chosen), block)])
    return out


def subset_ensemble_rows(kind, method, members, labels, max_subsets, subset_seed, bins, block, log_probs,
                         member_entropy, val=None, temperatures=None):
    """Ensembles of k of the S members (S x N x C; log p_y S x N; mean entropy of the weight
    vectors behind each member, S), k = 1..S, over the subsets that
    ensembles.ensemble_metrics_table uses; one aggregated row per k. With `val` (the members'
    S x N' x C probs, labels, S x N' log p_y on the validation split) also the calibrated scores,
    or with `temperatures` (subset_temperatures of that val, fitted once for many test sets)."""
    s = len(members)
    member_entropy = np.asarray(member_entropy, np.float64)
    rows = []
    for k in range(1, s + 1):
        chosen = subsets(s, k, max_subsets, subset_seed + k)
        parts = []
        for start in range(0, len(chosen), block):
            idx = chosen[start:start + block]
            ens = subset_ensembles(members, labels, log_probs, idx)
            scores = score(ens, bins)
            scores["diversity"] = mean_entropy(ens[0]) - member_entropy[idx].mean(axis=1)
            if val is not None:
                scores.update(calibrated_scores(subset_ensembles(*val, idx), ens, bins))
            elif temperatures is not None:
                scores.update(scaled_scores(ens, temperatures[k][start:start + block], bins))
            parts.append(scores)
        rows.append(_aggregate(kind, method, k, {x: np.concatenate([p[x] for p in parts]) for x in parts[0]}))
    return rows


def _first_m(path, labels, split):
    """A (run, method)'s ensemble samples on `split`: (probs, labels, log p_y) of the ensembles of
    its first m samples, m = 1..M, and the mean entropy of those samples."""
    smp = _samples(path, labels, "ensemble", split)
    if smp["probs"] is None:
        raise ArtifactError(f"samples {path} hold no 'ensemble' samples on the {split} split")
    p = smp["probs"]
    m = np.arange(1, len(p) + 1)
    first_m = (np.cumsum(p, axis=0, dtype=np.float64) / m[:, None, None], labels,
               cumulative_log_probs(smp["log_prob_label"]))
    return first_m, np.cumsum(mean_entropy(p)) / m


def section5_ensembles_table(prediction_paths, sample_paths, seeds, max_subsets=100, subset_seed=0, bins=15,
                             block=32) -> pa.Table:
    """Scores against ensemble size (docs/methods.md, Ensembles: the paper's Section 5).

    kind "independent" (method "none"): ensembles of k of the S final solutions.
    kind "<method> + ensemble": the same k-subsets, each solution replaced by the mean of its own
      ensemble-purpose samples (for averaging: its weight-averaged solution).
    kind "<method> alone": one solution's first m samples (in sample-id order), m = 1..M, scored
      per run then averaged over the runs that have at least m samples (n_combinations of them;
      min and max over those runs). Averaging has m = 1 only.
    For the subset kinds n_combinations counts the subsets and min/max run over them. Every
    ensemble is also scored after temperature scaling fitted on the validation split
    (temperature, *_calibrated: means over the ensembles), and `dee` is the deep-ensemble
    equivalent of the row's calibrated NLL on the independent ensembles' curve (add_dee).
    """
    _check_inputs(prediction_paths, sample_paths, seeds)
    methods = ordered_methods(sample_paths)
    final = {"test": [], "val": []}  # per run: (probs, labels, log p_y, mean entropy) of the final solution
    means = {m: {"test": [], "val": []} for m in methods}  # the same of the mean of its M samples
    alone = {m: [] for m in methods}  # per run: dict score -> (M,) array of its first-m ensembles
    runs = zip(seeds, iter_runs(prediction_paths), iter_runs(prediction_paths, "val"))
    for i, (s, *run) in enumerate(runs):
        for split, r in zip(("test", "val"), run):
            final[split].append((r.probs[-1].astype(np.float64), r.labels, r.log_prob_label[-1],
                                 float(mean_entropy(r.probs[-1]))))
        del run
        for method in methods:
            path = sample_paths[method][i]
            (test, entropy), (val, val_entropy) = (_first_m(path, final[x][-1][1], x) for x in ("test", "val"))
            if len(val[0]) != len(test[0]):
                raise ArtifactError(f"samples {path}: {len(test[0])} 'ensemble' samples on the test split but "
                                    f"{len(val[0])} on the val split")
            if method in SINGLE_SAMPLE_METHODS and len(test[0]) != 1:
                raise ArtifactError(f"samples {path}: {method} must hold exactly one 'ensemble' sample "
                                    f"(the weight-averaged solution), got {len(test[0])}")
            scores = {**score(test, bins), **calibrated_scores(val, test, bins)}
            scores["diversity"] = mean_entropy(test[0]) - entropy
            scores["diversity"][0] = 0.0  # one sample has no diversity (exactly, not up to rounding)
            alone[method].append(scores)
            for split, (p, y, lp), h in (("test", test, entropy), ("val", val, val_entropy)):
                means[method][split].append((p[-1], y, lp[-1], h[-1]))
            del test, val

    def stacked(per_run):
        """(S x N x C probs, labels, S x N log p_y) of the runs' members on one split."""
        return np.stack([r[0] for r in per_run]), per_run[0][1], np.stack([r[2] for r in per_run])

    def ensemble_rows(kind, method, per_run):
        test, val, entropy = stacked(per_run["test"]), stacked(per_run["val"]), [r[3] for r in per_run["test"]]
        return subset_ensemble_rows(kind, method, test[0], test[1], max_subsets, subset_seed, bins, block, test[2],
                                    entropy, val=val)

    rows = ensemble_rows("independent", "none", final)
    for method in methods:
        rows += ensemble_rows(f"{method} + ensemble", method, means[method])
        per_run = alone[method]
        for m in range(1, max(len(r["accuracy"]) for r in per_run) + 1):
            have = [r for r in per_run if len(r["accuracy"]) >= m]
            rows.append(_aggregate(f"{method} alone", method, m, {x: np.array([r[x][m - 1] for r in have])
                                                                  for x in have[0]}))
    return _section5_table(add_dee(rows), calibrated=True, dee=True)


def add_dee(rows):
    """Each row's deep-ensemble equivalent (calibration.deep_ensemble_equivalent) on the curve of
    the independent rows' mean calibrated NLL by size; dee_censored where it lies beyond them."""
    ind = sorted((r["size"], r["nll_calibrated"]) for r in rows if r["kind"] == "independent")
    sizes, curve = [x for x, _ in ind], [y for _, y in ind]
    for r in rows:
        r["dee"], r["dee_censored"] = deep_ensemble_equivalent(sizes, curve, r["nll_calibrated"])
    return rows


def section5_schema(extra=(), calibrated=False, dee=False) -> pa.Schema:
    cal = [(x, pa.float64()) for x in CALIBRATED] if calibrated else []
    cal += [("dee", pa.float64()), ("dee_censored", pa.bool_())] if dee else []
    return pa.schema([*extra, ("kind", pa.string()), ("method", pa.string()), ("size", pa.int32()),
                      ("n_combinations", pa.int64()), *[(x, pa.float64()) for x in SECTION5_SCORES],
                      *[(f"{x}_{b}", pa.float64()) for x in RANGED for b in ("min", "max")], *cal])


def _section5_table(rows, extra=(), calibrated=False, dee=False) -> pa.Table:
    schema = section5_schema(extra, calibrated, dee)
    return pa.table({f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}, schema=schema)
