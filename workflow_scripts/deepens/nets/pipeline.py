"""The training input pipeline: tf.data batches whose order, augmentation and dropout masks are
stateless functions of (purpose seed, epoch, example), so a run's data depend only on its seed.

Speed (CPU): Keras's Dropout draws its Philox uniforms inside the training step, which for
SmallCNN is about half of the step's time on one intra-op thread. On a CPU the pipeline draws
the same keep masks (same seeds, same op, bit for bit) here instead, so they are computed on
another core ahead of the step, and the step only applies them (feed_dropout_masks;
docs/benchmarks.md).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from ..seeds import derive_seed  # noqa: E402


def augment_image(image, seed, tf):
    """The seed write-up's augmentation, stateless, on [0, 1] images: pad by a quarter, random
    crop back, brightness, clip."""
    size = image.shape[0]
    pad = size + size // 4
    crop_seed, bright_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    image = tf.image.resize_with_crop_or_pad(image, pad, pad)
    image = tf.image.stateless_random_crop(image, [size, size, image.shape[-1]], crop_seed)
    image = tf.image.stateless_random_brightness(image, 0.5, bright_seed)
    return tf.clip_by_value(image, 0.0, 1.0)


def dropout_specs(model):
    """(index, rate, feature shape) of the model's Dropout layers whose masks the pipeline can draw.

    The index counts every keras Dropout layer in `model.layers` order (the index its
    per-epoch seed is derived with); layers with rate 0 or a noise_shape are left out.
    """
    import keras

    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    return [(i, float(layer.rate), tuple(int(d) for d in layer.output.shape[1:]))
            for i, layer in enumerate(dropouts) if layer.rate > 0 and layer.noise_shape is None]


def _cast_seed(seed, tf):
    # keras.src.backend.tensorflow.random._cast_seed: an int64 SeedGenerator state -> int32 seed
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)


def train_dataset(x, y, batch_size, shuffle_seed, augment_seed, augmentation, first_epoch, epochs,
                  dropout=None, input_scaling="unit"):
    """Batches for epochs first_epoch..epochs-1; each epoch's order is a pure function of its index.

    Images reach the network as models.model_inputs scales them (pixels / 255, or raw 0-255);
    augmentation works on [0, 1] images, and raw inputs are scaled back by 255 after it.

    dropout: optional (run_seed, dropout_specs(model)). Each batch then also carries, per listed
    layer, the boolean keep mask Keras's Dropout would draw at that step: its seed generator
    is reset to [derive_seed(run_seed, "dropout", index, epoch), 0] at every epoch start
    (train_run) and advances by [0, 1] per step, and it calls
    tf.nn.experimental.stateless_dropout, i.e. stateless_uniform(shape, seed) >= rate.
    Elements are then ((images, masks), labels) instead of (images, labels).
    """
    import tensorflow as tf

    from .models import model_inputs

    n = len(y)
    images, labels = tf.constant(x), tf.constant(y, tf.int32)
    back = 255.0 if input_scaling == "raw" else 1.0
    if dropout is not None:
        run_seed, specs = dropout
        # int64 [epoch, layer] table of the per-(layer, epoch) dropout seeds
        layer_seeds = tf.constant([[derive_seed(run_seed, "dropout", i, e) for i, _, _ in specs]
                                   for e in range(first_epoch, epochs)], tf.int64)

    def add_masks(epoch, step, batch):
        masks = []
        for j, (_, rate, shape) in enumerate(specs):
            seed = _cast_seed(tf.stack([layer_seeds[epoch - first_epoch, j], step]), tf)
            noise_shape = tf.stack([tf.shape(batch[1])[0], *shape])
            masks.append(tf.random.stateless_uniform(noise_shape, seed=seed, dtype=tf.float32) >= rate)
        return (batch[0], tuple(masks)), batch[1]

    def one_epoch(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(shuffle_seed, tf.int64), epoch]))
        d = tf.data.Dataset.from_tensor_slices(order)
        if augmentation:
            def load(i):
                img = model_inputs(tf.gather(images, i), "unit", tf)
                seed = tf.stack([tf.constant(augment_seed, tf.int64), epoch * n + i])
                out = augment_image(img, seed, tf)
                return (out * back if back != 1.0 else out), tf.gather(labels, i)
            d = d.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size)
        else:
            d = d.batch(batch_size).map(
                lambda i: (model_inputs(tf.gather(images, i), input_scaling, tf), tf.gather(labels, i)))
        if dropout is not None:
            d = d.enumerate().map(lambda step, batch: add_masks(epoch, step, batch),
                                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return d

    return tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)


def feed_dropout_masks(model, specs):
    """Make the model's training step take ((images, masks), labels) batches and apply the masks.

    The listed Dropout layers, when called with training=True inside the training step,
    compute the values tf.nn.experimental.stateless_dropout computes from its uniforms,
    forward where(mask, x * (1 / (1 - rate)), 0) and backward where(mask, g, 0) * (1 / (1 - rate)),
    bit for bit; with same-shape Select ops, about 3x cheaper on a CPU than the SelectV2 with a
    broadcast scalar zero that stateless_dropout and its gradient use. Anywhere else
    (evaluation, prediction, a step without masks) they stay Keras's own Dropout.
    """
    import keras
    import tensorflow as tf

    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    feeding = {}

    def masked_dropout(x, mask, rate):
        scale = tf.convert_to_tensor(1 / (1 - rate), dtype=x.dtype)

        @tf.custom_gradient
        def apply(x):
            def grad(g):
                return tf.math.multiply(tf.raw_ops.Select(condition=mask, x=g, y=tf.zeros_like(g)), scale)
            return tf.raw_ops.Select(condition=mask, x=tf.math.multiply(x, scale), y=tf.zeros_like(x)), grad
        return apply(x)

    for j, (i, rate, _) in enumerate(specs):
        layer = dropouts[i]
        if float(layer.rate) != rate:
            raise ValueError(f"dropout layer {i} has rate {layer.rate}, the masks were drawn for {rate}")

        def call(inputs, training=False, j=j, rate=layer.rate, keras_call=layer.call):
            masks = feeding.get("masks")
            if not training or masks is None:
                return keras_call(inputs, training=training)
            return masked_dropout(inputs, masks[j], rate)

        layer.call = call
    keras_train_step = model.train_step

    def train_step(data):
        (x, masks), y = data
        feeding["masks"] = masks
        try:
            return keras_train_step((x, y))
        finally:
            feeding.clear()

    model.train_step = train_step


def eval_dataset(x, y, batch_size, input_scaling="unit"):
    import tensorflow as tf

    from .models import model_inputs

    def scale(a, b):
        return model_inputs(a, input_scaling, tf), b

    d = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32))).batch(batch_size)
    return d.map(scale).cache().prefetch(tf.data.AUTOTUNE)
