"""Every checkpoint of a run, evaluated once: the prediction dump and the CKA features.

One TensorFlow job per run (rule evaluate_checkpoints) loads each checkpoint once and writes
- the predictions table: softmax and label log-probability on the test and validation sets,
  keys (split, epoch, example) (io.predictions_table), one compiled forward pass over large
  batches (evaluation.Forward);
- with CKA on, the representation features of the checkpoints CKA compares (every epoch of the
  trajectory seed, the final one of the others; deepens.nets.representations).
"""
import contextlib
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from ..io import predictions_table  # noqa: E402

SPLITS = ("test", "val")


def evaluate_checkpoints(dataset, checkpoint_paths, epochs, batch_size, intra_op_threads=1, inter_op_threads=1,
                         representations=None, log=print) -> pa.Table:
    """The run's predictions table; with `representations` (representations.Features' keyword
    arguments: path, epochs, test_points, batch_size, provenance) also its CKA feature file."""
    from .evaluation import Forward
    from .models import configure_tensorflow, load_model, load_weights
    from .representations import Features

    tf = configure_tensorflow(intra_op_threads, inter_op_threads)
    model = load_model(checkpoint_paths[0])
    forward = Forward(model, batch_size, tf)
    features = Features(model, dataset, tf=tf, log=log, **representations) if representations else None
    parts, t0 = [], time.perf_counter()
    with features or contextlib.nullcontext():
        for epoch, path in zip(epochs, checkpoint_paths):
            load_weights(model, path)
            for split in SPLITS:
                x, y = dataset.split(split)
                probs, logp = forward(x, y)
                parts.append(predictions_table(split, epoch, y, probs, logp))
                if split == "test":
                    accuracy = float(np.mean(probs.argmax(axis=1) == y))
            if features is not None and int(epoch) in features.epochs:
                features.add(epoch)
            log(f"epoch {epoch}: test accuracy {accuracy:.4f} ({time.perf_counter() - t0:.1f}s)")
    return pa.concat_tables(parts)
