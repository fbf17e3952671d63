"""deepens.function_space and its figures on crafted prediction files with hand-derived values."""
import numpy as np
import pyarrow as pa
import pytest
from deepens import function_space as fs
from deepens import io
from deepens.figures import diversity_accuracy, function_space_tsne
from deepens.figures.common import save_figure


def write_run(path, labels, probs):
    """probs: (epochs x N x C), epochs 0..E, written the way the predict job writes them."""
    tables = [io.predictions_table("test", e, labels, p) for e, p in enumerate(probs)]
    io.write_table(pa.concat_tables(tables), path, {})
    return path


def confident(pred, num_classes, c=0.6):
    """Probability rows whose argmax is `pred` (one row per entry)."""
    p = np.full((len(pred), num_classes), (1 - c) / (num_classes - 1), np.float32)
    p[np.arange(len(pred)), pred] = c
    return p


# --- limit curves -----------------------------------------------------------------------------

def curve(table, name):
    t = table.to_pandas()
    return t[t.curve == name].sort_values("accuracy")


def test_limit_curves_hand_values_c10():
    # a_r = 0.8, C = 10, a = 0.4 (index 50 of linspace(0, 0.8, 101)):
    #   uncorrelated: (0.8*0.6 + 0.4*0.2 + 0.2*0.6*8/9) / 0.6 = (2/3) / 0.6 = 10/9
    #   correlated:   (0.8 - 0.4) / (0.8 - 0.2/9) / 0.6 = (0.4 * 9/7) / 0.6 = 6/7
    t = fs.limit_curves(0.8, 10)
    up, low = curve(t, "uncorrelated"), curve(t, "correlated")
    assert len(up) == len(low) == 101
    assert up.accuracy.iloc[50] == pytest.approx(0.4)
    assert up.normalized_disagreement.iloc[50] == pytest.approx(10 / 9, rel=1e-12)
    assert low.normalized_disagreement.iloc[50] == pytest.approx(6 / 7, rel=1e-12)
    # a = 0: a_r + (1 - a_r)(C - 2)/(C - 1) = 0.8 + 0.2 * 8/9
    assert up.accuracy.iloc[0] == 0.0
    assert up.normalized_disagreement.iloc[0] == pytest.approx(0.8 + 0.2 * 8 / 9, rel=1e-12)
    # Fully correlated errors: a function as accurate as the reference is the reference.
    assert low.accuracy.iloc[-1] == pytest.approx(0.8)
    assert low.normalized_disagreement.iloc[-1] == pytest.approx(0.0, abs=1e-12)
    assert set(t.column_names) == {"curve", "accuracy", "normalized_disagreement", "reference_accuracy"}
    assert np.all(t["reference_accuracy"].to_numpy() == 0.8)


def test_limit_curves_meet_at_chance_accuracy():
    # At a = 1/C both limits equal 1 (derived by hand for any a_r > 1/C).
    for c, a_r in ((10, 0.71), (3, 0.9), (2, 0.6)):
        t = fs.limit_curves(a_r, c, points=5, start=1 / c)
        for name in ("uncorrelated", "correlated"):
            assert curve(t, name).normalized_disagreement.iloc[0] == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("num_classes", [2, 3, 10, 100])
@pytest.mark.parametrize("a_r", [0.51, 0.7, 0.95, 0.999])
def test_limit_curves_finite_below_perfect_reference(num_classes, a_r):
    values = fs.limit_curves(a_r, num_classes)["normalized_disagreement"].to_numpy()
    assert np.all(np.isfinite(values))
    assert np.all(values >= -1e-12)


def test_limit_curves_degenerate_references():
    # A reference no better than chance has no correlated limit; a perfect one has no value at a = 1.
    assert np.all(np.isnan(curve(fs.limit_curves(0.1, 10), "correlated").normalized_disagreement))
    perfect = fs.limit_curves(1.0, 10)
    for name in ("uncorrelated", "correlated"):
        v = curve(perfect, name).normalized_disagreement.to_numpy()
        assert np.isnan(v[-1]) and np.all(np.isfinite(v[:-1]))
    with pytest.raises(ValueError, match="num_classes"):
        fs.limit_curves(0.8, 1)


# --- diversity points -------------------------------------------------------------------------
# Five test points, three classes, labels [0 1 2 0 1]; every run has epochs 0..3.
#   reference = seed 1, epoch 3: predicts [0 1 2 0 0] -> accuracy 4/5
#   seed 0, epoch 3: [0 1 1 1 1] -> accuracy 3/5, disagrees at 2, 3, 4 -> 3/5, normalised 3/5 / 2/5 = 1.5
#   seed 2, epoch 3: [0 1 2 0 1] -> accuracy 1, disagrees at 4 -> 1/5, normalised undefined (NaN)
#   seed 1, epoch 1: [0 0 2 0 0] -> accuracy 3/5, disagrees at 1 -> 1/5, normalised 0.5
#   seed 1, epoch 2: [0 1 2 0 2] -> accuracy 4/5, disagrees at 4 -> 1/5, normalised 1.0
LABELS = np.array([0, 1, 2, 0, 1])
PREDICTED = {
    0: [[2, 2, 2, 2, 2], [0, 0, 0, 0, 0], [0, 1, 0, 1, 1], [0, 1, 1, 1, 1]],
    1: [[1, 1, 1, 1, 1], [0, 0, 2, 0, 0], [0, 1, 2, 0, 2], [0, 1, 2, 0, 0]],
    2: [[0, 0, 0, 0, 0], [0, 1, 0, 0, 1], [0, 1, 2, 2, 1], [0, 1, 2, 0, 1]],
}


@pytest.fixture
def crafted_runs(tmp_path):
    return [write_run(tmp_path / f"seed{s}.parquet", LABELS, np.stack([confident(np.array(p), 3) for p in preds]))
            for s, preds in PREDICTED.items()]


def test_diversity_points_hand_values(crafted_runs):
    t = fs.diversity_points_table(crafted_runs, [0, 1, 2], reference_seed=1).to_pandas()
    ind = t[t.kind == "independent"].set_index("seed")
    assert sorted(ind.index) == [0, 2] and set(ind.epoch) == {3}
    assert ind.loc[0, "accuracy"] == pytest.approx(0.6)
    assert ind.loc[0, "disagreement"] == pytest.approx(0.6)
    assert ind.loc[0, "normalized_disagreement"] == pytest.approx(1.5)
    assert ind.loc[2, "accuracy"] == pytest.approx(1.0)
    assert ind.loc[2, "disagreement"] == pytest.approx(0.2)
    assert np.isnan(ind.loc[2, "normalized_disagreement"])
    traj = t[t.kind == "trajectory"].set_index("epoch")
    # Epoch 0 (untrained) and epoch 3 (the reference itself) are not trajectory points.
    assert sorted(traj.index) == [1, 2] and set(traj.seed) == {1}
    values = ["accuracy", "disagreement", "normalized_disagreement"]
    assert traj.loc[1, values].tolist() == pytest.approx([0.6, 0.2, 0.5])
    assert traj.loc[2, values].tolist() == pytest.approx([0.8, 0.2, 1.0])
    assert set(t.reference_seed) == {1} and set(t.num_classes) == {3}
    assert t.reference_accuracy.to_numpy() == pytest.approx(np.full(len(t), 0.8))


def test_diversity_points_schema(crafted_runs):
    t = fs.diversity_points_table(crafted_runs, [0, 1, 2], reference_seed=0)
    assert t.schema.equals(pa.schema([
        ("kind", pa.string()), ("seed", pa.int64()), ("epoch", pa.int32()), ("accuracy", pa.float64()),
        ("disagreement", pa.float64()), ("normalized_disagreement", pa.float64()),
        ("reference_seed", pa.int64()), ("reference_accuracy", pa.float64()), ("num_classes", pa.int32())]))
    # Reference seed 0: its final [0 1 1 1 1] scores 3/5.
    assert t["reference_accuracy"][0].as_py() == pytest.approx(0.6)


def test_diversity_points_helper_any_point_set():
    ref = confident(np.array([0, 1, 2, 0, 0]), 3)
    probs = np.stack([confident(np.array(p), 3) for p in ([0, 1, 2, 0, 0], [1, 1, 2, 0, 1])])
    t = fs.diversity_points(ref, LABELS, probs, "random_subspace", 7, 40).to_pandas()
    assert t.kind.tolist() == ["random_subspace"] * 2 and t.seed.tolist() == [7, 7] and t.epoch.tolist() == [40, 40]
    # Sample 2 disagrees at points 0 and 4 (2/5) and scores 4/5: normalised 2/5 / 1/5 = 2.
    assert t.disagreement.tolist() == pytest.approx([0.0, 0.4])
    assert t.normalized_disagreement.tolist() == pytest.approx([0.0, 2.0])
    assert t.reference_seed.isna().all()


def test_diversity_reference_seed_must_be_a_seed(crafted_runs):
    with pytest.raises(ValueError, match="diversity.reference_seed"):
        fs.diversity_points_table(crafted_runs, [0, 1, 2], reference_seed=5)


def test_diversity_rejects_runs_on_other_examples(crafted_runs, tmp_path):
    other = write_run(tmp_path / "other.parquet", LABELS[::-1], np.stack([confident(np.zeros(5, int), 3)] * 4))
    with pytest.raises(io.ArtifactError, match="other epochs, examples or classes"):
        fs.diversity_points_table(crafted_runs[:2] + [other], [0, 1, 2], reference_seed=0)


# --- t-SNE --------------------------------------------------------------------------------------

def random_runs(tmp_path, seeds, epochs, n=40, c=3, outside=None):
    rng = np.random.default_rng(123)
    labels = rng.integers(0, c, n)
    paths = []
    for s in seeds:
        logits = rng.normal(size=(epochs + 1, n, c)) * np.linspace(0.1, 3, epochs + 1)[:, None, None]
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        if outside is not None:  # overwrite the test points outside the t-SNE subset
            probs[:, outside] = 1.0 / c
        paths.append(write_run(tmp_path / f"seed{s}.parquet", labels, probs.astype(np.float32)))
    return paths


def test_tsne_shape_keys_and_effective_perplexity(tmp_path):
    paths = random_runs(tmp_path, [3, 5, 8], epochs=5)
    lines = []
    t = fs.tsne_table(paths, [3, 5, 8], test_points=20, perplexity=5, max_iter=250, log=lines.append)
    assert t.num_rows == 3 * 6
    assert t.schema.field("seed").type == pa.int64() and t.schema.field("epoch").type == pa.int32()
    assert t.schema.field("x").type == pa.float64() and t.schema.field("y").type == pa.float64()
    keys = set(zip(t["seed"].to_pylist(), t["epoch"].to_pylist()))
    assert keys == {(s, e) for s in (3, 5, 8) for e in range(6)}
    assert set(t["perplexity"].to_pylist()) == {5.0} and set(t["test_points"].to_pylist()) == {20}
    assert not any("clipped" in line for line in lines)
    assert np.all(np.isfinite(t["x"].to_numpy())) and np.all(np.isfinite(t["y"].to_numpy()))


def test_tsne_perplexity_clipped_for_few_checkpoints(tmp_path):
    lines = []
    t = fs.tsne_table(random_runs(tmp_path, [0, 1, 2], epochs=5), [0, 1, 2], test_points=20, max_iter=250,
                      log=lines.append)
    assert t["perplexity"].to_numpy() == pytest.approx(np.full(18, 17 / 3))  # K = 18 rows: (18 - 1) / 3
    assert any("clipped" in line for line in lines)
    tiny = fs.tsne_table(random_runs(tmp_path / "tiny", [0], epochs=1), [0], test_points=100, max_iter=250,
                         log=lines.append)
    assert tiny.num_rows == 2 and tiny["perplexity"].to_numpy() == pytest.approx([1 / 3, 1 / 3])
    assert set(tiny["test_points"].to_pylist()) == {40}  # capped at N


def test_tsne_deterministic_and_seeded(tmp_path):
    paths = random_runs(tmp_path, [0, 1], epochs=6)
    kwargs = dict(test_points=15, perplexity=4, max_iter=250, log=lambda *_: None)
    a = fs.tsne_table(paths, [0, 1], seed=0, **kwargs)
    assert a.equals(fs.tsne_table(paths, [0, 1], seed=0, **kwargs))
    b = fs.tsne_table(paths, [0, 1], seed=1, **kwargs)
    assert not np.allclose(a["x"].to_numpy(), b["x"].to_numpy())


def test_tsne_uses_only_the_seeded_subset(tmp_path):
    subset = fs.test_subset(40, 10, seed=0)
    assert len(subset) == 10 and np.all(np.diff(subset) > 0)
    assert np.array_equal(subset, np.sort(np.random.default_rng(0).choice(40, 10, replace=False)))
    outside = np.setdiff1d(np.arange(40), subset)
    kwargs = dict(test_points=10, perplexity=3, max_iter=250, log=lambda *_: None)
    a = fs.tsne_table(random_runs(tmp_path / "a", [0, 1], epochs=4), [0, 1], **kwargs)
    b = fs.tsne_table(random_runs(tmp_path / "b", [0, 1], epochs=4, outside=outside), [0, 1], **kwargs)
    assert a.equals(b)  # predictions outside the subset do not enter the embedding


# --- figures -------------------------------------------------------------------------------------

def realistic_runs(tmp_path, seeds=(0, 1, 2, 3), epochs=20, n=300, c=10):
    """Per seed a smooth path from a near-uniform init to its own ~80 %-accurate solution."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, c, n)
    t = 1 - np.exp(-np.arange(epochs + 1) / 5.0)
    paths = []
    for s in seeds:
        wrong = rng.random(n) < 0.2
        target = np.where(wrong, (labels + rng.integers(1, c, n)) % c, labels)
        solution = 4.0 * np.eye(c)[target] + rng.normal(0, 1.0, (n, c))
        init = rng.normal(0, 0.3, (n, c))
        logits = (1 - t)[:, None, None] * init + t[:, None, None] * solution
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        paths.append(write_run(tmp_path / f"seed{s}.parquet", labels, probs.astype(np.float32)))
    return paths


def assert_saved(fig, tmp_path, name):
    paths = [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]
    save_figure(fig, paths, dpi=80)
    for p in paths:
        assert p.stat().st_size > 1000


def test_figures_render(tmp_path):
    seeds = [0, 1, 2, 3]
    paths = realistic_runs(tmp_path, seeds)
    tsne = fs.tsne_table(paths, seeds, test_points=200, perplexity=10, max_iter=500, log=lambda *_: None)
    assert_saved(function_space_tsne.draw(tsne.to_pandas(), "small_cnn", "digits"),
                 tmp_path, "function_space_tsne")
    points = fs.diversity_points_table(paths, seeds, reference_seed=0)
    limits = fs.limit_curves(points["reference_accuracy"][0].as_py(), points["num_classes"][0].as_py())
    _, labels, probs, _ = io.read_predictions(paths[0])
    rng = np.random.default_rng(1)
    samples = probs[-1] + rng.normal(0, 0.15, (30,) + probs[-1].shape)  # a stand-in subspace point set
    extra = fs.diversity_points(probs[-1], labels, samples, "random_subspace", 0, 20, reference_seed=0)
    fig = diversity_accuracy.draw([points.to_pandas(), extra.to_pandas()], limits.to_pandas(),
                                                  "small_cnn", "digits")
    assert_saved(fig, tmp_path, "diversity_accuracy")
