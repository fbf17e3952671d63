"""The loss landscape between solutions (docs/methods.md), the numpy side: paths, planes, barriers.

- Linear interpolation: theta(t) = (1 - t) theta_a + t theta_b at `points` values of t evenly
  spaced in [0, 1], endpoints included, so t = 0 and t = 1 ARE the two checkpoints.
- Barrier height of a curve f(t) (loss, or error = 1 - accuracy): the largest rise above the
  straight line between its endpoints, max_t [f(t) - ((1 - t) f(0) + t f(1))] (Frankle et al.
  2020's definition; >= 0 whenever the endpoints are on the grid). Also reported: the rise above
  the worse endpoint, max_t f(t) - max(f(0), f(1)), the quantity a "low-loss path" must keep small.
- A plane through three points p0, p1, p2 (flattened trainable parameters; p0 may be the origin
  of weight space, the zero vector, for the paper's radial cut): origin p0, basis
  u = (p1 - p0) / |p1 - p0| and v = the part of p2 - p0 orthogonal to u, normalised
  (Gram-Schmidt, in float64). The points' coordinates are p0 = (0, 0), p1 = (|p1 - p0|, 0),
  p2 = (<p2 - p0, u>, <p2 - p0, v>). The grid covers the points' bounding box widened by
  `margin` times its extent on every side, `resolution` points per axis, and the three points
  themselves are evaluated as extra rows (`anchor` 0, 1, 2), so the figure marks exact values.
"""
import numpy as np
import pyarrow as pa


def interpolation_ts(points: int) -> np.ndarray:
    if int(points) < 2:
        raise ValueError(f"landscape.interpolation.points must be >= 2 (both endpoints), got {points}")
    return np.linspace(0.0, 1.0, int(points))


def interpolate(theta_a, theta_b, t) -> np.ndarray:
    """(1 - t) theta_a + t theta_b, exact at t = 0 and t = 1."""
    a, b = np.asarray(theta_a, np.float64), np.asarray(theta_b, np.float64)
    if t == 0:
        return a.copy()
    if t == 1:
        return b.copy()
    return (1.0 - t) * a + t * b


def barrier(ts, values) -> float:
    """max_t [f(t) - ((1 - t) f(0) + t f(1))] over the grid; ts must start at 0 and end at 1."""
    ts, values = np.asarray(ts, np.float64), np.asarray(values, np.float64)
    if ts[0] != 0 or ts[-1] != 1:
        raise ValueError("a barrier needs a curve sampled at t = 0 and t = 1")
    return float(np.max(values - ((1 - ts) * values[0] + ts * values[-1])))


def rise_above_endpoints(values) -> float:
    values = np.asarray(values, np.float64)
    return float(values.max() - max(values[0], values[-1]))


def plane_basis(p0, p1, p2):
    """(origin, u, v, coords): orthonormal basis of the plane through three points.

    coords is a (3, 2) array of the points' coordinates. Raises if the points are (nearly)
    collinear, where the plane is undefined.
    """
    p0, p1, p2 = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    d1, d2 = p1 - p0, p2 - p0
    n1 = np.linalg.norm(d1)
    if n1 == 0:
        raise ValueError("the first two points of the plane coincide")
    u = d1 / n1
    x2 = float(d2 @ u)
    r = d2 - x2 * u
    r -= (r @ u) * u  # a second Gram-Schmidt pass for float64 orthogonality
    n2 = np.linalg.norm(r)
    if n2 <= 1e-9 * max(n1, np.linalg.norm(d2)):
        raise ValueError("the three points of the plane are collinear")
    v = r / n2
    coords = np.array([[0.0, 0.0], [n1, 0.0], [x2, float(d2 @ v)]])
    return p0, u, v, coords


def plane_point(origin, u, v, x, y) -> np.ndarray:
    return origin + x * u + y * v


def plane_grid(coords, resolution: int, margin: float):
    """Grid axes (xs, ys) over the bounding box of coords widened by margin x extent per side."""
    if int(resolution) < 2:
        raise ValueError(f"landscape.plane.resolution must be >= 2, got {resolution}")
    if margin < 0:
        raise ValueError(f"landscape.plane.margin must be >= 0, got {margin}")
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    extent = hi - lo
    lo, hi = lo - margin * extent, hi + margin * extent
    return np.linspace(lo[0], hi[0], int(resolution)), np.linspace(lo[1], hi[1], int(resolution))


def curves_table(rows: list[dict]) -> pa.Table:
    """Interpolation curves: one row per (pair, split, t)."""
    schema = pa.schema([("kind", pa.string()), ("seed_a", pa.int64()), ("epoch_a", pa.int64()),
                        ("seed_b", pa.int64()), ("epoch_b", pa.int64()), ("split", pa.string()),
                        ("t", pa.float64()), ("loss", pa.float64()), ("accuracy", pa.float64())])
    return pa.Table.from_pylist(rows, schema=schema)


def barriers_table(curves) -> pa.Table:
    """Barrier heights of every curve (pair x split) of an interpolation table.

    Loss barrier and error barrier (error = 1 - accuracy), each as the rise above the straight
    line between the endpoints and the rise above the worse endpoint; plus the endpoint values.
    """
    df = curves.to_pandas() if isinstance(curves, pa.Table) else curves
    keys = ["kind", "seed_a", "epoch_a", "seed_b", "epoch_b", "split"]
    rows = []
    for key, g in df.sort_values("t").groupby(keys, sort=False):
        ts = g["t"].to_numpy()
        loss, error = g["loss"].to_numpy(), 1.0 - g["accuracy"].to_numpy()
        rows.append({**dict(zip(keys, key)),
                     "loss_a": float(loss[0]), "loss_b": float(loss[-1]),
                     "loss_barrier": barrier(ts, loss), "loss_rise": rise_above_endpoints(loss),
                     "t_max_loss": float(ts[np.argmax(loss)]),
                     "error_a": float(error[0]), "error_b": float(error[-1]),
                     "error_barrier": barrier(ts, error), "error_rise": rise_above_endpoints(error)})
    return pa.Table.from_pylist(rows)


def parse_point(spec: str, final_epoch: int):
    """'seed:epoch' or 'seed:final' -> (seed, epoch); 'origin' -> None (the zero vector)."""
    if spec == "origin":
        return None
    seed, _, epoch = str(spec).partition(":")
    return int(seed), final_epoch if epoch == "final" else int(epoch)


def default_planes(seeds) -> dict:
    """With two seeds or more: one init-and-two-solutions plane and the radial cut (the origin of
    weight space and two solutions); with three or more also one three-solutions plane."""
    planes = {}
    if len(seeds) >= 2:
        planes["init_two_solutions"] = [f"{seeds[0]}:0", f"{seeds[0]}:final", f"{seeds[1]}:final"]
        planes["radial"] = ["origin", f"{seeds[0]}:final", f"{seeds[1]}:final"]
    if len(seeds) >= 3:
        planes["three_solutions"] = [f"{s}:final" for s in seeds[:3]]
    return planes


def interpolation_pairs(seeds, final_epoch: int, max_pairs: int) -> list[tuple[str, int, int, int, int]]:
    """(kind, seed_a, epoch_a, seed_b, epoch_b): each seed's init -> its solution, then solution
    pairs (seed order, at most max_pairs)."""
    pairs = [("init_to_solution", s, 0, s, final_epoch) for s in seeds]
    solution_pairs = [("solution_to_solution", a, final_epoch, b, final_epoch)
                      for i, a in enumerate(seeds) for b in seeds[i + 1:]]
    return pairs + solution_pairs[:max(0, int(max_pairs))]
