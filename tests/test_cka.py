"""deepens.cka: unbiased HSIC, minibatch linear CKA as a cosine of features, feature files, tables."""
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pytest
from deepens import cka, cka_features, cka_tables
from deepens.io import PROVENANCE_KEY, ArtifactError

ROOT = Path(__file__).resolve().parents[1]


def rng(seed=0):
    return np.random.default_rng(seed)


def sym(r, n):
    a = r.normal(size=(n, n))
    return a + a.T


def feature_cka(xs, ys):
    fx, fy = cka.minibatch_features(xs), cka.minibatch_features(ys)
    return float(fx @ fy / np.sqrt((fx @ fx) * (fy @ fy)))


def biased_linear_cka(x, y):
    """Standard full-batch linear CKA (Kornblith et al. 2019): ||Y'X||^2 / (||X'X|| ||Y'Y||), centred."""
    x = x.reshape(len(x), -1) - x.reshape(len(x), -1).mean(0)
    y = y.reshape(len(y), -1) - y.reshape(len(y), -1).mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def split(a, n):
    return [a[i:i + n] for i in range(0, len(a), n)]


def related(r, n_total, p=12, q=9):
    """X and a noisy nonlinear function of it: CKA well inside (0, 1)."""
    x = r.normal(size=(n_total, p)) * np.linspace(0.3, 2.0, p)
    y = np.tanh(x @ r.normal(size=(p, q))) + 0.5 * r.normal(size=(n_total, q))
    return x, y


# --- the estimator -----------------------------------------------------------------------

@pytest.mark.parametrize("n", [4, 5, 9, 40])
def test_u_centre_zero_diagonal_and_row_sums(n):
    r = rng(n)
    for k in (sym(r, n), cka.gram(r.normal(size=(n, 7)))):
        u = cka.u_centre(k)
        assert np.array_equal(np.diag(u), np.zeros(n))
        assert np.allclose(u.sum(axis=1), 0, atol=1e-10 * np.abs(k).max())
        assert np.allclose(u.sum(axis=0), 0, atol=1e-10 * np.abs(k).max())
        assert np.allclose(u, u.T)
        # Szekely & Rizzo's elementwise definition, off the diagonal
        k0 = k - np.diag(np.diag(k))
        rows, total = k0.sum(1), k0.sum()
        ref = k0 - rows[:, None] / (n - 2) - rows[None, :] / (n - 2) + total / ((n - 1) * (n - 2))
        off = ~np.eye(n, dtype=bool)
        assert np.allclose(u[off], ref[off])


def hsic_u_statistic(k, l):
    """Song et al. (2012) HSIC_1 by brute force: mean over distinct ordered 4-tuples (i, j, q, r)
    of k_ij l_ij + k_ij l_qr - 2 k_ij l_iq."""
    n = len(k)
    total, count = 0.0, 0
    for i, j, q, s in itertools.permutations(range(n), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, s] - 2 * k[i, j] * l[i, q]
        count += 1
    return total / count


@pytest.mark.parametrize("n", [4, 5, 6])
def test_hsic_unbiased_is_the_u_statistic(n):
    r = rng(10 + n)
    k, l = sym(r, n), sym(r, n)
    assert cka.hsic_unbiased(k, l) == pytest.approx(hsic_u_statistic(k, l), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("n", [4, 5, 6, 11, 64])
def test_hsic_features_inner_product_is_unbiased_hsic(n):
    r = rng(n)
    pairs = [(sym(r, n), sym(r, n)),
             (cka.gram(r.normal(size=(n, 3))), cka.gram(r.normal(size=(n, 50)) + 2.0))]
    for k, l in pairs:
        fk, fl = cka.hsic_features(k), cka.hsic_features(l)
        assert fk.shape == (n * (n - 1) // 2,) and fk.dtype == np.float64
        ref = cka.hsic_unbiased(k, l)
        assert abs(ref) > 1e-6
        assert fk @ fl == pytest.approx(ref, rel=1e-10)
        assert fk @ fk == pytest.approx(cka.hsic_unbiased(k, k), rel=1e-10)
    x = r.normal(size=(n, 2, 3))
    assert np.array_equal(cka.batch_features(x), cka.hsic_features(cka.gram(x)))
    assert np.allclose(cka.gram(x), x.reshape(n, -1) @ x.reshape(n, -1).T)


def test_feature_cosine_equals_minibatch_reference():
    r = rng(1)
    for n, batches in ((4, 3), (8, 5), (16, 2)):
        x, y = related(r, n * batches)
        xs, ys = split(x, n), split(y, n)
        ref = cka.cka_minibatch(xs, ys)
        assert 0.05 < ref < 0.99
        assert feature_cka(xs, ys) == pytest.approx(ref, abs=1e-12)
        # the mean of per-batch ratios is a different (wrong) estimator: the test can tell
        per_batch = np.mean([cka.cka_minibatch([a], [b]) for a, b in zip(xs, ys)])
        assert abs(per_batch - ref) > 1e-6


def test_self_cka_is_one():
    r = rng(2)
    xs = split(r.normal(size=(5 * 10, 4, 4, 3)), 10)  # conv-shaped activations
    assert feature_cka(xs, xs) == pytest.approx(1.0, abs=1e-12)
    assert cka.cka_minibatch(xs, xs) == pytest.approx(1.0, abs=1e-12)


def test_invariances_and_a_non_invariance():
    r = rng(3)
    n, batches, p = 16, 6, 12
    x, y = related(r, n * batches, p=p)
    xs, ys = split(x, n), split(y, n)
    base = feature_cka(xs, ys)
    q, _ = np.linalg.qr(r.normal(size=(p, p)))
    shift = r.normal(size=p) * 5
    for name, t in (("orthogonal", lambda a: a @ q), ("isotropic scale", lambda a: 3.7 * a),
                    ("tiny scale", lambda a: 1e-3 * a), ("translation", lambda a: a + shift)):
        txs = [t(a) for a in xs]
        assert feature_cka(txs, ys) == pytest.approx(base, abs=1e-10), name
        assert feature_cka(txs, xs) == pytest.approx(1.0, abs=1e-10), name
    # a generic anisotropic invertible map changes CKA
    a_map = np.diag(np.geomspace(0.05, 20, p)) @ r.normal(size=(p, p))
    axs = [a @ a_map for a in xs]
    assert feature_cka(axs, xs) < 0.9
    assert abs(feature_cka(axs, ys) - base) > 0.02


def test_one_big_batch_close_to_biased_full_batch_cka():
    r = rng(4)
    n = 2000
    z = r.normal(size=(n, 6))
    x = z @ r.normal(size=(6, 30)) + 0.7 * r.normal(size=(n, 30))
    y = np.tanh(z @ r.normal(size=(6, 20))) + 0.5 * r.normal(size=(n, 20))
    ref = biased_linear_cka(x, y)
    assert 0.2 < ref < 0.9
    assert feature_cka([x], [y]) == pytest.approx(ref, abs=0.05)


def test_independent_representations_near_zero():
    r = rng(5)
    n, batches, p = 32, 20, 512  # wide: the biased estimator is far from 0 here
    x, y = r.normal(size=(n * batches, p)), r.normal(size=(n * batches, p))
    assert abs(feature_cka(split(x, n), split(y, n))) < 0.05
    assert biased_linear_cka(x[:n], y[:n]) > 0.5


def test_batch_size_errors():
    r = rng(6)
    with pytest.raises(ValueError, match="same size n >= 4"):
        cka.minibatch_features([r.normal(size=(8, 3)), r.normal(size=(7, 3))])
    with pytest.raises(ValueError, match="n >= 4"):
        cka.batch_features(r.normal(size=(3, 5)))
    with pytest.raises(ValueError, match="n >= 4"):
        cka.cka_minibatch([r.normal(size=(3, 5))], [r.normal(size=(3, 5))])
    with pytest.raises(ValueError, match="same batches"):
        cka.cka_minibatch([r.normal(size=(8, 3))] * 2, [r.normal(size=(8, 3))])


# --- feature files -----------------------------------------------------------------------

LAYERS = ["conv1", "block2", "logits"]
EPOCHS = [0, 5, 10]
N, BATCHES = 6, 4
INPUTS = rng(99).normal(size=(N * BATCHES, 5))


def activations(seed, epoch, layer):
    r = rng(1000 * seed + 10 * epoch + LAYERS.index(layer))
    w = rng(LAYERS.index(layer)).normal(size=(5, 3 + 2 * LAYERS.index(layer)))  # shared across seeds
    w = w + (0.2 + 0.1 * epoch) * r.normal(size=w.shape)
    return np.tanh(INPUTS @ w)


def run_features(seed, epochs=EPOCHS, layers=LAYERS, batch_size=N, n_examples=N * BATCHES):
    return {layer: np.stack([cka.minibatch_features(split(activations(seed, e, layer)[:n_examples], batch_size))
                             for e in epochs]).astype(np.float32) for layer in layers}


def write_run(path, seed, epochs=EPOCHS, layers=LAYERS, batch_size=N, n_examples=N * BATCHES):
    cka_features.write_features(path, run_features(seed, epochs, layers, batch_size, n_examples), epochs, layers,
                       batch_size, n_examples, {"seed": seed, "rule": "cka_features"})
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cka_runs")
    return {seed: write_run(d / f"seed{seed}.h5", seed) for seed in (0, 1, 2)}


def test_feature_file_round_trip(tmp_path):
    path = tmp_path / "out" / "features.h5"
    feats = run_features(7)
    write_run(path, 7)
    assert [p.name for p in path.parent.iterdir()] == ["features.h5"]  # no temp file left
    with cka_features.FeatureFile(path) as f:
        assert f.layers == LAYERS and f.epochs.tolist() == EPOCHS
        assert f.batch_size == N and f.n_examples == N * BATCHES
        assert f.n_features == BATCHES * N * (N - 1) // 2
        assert f.provenance == {"seed": 7, "rule": "cka_features"}
        for layer in LAYERS:
            for i, e in enumerate(EPOCHS):
                assert np.array_equal(f.read(layer, e), feats[layer][i].astype(np.float64))
    with h5py.File(path, "r") as h:  # the documented layout
        assert set(h["features"]) == set(LAYERS)
        assert h["features/block2"].dtype == np.float32
        assert json.loads(h.attrs["layers"]) == LAYERS
        assert json.loads(h.attrs[PROVENANCE_KEY.decode()])["seed"] == 7


def test_feature_writer_batch_by_batch(tmp_path):
    whole = write_run(tmp_path / "whole.h5", 3)
    path = tmp_path / "batched.h5"
    with cka_features.FeatureWriter(path, EPOCHS, LAYERS, N, N * BATCHES, {"seed": 3, "rule": "cka_features"}) as w:
        for e in reversed(EPOCHS):
            for layer in LAYERS:
                for b, acts in enumerate(split(activations(3, e, layer), N)):
                    w.put(layer, e, cka.batch_features(acts), batch=b)
    with cka_features.FeatureFile(whole) as a, cka_features.FeatureFile(path) as b:
        for layer in LAYERS:
            assert np.array_equal(a.dataset(layer)[()], b.dataset(layer)[()])
    incomplete = tmp_path / "incomplete.h5"
    with pytest.raises(ValueError, match="never written"):
        with cka_features.FeatureWriter(incomplete, EPOCHS, LAYERS, N, N * BATCHES, {}) as w:
            w.put("conv1", 0, np.zeros(N * (N - 1) // 2), batch=0)
    assert not incomplete.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batched.h5", "whole.h5"]


def test_write_features_argument_errors(tmp_path):
    feats = run_features(0)
    with pytest.raises(ValueError, match="multiple of batch_size"):
        cka_features.write_features(tmp_path / "a.h5", feats, EPOCHS, LAYERS, N, N * BATCHES + 1, {})
    with pytest.raises(ValueError, match="n >= 4"):
        cka_features.write_features(tmp_path / "a.h5", feats, EPOCHS, LAYERS, 3, 12, {})
    with pytest.raises(ValueError, match="shape"):
        cka_features.write_features(tmp_path / "a.h5", {k: v[:, :-1] for k, v in feats.items()}, EPOCHS, LAYERS, N,
                           N * BATCHES, {})
    with pytest.raises(ValueError, match="no features given for layer"):
        cka_features.write_features(tmp_path / "a.h5", feats, EPOCHS, LAYERS + ["fc"], N, N * BATCHES, {})
    assert list(tmp_path.iterdir()) == []


def test_column_ranges_bound_the_block():
    for f, k, cap in ((100, 7, 30), (10, 3, 1), (5, 2, 1000), (64, 4, 16)):
        ranges = cka_tables._column_ranges(f, k, cap)
        assert ranges[0][0] == 0 and ranges[-1][1] == f
        assert all(a1 == b0 for (_, a1), (b0, _) in zip(ranges, ranges[1:]))
        assert all(k * (b - a) <= max(cap, k) for a, b in ranges)


def test_table_memory_is_bounded_by_the_block(tmp_path):
    import tracemalloc

    n, batches = 100, 100  # F = 495,000 features: 4 vectors are 15 MiB in float64
    f_len = batches * cka.n_pair_features(n)
    r = rng(8)
    paths = {}
    for seed in (0, 1):
        path = tmp_path / f"big{seed}.h5"
        with cka_features.FeatureWriter(path, [0, 1], ["a", "b"], n, n * batches, {"seed": seed}) as w:
            for layer in ("a", "b"):
                for e in (0, 1):
                    w.put(layer, e, r.normal(size=f_len))
        paths[seed] = tmp_path / f"big{seed}.h5"
    cka_tables.cross_seed_table(paths, 0, block_elements=10_000)  # warm up (pyarrow's lazy imports)
    block = 100_000  # 0.76 MiB of float64
    tracemalloc.start()
    try:
        for table in (lambda: cka_tables.cross_seed_table(paths, 1, block_elements=block),
                      lambda: cka_tables.trajectory_table(paths[0], block_elements=block)):
            tracemalloc.reset_peak()
            table()
            assert tracemalloc.get_traced_memory()[1] < 3 * block * 8
    finally:
        tracemalloc.stop()


def test_cross_seed_table_blocked_equals_unblocked(runs):
    full = cka_tables.cross_seed_table(runs, 10, block_elements=4_000_000)
    tiny = cka_tables.cross_seed_table(runs, 10, block_elements=7)  # 9 vectors: one column per block
    assert tiny.column_names == ["seed_a", "layer_a", "layer_index_a", "epoch_a",
                                 "seed_b", "layer_b", "layer_index_b", "epoch_b", "cka"]
    assert tiny.schema.field("cka").type == pa.float64()
    assert json.loads(tiny.schema.metadata[cka_tables.LAYERS_META_KEY]) == LAYERS
    assert tiny.num_rows == (3 * 3) ** 2
    assert np.allclose(tiny["cka"].to_numpy(), full["cka"].to_numpy(), rtol=0, atol=1e-12)
    # unblocked: the whole feature vectors, read at once
    vectors = []
    for seed, path in runs.items():
        with cka_features.FeatureFile(path) as f:
            vectors += [f.read(layer, 10) for layer in LAYERS]
    ref = cka.cka_from_features(np.stack(vectors))
    assert np.allclose(tiny["cka"].to_numpy(), ref.reshape(-1), atol=1e-12)
    # and the reference estimator on the raw activations (features are stored as float32)
    d = tiny.to_pydict()
    for i in range(tiny.num_rows):
        xs = split(activations(d["seed_a"][i], 10, d["layer_a"][i]), N)
        ys = split(activations(d["seed_b"][i], 10, d["layer_b"][i]), N)
        assert d["cka"][i] == pytest.approx(cka.cka_minibatch(xs, ys), abs=1e-5)
        assert LAYERS[d["layer_index_a"][i]] == d["layer_a"][i] and d["epoch_a"][i] == d["epoch_b"][i] == 10
        if (d["seed_a"][i], d["layer_a"][i]) == (d["seed_b"][i], d["layer_b"][i]):
            assert d["cka"][i] == pytest.approx(1.0, abs=1e-12)


def test_trajectory_table_blocked_equals_unblocked(runs):
    epochs = [10, 0, 5]  # not in file order (a mislabelled permutation changes the off-diagonal values)
    t = cka_tables.trajectory_table(runs[1], layers=["logits", "conv1"], epochs=epochs, block_elements=5)
    assert t.num_rows == 2 * len(epochs) ** 2
    d = t.to_pydict()
    assert set(d["seed_a"]) == set(d["seed_b"]) == {1}  # from the provenance
    assert d["layer_a"] == d["layer_b"]
    with cka_features.FeatureFile(runs[1]) as f:
        for i in range(t.num_rows):
            a, b = f.read(d["layer_a"][i], d["epoch_a"][i]), f.read(d["layer_b"][i], d["epoch_b"][i])
            assert d["cka"][i] == pytest.approx(a @ b / np.sqrt((a @ a) * (b @ b)), abs=1e-12)
    whole = cka_tables.trajectory_table(runs[1], seed=1)
    assert whole.num_rows == len(LAYERS) * len(EPOCHS) ** 2
    assert whole.column_names == t.column_names


def test_cka_table_views(runs):
    final = cka_tables.cka_table(runs, pairs="final", block_elements=11)
    assert final.equals(cka_tables.cross_seed_table(runs, max(EPOCHS), block_elements=11))
    traj = cka_tables.cka_table(runs, pairs="trajectory", layers=["block2"])
    assert traj.num_rows == 3 * len(EPOCHS) ** 2
    assert sorted(set(traj["seed_a"].to_pylist())) == [0, 1, 2]
    with pytest.raises(ValueError, match="pairs"):
        cka_tables.cka_table(runs, pairs="everything")


def test_mismatched_and_broken_files_name_the_file(runs, tmp_path):
    other_batch = write_run(tmp_path / "batch4.h5", 5, batch_size=4, n_examples=24)
    with pytest.raises(ArtifactError, match=r"batch4\.h5.*batch_size"):
        cka_tables.cross_seed_table({0: runs[0], 5: other_batch}, 10)
    fewer_layers = write_run(tmp_path / "two_layers.h5", 5, layers=LAYERS[:2])
    with pytest.raises(ArtifactError, match=r"two_layers\.h5.*layers"):
        cka_tables.cka_table({0: runs[0], 5: fewer_layers}, pairs="trajectory")
    fewer_examples = write_run(tmp_path / "short.h5", 5, n_examples=18)
    with pytest.raises(ArtifactError, match=r"short\.h5.*n_examples"):
        cka_tables.cross_seed_table({0: runs[0], 5: fewer_examples}, 10)
    no_epoch = write_run(tmp_path / "early.h5", 5, epochs=[0, 5])
    with pytest.raises(ArtifactError, match=r"early\.h5.*epoch 10"):
        cka_tables.cross_seed_table({0: runs[0], 5: no_epoch}, 10)
    with pytest.raises(ArtifactError, match=r"seed0\.h5.*layer 'fc'"):
        cka_tables.cross_seed_table(runs, 10, layers=["conv1", "fc"])
    with pytest.raises(ArtifactError, match=r"missing\.h5"):
        cka_features.FeatureFile(tmp_path / "missing.h5")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ArtifactError, match=r"garbage\.h5"):
        cka_tables.cross_seed_table({0: runs[0], 1: garbage}, 10)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h:
        h["x"] = np.zeros(3)
    with pytest.raises(ArtifactError, match=r"foreign\.h5.*not a CKA feature file"):
        cka_features.FeatureFile(foreign)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(Path(runs[0]).read_bytes()[:2000])
    with pytest.raises(ArtifactError, match=r"truncated\.h5"):
        cka_features.FeatureFile(truncated)
    reshaped = tmp_path / "reshaped.h5"
    reshaped.write_bytes(Path(runs[0]).read_bytes())
    with h5py.File(reshaped, "a") as h:
        del h["features/logits"]
        h["features/logits"] = np.zeros((3, 7), np.float32)
    with pytest.raises(ArtifactError, match=r"reshaped\.h5.*features/logits.*shape"):
        cka_features.FeatureFile(reshaped)


def test_cka_module_needs_no_tensorflow():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "tf_blocker"),
                                                        str(ROOT / "workflow_scripts")])}
    subprocess.run([sys.executable, "-c", "import deepens.cka"], env=env, check=True, timeout=120)
