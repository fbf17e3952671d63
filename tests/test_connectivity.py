"""Mode connectivity: the paths (numpy), the trained curve and the alignment on real checkpoints
(TensorFlow, the tiny run's), the tables against direct computation, and claim 9."""
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from deepens import connectivity, findings

BASE = "results/digits/small_cnn"


# --- numpy: paths, pairs, tables ------------------------------------------------------------------

def test_bezier_passes_exactly_through_both_solutions():
    rng = np.random.default_rng(0)
    a, m, b = (rng.normal(size=200).astype(np.float32).astype(np.float64) for _ in range(3))
    assert np.array_equal(connectivity.bezier(a, m, b, 0.0), a)
    assert np.array_equal(connectivity.bezier(a, m, b, 1.0), b)
    np.testing.assert_allclose(connectivity.bezier(a, m, b, 0.5), 0.25 * a + 0.5 * m + 0.25 * b, rtol=1e-15)
    # with the middle point at the midpoint the curve is the straight line, (1 - t) a + t b
    for t in (0.1, 0.3, 0.75):
        np.testing.assert_allclose(connectivity.bezier(a, (a + b) / 2, b, t), (1 - t) * a + t * b, atol=1e-12)
    for path in connectivity.PATHS:
        point = connectivity.path_point(path, 0.0, a, b, aligned_b=m, theta=m)
        assert np.array_equal(point, a)
    assert np.array_equal(connectivity.path_point("aligned", 1.0, a, b, aligned_b=m), m)
    with pytest.raises(ValueError, match="unknown path"):
        connectivity.path_point("zigzag", 0.5, a, b)


def test_pairs_default_and_errors():
    assert connectivity.connectivity_pairs([3, 1, 2], None, 2) == [(3, 1), (3, 2)]
    assert connectivity.connectivity_pairs([0, 1], None, 0) == []
    assert connectivity.connectivity_pairs([0, 1, 2], [[2, 0]], 1) == [(2, 0)]
    for bad, why in (([[0, 5]], "not among the seeds"), ([[1, 1]], "with itself"), ([[0, 1], [0, 1]], "twice")):
        with pytest.raises(ValueError, match=f"landscape.connectivity.pairs.*{why}"):
            connectivity.connectivity_pairs([0, 1, 2], bad, 1)
    assert connectivity.pair_name(0, 12) == "0-12"


def test_curve_seed_is_derive_seed_with_a_curve_purpose(monkeypatch):
    from deepens import seeds
    from deepens.nets.connectivity import curve_seed

    monkeypatch.setattr(seeds, "PURPOSES", seeds.PURPOSES + ("curve",))
    for a, b, keys in ((0, 1, ()), (3, 7, (1,)), (5, 2, (3, 0, 4))):
        assert curve_seed(a, b, *keys) == seeds.derive_seed(a, "curve", b, *keys)
    assert curve_seed(0, 1) != curve_seed(1, 0)


def _probs(pred, classes=4, conf=0.7):
    p = np.full(pred.shape + (classes,), (1 - conf) / (classes - 1), np.float32)
    np.put_along_axis(p, pred[..., None], conf, axis=-1)
    return p


def test_pair_tables_against_direct_computation():
    rng = np.random.default_rng(3)
    n, ts = 200, np.linspace(0, 1, 5)
    pred = rng.integers(0, 4, size=(5, n))
    rows = []
    for split in ("test", "train"):
        loss = 0.3 + 2.0 * 4 * ts * (1 - ts) + 0.1 * ts  # chord 0.3 -> 0.4, bump of 2 at t = 0.5
        acc = 0.9 - 0.5 * 4 * ts * (1 - ts)
        rows += [{"seed_a": 0, "seed_b": 1, "path": "straight", "point": k, "t": t, "split": split, "loss": lo,
                  "accuracy": ac} for k, (t, lo, ac) in enumerate(zip(ts, loss, acc))]
    points, barriers = connectivity.pair_tables(connectivity.path_table(rows[::-1]), {"straight": _probs(pred)})
    test = [r for r in points if r["split"] == "test"]
    assert [r["t"] for r in test] == ts.tolist()
    np.testing.assert_allclose([r["disagreement_a"] for r in test], (pred != pred[0]).mean(1))
    np.testing.assert_allclose([r["disagreement_b"] for r in test], (pred != pred[-1]).mean(1))
    assert all(np.isnan(r["disagreement_a"]) for r in points if r["split"] == "train")
    b = {r["split"]: r for r in barriers}["test"]
    assert b["loss_barrier"] == pytest.approx(2.0) and b["error_barrier"] == pytest.approx(0.5)
    assert b["endpoint_disagreement"] == pytest.approx((pred[0] != pred[-1]).mean())
    inner = pred[1:4]
    pairs = [(inner[i] != inner[j]).mean() for i in range(3) for j in range(i + 1, 3)]
    assert b["interior_disagreement"] == pytest.approx(np.mean(pairs))
    assert b["midpoint_disagreement_a"] == pytest.approx((pred[2] != pred[0]).mean())
    p = _probs(inner).astype(np.float64)
    h = lambda q: -(q * np.log(q)).sum(-1).mean()  # noqa: E731
    assert b["interior_diversity"] == pytest.approx(h(p.mean(0)) - np.mean([h(x) for x in p]), rel=1e-6)
    # identical interior functions: no diversity, no disagreement
    same = np.repeat(pred[:1], 5, axis=0)
    _, barriers = connectivity.pair_tables(connectivity.path_table(rows), {"straight": _probs(same)})
    b = {r["split"]: r for r in barriers}["test"]
    assert b["interior_disagreement"] == 0 and b["interior_diversity"] == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="predicted points"):
        connectivity.pair_tables(connectivity.path_table(rows), {"straight": _probs(pred[:3])})


# --- claim 9 ----------------------------------------------------------------------------------------

def _path_losses(rng, heights, p=3, n=400, ts=np.linspace(0, 1, 5)):
    """Per-example NLL (P, T, N) whose mean has a bump of `height` at t = 0.5 over a flat chord."""
    noise = rng.normal(0, 0.05, size=(p, len(ts), n))
    return np.stack([0.2 + h * 4 * ts[:, None] * (1 - ts[:, None]) + noise[i] for i, h in enumerate(heights)])


def test_connectivity_claim_known_estimates_and_verdicts():
    rng = np.random.default_rng(0)
    ts = np.linspace(0, 1, 5)
    straight, curve, aligned = (_path_losses(rng, h) for h in ([2.0, 2.0, 2.0], [0.2, 0.2, 0.2], [1.0, 1.0, 1.0]))
    rows = {r["key"]: r for r in findings.connectivity(ts, {"straight": straight, "curve": curve, "aligned": aligned},
                                                       ratio_max=0.25, n_boot=200)}
    exact = {k: findings._barriers(ts, x.mean(-1)[..., None])[..., 0] for k, x in
             (("s", straight), ("c", curve), ("a", aligned))}
    assert rows["curve_barrier"]["estimate"] == pytest.approx(np.mean(exact["c"] / exact["s"]))
    assert rows["curve_barrier"]["estimate"] == pytest.approx(0.1, abs=0.02)
    assert rows["aligned_barrier"]["estimate"] == pytest.approx(np.mean(exact["s"] - exact["a"]))
    assert rows["curve_barrier"]["verdict"] == "holds" and rows["aligned_barrier"]["verdict"] == "holds"
    assert rows["curve_barrier"]["ci_low"] <= rows["curve_barrier"]["estimate"] <= rows["curve_barrier"]["ci_high"]
    # a curve as high as the straight line, an alignment that makes it worse: both fail
    rows = {r["key"]: r for r in findings.connectivity(ts, {"straight": straight, "curve": straight * 1.0,
                                                            "aligned": straight + 0.5 * _path_losses(rng, [1, 1, 1])},
                                                       ratio_max=0.25, n_boot=200)}
    assert rows["curve_barrier"]["verdict"] == "fails" and rows["aligned_barrier"]["verdict"] == "fails"
    # no aligned path (a model alignment does not cover): that row says so
    rows = {r["key"]: r for r in findings.connectivity(ts, {"straight": straight, "curve": curve}, n_boot=100)}
    assert rows["aligned_barrier"]["verdict"] == "inconclusive" and "no aligned" in rows["aligned_barrier"]["note"]


# --- TensorFlow: the tiny run's checkpoints -------------------------------------------------------

@pytest.fixture(scope="module")
def evaluator(tiny_run):
    from deepens.data import load_dataset
    from deepens.nets.landscape_eval import WeightEvaluator

    workdir, _ = tiny_run
    dataset = load_dataset(workdir / "results/digits/data.npz")
    paths = [workdir / BASE / f"seed{s}/checkpoints/epoch002.weights.h5" for s in (0, 1)]
    ev = WeightEvaluator(dataset, paths[0], batch_size=256, intra_op_threads=1, inter_op_threads=1,
                         train_examples=100)
    return ev, dataset, paths, ev.load(paths)


def test_workflow_paths_tables_and_artifacts_agree(tiny_run, evaluator):
    """The connectivity job's outputs: exact endpoints, the aligned end is b's function, the saved
    curve reproduces the table's midpoint, and the tables derive from them."""
    from deepens import alignment, io
    from deepens.weights import CheckpointSet

    workdir, _ = tiny_run
    ev, dataset, paths, (a, b) = evaluator
    out = workdir / BASE / "connectivity/0-1"
    table = pd.read_parquet(out / "paths.parquet")
    assert set(table.path) == set(connectivity.PATHS) and sorted(set(table.t)) == [0, 0.25, 0.5, 0.75, 1]
    test = table[table.split == "test"].set_index(["path", "t"])
    run = io.read_predictions(workdir / BASE / "seed0/predictions.parquet")
    ends = {path: test.loc[path] for path in connectivity.PATHS}
    for path, g in ends.items():  # t = 0 is solution a itself on every path
        assert g.loc[0.0].loss == pytest.approx(float(-run.log_prob_label[-1].mean()), rel=1e-6)
        assert g.loc[0.0].loss == ends["straight"].loc[0.0].loss
    assert ends["curve"].loc[1.0].loss == ends["straight"].loc[1.0].loss
    # the aligned end: b's function with permuted units (same predictions, up to summation order)
    assert ends["aligned"].loc[1.0].accuracy == ends["straight"].loc[1.0].accuracy
    assert ends["aligned"].loc[1.0].loss == pytest.approx(ends["straight"].loc[1.0].loss, rel=1e-5)
    samples = {p: io.read_samples(out / "predictions.parquet", "test", p) for p in connectivity.PATHS}
    assert np.array_equal(samples["curve"]["probs"][0], samples["straight"]["probs"][0])
    assert np.array_equal(samples["curve"]["probs"][-1], samples["straight"]["probs"][-1])
    np.testing.assert_allclose(samples["aligned"]["probs"][-1], samples["straight"]["probs"][-1], atol=1e-5)
    # the alignment table is a permutation per group, and applying it gives the aligned path's end
    perms = {g: d.sort_values("position").unit.to_numpy() for g, d in
             pd.read_parquet(out / "alignment.parquet").groupby("group")}
    for perm in perms.values():
        assert sorted(perm) == list(range(len(perm)))
    aligned, found = alignment.align_flat("small_cnn", ev.variables, a, b, seed=0)
    assert all(np.array_equal(found[g], perms[g]) for g in perms)
    # the saved curve: its middle point reproduces the table's t = 0.5 row
    with CheckpointSet([out / "curve.weights.h5"], "all") as cs:
        theta = cs.flat(0)
    loss, acc = ev.evaluate(connectivity.bezier(a, theta, b, 0.5))["test"]
    assert loss == pytest.approx(ends["curve"].loc[0.5].loss, rel=1e-6) and acc == ends["curve"].loc[0.5].accuracy
    # the model's tables
    points = pd.read_parquet(workdir / BASE / "tables/connectivity.parquet")
    barriers = pd.read_parquet(workdir / BASE / "tables/connectivity_barriers.parquet")
    assert len(points) == len(table) and len(barriers) == 3 * 2
    straight = barriers[(barriers.path == "straight") & (barriers.split == "test")].iloc[0]
    pred = samples["straight"]["probs"].argmax(-1)
    assert straight.endpoint_disagreement == pytest.approx((pred[0] != pred[-1]).mean())
    diversity = pd.read_parquet(workdir / BASE / "tables/connectivity_diversity_points.parquet")
    assert set(diversity.kind) == {"curve path"} and len(diversity) == 3  # the interior points
    tsne = pd.read_parquet(workdir / BASE / "tables/subspace_tsne.parquet")
    curve = tsne[tsne.kind == "curve path"]
    assert sorted(curve["sample"]) == [1, 2, 3] and set(zip(curve.seed, curve.seed_b)) == {(0, 1)}
    claims = pd.read_parquet(workdir / BASE / "tables/findings.parquet").set_index("key")
    assert {"curve_barrier", "aligned_barrier"} <= set(claims.index)
    assert (claims.loc[["curve_barrier", "aligned_barrier"], "claim"] == 9).all()


def test_self_alignment_recovers_the_permutation_and_a_zero_barrier(evaluator):
    from deepens import alignment
    from deepens.nets.connectivity import evaluate_paths

    ev, _, _, (a, _) = evaluator
    spec = alignment.permutation_spec("small_cnn", ev.variables)
    rng = np.random.default_rng(7)
    perm = {g: rng.permutation(size) for g, size in spec.groups.items()}
    sizes = [int(np.prod(v["shape"])) for v in ev.variables]
    params = dict(zip([v["path"] for v in ev.variables], (x.reshape(v["shape"]) for x, v in
                                                          zip(np.split(a, np.cumsum(sizes)[:-1]), ev.variables))))
    permuted = alignment.apply_permutation(spec, perm, params)
    flat_permuted = np.concatenate([permuted[v["path"]].ravel() for v in ev.variables])
    assert not np.array_equal(flat_permuted, a)
    aligned, found = alignment.align_flat("small_cnn", ev.variables, a, flat_permuted, seed=0)
    inverse = alignment.invert(perm)
    assert all(np.array_equal(found[g], inverse[g]) for g in perm)
    assert np.array_equal(aligned, a)
    rows, _ = evaluate_paths(ev, a, flat_permuted, aligned, (a + flat_permuted) / 2, 5, 0, 0, log=lambda *x: None)
    df = pd.DataFrame(rows)
    test = {p: g.sort_values("t") for p, g in df[df.split == "test"].groupby("path")}
    from deepens.landscape import barrier

    assert barrier(test["aligned"].t, test["aligned"].loss) == 0.0  # every point IS a
    assert test["aligned"].loss.nunique() == 1
    assert barrier(test["straight"].t, test["straight"].loss) > 0.05  # a and its permuted copy: a barrier


def test_trained_curve_midpoint_below_the_straight_line_and_deterministic(evaluator):
    from deepens.nets.connectivity import train_curve

    ev, dataset, _, (a, b) = evaluator
    kwargs = dict(seed_a=0, seed_b=1, epochs=4, batch_size=64, learning_rate=0.005, lr_halving_epochs=10,
                  log=lambda *x: None)
    theta = train_curve(ev, dataset, a, b, **kwargs)
    assert not np.array_equal(theta, (a + b) / 2)
    assert np.array_equal(train_curve(ev, dataset, a, b, **kwargs), theta)  # same settings, same bits
    straight = ev.evaluate((a + b) / 2)
    curve = ev.evaluate(connectivity.bezier(a, theta, b, 0.5))
    for split in ("test", "train"):
        assert curve[split][0] < straight[split][0] - 0.05, (split, curve, straight)
    assert np.array_equal(train_curve(ev, dataset, a, b, **{**kwargs, "epochs": 0}), (a + b) / 2)


def test_curve_provenance_records_only_its_own_settings(tiny_run):
    workdir, _ = tiny_run
    out = workdir / BASE / "connectivity/0-1"
    from deepens.audit.artifacts import read_artifact_provenance
    from deepens.io import read_provenance

    alignment = read_provenance(out / "alignment.parquet")["config"]["params"]
    curve = read_artifact_provenance(out / "curve.weights.h5")["config"]["params"]
    paths = read_provenance(out / "paths.parquet")["config"]["params"]
    assert set(alignment) == {"code", "pair", "alignment"}  # numpy alone: no device, batch or threads
    assert "curve" in curve and "points" not in curve and "alignment" not in curve
    assert {"alignment", "curve", "points"} <= set(paths)
    assert pq.read_schema(out / "paths.parquet").names[:3] == ["seed_a", "seed_b", "path"]


def test_resnet_paths_recompute_batch_norm_and_the_aligned_end_is_b(tiny_run, tmp_path):
    """ResNet20v1 (residual streams, batch norm): alignment keeps b's function, the curve trains with
    batch statistics and every evaluated point re-estimates its own."""
    from deepens.data import load_dataset
    from deepens.nets.checkpoints import save_checkpoint
    from deepens.nets.connectivity import evaluate_paths, train_curve
    from deepens.nets.landscape_eval import WeightEvaluator
    from deepens.nets.models import build_model, configure_tensorflow, variable_manifest

    workdir, _ = tiny_run
    configure_tensorflow(1, 1)
    dataset = load_dataset(workdir / "results/digits/data.npz")
    paths = []
    for seed in (5, 6):
        model = build_model("resnet20v1", dataset.input_shape, dataset.num_classes, seed=seed)
        paths.append(tmp_path / f"resnet{seed}.weights.h5")
        save_checkpoint(model, variable_manifest(model), paths[-1], 0, {})
    ev = WeightEvaluator(dataset, paths[0], batch_size=256, intra_op_threads=1, inter_op_threads=1,
                         train_examples=100, bn_examples=200)
    assert ev.has_bn
    from deepens.alignment import align_flat

    a, b = ev.load(paths)
    aligned, perms = align_flat("resnet20v1", ev.variables, a, b, seed=0)
    assert len(perms) == 12 and not np.array_equal(aligned, b)
    theta = train_curve(ev, dataset, a, b, seed_a=5, seed_b=6, epochs=1, batch_size=128, learning_rate=0.001,
                        lr_halving_epochs=10, log=lambda *x: None)
    assert np.isfinite(theta).all() and not np.array_equal(theta, (a + b) / 2)
    rows, probs = evaluate_paths(ev, a, b, aligned, theta, 3, 5, 6, log=lambda *x: None)
    assert np.array_equal(probs["curve"][0][0], probs["straight"][0][0])
    assert np.array_equal(probs["curve"][0][-1], probs["straight"][0][-1])
    # b's function after alignment, batch-norm statistics re-estimated on the permuted network
    np.testing.assert_allclose(probs["aligned"][0][-1], probs["straight"][0][-1], atol=1e-4)
    assert (probs["aligned"][0][-1].argmax(-1) == probs["straight"][0][-1].argmax(-1)).mean() > 0.99
