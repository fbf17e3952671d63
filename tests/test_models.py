"""deepens.nets.models: architectures, seeded initialisation and the checkpoint variable manifest.

Imports TensorFlow/Keras; every model is built once per module and inputs are tiny.
"""
import json

import h5py
import numpy as np
import pytest

keras = pytest.importorskip("keras")

from deepens import weights  # noqa: E402
from deepens.nets import models  # noqa: E402


@pytest.fixture(scope="module")
def medium():
    return models.build_model("medium_cnn", (32, 32, 3), 10, seed=0)


@pytest.fixture(scope="module")
def resnet():
    return models.build_model("resnet20v1", (32, 32, 3), 10, seed=0)


@pytest.fixture(scope="module")
def small_pair():
    """Two builds with the same seed (global RNG changed in between) and one with another seed."""
    keras.utils.set_random_seed(1)
    a = models.build_model("small_cnn", (8, 8, 1), 10, seed=5)
    keras.utils.set_random_seed(2)
    b = models.build_model("small_cnn", (8, 8, 1), 10, seed=5)
    c = models.build_model("small_cnn", (8, 8, 1), 10, seed=6)
    return a, b, c


@pytest.fixture(scope="module")
def resnet_pair():
    keras.utils.set_random_seed(3)
    a = models.build_model("resnet20v1", (8, 8, 1), 10, seed=5)
    keras.utils.set_random_seed(4)
    b = models.build_model("resnet20v1", (8, 8, 1), 10, seed=5)
    c = models.build_model("resnet20v1", (8, 8, 1), 10, seed=6)
    return a, b, c


def _inputs(layer):
    x = layer.input
    return x if isinstance(x, (list, tuple)) else [x]


def _consumers(model, tensor):
    return [l for l in model.layers if any(t is tensor for t in _inputs(l))]


# --- architectures --------------------------------------------------------------------

def test_medium_cnn_parameter_count(medium):
    # conv 3*3*3*64+64 + 3*3*64*128+128 + 3*3*128*256+256 + 3*3*256*256+256; 32 -> 2 after 4 pools:
    # dense 2*2*256*10+10
    hand = (27 * 64 + 64) + (9 * 64 * 128 + 128) + (9 * 128 * 256 + 256) + (9 * 256 * 256 + 256) + (1024 * 10 + 10)
    assert hand == 971_146
    assert medium.count_params() == 971_146
    assert medium.output_shape == (None, 10)
    assert medium.name_in_registry == "medium_cnn"


@pytest.mark.parametrize("shape", [(8, 8, 1), (32, 32, 3)])
def test_small_cnn_builds_and_outputs_logits(shape):
    m = models.build_model("small_cnn", shape, 10, seed=0)
    assert m.output_shape == (None, 10)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    out = np.asarray(m(x, training=False))
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
    assert not np.allclose(out.sum(axis=1), 1.0)  # logits, not probabilities
    convs = [l for l in m.layers if isinstance(l, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 32, 32]


def test_resnet_conv_bn_structure(resnet):
    convs = [l for l in resnet.layers if isinstance(l, keras.layers.Conv2D)]
    bns = [l for l in resnet.layers if isinstance(l, keras.layers.BatchNormalization)]
    with_bn, projections = [], []
    for conv in convs:
        consumers = _consumers(resnet, conv.output)
        assert len(consumers) == 1, conv.name
        if isinstance(consumers[0], keras.layers.BatchNormalization):
            with_bn.append(conv)
            assert conv.kernel_size == (3, 3) and not conv.use_bias
        else:
            projections.append(conv)
            assert isinstance(consumers[0], keras.layers.Add)
            assert conv.kernel_size == (1, 1) and conv.strides == (2, 2)
    assert len(with_bn) == 19
    assert len(projections) == 2
    assert len(bns) == 19
    assert {id(b.input) for b in bns} == {id(c.output) for c in with_bn}
    assert sorted(c.filters for c in with_bn) == sorted([16] * 7 + [32] * 6 + [64] * 6)
    assert sum(isinstance(l, keras.layers.Dense) for l in resnet.layers) == 1
    assert 260_000 <= resnet.count_params() <= 280_000
    assert resnet.output_shape == (None, 10)


def test_resnet_forward_tiny(resnet_pair):
    m = resnet_pair[0]
    out = np.asarray(m(np.zeros((1, 8, 8, 1), np.float32), training=False))
    assert out.shape == (1, 10) and np.all(np.isfinite(out))


# --- seeds ----------------------------------------------------------------------------

@pytest.mark.parametrize("pair", ["small_pair", "resnet_pair"])
def test_same_seed_same_weights_other_seed_differs(pair, request):
    a, b, c = request.getfixturevalue(pair)
    wa, wb, wc = a.get_weights(), b.get_weights(), c.get_weights()
    assert len(wa) == len(wb) == len(wc)
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    kernels = [i for i, v in enumerate(a.weights) if v.path.endswith("kernel")]
    assert kernels
    assert all(not np.array_equal(wa[i], wc[i]) for i in kernels)


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"medium_cnn.*resnet20v1.*small_cnn") as err:
        models.build_model("vgg16", (8, 8, 1), 10, seed=0)
    assert "vgg16" in str(err.value)


# --- manifest and checkpoints ---------------------------------------------------------

@pytest.fixture(scope="module")
def saved_resnet(tmp_path_factory):
    """A ResNet (with batch norm and projection biases) whose every variable holds distinct values."""
    m = models.build_model("resnet20v1", (8, 8, 1), 10, seed=1)
    rng = np.random.default_rng(0)
    for v in m.weights:
        v.assign(rng.normal(size=v.shape).astype(np.float32) + 2.0)
    path = tmp_path_factory.mktemp("ckpt") / "resnet.weights.h5"
    m.save_weights(path)
    return m, models.variable_manifest(m), path


def _datasets(path):
    names = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return set(names)


def test_manifest_matches_saved_file(saved_resnet):
    model, manifest, path = saved_resnet
    models.check_manifest(model, manifest, path)
    values = {v.path: v.numpy() for v in model.weights}
    trainable = {v.path for v in model.trainable_weights}
    assert len({e["path"] for e in manifest}) == len(manifest) == len(model.weights)
    assert {e["h5"] for e in manifest} == _datasets(path)
    with h5py.File(path, "r") as f:
        for e in manifest:
            stored = f[e["h5"]][()]
            assert np.array_equal(stored, values[e["path"]]), e
            assert list(stored.shape) == e["shape"]
            assert e["trainable"] == (e["path"] in trainable)
            assert e["dtype"] == "float32"
    assert sum(e["trainable"] for e in manifest) == len(model.trainable_weights)


def test_manifest_of_small_cnn_has_no_seed_generator_state(small_pair, tmp_path):
    m = small_pair[0]
    manifest = models.variable_manifest(m)
    assert [e["path"] for e in manifest] == [
        "conv1/kernel", "conv1/bias", "conv2/kernel", "conv2/bias", "conv3/kernel", "conv3/bias",
        "logits/kernel", "logits/bias"]
    path = tmp_path / "small.weights.h5"
    m.save_weights(path)
    models.check_manifest(m, manifest, path)
    assert {e["h5"] for e in manifest} == _datasets(path)


def _find(manifest, suffix, layer_hint):
    return next(i for i, e in enumerate(manifest) if e["path"].endswith(suffix) and layer_hint in e["path"])


def test_check_manifest_detects_tampering(saved_resnet):
    model, manifest, path = saved_resnet
    # swap where gamma and moving_variance of one batch norm are said to live
    swapped = [dict(e) for e in manifest]
    g, v = _find(swapped, "gamma", "stem"), _find(swapped, "moving_variance", "stem")
    swapped[g]["h5"], swapped[v]["h5"] = swapped[v]["h5"], swapped[g]["h5"]
    with pytest.raises(RuntimeError, match="checkpoint layout changed"):
        models.check_manifest(model, swapped, path)
    # point a kernel at a dataset that does not exist
    missing = [dict(e) for e in manifest]
    missing[0]["h5"] = missing[0]["h5"].replace("vars/0", "vars/9")
    with pytest.raises(RuntimeError, match="checkpoint layout changed"):
        models.check_manifest(model, missing, path)
    # point the logits kernel at the first conv's kernel
    moved = [dict(e) for e in manifest]
    moved[_find(moved, "kernel", "logits")]["h5"] = manifest[0]["h5"]
    with pytest.raises(RuntimeError):
        models.check_manifest(model, moved, path)


def test_check_manifest_rejects_incomplete_manifest(saved_resnet):
    model, manifest, path = saved_resnet
    with pytest.raises(RuntimeError):
        models.check_manifest(model, manifest[:-1], path)


def test_check_manifest_detects_bn_swap_on_initial_weights(resnet_pair, tmp_path):
    model = resnet_pair[0]
    path = tmp_path / "init.weights.h5"
    model.save_weights(path)
    manifest = models.variable_manifest(model)
    g, v = _find(manifest, "gamma", "stem"), _find(manifest, "moving_variance", "stem")
    manifest[g]["h5"], manifest[v]["h5"] = manifest[v]["h5"], manifest[g]["h5"]
    with pytest.raises(RuntimeError):
        models.check_manifest(model, manifest, path)


def test_saved_checkpoint_reads_back_through_io(saved_resnet, tmp_path):
    """The manifest attribute the training job adds lets io read the real Keras file."""
    model, manifest, path = saved_resnet
    copy = tmp_path / "with_manifest.weights.h5"
    copy.write_bytes(path.read_bytes())
    with h5py.File(copy, "a") as f:
        f.attrs[weights.MANIFEST_ATTR] = json.dumps(manifest)
    values = {v.path: v.numpy() for v in model.weights}
    with weights.CheckpointSet([copy, copy], "all") as cs:
        expected = np.concatenate([values[e["path"]].ravel() for e in manifest if e["trainable"]])
        assert cs.n_parameters == expected.size == sum(int(np.prod(v.shape)) for v in model.trainable_weights)
        assert np.array_equal(cs.flat(0), expected.astype(np.float64))
        assert np.array_equal(np.concatenate(list(cs.blocks(5000)), axis=1)[1], expected)
    with weights.CheckpointSet([copy], "kernels") as cs:
        assert all(v["path"].endswith("kernel") for v in cs.variables)
        assert len(cs.variables) == 19 + 2 + 1
