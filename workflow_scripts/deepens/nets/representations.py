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

from .. import cka, cka_features  # noqa: E402
from ..data import evenly_spaced  # noqa: E402


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


def feature_examples(n_test, test_points, batch_size) -> np.ndarray:
    """The test images CKA compares: test_points evenly spaced, cut to whole minibatches."""
    if int(batch_size) < 4:
        raise ValueError(f"cka.batch_size must be >= 4 (unbiased HSIC), got {batch_size}")
    idx = evenly_spaced(n_test, test_points)
    n_batches = len(idx) // int(batch_size)
    if n_batches < 1:
        raise ValueError(f"cka.test_points ({len(idx)} usable test images) must be at least cka.batch_size "
                         f"({batch_size})")
    return idx[:n_batches * int(batch_size)]


class Features:
    """The CKA feature file of one run, filled checkpoint by checkpoint from a loaded model:

        with Features(model, dataset, path=..., epochs=..., test_points=..., batch_size=...,
                      provenance=..., tf=tf) as features:
            for each epoch in features.epochs: set the checkpoint's weights; features.add(epoch)

    (cka_features.FeatureWriter: the file is renamed into place only when every epoch was added).
    """

    def __init__(self, model, dataset, *, path, epochs, test_points, batch_size, provenance, tf, log=print):
        import keras

        self.epochs = [int(e) for e in epochs]
        self.batch_size, self.log, self.tf = int(batch_size), log, tf
        self.x = dataset.x_test[feature_examples(len(dataset.y_test), test_points, batch_size)]
        self.layers = representation_layers(model)
        probe = keras.Model(model.input, [model.get_layer(n).output for n in self.layers])
        scaling = model.spec["input_scaling"]
        from .models import model_inputs

        @tf.function(input_signature=[tf.TensorSpec([None, *dataset.input_shape], tf.uint8)], jit_compile=False)
        def activations(images):
            return probe(model_inputs(images, scaling, tf), training=False)

        self._activations = activations
        self._writer = cka_features.FeatureWriter(path, self.epochs, self.layers, self.batch_size, len(self.x),
                                                  provenance)

    def __enter__(self):
        self._writer.__enter__()
        return self

    def __exit__(self, *exc):
        return self._writer.__exit__(*exc)

    def add(self, epoch):
        """Features of every layer on every minibatch for the weights the model holds now."""
        t0, n = time.perf_counter(), self.batch_size
        for b in range(len(self.x) // n):
            outs = self._activations(self.tf.constant(self.x[b * n:(b + 1) * n]))
            for name, out in zip(self.layers, outs):
                self._writer.put(name, epoch, cka.batch_features(out.numpy()).astype(np.float32), batch=b)
        self.log(f"epoch {epoch}: CKA features of {len(self.layers)} layers on {len(self.x)} test images "
                 f"({time.perf_counter() - t0:.1f}s)")
