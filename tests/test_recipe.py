"""The authors' recipe, option by option, on CIFAR-shaped fixtures (32x32x3 uint8, 10 classes):
raw 0-255 inputs, Glorot-uniform biases, disagreement and t-SNE on the validation images.
(The random-subspace acceptance threshold is tested in test_subspace.py.)"""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from deepens import io, similarity, weights  # noqa: E402
from deepens.function_space import tsne_table  # noqa: E402
from deepens.nets import checkpoints, models, pipeline  # noqa: E402
from deepens.nets.models import configure_tensorflow  # noqa: E402

configure_tensorflow(1, 1)  # before any op, as a TensorFlow job does
SHAPE = (32, 32, 3)


@pytest.fixture(scope="module")
def cifar_like():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, *SHAPE), dtype=np.uint8), np.arange(12) % 10


@pytest.mark.parametrize("scaling, top", [("raw", 255.0), ("unit", 1.0)])
def test_the_input_pipeline_feeds_what_the_scaling_says(cifar_like, scaling, top):
    x, y = cifar_like
    batches = [b for b, _ in pipeline.train_dataset(x, y, 4, 1, 2, False, 0, 1, input_scaling=scaling)]
    fed = np.concatenate([b.numpy() for b in batches])
    order = np.concatenate([lab.numpy() for _, lab in pipeline.train_dataset(x, y, 4, 1, 2, False, 0, 1)])
    assert fed.dtype == np.float32 and fed.max() <= top and fed.max() > top / 2
    # every image exactly as stored, scaled by 1 (raw) or 1/255 (unit)
    expected = sorted(map(bytes, (x.astype(np.float32) / np.float32(255.0 / top)).reshape(len(x), -1)))
    assert sorted(map(bytes, fed.reshape(len(fed), -1))) == expected and len(order) == len(y)
    # augmentation works on [0, 1] images and hands the network the same range as without it
    aug = np.concatenate([b.numpy() for b, _ in pipeline.train_dataset(x, y, 4, 1, 2, True, 0, 1,
                                                                      input_scaling=scaling)])
    assert aug.min() >= 0.0 and aug.max() <= top and aug.max() > top / 2


def test_a_raw_network_is_evaluated_on_raw_pixels(cifar_like, tmp_path):
    """The spec stored in the checkpoint makes every evaluation job feed what training fed."""
    from deepens.nets.evaluation import Forward

    x, y = cifar_like
    model = models.build_model("small_cnn", SHAPE, 10, seed=3, input_scaling="raw")
    path = tmp_path / "epoch000.weights.h5"
    checkpoints.save_checkpoint(model, models.variable_manifest(model), path, 0, {})
    assert weights.read_model_spec(path)["input_scaling"] == "raw"
    loaded = models.load_model(path)
    probs, logp = Forward(loaded, 5, tf)(x, y)
    logits_raw = model(x.astype(np.float32), training=False).numpy()
    logits_unit = model(x.astype(np.float32) / 255.0, training=False).numpy()
    np.testing.assert_allclose(probs, tf.nn.softmax(logits_raw).numpy(), rtol=1e-5, atol=1e-7)
    assert not np.allclose(probs, tf.nn.softmax(logits_unit).numpy(), atol=1e-3)
    np.testing.assert_allclose(logp, tf.nn.log_softmax(logits_raw).numpy()[np.arange(len(y)), y], rtol=1e-5)


@pytest.mark.parametrize("name", ["small_cnn", "medium_cnn", "resnet20v1"])
def test_glorot_biases_are_drawn_per_layer_and_leave_the_kernels_alone(name):
    def weights(bias_initializer, seed=0):
        m = models.build_model(name, SHAPE, 10, seed=seed, bias_initializer=bias_initializer)
        return {v.path: v.numpy() for v in m.trainable_variables}

    zeros, glorot, again, other = weights("zeros"), weights("glorot_uniform"), weights("glorot_uniform"), \
        weights("glorot_uniform", seed=1)
    biases = [k for k in glorot if k.endswith("/bias")]
    assert biases and all(not zeros[k].any() for k in biases)
    kernels = {k: v for k, v in glorot.items() if k.endswith("/kernel")}
    for k in biases:
        b = glorot[k]
        # the authors' Xavier on a (1, n) bias: fan_in 1, fan_out n, limit sqrt(6 / (1 + n)); the
        # largest of n uniform draws comes close to it (Keras's own sqrt(3 / n) would not reach it)
        limit = np.sqrt(6.0 / (1 + b.shape[0]))
        assert np.abs(b).max() <= limit and np.all(b != 0), k
        if b.shape[0] >= 16:
            assert np.abs(b).max() > np.sqrt(3.0 / b.shape[0]), k
        np.testing.assert_array_equal(b, again[k])  # a pure function of the run seed
        assert not np.array_equal(b, other[k])
    assert len({glorot[k].tobytes() for k in biases}) == len(biases)  # each layer its own draw
    # the bias choice draws from its own stream: the kernels are the same either way
    assert all(np.array_equal(zeros[k], glorot[k]) for k in kernels)


def _two_split_run(path, seed, rng, n_test=40, n_val=30):
    parts = []
    for split, n in (("test", n_test), ("val", n_val)):
        labels = np.arange(n) % 10  # the same examples in every run
        for epoch in (0, 1):
            parts.append(io.predictions_table(split, epoch, labels, rng.dirichlet(np.ones(10), n)))
    import pyarrow as pa
    io.write_table(pa.concat_tables(parts), path, {})
    return path


def test_disagreement_and_tsne_on_the_validation_images(tmp_path):
    rng = np.random.default_rng(5)
    paths = [_two_split_run(tmp_path / f"s{s}.parquet", s, rng) for s in (0, 1)]
    for split in ("test", "val"):
        table = similarity.prediction_disagreement_table(paths, [0, 1], split=split).to_pandas()
        pred = [io.read_predictions(p, split).probs.argmax(-1) for p in paths]
        row = table[(table.seed_a == 0) & (table.epoch_a == 1) & (table.seed_b == 1) & (table.epoch_b == 0)]
        assert row.disagreement.item() == pytest.approx(np.mean(pred[0][1] != pred[1][0]))
    val = similarity.prediction_disagreement_table(paths, [0, 1], split="val")
    assert not val.equals(similarity.prediction_disagreement_table(paths, [0, 1], split="test"))
    # t-SNE on the 30 validation images (fewer than test_points: all of them)
    emb = tsne_table(paths, [0, 1], test_points=500, perplexity=1.0, split="val", max_iter=250).to_pandas()
    assert len(emb) == 4 and (emb.test_points == 30).all()
