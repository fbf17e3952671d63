"""Training internals: data order, augmentation, learning-rate schedule, failure on NaN."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from deepens import data, provenance  # noqa: E402
from deepens.nets import pipeline, training  # noqa: E402
from deepens.nets.models import configure_tensorflow  # noqa: E402

configure_tensorflow(1, 1)  # before any op, as a training job does


def _batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (10, 8, 8, 1), dtype=np.uint8), np.arange(10) % 3


@pytest.mark.parametrize("augmentation", [False, True])
def test_epoch_order_depends_only_on_epoch(images, augmentation):
    x, y = images
    full = _batches(pipeline.train_dataset(x, y, 4, 11, 22, augmentation, 0, 3))
    assert len(full) == 3 * 3  # 10 images in batches of 4, three epochs
    resumed = _batches(pipeline.train_dataset(x, y, 4, 11, 22, augmentation, 1, 3))
    for (a, b), (c, d) in zip(full[3:], resumed):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    epoch0 = np.concatenate([b for _, b in full[:3]])
    epoch1 = np.concatenate([b for _, b in full[3:6]])
    assert sorted(epoch0.tolist()) == sorted(y.tolist())  # every image once per epoch
    firsts = [np.concatenate([a for a, _ in full[i:i + 3]]) for i in (0, 3)]
    assert not np.array_equal(firsts[0], firsts[1]) or not np.array_equal(epoch0, epoch1)
    other = _batches(pipeline.train_dataset(x, y, 4, 12, 22, augmentation, 0, 1))
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(full, other))  # the shuffle seed matters


def test_augmentation_is_seeded_and_in_range(images):
    x, _ = images
    img = tf.constant(x[0], tf.float32) / 255.0
    seed = tf.constant([5, 7], tf.int64)
    a = pipeline.augment_image(img, seed, tf).numpy()
    b = pipeline.augment_image(img, seed, tf).numpy()
    c = pipeline.augment_image(img, tf.constant([5, 8], tf.int64), tf).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (8, 8, 1) and a.min() >= 0.0 and a.max() <= 1.0


def test_learning_rate_halves_at_epoch_boundaries():
    sched = training.learning_rate_schedule(1.6e-3, 10, steps_per_epoch=7, epochs=25)
    lr = lambda step: float(sched(step))  # noqa: E731
    # steps already taken -> rate of the next step; epoch e (0-based) starts at step 7 e
    assert lr(0) == pytest.approx(1.6e-3) and lr(69) == pytest.approx(1.6e-3)
    assert lr(70) == pytest.approx(0.8e-3) and lr(139) == pytest.approx(0.8e-3)
    assert lr(140) == pytest.approx(0.4e-3)
    assert training.learning_rate_schedule(1e-3, 10, 7, epochs=10) == 1e-3  # never halves


def test_nonfinite_loss_fails_naming_the_epoch(tmp_path):
    ds = data.prepare_digits(300, 100)
    paths = [tmp_path / f"epoch{e:03d}.weights.h5" for e in range(4)]
    with pytest.raises(FloatingPointError, match="at epoch 1"):
        training.train_run(model_name="small_cnn", dataset=ds, seed=0, epochs=3, batch_size=128,
                           learning_rate=1e12, lr_halving_epochs=10, dropout=0.1, augmentation=False,
                           steps_per_execution=1, jit_compile=False, intra_op_threads=1, inter_op_threads=1,
                           checkpoint_paths=paths, history_path=tmp_path / "history.parquet",
                           provenance=provenance.Provenance({}), resume_dir=tmp_path / "resume",
                           log=lambda *a: None)
    assert not any(p.exists() for p in paths) and not (tmp_path / "history.parquet").exists()
    # the resume state holds the initialisation only: nothing was written for the failed epoch
    assert sorted(p.name for p in (tmp_path / "resume").iterdir()) == ["epoch000.weights.h5", "state.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary litter


def test_mixed_precision_is_ignored_on_cpu(tmp_path):
    """The config may ask for mixed precision; without a GPU training stays float32, bit for bit."""
    import h5py
    import keras

    assert not tf.config.list_physical_devices("GPU")
    ds = data.prepare_digits(300, 100)
    weights = []
    for mixed in (False, True):
        out = tmp_path / str(mixed)
        paths = [out / f"epoch{e:03d}.weights.h5" for e in range(2)]
        training.train_run(model_name="small_cnn", dataset=ds, seed=1, epochs=1, batch_size=128,
                           learning_rate=1.6e-3, lr_halving_epochs=10, dropout=0.1, augmentation=False,
                           steps_per_execution=1, jit_compile=False, intra_op_threads=1, inter_op_threads=1,
                           checkpoint_paths=paths, history_path=out / "history.parquet",
                           provenance=provenance.Provenance({}), mixed_precision=mixed, log=lambda *a: None)
        assert keras.mixed_precision.global_policy().name == "float32"
        with h5py.File(paths[1]) as f:
            weights.append(f["layers/conv2d/vars/0"][()])
    assert weights[0].dtype == np.float32 and np.array_equal(weights[0], weights[1])


def _train(tmp_path, name, epochs=3, **overrides):
    """A short digits run: 1,397 training images in batches of 128, 11 steps per epoch (the last short)."""
    import h5py

    ds = data.prepare_digits(300, 100)
    out = tmp_path / name
    paths = [out / f"epoch{e:03d}.weights.h5" for e in range(epochs + 1)]
    args = dict(model_name="small_cnn", dataset=ds, seed=5, epochs=epochs, batch_size=128, learning_rate=1.6e-3,
                lr_halving_epochs=2, dropout=0.2, augmentation=True, steps_per_execution=1, jit_compile=False,
                intra_op_threads=1, inter_op_threads=1, checkpoint_paths=paths, history_path=out / "history.parquet",
                provenance=provenance.Provenance({}), log=lambda *a: None)
    args.update(overrides)
    table = training.train_run(**args)
    weights = []
    for p in paths:
        with h5py.File(p) as f:
            found = {}
            f.visititems(lambda n, o: found.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
            weights.append(found)
    return weights, table


def _same_run(a, b):
    return a[1].equals(b[1]) and all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a[0], b[0]))


@pytest.fixture(scope="module")
def keras_dropout_run(tmp_path_factory):
    """The reference: Keras's own Dropout draws the masks inside the training step."""
    return _train(tmp_path_factory.mktemp("keras"), "run", dropout_masks_in_pipeline=False)


def test_dropout_masks_drawn_in_the_pipeline_are_bit_identical(tmp_path, keras_dropout_run):
    run = _train(tmp_path, "pipeline")
    assert _same_run(run, keras_dropout_run)
    # and dropout does act: another rate gives other weights
    assert not _same_run(_train(tmp_path, "rate", dropout=0.1), keras_dropout_run)


@pytest.mark.parametrize("steps_per_execution", [2, 1000])
def test_steps_per_execution_keeps_epochs_aligned(tmp_path, keras_dropout_run, steps_per_execution):
    """11 steps per epoch: 2 does not divide it (5 calls of 2 steps + 1 of 1), 1000 runs an epoch in one call."""
    assert _same_run(_train(tmp_path, "spe", steps_per_execution=steps_per_execution), keras_dropout_run)


def test_pipeline_masks_are_the_ones_keras_dropout_draws(images):
    import keras

    x, y = images  # 10 images of 8x8x1, batches of 4: steps 0, 1, 2 (the last of 2 images)
    specs = [(0, 0.5, (8, 8, 1)), (2, 0.25, (4, 4, 3))]
    batches = list(pipeline.train_dataset(x, y, 4, 11, 22, False, 1, 3, dropout=(7, specs)))
    assert len(batches) == 6
    plain = _batches(pipeline.train_dataset(x, y, 4, 11, 22, False, 1, 3))
    for step, (((imgs, masks), labels), (imgs0, labels0)) in enumerate(zip(batches, plain)):
        np.testing.assert_array_equal(imgs.numpy(), imgs0)
        np.testing.assert_array_equal(labels.numpy(), labels0)
        epoch, step_in_epoch = 1 + step // 3, step % 3
        for (index, rate, shape), mask in zip(specs, masks):
            # what keras.layers.Dropout draws at this step once train_run has reset its seed
            layer = keras.layers.Dropout(rate)
            layer.seed_generator.state.assign(
                np.array([training.derive_seed(7, "dropout", index, epoch), step_in_epoch], dtype="int64"))
            ones = tf.ones((len(labels0), *shape))
            expected = layer(ones, training=True).numpy() != 0
            assert mask.dtype == tf.bool and mask.shape == expected.shape
            np.testing.assert_array_equal(mask.numpy(), expected)
            assert 0 < expected.mean() < 1
