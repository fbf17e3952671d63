"""Evaluating networks, the TensorFlow side shared by every evaluation job.

- `Forward`: ONE compiled forward pass (tf.function with a dynamic batch dimension, traced once)
  returning the float32 softmax and the log-probability of each example's label (from the
  log-softmax, so no NLL downstream needs a floor), fed what the checkpoint was trained on
  (models.model_inputs: pixels / 255 or raw).
- `FlatWeights`: set flat parameter vectors (manifest order) into a model's trainable variables.
- `recompute_batch_norm`: re-estimate batch-norm moving statistics for a set weight vector
  (subspace samples, the weight average, points of the loss landscape): each BN layer runs in
  training mode with momentum 0, so after a batch its moving statistics ARE that batch's mean
  and (biased) variance; these are averaged over the batches weighted by batch size (the moving
  mean is exactly the mean over the images of the layer's input) and assigned at the end.
  Training mode normalises with batch statistics, so the pass does not depend on the old ones.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from ..io import ArtifactError  # noqa: E402
from .models import model_inputs  # noqa: E402


class Forward:
    """`probs, log_prob_label = forward(images, labels)` over large batches, for one model."""

    def __init__(self, model, batch_size, tf):
        self.tf, self.batch_size = tf, int(batch_size)
        shape, scaling = model.spec["input_shape"], model.spec["input_scaling"]

        @tf.function(input_signature=[tf.TensorSpec([None, *shape], tf.uint8), tf.TensorSpec([None], tf.int32)],
                     jit_compile=False)
        def step(images, labels):
            logits = tf.cast(model(model_inputs(images, scaling, tf), training=False), tf.float32)
            log_probs = tf.nn.log_softmax(logits)
            return tf.nn.softmax(logits), tf.gather(log_probs, labels, axis=1, batch_dims=1)

        self._step = step

    def __call__(self, images, labels=None):
        """(probs N x C float32, log p_y N float64); labels None gives class 0's (ignore them)."""
        n = len(images)
        labels = np.zeros(n, np.int32) if labels is None else np.asarray(labels, np.int32)
        probs, logp = [], []
        for i in range(0, n, self.batch_size):
            p, lp = self._step(self.tf.constant(images[i:i + self.batch_size]),
                               self.tf.constant(labels[i:i + self.batch_size]))
            probs.append(p.numpy())
            logp.append(lp.numpy())
        return np.concatenate(probs), np.concatenate(logp).astype(np.float64)


class FlatWeights:
    """Assign flat parameter vectors (manifest order) into a model's trainable variables.

    One compiled call assigns every variable (a vector cast to float32 once, then sliced): the same
    values as assigning each slice eagerly, at a fraction of the per-call overhead that dominates
    small networks (measured 0.9 -> 0.4 ms per vector for SmallCNN on one core)."""

    def __init__(self, model, variables: list[dict]):
        by_path = {v.path: v for v in model.variables}
        self.slots, start = [], 0
        for entry in variables:
            var = by_path.get(entry["path"])
            if var is None or list(var.shape) != list(entry["shape"]):
                raise ArtifactError(f"checkpoint variable {entry['path']} {entry['shape']} has no match in the "
                                    f"{getattr(model, 'name_in_registry', model.name)} model")
            size = int(np.prod(entry["shape"]))
            self.slots.append((var, start, start + size, tuple(entry["shape"])))
            start += size
        self.size = start
        self._assign = None

    def assign(self, vector):
        vector = np.asarray(vector)
        if vector.shape != (self.size,):
            raise ValueError(f"expected a flat vector of {self.size} parameters, got shape {vector.shape}")
        if self._assign is None:
            import tensorflow as tf

            @tf.function(input_signature=[tf.TensorSpec([self.size], tf.float32)], jit_compile=False)
            def assign_all(flat):
                for var, a, b, shape in self.slots:
                    var.assign(tf.reshape(flat[a:b], shape))

            self._assign = assign_all
        self._assign(vector.astype(np.float32))


def batch_norm_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def recompute_batch_norm(model, x, batch_size, tf) -> int:
    """Re-estimate every BatchNormalization layer's moving statistics on images `x` (uint8).

    Returns the number of batch-norm layers (0: nothing to do). See the module docstring.
    """
    bns = batch_norm_layers(model)
    if not bns:
        return 0
    saved = [layer.momentum for layer in bns]
    for layer in bns:
        layer.momentum = 0.0  # moving statistic := this batch's statistic
    scaling = model.spec["input_scaling"]
    try:
        @tf.function(input_signature=[tf.TensorSpec([None, *x.shape[1:]], tf.uint8)], jit_compile=False)
        def step(images):
            model(model_inputs(images, scaling, tf), training=True)

        sums = None
        for i in range(0, len(x), batch_size):
            batch = x[i:i + batch_size]
            step(tf.constant(batch))
            stats = [layer.moving_mean.numpy().astype(np.float64) * len(batch) for layer in bns] + \
                    [layer.moving_variance.numpy().astype(np.float64) * len(batch) for layer in bns]
            sums = stats if sums is None else [a + b for a, b in zip(sums, stats)]
        n = len(bns)
        for layer, mean_sum, var_sum in zip(bns, sums[:n], sums[n:]):
            layer.moving_mean.assign((mean_sum / len(x)).astype(np.float32))
            layer.moving_variance.assign((var_sum / len(x)).astype(np.float32))
    finally:
        for layer, momentum in zip(bns, saved):
            layer.momentum = momentum
    return len(bns)
