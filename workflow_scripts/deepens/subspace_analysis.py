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

from .ensembles import SCORES, batched_scores, cumulative_log_probs, mean_entropy, subset_log_probs, subsets
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
                        max_iter=1000, purpose="plane", split="test", log=print) -> pa.Table:
    """One joint t-SNE of every run's checkpoints and every run's subspace samples.

    Rows: kind "trajectory" (epoch e, sample -1) per checkpoint, kind = method (epoch -1, the
    sample id) per sample of `purpose`. All are flattened over the same seeded subset of the
    `split`'s points as function_space.tsne_table. A (run, method) with no samples of `purpose`
    adds no rows.
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
    """One row: mean of every score over the given ensembles, min and max of RANGED."""
    row = {"kind": kind, "method": method, "size": size, "n_combinations": len(scores["accuracy"])}
    row.update({s: float(np.mean(scores[s])) for s in SECTION5_SCORES})
    for s in RANGED:
        row[f"{s}_min"], row[f"{s}_max"] = float(np.min(scores[s])), float(np.max(scores[s]))
    return row


def subset_ensemble_rows(kind, method, members, labels, max_subsets, subset_seed, bins, block, log_probs,
                         member_entropy):
    """Ensembles of k of the S members (S x N x C; log p_y S x N; mean entropy of the weight
    vectors behind each member, S), k = 1..S, over the subsets that
    ensembles.ensemble_metrics_table uses; one aggregated row per k."""
    s, n, c = members.shape
    flat = members.reshape(s, n * c)
    member_entropy = np.asarray(member_entropy, np.float64)
    rows = []
    for k in range(1, s + 1):
        chosen = subsets(s, k, max_subsets, subset_seed + k)
        parts = []
        for start in range(0, len(chosen), block):
            idx = chosen[start:start + block]
            indicator = np.zeros((len(idx), s))
            np.put_along_axis(indicator, idx, 1.0, axis=1)
            ens = (indicator @ flat / k).reshape(-1, n, c)
            scores = batched_scores(ens, labels, bins, subset_log_probs(log_probs, idx))
            scores["diversity"] = mean_entropy(ens) - indicator @ member_entropy / k
            parts.append(scores)
        rows.append(_aggregate(kind, method, k, {x: np.concatenate([p[x] for p in parts])
                                                 for x in SECTION5_SCORES}))
    return rows


def section5_ensembles_table(prediction_paths, sample_paths, seeds, max_subsets=100, subset_seed=0, bins=15,
                             block=32) -> pa.Table:
    """Scores against ensemble size (docs/methods.md, Ensembles: the paper's Section 5).

    kind "independent" (method "none"): ensembles of k of the S final solutions.
    kind "<method> + ensemble": the same k-subsets, each solution replaced by the mean of its own
      ensemble-purpose samples (for averaging: its weight-averaged solution).
    kind "<method> alone": one solution's first m samples (in sample-id order), m = 1..M, scored
      per run then averaged over the runs that have at least m samples (n_combinations of them;
      min and max over those runs). Averaging has m = 1 only.
    For the subset kinds n_combinations counts the subsets and min/max run over them.
    """
    _check_inputs(prediction_paths, sample_paths, seeds)
    methods = ordered_methods(sample_paths)
    final, final_logp, final_entropy = [], [], []
    means = {m: {"probs": [], "logp": [], "entropy": []} for m in methods}
    alone = {m: [] for m in methods}  # per run: dict score -> (M,) array of its first-m ensembles
    for i, (s, run) in enumerate(zip(seeds, iter_runs(prediction_paths))):
        labels = run.labels
        final.append(run.probs[-1].astype(np.float64))
        final_logp.append(run.log_prob_label[-1])
        final_entropy.append(float(mean_entropy(run.probs[-1])))
        del run
        for method in methods:
            path = sample_paths[method][i]
            smp = _samples(path, labels, "ensemble")
            if smp["probs"] is None:
                raise ArtifactError(f"samples {path} ({method}, seed {s}) hold no 'ensemble' samples on the test split")
            p = smp["probs"]
            if method in SINGLE_SAMPLE_METHODS and len(p) != 1:
                raise ArtifactError(f"samples {path}: {method} must hold exactly one 'ensemble' sample "
                                    f"(the weight-averaged solution), got {len(p)}")
            m = np.arange(1, len(p) + 1)
            first_m = np.cumsum(p, axis=0, dtype=np.float64) / m[:, None, None]
            first_m_logp = cumulative_log_probs(smp["log_prob_label"])
            sample_entropy = np.cumsum(mean_entropy(p)) / m  # mean entropy of the first m samples
            scores = batched_scores(first_m, labels, bins, first_m_logp)
            scores["diversity"] = mean_entropy(first_m) - sample_entropy
            scores["diversity"][0] = 0.0  # one sample has no diversity (exactly, not up to rounding)
            alone[method].append(scores)
            for key, value in (("probs", first_m[-1]), ("logp", first_m_logp[-1]), ("entropy", sample_entropy[-1])):
                means[method][key].append(value)
            del smp, p, first_m
    rows = subset_ensemble_rows("independent", "none", np.stack(final), labels, max_subsets, subset_seed, bins, block,
                        np.stack(final_logp), final_entropy)
    for method in methods:
        mm = means[method]
        rows += subset_ensemble_rows(f"{method} + ensemble", method, np.stack(mm["probs"]), labels, max_subsets,
                             subset_seed, bins, block, np.stack(mm["logp"]), mm["entropy"])
        runs = alone[method]
        for m in range(1, max(len(r["accuracy"]) for r in runs) + 1):
            have = [r for r in runs if len(r["accuracy"]) >= m]
            rows.append(_aggregate(f"{method} alone", method, m, {x: np.array([r[x][m - 1] for r in have])
                                                                  for x in SECTION5_SCORES}))
    return _section5_table(rows)


def section5_schema(extra=()) -> pa.Schema:
    return pa.schema([*extra, ("kind", pa.string()), ("method", pa.string()), ("size", pa.int32()),
                      ("n_combinations", pa.int64()), *[(x, pa.float64()) for x in SECTION5_SCORES],
                      *[(f"{x}_{b}", pa.float64()) for x in RANGED for b in ("min", "max")]])


def _section5_table(rows, extra=()) -> pa.Table:
    schema = section5_schema(extra)
    return pa.table({f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}, schema=schema)
