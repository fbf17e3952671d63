"""Mode connectivity (docs/methods.md, Mode connectivity), the numpy side: three paths between two
solutions, their barriers, and the functions that live on them.

For a pair of final solutions theta_a, theta_b (flattened trainable parameters):
- "straight": the straight line (1 - t) theta_a + t theta_b (deepens.landscape.interpolate);
- "aligned": the straight line to pi(theta_b), theta_b with its hidden units permuted into
  alignment with theta_a by weight matching (deepens.alignment): the same function as theta_b,
  so both paths join the same two functions;
- "curve": the quadratic Bezier curve (1 - t)^2 theta_a + 2 t (1 - t) theta + t^2 theta_b whose
  middle point theta is trained (Garipov et al. 2018; deepens.nets.connectivity). At t = 0 and
  t = 1 it IS theta_a and theta_b (bezier returns copies there).
Every path is evaluated at `points` values of t evenly spaced in [0, 1], endpoints included, on
the test set and the landscape's fixed training subset (loss and accuracy), and its test
predictions are kept (io.samples_table: method "connectivity", purpose = the path, sample = the
point's index, scale = t).

Tables (connectivity_tables):
- points: per (pair, path, t, split) loss and accuracy; on the test split also the disagreement
  (fraction of test examples whose predicted class differs) with endpoint a and endpoint b.
- barriers: per (pair, path, split) the loss and error barriers (landscape.barrier: the rise
  above the straight line between the endpoints' values) and rises above the worse endpoint;
  and on the test split the diversity of the path's functions: `endpoint_disagreement` (a with
  b: independent solutions), `interior_disagreement` (mean over pairs of interior points,
  0 < t < 1, of their disagreement), `midpoint_disagreement_a/_b` (the point nearest t = 0.5
  with each end) and `interior_diversity` (Jensen-Shannon diversity H(mean p) - mean H(p) of the
  interior points, as the ensembles tables define it).
"""
import numpy as np
import pyarrow as pa

from .ensembles import mean_entropy
from .function_space import diversity_points
from .landscape import barrier, interpolate, rise_above_endpoints

PATHS = ("straight", "aligned", "curve")
METHOD = "connectivity"  # the samples-table method of the path points' predictions


def pair_name(a, b) -> str:
    """The {pair} wildcard of a pair of seeds, e.g. "0-1"."""
    return f"{int(a)}-{int(b)}"


def connectivity_pairs(seeds, pairs=None, max_pairs=1) -> list[tuple[int, int]]:
    """The seed pairs to connect: `pairs` as given ([[a, b], ...]), or the first `max_pairs` pairs
    a < b in seed order. ValueError naming landscape.connectivity.pairs for a seed not trained or a
    pair of one seed with itself."""
    seeds = [int(s) for s in seeds]
    if pairs is None:
        return [(a, b) for i, a in enumerate(seeds) for b in seeds[i + 1:]][:max(0, int(max_pairs))]
    out = []
    for pair in pairs:
        a, b = (int(x) for x in pair)
        if a not in seeds or b not in seeds:
            raise ValueError(f"landscape.connectivity.pairs: {[a, b]} names a seed not among the seeds {seeds}")
        if a == b:
            raise ValueError(f"landscape.connectivity.pairs: {[a, b]} connects a solution with itself")
        if (a, b) in out:
            raise ValueError(f"landscape.connectivity.pairs: {[a, b]} is listed twice")
        out.append((a, b))
    return out


def bezier(theta_a, theta, theta_b, t) -> np.ndarray:
    """(1 - t)^2 theta_a + 2 t (1 - t) theta + t^2 theta_b in float64, exactly theta_a at t = 0 and
    theta_b at t = 1."""
    a, m, b = (np.asarray(x, np.float64) for x in (theta_a, theta, theta_b))
    if t == 0:
        return a.copy()
    if t == 1:
        return b.copy()
    return (1 - t) ** 2 * a + 2 * t * (1 - t) * m + t ** 2 * b


def bezier_coefficients(t):
    """The weights of (theta_a, theta, theta_b) at t."""
    return (1 - t) ** 2, 2 * t * (1 - t), t ** 2


def path_point(path, t, theta_a, theta_b, aligned_b=None, theta=None) -> np.ndarray:
    """The weight vector of `path` at t."""
    if path == "straight":
        return interpolate(theta_a, theta_b, t)
    if path == "aligned":
        return interpolate(theta_a, aligned_b, t)
    if path == "curve":
        return bezier(theta_a, theta, theta_b, t)
    raise ValueError(f"unknown path {path!r}; expected one of {PATHS}")


PATH_SCHEMA = pa.schema([("seed_a", pa.int64()), ("seed_b", pa.int64()), ("path", pa.string()),
                         ("point", pa.int32()), ("t", pa.float64()), ("split", pa.string()),
                         ("loss", pa.float64()), ("accuracy", pa.float64())])


def path_table(rows: list[dict]) -> pa.Table:
    """One pair's paths: one row per (path, point, split)."""
    return pa.Table.from_pylist(rows, schema=PATH_SCHEMA)


def permutation_table(perms: dict) -> pa.Table:
    """The alignment of a pair: per permutation group and position i, the unit of b moved there."""
    groups = sorted(perms)
    return pa.table({"group": pa.array([g for g in groups for _ in perms[g]], pa.string()),
                     "position": pa.array(np.concatenate([np.arange(len(perms[g])) for g in groups]), pa.int32()),
                     "unit": pa.array(np.concatenate([np.asarray(perms[g]) for g in groups]), pa.int32())})


def _disagreement(a, b) -> np.ndarray:
    """Fraction of examples whose predicted classes differ, for predicted classes a (..., N), b (N,)."""
    return np.mean(a != b, axis=-1)


def _pairwise_disagreement(pred) -> float:
    """Mean over pairs i < j of the rows' disagreement (pred: K x N predicted classes)."""
    k = len(pred)
    if k < 2:
        return float("nan")
    i, j = np.triu_indices(k, 1)
    return float(np.mean(pred[i] != pred[j], axis=1).mean())


def pair_tables(paths: pa.Table, probs: dict) -> tuple[list[dict], list[dict]]:
    """(point rows, barrier rows) of one pair: `paths` its path table, probs {path: (T x N x C test
    probabilities of its points, in point order)}."""
    df = paths.to_pandas().sort_values(["path", "split", "point"])
    (sa, sb), = set(zip(df.seed_a, df.seed_b))
    points, barriers = [], []
    for (path, split), g in df.groupby(["path", "split"], sort=False):
        ts, loss, acc = g.t.to_numpy(), g.loss.to_numpy(), g.accuracy.to_numpy()
        row = {"seed_a": int(sa), "seed_b": int(sb), "path": path, "split": split}
        dis_a = dis_b = np.full(len(ts), np.nan)
        diversity = dict.fromkeys(("endpoint_disagreement", "interior_disagreement", "midpoint_disagreement_a",
                                   "midpoint_disagreement_b", "interior_diversity"), np.nan)
        if split == "test":
            p = np.asarray(probs[path])
            if len(p) != len(ts):
                raise ValueError(f"pair {sa}-{sb}, path {path}: {len(p)} predicted points for {len(ts)} values of t")
            pred = p.argmax(axis=-1)
            dis_a, dis_b = _disagreement(pred, pred[0]), _disagreement(pred, pred[-1])
            interior = (ts > 0) & (ts < 1)
            mid = int(np.argmin(np.abs(ts - 0.5)))
            diversity = {"endpoint_disagreement": float(dis_a[-1]),
                         "interior_disagreement": _pairwise_disagreement(pred[interior]),
                         "midpoint_disagreement_a": float(dis_a[mid]), "midpoint_disagreement_b": float(dis_b[mid]),
                         "interior_diversity": float(mean_entropy(p[interior].mean(axis=0, dtype=np.float64))
                                                     - mean_entropy(p[interior]).mean()) if interior.any()
                         else np.nan}
        for k, t in enumerate(ts):
            points.append({**row, "point": int(g.point.iloc[k]), "t": float(t), "loss": float(loss[k]),
                           "accuracy": float(acc[k]), "disagreement_a": float(dis_a[k]),
                           "disagreement_b": float(dis_b[k])})
        error = 1.0 - acc
        barriers.append({**row, "points": len(ts), "loss_a": float(loss[0]), "loss_b": float(loss[-1]),
                         "loss_barrier": barrier(ts, loss), "loss_rise": rise_above_endpoints(loss),
                         "t_max_loss": float(ts[np.argmax(loss)]), "error_barrier": barrier(ts, error),
                         "error_rise": rise_above_endpoints(error), **diversity})
    return points, barriers


POINTS_SCHEMA = pa.schema([("seed_a", pa.int64()), ("seed_b", pa.int64()), ("path", pa.string()),
                           ("split", pa.string()), ("point", pa.int32()), ("t", pa.float64()), ("loss", pa.float64()),
                           ("accuracy", pa.float64()), ("disagreement_a", pa.float64()),
                           ("disagreement_b", pa.float64())])
BARRIERS_SCHEMA = pa.schema([("seed_a", pa.int64()), ("seed_b", pa.int64()), ("path", pa.string()),
                             ("split", pa.string()), ("points", pa.int32()), ("loss_a", pa.float64()),
                             ("loss_b", pa.float64()), ("loss_barrier", pa.float64()), ("loss_rise", pa.float64()),
                             ("t_max_loss", pa.float64()), ("error_barrier", pa.float64()),
                             ("error_rise", pa.float64()), ("endpoint_disagreement", pa.float64()),
                             ("interior_disagreement", pa.float64()), ("midpoint_disagreement_a", pa.float64()),
                             ("midpoint_disagreement_b", pa.float64()), ("interior_diversity", pa.float64())])


def order_rows(rows, schema):
    """Rows sorted by pair, path (PATHS order) and split, then point where present."""
    rows = sorted(rows, key=lambda r: (r["seed_a"], r["seed_b"], PATHS.index(r["path"]), r["split"], r.get("point", 0)))
    return pa.Table.from_pylist([{f.name: r[f.name] for f in schema} for r in rows], schema=schema)


def curve_diversity_points(reference_probs, labels, reference_seed, pair, probs, path="curve") -> pa.Table:
    """A pair's interior path points on the diversity-accuracy plane of the reference seed (one of
    the pair's seeds): function_space.diversity_points rows of kind "<path> path" with seed = the
    other seed of the pair and epoch = the point's index."""
    a, b = pair
    other = b if int(reference_seed) == a else a
    p = np.asarray(probs)
    index = np.arange(len(p))[1:-1]  # interior points: the endpoints are the two solutions
    return diversity_points(reference_probs, labels, p[1:-1], f"{path} path", np.full(len(index), other),
                            index, reference_seed)


def read_path_probs(path, paths=PATHS) -> dict:
    """{path: T x N x C test probabilities} of a pair's predictions file (the paths it holds)."""
    from .io import read_samples

    out = {}
    for name in paths:
        s = read_samples(path, "test", name)
        if s["probs"] is not None:
            out[name] = s
    return out


def connectivity_tables(path_files, prediction_files, pairs, reference_seed, reference_probs, labels):
    """(points, barriers, diversity points) tables of every pair (see the module docstring); the
    diversity points are the interior curve points of the pairs that include the reference seed,
    against its final solution (reference_probs, the predictions table's)."""
    from .io import ArtifactError, read_table

    points, barriers, diversity = [], [], []
    for pair, table_path, pred_path in zip(pairs, path_files, prediction_files):
        samples = read_path_probs(pred_path)
        for name, s in samples.items():
            if not np.array_equal(s["labels"], labels):
                raise ArtifactError(f"path predictions {pred_path} ({name}) cover other test examples than the "
                                    f"reference run's predictions")
        p, b = pair_tables(read_table(table_path), {k: s["probs"] for k, s in samples.items()})
        points += p
        barriers += b
        if int(reference_seed) in pair and "curve" in samples:
            diversity.append(curve_diversity_points(reference_probs, labels, reference_seed, pair,
                                                    samples["curve"]["probs"]))
    if not diversity:  # no pair with the reference: an empty table of the shared schema
        diversity.append(diversity_points(reference_probs, labels, np.zeros((0,) + np.shape(reference_probs)),
                                          "curve path", -1, -1, reference_seed))
    return order_rows(points, POINTS_SCHEMA), order_rows(barriers, BARRIERS_SCHEMA), pa.concat_tables(diversity)
