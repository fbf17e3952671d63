"""Subspace sampling: the numpy samplers against known answers, then the TensorFlow job function."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from deepens import subspace

ROOT = Path(__file__).resolve().parents[1]
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
if HAVE_TF:
    from deepens.nets.models import configure_tensorflow

    configure_tensorflow(1, 1)  # before any op, as a job does
needs_tf = pytest.mark.skipif(not HAVE_TF, reason="TensorFlow is not installed")


def rng(seed=0):
    return np.random.default_rng(seed)


# --- late checkpoints --------------------------------------------------------------------

@pytest.mark.parametrize("epochs, fraction, expected", [
    (40, 0.25, list(range(31, 41))),  # the authors: after-epoch checkpoints 31..40 (0-based e >= 30)
    (10, 0.3, [8, 9, 10]),            # 10 * 0.3 is 3.0000000000000004 in floating point, still 3
    (10, 0.25, [8, 9, 10]),           # ceil(2.5)
    (3, 0.1, [2, 3]),                 # at least two for a Gaussian
    (2, 0.5, [1, 2]),
    (1, 0.25, [1]),                   # never epoch 0
    (5, 1.0, [1, 2, 3, 4, 5]),
])
def test_late_epochs(epochs, fraction, expected):
    assert subspace.late_epochs(epochs, fraction) == expected


@pytest.mark.parametrize("epochs, fraction", [(0, 0.25), (10, 0.0), (10, 1.5)])
def test_late_epochs_rejects_bad_settings(epochs, fraction):
    with pytest.raises(ValueError):
        subspace.late_epochs(epochs, fraction)


# --- random subspace ---------------------------------------------------------------------

def test_random_samples_lie_at_the_drawn_distance_in_isotropic_directions():
    theta = rng(1).normal(size=400)
    samples, scales = subspace.random_samples(theta, 3.0, 2000, rng())
    dist = np.linalg.norm(samples - theta, axis=1)
    np.testing.assert_allclose(dist, scales, rtol=1e-12)
    assert scales.min() >= 0 and scales.max() <= 3.0
    assert abs(scales.mean() - 1.5) < 5 * 3.0 / np.sqrt(12 * 2000)  # s = 3 U(0,1)
    units = (samples - theta) / dist[:, None]
    # isotropic: the mean direction is ~0 and the second moment is I / P
    assert np.abs(units.mean(axis=0)).max() < 5 / np.sqrt(400 * 2000)
    second = (units ** 2).mean(axis=0) * 400
    assert abs(second.mean() - 1) < 1e-12 and np.abs(second - 1).max() < 0.35


def test_random_scale_zero_is_theta_exactly():
    theta = rng(1).normal(size=50)
    samples, scales = subspace.random_samples(theta, 0.0, 3, rng())
    assert np.array_equal(samples, np.tile(theta, (3, 1))) and np.array_equal(scales, np.zeros(3))


# --- dropout -----------------------------------------------------------------------------

def test_dropout_zeros_the_drawn_fraction_and_rescales_the_rest():
    theta = rng(1).uniform(0.5, 2.0, size=20000)  # no zeros, so zeros are dropped entries
    samples, ps = subspace.dropout_samples(theta, 0.6, 20, rng())
    assert ps.min() >= 0 and ps.max() <= 0.6 and ps.std() > 0
    for sample, p in zip(samples, ps):
        dropped = sample == 0
        assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / theta.size) + 1e-12
        np.testing.assert_array_equal(sample[~dropped], theta[~dropped] / (1 - p))


def test_dropout_is_unbiased():
    theta = rng(1).normal(size=50)
    n = 20000
    samples, ps = subspace.dropout_samples(theta, 0.5, n, rng())
    # Var(sample_j | p) = theta_j^2 p / (1 - p) <= theta_j^2 for p <= 0.5
    np.testing.assert_array_less(np.abs(samples.mean(axis=0) - theta), 5 * np.abs(theta) / np.sqrt(n))
    # and the dropped fraction over all draws is E[p] = 0.25
    assert abs((samples == 0).mean() - 0.25) < 0.01


@pytest.mark.parametrize("scale", [1.0, 1.5, -0.1])
def test_dropout_rejects_probabilities_outside_0_1(scale):
    with pytest.raises(ValueError, match="drop probability"):
        subspace.dropout_samples(np.ones(3), scale, 1, rng())


# --- diagonal Gaussian -------------------------------------------------------------------

def test_diagonal_fit_is_the_per_parameter_mean_and_population_std():
    late = np.array([[0.0, 1.0, 5.0], [2.0, 1.0, 5.0], [4.0, 1.0, 8.0]])
    mean, std = subspace.diagonal_fit(late)
    np.testing.assert_allclose(mean, [2.0, 1.0, 6.0])
    np.testing.assert_allclose(std, [np.sqrt(8 / 3), 0.0, np.sqrt(2.0)])  # ddof 0, as np.std in the notebook


def test_diagonal_samples_reproduce_mean_and_scaled_std():
    mean, std = np.array([1.0, -2.0, 0.0, 10.0]), np.array([0.5, 2.0, 0.0, 1.0])
    n, scale = 40000, 2.0
    samples, scales = subspace.diagonal_samples(mean, std, scale, n, rng())
    assert np.array_equal(scales, np.full(n, scale))
    sigma = scale * std
    np.testing.assert_array_less(np.abs(samples.mean(axis=0) - mean), 5 * sigma / np.sqrt(n) + 1e-12)
    np.testing.assert_array_less(np.abs(samples.std(axis=0) - sigma), 5 * sigma / np.sqrt(2 * n) + 1e-12)
    assert np.array_equal(samples[:, 2], np.zeros(n))  # a parameter that never moved stays put


def test_diagonal_uniform_scale_draws_a_scale_per_sample():
    mean, std = np.zeros(2000), np.ones(2000)
    samples, scales = subspace.diagonal_samples(mean, std, 10.0, 50, rng(), uniform=True)
    assert scales.min() >= 0 and scales.max() <= 10 and scales.std() > 1
    np.testing.assert_allclose(samples.std(axis=1), scales, rtol=0.1)


# --- low-rank Gaussian -------------------------------------------------------------------

def _plane():
    """Four points on a known plane: centred coefficients a, b are orthogonal with |a| > |b|."""
    g = rng(3)
    u, _ = np.linalg.qr(g.normal(size=(30, 2)))
    u1, u2 = u[:, 0], u[:, 1]
    centre = g.normal(size=30)
    a, b = np.array([3.0, -3.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0, -1.0])
    return centre + np.outer(a, u1) + np.outer(b, u2), centre, u1, u2


def test_lowrank_fit_recovers_a_known_plane():
    late, centre, u1, u2 = _plane()
    mean, directions, sv = subspace.lowrank_fit(late, 2)
    np.testing.assert_allclose(mean, centre, atol=1e-12)
    assert directions.shape == (2, 30)
    np.testing.assert_allclose(directions @ directions.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(sv, [np.sqrt(18), np.sqrt(2)], rtol=1e-12)
    np.testing.assert_allclose(np.abs(directions @ np.stack([u1, u2]).T), np.eye(2), atol=1e-12)
    # the notebook's sklearn PCA on the centred points finds the same directions (up to sign)
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(late - late.mean(axis=0))
    np.testing.assert_allclose(np.abs(np.sum(pca.components_ * directions, axis=1)), [1, 1], atol=1e-10)


def test_lowrank_rank_is_capped_at_checkpoints_minus_one():
    late, *_ = _plane()
    _, directions, sv = subspace.lowrank_fit(late, 5)
    assert directions.shape == (3, 30) and len(sv) == 3
    np.testing.assert_allclose(directions @ directions.T, np.eye(3), atol=1e-12)
    assert sv[2] < 1e-12  # the four points span only two dimensions around their mean
    with pytest.raises(ValueError, match="two late checkpoints"):
        subspace.lowrank_fit(late[:1], 5)


def test_lowrank_samples_lie_in_the_principal_span_with_unit_direction_scale():
    late, centre, u1, u2 = _plane()
    mean, directions, _ = subspace.lowrank_fit(late, 2)
    n, scale = 20000, 6.0
    samples, scales = subspace.lowrank_samples(mean, directions, scale, n, rng())
    assert np.array_equal(scales, np.full(n, scale))
    shifts = samples - centre
    basis = np.stack([u1, u2])
    residual = shifts - (shifts @ basis.T) @ basis
    assert np.abs(residual).max() < 1e-10
    # z ~ N(0, scale^2) along UNIT directions (the notebook), not scaled by the singular values
    coords = shifts @ directions.T
    np.testing.assert_allclose(coords.std(axis=0), [scale, scale], rtol=0.03)
    assert np.abs(np.corrcoef(coords.T)[0, 1]) < 0.03


def test_weight_average_is_the_mean():
    late, centre, *_ = _plane()
    np.testing.assert_allclose(subspace.weight_average(late), centre, atol=1e-12)


# --- seeding and streaming ---------------------------------------------------------------

def _all_samplers(seed, n=5):
    theta = np.linspace(-1, 1, 40)
    late, *_ = _plane()
    mean, std = subspace.diagonal_fit(late)
    _, directions, _ = subspace.lowrank_fit(late, 2)
    return [subspace.random_samples(theta, 2.0, n, rng(seed)),
            subspace.dropout_samples(theta, 0.3, n, rng(seed)),
            subspace.diagonal_samples(mean, std, 1.0, n, rng(seed)),
            subspace.diagonal_samples(mean, std, 1.0, n, rng(seed), uniform=True),
            subspace.lowrank_samples(mean, directions, 1.0, n, rng(seed))]


def test_same_seed_same_samples_other_seed_other_samples():
    for (a, sa), (b, sb), (c, _) in zip(_all_samplers(0), _all_samplers(0), _all_samplers(1)):
        assert np.array_equal(a, b) and np.array_equal(sa, sb)
        assert not np.array_equal(a, c)
        assert len({row.tobytes() for row in a}) == len(a)  # samples differ from each other


def test_streaming_matches_stacking_and_prefixes_do_not_depend_on_n():
    for (a, sa), (b, sb) in zip(_all_samplers(0, n=5), _all_samplers(0, n=3)):
        assert np.array_equal(a[:3], b) and np.array_equal(sa[:3], sb)
    theta = np.linspace(-1, 1, 40)
    stacked, scales = subspace.random_samples(theta, 2.0, 4, rng())
    endless = subspace.iter_random(theta, 2.0, rng())  # n=None: as many as asked for
    streamed = [next(endless) for _ in range(4)]
    assert np.array_equal(np.stack([v for v, _ in streamed]), stacked)
    assert np.array_equal([s for _, s in streamed], scales)


def test_subspace_module_needs_no_tensorflow():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "tf_blocker"),
                                                        str(ROOT / "workflow_scripts")])}
    subprocess.run([sys.executable, "-c", "import deepens.subspace"], env=env, check=True, timeout=120)


# --- the TensorFlow job function ---------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A SmallCNN trained 3 epochs on digits: checkpoints of epochs 0..3."""
    from deepens import data, provenance
    from deepens.nets import training

    out = tmp_path_factory.mktemp("subspace_run")
    ds = data.prepare_digits(300, 100)
    paths = [out / f"epoch{e:03d}.weights.h5" for e in range(4)]
    training.train_run(model_name="small_cnn", dataset=ds, seed=0, epochs=3, batch_size=128, learning_rate=1.6e-3,
                       lr_halving_epochs=10, dropout=0.1, augmentation=False, steps_per_execution=1,
                       jit_compile=False, intra_op_threads=1, inter_op_threads=1, checkpoint_paths=paths,
                       history_path=out / "history.parquet", provenance=provenance.Provenance({}),
                       resume_dir=out / "resume", log=lambda *a: None)
    return ds, paths


def sample(trained, method, checkpoints=None, seed=0, late_fraction=0.5, rank=5, **kw):
    """One method's samples table: a SolutionRun around epoch 3 and sample_method with the method's settings."""
    from deepens.nets.subspace_sampling import SolutionRun, sample_method

    ds, paths = trained
    run = SolutionRun(dataset=ds, checkpoint_paths=checkpoints or {e: paths[e] for e in (1, 2, 3)}, final_epoch=3,
                      seed=seed, late_epochs=subspace.late_epochs(3, late_fraction), rank=rank, batch_size=256,
                      intra_op_threads=1, inter_op_threads=1, log=lambda *a: None)
    settings = dict(ensemble_samples=3, ensemble_scale=1.0, plane_samples=2, plane_scale=2.0,
                    accept_min_val_accuracy=None)
    settings.update(kw)
    return sample_method(run, method, settings)


def split_probs(table, split, purpose):
    import pyarrow.compute as pc
    from deepens.io import probabilities

    t = table.filter(pc.and_(pc.equal(table["split"], split), pc.equal(table["purpose"], purpose)))
    t = t.sort_by([("sample", "ascending"), ("example", "ascending")])
    samples = np.unique(t["sample"].to_numpy())
    return probabilities(t).reshape(len(samples), -1, probabilities(t).shape[1])


def checkpoint_probs(trained, path):
    from deepens.io import read_predictions, write_table
    from deepens.nets.predict import evaluate_checkpoints

    ds, _ = trained
    table = evaluate_checkpoints(ds, [path], [0], 256, log=lambda *a: None)
    tmp = Path(path).parent / f"pred_{Path(path).name}.parquet"
    write_table(table, tmp, {})
    return {split: read_predictions(tmp, split).probs[0] for split in ("test", "val")}


@needs_tf
def test_random_scale_zero_reproduces_the_final_checkpoint(trained):
    table = sample(trained, "random", ensemble_scale=0.0, plane_scale=0.0)
    expected = checkpoint_probs(trained, trained[1][3])
    for purpose, n in (("ensemble", 3), ("plane", 2)):
        for split in ("test", "val"):
            got = split_probs(table, split, purpose)
            assert got.shape[0] == n
            for p in got:
                np.testing.assert_array_equal(p, expected[split])


@needs_tf
def test_averaging_one_checkpoint_is_that_checkpoint(trained):
    _, paths = trained
    table = sample(trained, "averaging", checkpoints={2: paths[3], 3: paths[3]})  # late epochs 2, 3: the same file
    expected = checkpoint_probs(trained, paths[3])
    for purpose in ("ensemble", "plane"):
        for split in ("test", "val"):
            got = split_probs(table, split, purpose)
            assert got.shape[0] == 1
            np.testing.assert_array_equal(got[0], expected[split])
    assert set(table["scale"].to_numpy()) == {0.0}


@needs_tf
def test_averaging_averages_the_late_checkpoints(trained):
    """Epochs 2 and 3 (late_fraction 0.5 of 3 epochs): the prediction of their mean weights."""
    import tensorflow as tf
    from deepens.nets.evaluation import FlatWeights, Forward
    from deepens.nets.models import load_model
    from deepens.weights import CheckpointSet

    ds, paths = trained
    table = sample(trained, "averaging")
    with CheckpointSet([paths[2], paths[3]], "all") as cs:
        mean, variables = (cs.flat(0) + cs.flat(1)) / 2, cs.variables
    model = load_model(paths[3])
    FlatWeights(model, variables).assign(mean)
    probs = Forward(model, 256, tf)(ds.x_test)[0]
    np.testing.assert_array_equal(split_probs(table, "test", "ensemble")[0], probs)
    for path in (paths[2], paths[3]):
        assert not np.array_equal(probs, checkpoint_probs(trained, path)["test"])


@needs_tf
@pytest.mark.parametrize("method", ["random", "dropout", "diagonal", "lowrank", "averaging"])
def test_output_contract_and_bit_identical_reruns(trained, tmp_path, method):
    from deepens.io import read_samples, write_table

    ds, _ = trained
    kw = {"ensemble_scale": 0.05, "plane_scale": 0.1} if method == "dropout" else {}
    table = sample(trained, method, **kw)
    assert table.equals(sample(trained, method, **kw))
    write_table(table, tmp_path / "s.parquet", {})
    n = {"ensemble": 3, "plane": 2} if method != "averaging" else {"ensemble": 1, "plane": 1}
    probs = {}
    for purpose in ("ensemble", "plane"):
        for split, (_, y) in (("test", ds.split("test")), ("val", ds.split("val"))):
            s = read_samples(tmp_path / "s.parquet", split, purpose)
            assert s["method"] == method
            assert s["probs"].shape == (n[purpose], len(y), ds.num_classes) and s["probs"].dtype == np.float32
            assert list(s["sample"]) == list(range(n[purpose]))
            np.testing.assert_array_equal(s["labels"], y)
            np.testing.assert_allclose(s["probs"].sum(axis=2), 1, atol=1e-5)
            # the label's log-probability (from the log-softmax) is that of the stored softmax
            assert s["log_prob_label"].shape == (n[purpose], len(y)) and s["log_prob_label"].dtype == np.float64
            np.testing.assert_allclose(np.exp(s["log_prob_label"]),
                                       np.take_along_axis(s["probs"], y[None, :, None], axis=2)[..., 0], atol=1e-6)
            if split == "test":
                np.testing.assert_allclose(s["test_accuracy"], (s["probs"].argmax(2) == y).mean(1))
            probs[purpose, split] = s
    if method != "averaging":
        assert not np.array_equal(probs["ensemble", "test"]["probs"][0], probs["ensemble", "test"]["probs"][1])
        assert not np.array_equal(probs["ensemble", "test"]["probs"][:2], probs["plane", "test"]["probs"])
    scales = probs["plane", "test"]["scale"]
    if method in ("random", "dropout", "diagonal"):  # drawn per sample: scale * U(0, 1)
        assert np.all((scales >= 0) & (scales <= kw.get("plane_scale", 2.0))) and scales[0] != scales[1]
    elif method == "lowrank":
        assert list(scales) == [2.0, 2.0]


@needs_tf
def test_seed_keys_are_stable_and_independent(trained):
    from deepens.nets.subspace_sampling import METHOD_KEYS, PURPOSE_KEYS, method_rng

    assert METHOD_KEYS == {"random": 1, "dropout": 2, "diagonal": 3, "lowrank": 4, "averaging": 5}
    assert PURPOSE_KEYS == {"ensemble": 1, "plane": 2}
    draws = {(m, p): method_rng(0, m, p).random() for m in METHOD_KEYS for p in PURPOSE_KEYS}
    assert len(set(draws.values())) == len(draws)
    assert method_rng(1, "random", "ensemble").random() != draws["random", "ensemble"]
    a = sample(trained, "random", seed=0)
    b = sample(trained, "random", seed=1)
    assert not np.array_equal(split_probs(a, "test", "ensemble"), split_probs(b, "test", "ensemble"))


@needs_tf
def test_acceptance_keeps_the_first_draws_that_reach_the_threshold(trained):
    import pyarrow.compute as pc

    ds, _ = trained
    wide = dict(ensemble_scale=10.0, plane_samples=6, plane_scale=20.0)
    free = sample(trained, "random", ensemble_samples=12, **wide)
    val, test = split_probs(free, "val", "ensemble"), split_probs(free, "test", "ensemble")
    val_acc, test_acc = (val.argmax(2) == ds.y_val).mean(1), (test.argmax(2) == ds.y_test).mean(1)
    tries = 5  # subspace.random.accept_tries (default)

    def slot_rule(passing):
        """The draws the per-slot rule keeps (3 slots, up to `tries` draws each), None past the 12 draws."""
        kept, i = [], 0
        for _ in range(3):
            for _ in range(tries):
                if i >= len(passing):
                    return None
                i += 1
                if passing[i - 1]:
                    kept.append(i - 1)
                    break
        return kept

    # a threshold where the first three passing draws differ between validation and test accuracy,
    # so the test sees which split decides, and where no slot uses up its tries (each of the three
    # slots keeps a draw: the kept samples are the first three passing draws of the stream)
    candidates = [t for t in np.unique(val_acc) if (val_acc >= t).sum() >= 3
                  and list(np.flatnonzero(val_acc >= t)[:3]) != list(np.flatnonzero(test_acc >= t)[:3])
                  and slot_rule(val_acc >= t) == list(np.flatnonzero(val_acc >= t)[:3])]
    assert candidates
    threshold = float(candidates[0])
    first = np.flatnonzero(val_acc >= threshold)[:3]
    kept = sample(trained, "random", ensemble_samples=3, accept_min_val_accuracy=threshold, **wide)
    got = split_probs(kept, "val", "ensemble")
    assert np.all((got.argmax(2) == ds.y_val).mean(1) >= threshold)
    # acceptance redraws from the same stream: the kept samples are the first passing draws
    np.testing.assert_array_equal(got, val[first])
    np.testing.assert_array_equal(split_probs(kept, "test", "ensemble"), test[first])
    # the diversity plane keeps every draw, however poor
    plane = split_probs(kept, "val", "plane")
    np.testing.assert_array_equal(plane, split_probs(free, "val", "plane"))
    assert np.any((plane.argmax(2) == ds.y_val).mean(1) < threshold)
    # one try per slot: slot i keeps draw i if it passes, else the slot is dropped (kept slots keep their id)
    one = [t for t in np.unique(val_acc) if 0 < (val_acc[:3] >= t).sum() < 3]
    assert one
    threshold = float(one[0])
    single = sample(trained, "random", ensemble_samples=3, accept_min_val_accuracy=threshold, accept_tries=1, **wide)
    slots = np.flatnonzero(val_acc[:3] >= threshold)
    np.testing.assert_array_equal(split_probs(single, "val", "ensemble"), val[slots])
    assert sorted(set(single.filter(pc.equal(single["purpose"], "ensemble"))["sample"].to_pylist())) == list(slots)


@needs_tf
def test_acceptance_that_cannot_be_met_fails_clearly(trained):
    with pytest.raises(RuntimeError, match=r"subspace\.random\.accept_min_val_accuracy"):
        sample(trained, "random", ensemble_samples=2, ensemble_scale=1e4, accept_min_val_accuracy=1.0)


@needs_tf
def test_bad_settings_fail_before_any_work(trained):
    with pytest.raises(ValueError, match="unknown subspace method 'swag'"):
        sample(trained, "swag")
    with pytest.raises(ValueError, match=r"subspace\.dropout\.plane_scale"):
        sample(trained, "dropout", ensemble_scale=0.1, plane_scale=1.0)
    with pytest.raises(ValueError, match="epochs \\[2\\]"):
        sample(trained, "diagonal", checkpoints={3: trained[1][3]})


@needs_tf
def test_batch_norm_statistics_are_recomputed_as_training_set_averages():
    import keras
    import tensorflow as tf
    from deepens.nets.evaluation import recompute_batch_norm
    from deepens.nets.models import build_model

    x = rng(0).integers(0, 256, (96, 8, 8, 1), dtype=np.uint8)
    model = build_model("resnet20v1", (8, 8, 1), 10, seed=0)
    stem = keras.Model(model.input, model.get_layer("stem_conv").output)
    h = stem(x.astype(np.float32) / 255.0).numpy().astype(np.float64)
    bn = model.get_layer("stem_bn")
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]

    assert recompute_batch_norm(model, x, 1000, tf) == len(bns) == 19  # one batch: the exact statistics
    np.testing.assert_allclose(bn.moving_mean.numpy(), h.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), h.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-6)
    assert all(not np.allclose(b.moving_variance.numpy(), 1.0) for b in bns)  # every layer re-estimated
    assert all(b.momentum == 0.99 for b in bns)  # momentum restored

    recompute_batch_norm(model, x, 40, tf)  # batches 40, 40, 16: size-weighted means of batch means
    np.testing.assert_allclose(bn.moving_mean.numpy(), h.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)
    batch_vars = [h[i:i + 40].var(axis=(0, 1, 2)) * len(h[i:i + 40]) for i in range(0, 96, 40)]
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.sum(batch_vars, axis=0) / 96, rtol=1e-3, atol=1e-6)
    assert recompute_batch_norm(build_model("small_cnn", (8, 8, 1), 10, seed=0), x, 40, tf) == 0


@needs_tf
def test_resnet_samples_re_estimate_batch_norm_unless_switched_off_and_averaging_always(tmp_path):
    """Two untrained ResNet20v1 checkpoints with deliberately wrong moving statistics.

    recompute_batch_norm=True (the default): every sample gets its statistics re-estimated on the
    bn_examples evenly spaced training images; False: every sample keeps the final checkpoint's.
    The weight average is re-estimated either way.
    """
    import keras
    import tensorflow as tf
    from deepens import data
    from deepens.nets.evaluation import FlatWeights, Forward, batch_norm_layers, recompute_batch_norm
    from deepens.nets.models import build_model, load_model, model_inputs, variable_manifest
    from deepens.nets.subspace_sampling import SolutionRun, sample_method
    from deepens.nets.training import save_checkpoint
    from deepens.weights import CheckpointSet

    ds = data.prepare_digits(300, 100)
    wrong = {e: (0.3 * e, 4.0 * e) for e in (1, 2)}  # moving mean, moving variance of every BN layer
    paths = {e: tmp_path / f"epoch{e:03d}.weights.h5" for e in (1, 2)}
    for e, path in paths.items():
        model = build_model("resnet20v1", ds.input_shape, ds.num_classes, seed=e)
        for layer in batch_norm_layers(model):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, wrong[e][0], np.float32))
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, wrong[e][1], np.float32))
        save_checkpoint(model, variable_manifest(model), path, e, {})
    bn_examples, bn_batch = 200, 64  # 200 evenly spaced training images in batches of 64, 64, 64, 8
    bn_images = ds.x_train[data.evenly_spaced(len(ds.y_train), bn_examples)]
    assert len(bn_images) == bn_examples
    settings = dict(ensemble_samples=2, ensemble_scale=0.0, plane_samples=1, plane_scale=0.0,
                    accept_min_val_accuracy=None)

    def solution(recompute):
        return SolutionRun(dataset=ds, checkpoint_paths=paths, final_epoch=2, seed=0, late_epochs=[1, 2],
                           batch_size=512, intra_op_threads=1, inter_op_threads=1, rank=5,
                           recompute_batch_norm=recompute, bn_examples=bn_examples, bn_batch_size=bn_batch,
                           log=lambda *a: None)

    # expectations from a separate model: the final checkpoint as saved, and with re-estimated statistics
    model = load_model(paths[2])
    forward = Forward(model, 512, tf)
    final = forward(ds.x_test)[0]
    assert recompute_batch_norm(model, bn_images, bn_batch, tf) == 19
    final_bn = forward(ds.x_test)[0]
    assert np.abs(final_bn - final).max() > 1e-3  # the re-estimation matters
    # known answer (stem): the moving mean is the mean over the images of the layer's input, the
    # variance the size-weighted mean of the batch variances
    stem = keras.Model(model.input, model.get_layer("stem_conv").output)
    h = stem(model_inputs(bn_images, model.spec["input_scaling"], tf)).numpy().astype(np.float64)
    stem_mean = h.mean(axis=(0, 1, 2))
    stem_var = np.sum([h[i:i + bn_batch].var(axis=(0, 1, 2)) * len(h[i:i + bn_batch])
                       for i in range(0, len(h), bn_batch)], axis=0) / len(h)

    with CheckpointSet([paths[1], paths[2]], "all") as cs:
        mean, variables = (cs.flat(0) + cs.flat(1)) / 2, cs.variables
    FlatWeights(model, variables).assign(mean)
    stale = forward(ds.x_test)[0]  # averaged weights, (already re-estimated) statistics of the final weights
    recompute_batch_norm(model, bn_images, bn_batch, tf)
    average = forward(ds.x_test)[0]
    assert np.abs(average - stale).max() > 1e-3  # the averaging's own re-estimation matters

    for recompute, expected in ((True, final_bn), (False, final)):
        run = solution(recompute)
        assert run.recompute is recompute
        seen = 0
        for _, _, (val, _) in run.samples("random", "ensemble", 3, 0.0):  # scale 0: theta exactly
            seen += 1
            bns = batch_norm_layers(run.model)
            assert len(bns) == 19
            if recompute:  # every layer re-estimated for this sample
                assert all(not np.allclose(b.moving_mean.numpy(), wrong[2][0]) and
                           not np.allclose(b.moving_variance.numpy(), wrong[2][1]) for b in bns)
                stem_bn = run.model.get_layer("stem_bn")
                np.testing.assert_allclose(stem_bn.moving_mean.numpy(), stem_mean, rtol=1e-4, atol=1e-6)
                np.testing.assert_allclose(stem_bn.moving_variance.numpy(), stem_var, rtol=1e-3, atol=1e-6)
            else:  # the final checkpoint's (wrong) statistics kept
                assert all(np.array_equal(b.moving_mean.numpy(), np.full(b.moving_mean.shape, wrong[2][0], np.float32))
                           and np.array_equal(b.moving_variance.numpy(),
                                              np.full(b.moving_variance.shape, wrong[2][1], np.float32))
                           for b in bns)
        assert seen == 3
        table = sample_method(run, "random", settings)
        for purpose, n in (("ensemble", 2), ("plane", 1)):
            got = split_probs(table, "test", purpose)
            assert got.shape[0] == n
            for p in got:
                np.testing.assert_array_equal(p, expected)
        got = split_probs(sample_method(run, "averaging", settings), "test", "ensemble")[0]
        np.testing.assert_array_equal(got, average)  # re-estimated in both settings
        # after the average, samples are back to their own setting's statistics
        np.testing.assert_array_equal(split_probs(sample_method(run, "random", settings), "test", "plane")[0],
                                      expected)
