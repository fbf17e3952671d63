"""Subspace samples around each solution (METHODS.md, Subspaces and Ensembles): their place in
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

from .ensembles import SCORES, batched_scores, subsets
from .function_space import diversity_points, embed, test_subset
from .io import ArtifactError, iter_runs, read_predictions, read_samples

METHOD_ORDER = ("random", "dropout", "diagonal", "lowrank", "averaging")
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


def _samples(path, labels, purpose) -> dict:
    """One (run, method) samples file on the test split, checked against the run's test examples."""
    s = read_samples(path, "test", purpose)
    if s["probs"] is not None and not np.array_equal(s["labels"], labels):
        raise ArtifactError(f"samples {path} cover other test examples than the run's predictions")
    return s


# --- t-SNE ---------------------------------------------------------------------------------------

def subspace_tsne_table(prediction_paths, sample_paths, seeds, test_points=500, perplexity=10.0, seed=0,
                        max_iter=1000, purpose="plane", log=print) -> pa.Table:
    """One joint t-SNE of every run's checkpoints and every run's subspace samples.

    Rows: kind "trajectory" (epoch e, sample -1) per checkpoint, kind = method (epoch -1, the
    sample id) per sample of `purpose`. All are flattened over the same seeded subset of test
    points as function_space.tsne_table. A (run, method) with no samples of `purpose` adds no rows.
    """
    _check_inputs(prediction_paths, sample_paths, seeds)
    methods = ordered_methods(sample_paths)
    vectors, kind, seed_col, epoch_col, sample_col, subset = [], [], [], [], [], None
    for i, (s, (epochs, labels, probs)) in enumerate(zip(seeds, iter_runs(prediction_paths))):
        if subset is None:
            subset = test_subset(len(labels), test_points, seed)
        blocks = [(probs[:, subset, :], "trajectory", np.asarray(epochs, np.int32), np.full(len(epochs), -1, np.int32))]
        del probs
        for method in methods:
            smp = _samples(sample_paths[method][i], labels, purpose)
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
    _, labels, probs = read_predictions(prediction_paths[ref], "test")
    reference = probs[-1]
    del probs
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

def _aggregate(kind, method, size, scores) -> dict:
    """One row: mean of every score over the given ensembles, min and max of RANGED."""
    row = {"kind": kind, "method": method, "size": size, "n_combinations": len(scores["accuracy"])}
    row.update({s: float(np.mean(scores[s])) for s in SCORES})
    for s in RANGED:
        row[f"{s}_min"], row[f"{s}_max"] = float(np.min(scores[s])), float(np.max(scores[s]))
    return row


def _subset_rows(kind, method, members, labels, max_subsets, subset_seed, bins, block):
    """Ensembles of k of the S members (S x N x C), k = 1..S, over the subsets that
    ensembles.ensemble_metrics_table uses; one aggregated row per k."""
    s, n, c = members.shape
    flat = members.reshape(s, n * c)
    rows = []
    for k in range(1, s + 1):
        chosen = subsets(s, k, max_subsets, subset_seed + k)
        parts = []
        for start in range(0, len(chosen), block):
            idx = chosen[start:start + block]
            indicator = np.zeros((len(idx), s))
            np.put_along_axis(indicator, idx, 1.0, axis=1)
            parts.append(batched_scores((indicator @ flat / k).reshape(-1, n, c), labels, bins))
        rows.append(_aggregate(kind, method, k, {x: np.concatenate([p[x] for p in parts]) for x in SCORES}))
    return rows


def section5_ensembles_table(prediction_paths, sample_paths, seeds, max_subsets=100, subset_seed=0, bins=15,
                             block=32) -> pa.Table:
    """Scores against ensemble size (METHODS.md, Ensembles: OFFICIAL Section 5).

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
    final, means = [], {m: [] for m in methods}
    alone = {m: [] for m in methods}  # per run: dict score -> (M,) array of its first-m ensembles
    for i, (s, (epochs, labels, probs)) in enumerate(zip(seeds, iter_runs(prediction_paths))):
        final.append(probs[-1].astype(np.float64))
        del probs
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
            means[method].append(first_m[-1])
            alone[method].append(batched_scores(first_m, labels, bins))
            del smp, p, first_m
    rows = _subset_rows("independent", "none", np.stack(final), labels, max_subsets, subset_seed, bins, block)
    for method in methods:
        rows += _subset_rows(f"{method} + ensemble", method, np.stack(means[method]), labels, max_subsets,
                             subset_seed, bins, block)
        runs = alone[method]
        for m in range(1, max(len(r["accuracy"]) for r in runs) + 1):
            have = [r for r in runs if len(r["accuracy"]) >= m]
            rows.append(_aggregate(f"{method} alone", method, m, {x: np.array([r[x][m - 1] for r in have])
                                                                  for x in SCORES}))
    schema = pa.schema([("kind", pa.string()), ("method", pa.string()), ("size", pa.int32()),
                        ("n_combinations", pa.int64()), *[(x, pa.float64()) for x in SCORES],
                        *[(f"{x}_{b}", pa.float64()) for x in RANGED for b in ("min", "max")]])
    return pa.table({f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}, schema=schema)
