"""Prediction dumps: the softmax of every checkpoint of a run on the test and validation sets.

One compiled forward pass (tf.function with a dynamic batch dimension, traced once) over
large batches, weights swapped in per checkpoint; `model.predict` at small batches was
measured at 30-40 % of an epoch. Output: one long Parquet table per run, keys
(split, epoch, example), the label, and float32 probabilities prob_0..prob_{C-1}.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from .io import ArtifactError, predictions_table, probabilities  # noqa: E402

SPLITS = ("test", "val")


def softmax_fn(model, input_shape, tf):
    @tf.function(input_signature=[tf.TensorSpec([None, *input_shape], tf.uint8)], jit_compile=False)
    def forward(images):
        logits = model(tf.cast(images, tf.float32) / 255.0, training=False)
        return tf.nn.softmax(tf.cast(logits, tf.float32))
    return forward


def batched(forward, x, batch_size, tf) -> np.ndarray:
    """The compiled forward pass over images x in batches of batch_size, concatenated."""
    return np.concatenate([forward(tf.constant(x[i:i + batch_size])).numpy() for i in range(0, len(x), batch_size)])


def predict_checkpoints(model_name, dataset, checkpoint_paths, epochs, batch_size,
                        intra_op_threads=1, inter_op_threads=1, log=print) -> pa.Table:
    from .models import build_model, configure_tensorflow

    tf = configure_tensorflow(intra_op_threads, inter_op_threads)

    model = build_model(model_name, dataset.input_shape, dataset.num_classes, seed=0)
    forward = softmax_fn(model, dataset.input_shape, tf)
    parts = []
    for epoch, path in zip(epochs, checkpoint_paths):
        try:
            model.load_weights(path, skip_mismatch=False)
        except Exception as err:  # Keras raises many types for a truncated or foreign file
            raise ArtifactError(f"cannot load checkpoint {path}: {err}") from err
        for split in SPLITS:
            x, y = dataset.split(split)
            probs = batched(forward, x, batch_size, tf)
            parts.append(predictions_table(split, epoch, y, probs))
        log(f"epoch {epoch}: test accuracy {np.mean(probabilities(parts[-2]).argmax(1) == dataset.y_test):.4f}")
    return pa.concat_tables(parts)
