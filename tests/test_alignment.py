"""Permutation alignment by weight matching: the specs preserve the networks' functions (TensorFlow),
weight matching undoes a permutation exactly and deterministically (numpy), and the errors."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from deepens import alignment

ROOT = Path(__file__).resolve().parents[1]
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
if HAVE_TF:
    from deepens.nets.models import configure_tensorflow

    configure_tensorflow(1, 1)  # before any op, as a job does
needs_tf = pytest.mark.skipif(not HAVE_TF, reason="TensorFlow is not installed")

CNN_WIDTHS = {"small_cnn": (16, 32, 32), "medium_cnn": (64, 128, 256, 256)}


def manifest(model_name, input_shape=(8, 8, 1), classes=10):
    """The variable manifest entries of a deepens.nets.models network, written out without TensorFlow
    (test_manifest_helper_matches_keras checks them against the built models)."""
    out = []

    def var(path, shape, trainable=True):
        out.append({"path": path, "shape": list(shape), "trainable": trainable, "dtype": "float32"})

    def bn(name, n):
        var(f"{name}_bn/gamma", (n,))
        var(f"{name}_bn/beta", (n,))
        var(f"{name}_bn/moving_mean", (n,), trainable=False)
        var(f"{name}_bn/moving_variance", (n,), trainable=False)

    h, w, c = input_shape
    if model_name in CNN_WIDTHS:
        for i, width in enumerate(CNN_WIDTHS[model_name], 1):
            var(f"conv{i}/kernel", (3, 3, c, width))
            var(f"conv{i}/bias", (width,))
            c, h, w = width, -(-h // 2), -(-w // 2)  # 2x2 'same' max pooling
        var("logits/kernel", (h * w * c, classes))
    else:
        var("stem_conv/kernel", (3, 3, c, 16))
        bn("stem", 16)
        c = 16
        for stage, width in enumerate((16, 32, 64), 1):
            for block in (1, 2, 3):
                name = f"s{stage}b{block}"
                var(f"{name}a_conv/kernel", (3, 3, c, width))
                bn(f"{name}a", width)
                var(f"{name}b_conv/kernel", (3, 3, width, width))
                if width != c:  # Keras creates the projection before the second batch norm
                    var(f"{name}_proj/kernel", (1, 1, c, width))
                    var(f"{name}_proj/bias", (width,))
                bn(f"{name}b", width)
                c = width
        var("logits/kernel", (c, classes))
    var("logits/bias", (classes,))
    return out


def trainable(entries):
    return [v for v in entries if v["trainable"]]


def random_params(entries, rng, dtype=np.float64):
    """Random weights for every variable: kernels scaled by 1 / sqrt(fan-in), positive variances."""
    params = {}
    for v in entries:
        shape = tuple(v["shape"])
        if v["path"].endswith("moving_variance"):
            w = rng.uniform(0.5, 2.0, shape)
        elif v["path"].endswith("kernel"):
            w = rng.normal(size=shape) / np.sqrt(np.prod(shape[:-1]))
        else:
            w = rng.normal(scale=0.5, size=shape)
        params[v["path"]] = w.astype(dtype)
    return params


def random_perms(spec, rng):
    return {g: rng.permutation(n).astype(np.int64) for g, n in spec.groups.items()}


def broken(spec, path):
    """The spec with variable `path` left unpermuted: a deliberately wrong one."""
    views = dict(spec.items())
    views[path] = alignment.ViewAxes(views[path].view_shape, (None,) * len(views[path].axes))
    return alignment.PermutationSpec(spec.model_name, spec.shapes, views)


# --- the specs -----------------------------------------------------------------------------


def test_cnn_spec_groups_and_the_dense_view():
    spec = alignment.permutation_spec("small_cnn", manifest("small_cnn", (32, 32, 3)))
    assert spec.groups == {"conv1": 16, "conv2": 32, "conv3": 32}
    assert spec["conv1/kernel"] == ((3, 3, 3, 16), (None, None, None, "conv1"))
    assert spec["conv2/kernel"].axes == (None, None, "conv1", "conv2")
    assert spec["conv3/bias"] == ((32,), ("conv3",))
    # 32 -> 16 -> 8 -> 4: the Flatten of 4 x 4 x 32 read as (16 positions, 32 channels, 10 classes)
    assert spec.shapes["logits/kernel"] == (512, 10)
    assert spec["logits/kernel"] == ((16, 32, 10), (None, "conv3", None))
    assert spec["logits/bias"].axes == (None,)
    assert spec.group_axes["conv3"] == (("conv3/kernel", 3), ("conv3/bias", 0), ("logits/kernel", 1))
    assert alignment.permutation_spec("medium_cnn", manifest("medium_cnn")).groups == {
        "conv1": 64,
        "conv2": 128,
        "conv3": 256,
        "conv4": 256,
    }


def test_resnet_spec_groups():
    spec = alignment.permutation_spec("resnet20v1", manifest("resnet20v1", (32, 32, 3)))
    assert spec.groups == {
        "stage1": 16,
        **{f"s1b{b}a": 16 for b in (1, 2, 3)},
        **{f"s2b{b}a": 32 for b in (1, 2, 3)},
        "stage2": 32,
        **{f"s3b{b}a": 64 for b in (1, 2, 3)},
        "stage3": 64,
    }
    assert spec["stem_conv/kernel"].axes == (None, None, None, "stage1")
    assert spec["s1b1a_conv/kernel"].axes == (None, None, "stage1", "s1b1a")
    assert spec["s1b1b_conv/kernel"].axes == (None, None, "s1b1a", "stage1")
    assert spec["s2b1a_conv/kernel"].axes == (None, None, "stage1", "s2b1a")
    assert spec["s2b1_proj/kernel"].axes == (None, None, "stage1", "stage2")
    assert spec["s2b1_proj/bias"].axes == ("stage2",)
    assert spec["s3b2b_bn/moving_variance"].axes == ("stage3",)
    assert spec["s3b3a_bn/gamma"].axes == ("s3b3a",)
    assert spec["logits/kernel"] == ((64, 10), ("stage3", None))
    touched = {p for p, _ in spec.group_axes["stage2"]}
    assert {
        "s2b1_proj/kernel",
        "s2b1b_bn/beta",
        "s2b3b_conv/kernel",
        "s3b1a_conv/kernel",
        "s3b1_proj/kernel",
    } <= touched


def test_trainable_variables_suffice_and_the_spec_still_knows_the_statistics():
    entries = manifest("resnet20v1")
    spec = alignment.permutation_spec("resnet20v1", trainable(entries))
    assert spec == alignment.permutation_spec("resnet20v1", entries)
    assert spec.shapes["s2b3a_bn/moving_mean"] == (32,)


# --- the permutations preserve the networks' functions (TensorFlow) -----------------------------

CASES = [("small_cnn", (8, 8, 1)), ("small_cnn", (32, 32, 3)), ("medium_cnn", (32, 32, 3)), ("resnet20v1", (32, 32, 3))]


@pytest.fixture(scope="module")
def built():
    """{(model, input shape) -> (model, params, images)}: each network built once, every variable of
    its checkpoint manifest random (biases, batch-norm scales, shifts and statistics too, so no
    permutation is trivial). The dropout layers' seed-generator states are model variables too, but
    not weights: checkpoints do not hold them and inference does not read them."""
    from deepens.nets import models

    out = {}
    for i, (name, shape) in enumerate(CASES):
        model = models.build_model(name, shape, 10, seed=i)
        rng = np.random.default_rng(100 + i)
        entries = models.variable_manifest(model)
        variables = {v.path: v for v in model.variables}
        params = {e["path"]: variables[e["path"]].numpy() for e in entries}
        noise = random_params(entries, rng, np.float32)
        params.update({p: w for p, w in noise.items() if not p.endswith("kernel")})
        images = rng.integers(0, 256, (16, *shape), dtype=np.uint8)
        out[name, shape] = model, params, images
    return out


def predict(model, params, images):
    import tensorflow as tf
    from deepens.nets import models

    for v in model.variables:
        if v.path in params:
            v.assign(params[v.path])
    return np.asarray(model(models.model_inputs(images, "unit", tf), training=False))


@needs_tf
@pytest.mark.parametrize("name, shape", CASES)
def test_manifest_helper_matches_keras(built, name, shape):
    from deepens.nets import models

    model = built[name, shape][0]
    keras_entries = [{k: e[k] for k in ("path", "shape", "trainable")} for e in models.variable_manifest(model)]
    assert keras_entries == [{k: e[k] for k in ("path", "shape", "trainable")} for e in manifest(name, shape)]


@needs_tf
@pytest.mark.parametrize("name, shape", CASES)
def test_permuted_network_computes_the_same_function(built, name, shape):
    from deepens.nets import models

    model, params, images = built[name, shape]
    spec = alignment.permutation_spec(name, models.variable_manifest(model))
    perms = random_perms(spec, np.random.default_rng(1))
    assert all(not np.array_equal(p, np.arange(len(p))) for p in perms.values())
    permuted = alignment.apply_permutation(spec, perms, params)
    assert all(
        permuted[p].dtype == np.float32 and not np.array_equal(permuted[p], w)
        for p, w in params.items()
        if any(spec[p].axes)
    )
    expected, got = predict(model, params, images), predict(model, permuted, images)
    assert np.array_equal(expected.argmax(axis=1), got.argmax(axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # and back, bit for bit
    restored = alignment.apply_permutation(spec, alignment.invert(perms), permuted)
    assert all(np.array_equal(restored[p], params[p]) for p in params)


@needs_tf
@pytest.mark.parametrize(
    "name, shape, path",
    [
        ("small_cnn", (8, 8, 1), "conv1/bias"),
        ("resnet20v1", (32, 32, 3), "s2b1_proj/bias"),
        ("resnet20v1", (32, 32, 3), "s1b2a_bn/moving_mean"),
    ],
)
def test_a_wrong_spec_changes_the_function(built, name, shape, path):
    from deepens.nets import models

    model, params, images = built[name, shape]
    spec = broken(alignment.permutation_spec(name, models.variable_manifest(model)), path)
    permuted = alignment.apply_permutation(spec, random_perms(spec, np.random.default_rng(1)), params)
    expected, got = predict(model, params, images), predict(model, permuted, images)
    assert not np.allclose(got, expected, rtol=1e-3, atol=1e-3)


@needs_tf
def test_the_dense_layer_reads_the_flatten_position_major(built):
    """Flatten's rows are (h * W + w) * C + c: the channel-major view (C, H * W) is wrong on 4 x 4 maps."""
    from deepens.nets import models

    model, params, images = built["small_cnn", (32, 32, 3)]
    spec = alignment.permutation_spec("small_cnn", models.variable_manifest(model))
    views = dict(spec.items())
    views["logits/kernel"] = alignment.ViewAxes((32, 16, 10), ("conv3", None, None))
    wrong = alignment.PermutationSpec("small_cnn", spec.shapes, views)
    permuted = alignment.apply_permutation(wrong, random_perms(spec, np.random.default_rng(1)), params)
    assert not np.allclose(predict(model, permuted, images), predict(model, params, images), rtol=1e-3, atol=1e-3)


# --- weight matching -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, shape", [("small_cnn", (8, 8, 1)), ("small_cnn", (32, 32, 3)), ("resnet20v1", (32, 32, 3))]
)
def test_weight_matching_undoes_a_permutation_exactly(name, shape):
    entries = trainable(manifest(name, shape))
    spec = alignment.permutation_spec(name, entries)
    rng = np.random.default_rng(7)
    a = random_params(entries, rng)
    true = random_perms(spec, rng)
    b = alignment.apply_permutation(spec, true, a)
    assert alignment.objective(spec, a, b) < alignment.objective(spec, a, a)
    found = alignment.weight_matching(spec, a, b, seed=0)
    inverse = alignment.invert(true)
    assert set(found) == set(spec.groups)
    assert all(found[g].dtype == np.int64 and np.array_equal(found[g], inverse[g]) for g in spec.groups)
    aligned = alignment.apply_permutation(spec, found, b)
    assert all(np.array_equal(aligned[p], a[p]) for p in a)
    assert alignment.objective(spec, a, aligned) == alignment.objective(spec, a, a)


def test_weight_matching_is_deterministic_and_improves_unrelated_networks():
    entries = trainable(manifest("resnet20v1"))
    spec = alignment.permutation_spec("resnet20v1", entries)
    rng = np.random.default_rng(3)
    a, b = random_params(entries, rng), random_params(entries, rng)
    first = alignment.weight_matching(spec, a, b, seed=5)
    again = alignment.weight_matching(spec, a, b, seed=5)
    assert all(np.array_equal(first[g], again[g]) for g in spec.groups)
    assert not all(np.array_equal(p, np.arange(len(p))) for p in first.values())
    before = alignment.objective(spec, a, b)
    assert alignment.objective(spec, a, alignment.apply_permutation(spec, first, b)) > before
    # one pass at most: a valid permutation, no worse than none
    once = alignment.weight_matching(spec, a, b, seed=5, max_iter=1)
    assert alignment.objective(spec, a, alignment.apply_permutation(spec, once, b)) >= before
    # float32 inputs are matched in float64: the same answer
    a32 = {p: w.astype(np.float32) for p, w in a.items()}
    b32 = {p: w.astype(np.float32) for p, w in b.items()}
    assert set(alignment.weight_matching(spec, a32, b32, seed=5)) == set(spec.groups)


def test_only_shared_variables_enter_the_objective():
    entries = trainable(manifest("small_cnn"))
    spec = alignment.permutation_spec("small_cnn", entries)
    rng = np.random.default_rng(4)
    a = random_params(entries, rng)
    b = alignment.apply_permutation(spec, random_perms(spec, rng), a)
    del b["conv1/bias"], b["logits/bias"]
    assert alignment.objective(spec, a, b) == pytest.approx(sum(float(np.vdot(a[p], b[p])) for p in b), rel=1e-12)
    found = alignment.weight_matching(spec, a, b, seed=0)
    aligned = alignment.apply_permutation(spec, found, b)
    assert all(np.array_equal(aligned[p], a[p]) for p in aligned)


def test_align_flat_round_trips_shapes_and_order():
    entries = trainable(manifest("resnet20v1"))
    spec = alignment.permutation_spec("resnet20v1", entries)
    rng = np.random.default_rng(5)
    a = random_params(entries, rng)
    b = alignment.apply_permutation(spec, random_perms(spec, rng), a)
    flat = [np.concatenate([params[v["path"]].ravel() for v in entries]) for params in (a, b)]
    aligned, perms = alignment.align_flat("resnet20v1", entries, flat[0], flat[1], seed=0)
    assert aligned.dtype == np.float64 and np.array_equal(aligned, flat[0])
    again, perms_again = alignment.align_flat("resnet20v1", entries, flat[0], flat[1], seed=0)
    assert np.array_equal(again, aligned) and all(np.array_equal(perms[g], perms_again[g]) for g in perms)
    # a network aligned to itself stays as it is
    same, identity = alignment.align_flat("resnet20v1", entries, flat[0], flat[0], seed=1)
    assert np.array_equal(same, flat[0])
    assert all(np.array_equal(p, np.arange(len(p))) for p in identity.values())
    with pytest.raises(ValueError, match="flat_b has shape"):
        alignment.align_flat("resnet20v1", entries, flat[0], flat[1][:-1], seed=0)


def test_permutation_helpers():
    spec = alignment.permutation_spec("small_cnn", manifest("small_cnn"))
    rng = np.random.default_rng(6)
    perms = random_perms(spec, rng)
    params = random_params(manifest("small_cnn"), rng, np.float32)
    identity = alignment.identity_permutation(spec)
    assert all(np.array_equal(alignment.apply_permutation(spec, identity, params)[p], params[p]) for p in params)
    for g, p in alignment.invert(perms).items():
        assert np.array_equal(perms[g][p], np.arange(len(p)))
    permuted = alignment.apply_permutation(spec, perms, params)
    # conv2's output channel i is the old channel perms["conv2"][i], its input channels follow conv1
    np.testing.assert_array_equal(
        permuted["conv2/kernel"][:, :, :, 0], params["conv2/kernel"][:, :, perms["conv1"], perms["conv2"][0]]
    )
    assert permuted["conv1/kernel"].dtype == np.float32


# --- errors --------------------------------------------------------------------------------


def test_errors_name_the_model_or_the_variable():
    entries = manifest("small_cnn")
    with pytest.raises(ValueError, match="'vgg16'.*small_cnn.*resnet20v1"):
        alignment.permutation_spec("vgg16", entries)
    with pytest.raises(ValueError, match="'conv4/kernel' is not part of the small_cnn"):
        alignment.permutation_spec("small_cnn", entries + [{"path": "conv4/kernel", "shape": [3, 3, 32, 8]}])
    with pytest.raises(ValueError, match="'conv2/bias'.*missing"):
        alignment.permutation_spec("small_cnn", [v for v in entries if v["path"] != "conv2/bias"])
    with pytest.raises(ValueError, match="'conv1/kernel'.*missing"):
        alignment.permutation_spec("medium_cnn", [])
    wrong = [dict(v, shape=[3, 3, 8, 32]) if v["path"] == "conv2/kernel" else v for v in entries]
    with pytest.raises(ValueError, match="'conv2/kernel'.*group 'conv1' has 16"):
        alignment.permutation_spec("small_cnn", wrong)
    wrong = [dict(v, shape=[33, 10]) if v["path"] == "logits/kernel" else v for v in entries]
    with pytest.raises(ValueError, match="'logits/kernel'"):
        alignment.permutation_spec("small_cnn", wrong)
    with pytest.raises(ValueError, match="'stem_conv/kernel' is not part of the small_cnn"):
        alignment.permutation_spec("small_cnn", manifest("resnet20v1"))

    spec = alignment.permutation_spec("small_cnn", entries)
    params = random_params(entries, np.random.default_rng(0))
    perms = alignment.identity_permutation(spec)
    with pytest.raises(ValueError, match="'dense/kernel'"):
        alignment.apply_permutation(spec, perms, {**params, "dense/kernel": np.zeros(3)})
    with pytest.raises(ValueError, match="'conv1/bias'.*shape"):
        alignment.apply_permutation(spec, perms, {**params, "conv1/bias": np.zeros(3)})
    with pytest.raises(ValueError, match="group 'conv2'"):
        alignment.apply_permutation(spec, {**perms, "conv2": np.zeros(32, np.int64)}, params)
    with pytest.raises(ValueError, match="'dense/kernel'"):
        alignment.weight_matching(spec, params, {"dense/kernel": np.zeros(3)}, seed=0)


def test_alignment_module_needs_no_tensorflow():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "tf_blocker"), str(ROOT / "workflow_scripts")]),
    }
    subprocess.run([sys.executable, "-c", "import deepens.alignment"], env=env, check=True, timeout=120)
