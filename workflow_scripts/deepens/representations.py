"""Internal representations of one run, the TensorFlow side of the CKA analysis (deepens.cka).

For every requested checkpoint, the activations of each representation layer on a fixed set of
test images (`test_points` evenly spaced test images, cut into consecutive minibatches of
`batch_size`; a remainder smaller than a batch is dropped) are turned batch by batch into the
U-centred Gram features of deepens.cka.batch_features. Only those features (n(n-1)/2 numbers
per batch, whatever the layer's width) are stored, so the analysis job computes every CKA value
as one blocked Gram product, and memory never holds an activation matrix of more than one
minibatch.

Representation layers: each block's output and the logits. CNNs: relu1..relu{B-1} and the last
block's pool{B} (blocks end in max-pool then ReLU, none after the last), then logits. ResNet20v1:
the stem's ReLU, every residual block's output s{stage}b{block}_out, the global pool and logits.
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from . import cka  # noqa: E402
from .io import ArtifactError  # noqa: E402
from .landscape_eval import evenly_spaced  # noqa: E402


def representation_layers(model) -> list[str]:
    names = [layer.name for layer in model.layers]
    if "stem_relu" in names:  # ResNet20v1
        chosen = ["stem_relu"] + [n for n in names if n.endswith("_out")] + ["pool", "logits"]
    else:
        relus = [n for n in names if n.startswith("relu")]
        pools = [n for n in names if n.startswith("pool")]
        chosen = relus + pools[-1:] + ["logits"]
    missing = [n for n in chosen if n not in names]
    if missing:
        raise ValueError(f"model {model.name} lacks representation layers {missing}")
    return chosen


def write_representation_features(path, *, model_name, dataset, checkpoint_paths, epochs, test_points, batch_size,
                                  intra_op_threads, inter_op_threads, provenance: dict, log=print):
    """Stream every (checkpoint, layer, batch)'s features into the cka feature file at `path`
    (cka.FeatureWriter: renamed into place only when complete). Returns (layers, examples used)."""
    if int(batch_size) < 4:
        raise ValueError(f"cka.batch_size must be >= 4 (unbiased HSIC), got {batch_size}")
    idx = evenly_spaced(len(dataset.y_test), test_points)
    n_batches = len(idx) // int(batch_size)
    if n_batches < 1:
        raise ValueError(f"cka.test_points ({len(idx)} usable test images) must be at least cka.batch_size "
                         f"({batch_size})")
    idx = idx[:n_batches * int(batch_size)]
    x = dataset.x_test[idx]

    from .models import build_model, configure_tensorflow

    import keras

    tf = configure_tensorflow(intra_op_threads, inter_op_threads)
    model = build_model(model_name, dataset.input_shape, dataset.num_classes, seed=0)
    layers = representation_layers(model)
    probe = keras.Model(model.input, [model.get_layer(n).output for n in layers])

    @tf.function(input_signature=[tf.TensorSpec([None, *dataset.input_shape], tf.uint8)], jit_compile=False)
    def activations(images):
        return probe(tf.cast(images, tf.float32) / 255.0, training=False)

    t0 = time.perf_counter()
    with cka.FeatureWriter(path, epochs, layers, batch_size, len(idx), provenance) as writer:
        for epoch, checkpoint in zip(epochs, checkpoint_paths):
            try:
                model.load_weights(checkpoint, skip_mismatch=False)
            except Exception as err:  # Keras raises many types for a truncated or foreign file
                raise ArtifactError(f"cannot load checkpoint {checkpoint}: {err}") from err
            for b in range(n_batches):
                outs = activations(tf.constant(x[b * batch_size:(b + 1) * batch_size]))
                for name, out in zip(layers, outs):
                    writer.put(name, epoch, cka.batch_features(out.numpy()).astype(np.float32), batch=b)
            log(f"epoch {epoch}: features of {len(layers)} layers on {len(idx)} test images "
                f"({time.perf_counter() - t0:.1f}s)")
    return layers, len(idx)
