"""The loss landscape: interpolation, barriers and planes (numpy), and the TensorFlow evaluator
against the checkpoints' own metrics."""
import numpy as np
import pandas as pd
import pytest
from deepens import landscape


def test_interpolation_grid_includes_both_endpoints_exactly():
    ts = landscape.interpolation_ts(5)
    assert ts.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    with pytest.raises(ValueError, match="points must be >= 2"):
        landscape.interpolation_ts(1)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert np.array_equal(landscape.interpolate(a, b, 0.0), a)
    assert np.array_equal(landscape.interpolate(a, b, 1.0), b)
    np.testing.assert_allclose(landscape.interpolate(a, b, 0.25), 0.75 * a + 0.25 * b)


def test_barrier_is_the_rise_above_the_chord():
    ts = np.linspace(0, 1, 11)
    chord = 2.0 + ts  # loss 2 at t=0, 3 at t=1
    bump = 4 * ts * (1 - ts)  # peaks at 1 for t = 0.5
    assert landscape.barrier(ts, chord + bump) == pytest.approx(1.0)
    assert landscape.barrier(ts, chord) == pytest.approx(0.0, abs=1e-12)
    # above the worse endpoint (3): the curve's grid maximum is at t = 0.6, 2.6 + 0.96
    assert landscape.rise_above_endpoints(chord + bump) == pytest.approx(0.56)
    # a convex curve never rises above its chord (0 at the endpoints); a concave one does
    assert landscape.barrier(ts, 3 - 2 * ts + ts ** 2) == pytest.approx(0.0, abs=1e-12)
    assert landscape.barrier(ts, 3 - ts ** 2) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        landscape.barrier(ts[1:], chord[1:])


def test_barriers_table_from_curves():
    ts = np.linspace(0, 1, 5)
    rows = []
    for split, height in (("test", 1.0), ("train", 0.5)):
        loss = 1.0 + height * 4 * ts * (1 - ts)
        acc = 0.9 - 0.4 * 4 * ts * (1 - ts)
        rows += [{"kind": "solution_to_solution", "seed_a": 0, "epoch_a": 3, "seed_b": 1, "epoch_b": 3,
                  "split": split, "t": t, "loss": lo, "accuracy": ac} for t, lo, ac in zip(ts, loss, acc)]
    table = landscape.barriers_table(landscape.curves_table(rows[::-1])).to_pandas()  # order must not matter
    test = table[table.split == "test"].iloc[0]
    assert test.loss_barrier == pytest.approx(1.0) and test.t_max_loss == 0.5
    assert test.error_barrier == pytest.approx(0.4) and test.error_a == pytest.approx(0.1)
    assert table[table.split == "train"].iloc[0].loss_barrier == pytest.approx(0.5)


def test_plane_basis_is_orthonormal_and_reproduces_the_three_points():
    rng = np.random.default_rng(1)
    p = [rng.normal(size=1000) * s for s in (1.0, 3.0, 0.5)]
    origin, u, v, coords = landscape.plane_basis(*p)
    assert u @ u == pytest.approx(1.0, abs=1e-12) and v @ v == pytest.approx(1.0, abs=1e-12)
    assert abs(u @ v) < 1e-12
    assert coords[0].tolist() == [0.0, 0.0] and coords[1, 1] == 0.0 and coords[1, 0] > 0
    for point, (x, y) in zip(p, coords):
        np.testing.assert_allclose(landscape.plane_point(origin, u, v, x, y), point, rtol=0, atol=1e-12)
    # distances are preserved: |p1 - p0| and |p2 - p0|
    assert coords[1, 0] == pytest.approx(np.linalg.norm(p[1] - p[0]))
    assert np.hypot(*coords[2]) == pytest.approx(np.linalg.norm(p[2] - p[0]))


def test_plane_rejects_degenerate_points():
    a = np.arange(10.0)
    with pytest.raises(ValueError, match="coincide"):
        landscape.plane_basis(a, a, a + 1)
    with pytest.raises(ValueError, match="collinear"):
        landscape.plane_basis(a, a + 1, a + 3)


def test_plane_grid_covers_the_points_with_margin():
    coords = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 4.0]])
    xs, ys = landscape.plane_grid(coords, 5, 0.25)
    assert xs[0] == -0.5 and xs[-1] == 2.5 and ys[0] == -1.0 and ys[-1] == 5.0 and len(xs) == len(ys) == 5
    with pytest.raises(ValueError, match="resolution"):
        landscape.plane_grid(coords, 1, 0.1)


def test_pairs_points_and_default_planes():
    pairs = landscape.interpolation_pairs([3, 5, 7], 20, max_pairs=2)
    assert pairs == [("init_to_solution", 3, 0, 3, 20), ("init_to_solution", 5, 0, 5, 20),
                     ("init_to_solution", 7, 0, 7, 20), ("solution_to_solution", 3, 20, 5, 20),
                     ("solution_to_solution", 3, 20, 7, 20)]
    assert len(landscape.interpolation_pairs([3, 5, 7], 20, max_pairs=0)) == 3
    assert landscape.parse_point("5:final", 20) == (5, 20) and landscape.parse_point("5:7", 20) == (5, 7)
    assert landscape.default_planes([4]) == {}
    assert landscape.default_planes([4, 9]) == {"init_two_solutions": ["4:0", "4:final", "9:final"],
                                                "radial": ["origin", "4:final", "9:final"]}
    assert landscape.parse_point("origin", 20) is None
    assert landscape.default_planes([4, 9, 1])["three_solutions"] == ["4:final", "9:final", "1:final"]


# --- the TensorFlow side, on the tiny workflow run ----------------------------------------------

BASE = "results/digits/small_cnn"


def _checkpoint_scores(workdir, seed, epoch):
    from deepens import io, metrics
    run = io.read_predictions(workdir / BASE / f"seed{seed}/predictions.parquet")
    i = list(run.epochs).index(epoch)
    return metrics.nll(run.probs[i], run.labels, run.log_prob_label[i]), metrics.accuracy(run.probs[i], run.labels)


def test_interpolation_endpoints_equal_the_checkpoints_own_metrics(tiny_run):
    workdir, _ = tiny_run
    curves = pd.read_parquet(workdir / BASE / "tables/interpolation.parquet")
    test = curves[curves.split == "test"]
    assert set(test.kind) == {"init_to_solution", "solution_to_solution"}
    for (kind, sa, ea, sb, eb), g in test.groupby(["kind", "seed_a", "epoch_a", "seed_b", "epoch_b"]):
        g = g.sort_values("t")
        for (seed, epoch), row in (((sa, ea), g.iloc[0]), ((sb, eb), g.iloc[-1])):
            loss, acc = _checkpoint_scores(workdir, seed, epoch)
            assert row.loss == pytest.approx(loss, rel=1e-6), (kind, seed, epoch)
            assert row.accuracy == acc, (kind, seed, epoch)
    barriers = pd.read_parquet(workdir / BASE / "tables/interpolation_barriers.parquet")
    assert len(barriers) == test.groupby(["kind", "seed_a", "seed_b"]).ngroups * 2  # test and train
    assert (barriers.loss_barrier >= -1e-12).all()


def test_plane_anchors_equal_the_checkpoints_own_metrics(tiny_run):
    workdir, _ = tiny_run
    plane = pd.read_parquet(workdir / BASE / "tables/plane_init_two_solutions.parquet")
    anchors = plane[(plane.anchor >= 0) & (plane.split == "test")].sort_values("anchor")
    assert list(zip(anchors.seed, anchors.epoch)) == [(0, 0), (0, 2), (1, 2)]
    assert anchors.iloc[0][["x", "y"]].tolist() == [0.0, 0.0] and anchors.iloc[1].y == 0.0
    for _, a in anchors.iterrows():
        loss, acc = _checkpoint_scores(workdir, a.seed, a.epoch)
        assert a.loss == pytest.approx(loss, rel=1e-6) and a.accuracy == acc
    grid = plane[(plane.anchor < 0) & (plane.split == "test")]
    assert len(grid) == 4 * 4 and grid.x.min() < 0 < grid.x.max()


def test_radial_plane_passes_through_the_origin_of_weight_space(tiny_run):
    """The paper's radial cut: at the origin every weight is 0, so every logit is 0 and the loss is ln 10."""
    workdir, _ = tiny_run
    plane = pd.read_parquet(workdir / BASE / "tables/plane_radial.parquet")
    anchors = plane[(plane.anchor >= 0) & (plane.split == "test")].sort_values("anchor")
    assert anchors.point.tolist() == ["origin", "0:2", "1:2"]
    origin = anchors.iloc[0]
    assert (origin.x, origin.y, origin.radius, origin.seed) == (0.0, 0.0, 0.0, -1)
    assert origin.loss == pytest.approx(np.log(10), rel=1e-6)
    # The solutions lie far from the origin, at a loss well below ln 10.
    assert (anchors.iloc[1:].radius > 1).all() and (anchors.iloc[1:].loss < np.log(10)).all()
    grid = plane[(plane.anchor < 0) & (plane.split == "test")]
    np.testing.assert_allclose(grid.radius, np.hypot(grid.x, grid.y))
