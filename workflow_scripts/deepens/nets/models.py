"""The model registry: SmallCNN, MediumCNN (the authors' network) and ResNet20v1.

Every model outputs logits; softmax is applied in float32 where predictions are dumped.
Initialisers and dropout layers get their own seeds, derived from the run seed by purpose
and layer index, so a model is a pure function of (spec, seed).

A model *spec* (name, input shape, classes, dropout, bias initializer, input scaling) is stored
in every checkpoint (weights.MODEL_ATTR), so `load_model` rebuilds exactly the network a checkpoint
belongs to and `model_inputs` feeds it what it was trained on: pixels / 255 ("unit") or the raw
0-255 values ("raw", the authors' notebook).
"""
import keras
from keras import layers

from ..seeds import derive_seed

INPUT_SCALINGS = ("unit", "raw")
BIAS_INITIALIZERS = ("zeros", "glorot_uniform")


class _Seeds:
    """Hands out per-layer seeds for one purpose in build order."""

    def __init__(self, run_seed, purpose):
        self.run_seed, self.purpose, self.count = run_seed, purpose, 0

    def __call__(self):
        self.count += 1
        return derive_seed(self.run_seed, self.purpose, self.count)


class AuthorsGlorotBias(keras.initializers.Initializer):
    """Glorot-uniform biases as the authors draw them: their biases are (1, 1, n) (convolutions)
    and (1, n) (the dense layer) tensors with Xavier initialisation, so fan_in = 1 and
    fan_out = n, i.e. U(-sqrt(6 / (1 + n)), +sqrt(6 / (1 + n))). (Keras's GlorotUniform on a
    (n,) bias would use fan_in = fan_out = n, a narrower sqrt(3 / n).)"""

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        n = int(shape[-1])
        draw = keras.initializers.GlorotUniform(seed=self.seed)((1, n), dtype=dtype)
        return keras.ops.reshape(draw, shape)

    def get_config(self):
        return {"seed": self.seed}


def _biases(seed, bias_initializer):
    """A factory of bias initializers: zeros, or the authors' Glorot-uniform, each bias from its own
    seed (purpose "bias")."""
    if bias_initializer not in BIAS_INITIALIZERS:
        raise ValueError(f"unknown bias initializer {bias_initializer!r}; expected one of {BIAS_INITIALIZERS}")
    if bias_initializer == "zeros":
        return lambda: "zeros"
    seeds = _Seeds(seed, "bias")
    return lambda: AuthorsGlorotBias(seeds())


def _cnn(channels, input_shape, num_classes, seed, dropout, bias_initializer="zeros"):
    """The authors' block: conv 3x3 'same' -> dropout -> maxpool 2x2 'same' -> ReLU (none after the last)."""
    init, drop, bias = _Seeds(seed, "init"), _Seeds(seed, "dropout"), _biases(seed, bias_initializer)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, ch in enumerate(channels, 1):
        x = layers.Conv2D(ch, 3, padding="same", name=f"conv{i}", bias_initializer=bias(),
                          kernel_initializer=keras.initializers.GlorotUniform(seed=init()))(x)
        x = layers.Dropout(dropout, seed=drop(), name=f"dropout{i}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
        if i < len(channels):
            x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32", bias_initializer=bias(),
                           kernel_initializer=keras.initializers.GlorotUniform(seed=init()))(x)
    return keras.Model(inputs, outputs)


def small_cnn(input_shape, num_classes, seed, dropout=0.1, bias_initializer="zeros"):
    return _cnn((16, 32, 32), input_shape, num_classes, seed, dropout, bias_initializer)


def medium_cnn(input_shape, num_classes, seed, dropout=0.1, bias_initializer="zeros"):
    return _cnn((64, 128, 256, 256), input_shape, num_classes, seed, dropout, bias_initializer)


def resnet20v1(input_shape, num_classes, seed, dropout=0.0, bias_initializer="zeros"):
    """ResNet-20 v1 (He et al. 2016): 3 stages x 3 basic blocks, 16/32/64 filters, 1x1 projections.

    Only the 1x1 projections and the dense layer have biases (the 3x3 convolutions feed batch norm).
    """
    del dropout  # the standard ResNet has no dropout
    init, bias = _Seeds(seed, "init"), _biases(seed, bias_initializer)

    def conv_bn(x, filters, strides, name, relu=True):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv",
                          kernel_initializer=keras.initializers.HeNormal(seed=init()))(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x) if relu else x

    inputs = keras.Input(input_shape, name="image")
    x = conv_bn(inputs, 16, 1, "stem")
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            strides = 2 if stage > 0 and block == 0 else 1
            name = f"s{stage + 1}b{block + 1}"
            y = conv_bn(x, filters, strides, f"{name}a")
            y = conv_bn(y, filters, 1, f"{name}b", relu=False)
            if strides != 1 or x.shape[-1] != filters:
                x = layers.Conv2D(filters, 1, strides=strides, name=f"{name}_proj", bias_initializer=bias(),
                                  kernel_initializer=keras.initializers.HeNormal(seed=init()))(x)
            x = layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, y]))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32", bias_initializer=bias(),
                           kernel_initializer=keras.initializers.HeNormal(seed=init()))(x)
    return keras.Model(inputs, outputs)


def configure_tensorflow(intra_op_threads: int, inter_op_threads: int):
    """Fix the settings that affect numerics; must run before TensorFlow executes any op.

    Idempotent; asking for other thread counts after TensorFlow started is an error,
    since the numbers would silently not apply.
    """
    import tensorflow as tf

    threading = tf.config.threading
    current = (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
    if current != (intra_op_threads, inter_op_threads):
        try:
            threading.set_intra_op_parallelism_threads(intra_op_threads)
            threading.set_inter_op_parallelism_threads(inter_op_threads)
        except RuntimeError as err:
            raise RuntimeError(f"TensorFlow already runs with intra/inter-op threads {current}; cannot switch "
                               f"to ({intra_op_threads}, {inter_op_threads}) in this process") from err
    tf.config.experimental.enable_op_determinism()
    return tf


REGISTRY = {"small_cnn": small_cnn, "medium_cnn": medium_cnn, "resnet20v1": resnet20v1}


def model_spec(name, input_shape, num_classes, dropout=0.1, bias_initializer="zeros", input_scaling="unit") -> dict:
    """Everything that defines a network besides its weights (stored in every checkpoint)."""
    if input_scaling not in INPUT_SCALINGS:
        raise ValueError(f"unknown input scaling {input_scaling!r}; expected one of {INPUT_SCALINGS}")
    return {"name": name, "input_shape": [int(d) for d in input_shape], "num_classes": int(num_classes),
            "dropout": float(dropout), "bias_initializer": bias_initializer, "input_scaling": input_scaling}


def build_model(name, input_shape, num_classes, seed, dropout=0.1, bias_initializer="zeros",
                input_scaling="unit") -> keras.Model:
    spec = model_spec(name, input_shape, num_classes, dropout, bias_initializer, input_scaling)
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(REGISTRY)}") from None
    model = factory(tuple(input_shape), num_classes, seed, dropout, bias_initializer)
    model.name_in_registry = name
    model.spec = spec
    return model


def model_inputs(images, input_scaling, tf):
    """uint8 images -> the float32 network input: / 255 ("unit") or the raw values ("raw")."""
    x = tf.cast(images, tf.float32)
    if input_scaling == "unit":
        return x / 255.0
    if input_scaling == "raw":
        return x
    raise ValueError(f"unknown input scaling {input_scaling!r}; expected one of {INPUT_SCALINGS}")


def load_model(path) -> keras.Model:
    """The network a checkpoint belongs to (from its stored spec), with the checkpoint's weights."""
    from ..io import ArtifactError
    from ..weights import read_model_spec

    spec = read_model_spec(path)
    model = build_model(spec["name"], spec["input_shape"], spec["num_classes"], seed=0, dropout=spec["dropout"],
                        bias_initializer=spec["bias_initializer"], input_scaling=spec["input_scaling"])
    try:
        model.load_weights(path, skip_mismatch=False)
    except Exception as err:  # Keras raises many types for a truncated or foreign file
        raise ArtifactError(f"cannot load checkpoint {path}: {err}") from err
    return model


def load_weights(model, path):
    """Load a checkpoint of the same architecture into `model`; ArtifactError naming the file otherwise."""
    from ..io import ArtifactError
    from ..weights import read_model_spec

    spec = read_model_spec(path)
    if {k: spec[k] for k in ("name", "input_shape", "num_classes", "input_scaling")} != \
            {k: model.spec[k] for k in ("name", "input_shape", "num_classes", "input_scaling")}:
        raise ArtifactError(f"checkpoint {path} belongs to another network ({spec}) than the model ({model.spec})")
    try:
        model.load_weights(path, skip_mismatch=False)
    except Exception as err:  # Keras raises many types for a truncated or foreign file
        raise ArtifactError(f"cannot load checkpoint {path}: {err}") from err


def variable_manifest(model) -> list[dict]:
    """Where each model variable sits in a Keras 3 .weights.h5 and what it is.

    Keras addresses a layer in the file not by its name but by its class name in snake
    case, numbered in layer order (conv2d, conv2d_1, ...), and stores the layer's own
    variables as vars/<i>, trainable first. `check_manifest` verifies this against a file.
    """
    from keras.src.utils.naming import to_snake_case

    out, used = [], {}
    for layer in model.layers:
        base = to_snake_case(layer.__class__.__name__)
        key = base if base not in used else f"{base}_{used[base]}"
        used[base] = used.get(base, 0) + 1
        own = list(layer._trainable_variables) + list(layer._non_trainable_variables)
        for i, v in enumerate(own):
            out.append({"h5": f"layers/{key}/vars/{i}", "path": v.path, "trainable": bool(v.trainable),
                        "shape": list(v.shape), "dtype": str(v.dtype)})
    return out


def check_manifest(model, manifest, path=None):
    """Raise unless the manifest names exactly where this model's variables land in a saved file.

    The model is saved once with every variable set to its own constant, so entries that
    happen to hold equal values (batch-norm gamma and moving variance at initialisation)
    cannot pass by accident; the values are restored afterwards. `path` is unused and kept
    for callers that pass the checkpoint they are writing.
    """
    import tempfile

    import h5py
    import numpy as np

    variables = {v.path: v for v in model.variables}
    saved = {p: v.numpy() for p, v in variables.items()}
    try:
        for i, v in enumerate(model.variables):
            v.assign(np.full(v.shape, i + 1).astype(v.dtype))
        with tempfile.TemporaryDirectory() as tmp:
            probe = f"{tmp}/probe.weights.h5"
            model.save_weights(probe)
            with h5py.File(probe, "r") as f:
                stored = []
                f["layers"].visititems(
                    lambda n, o: stored.append(f"layers/{n}") if isinstance(o, h5py.Dataset) else None)
                if set(stored) != {e["h5"] for e in manifest}:
                    raise RuntimeError(f"checkpoint layout changed: the file holds {sorted(stored)}, the manifest "
                                       f"names {sorted(e['h5'] for e in manifest)}; update variable_manifest")
                for entry in manifest:
                    v = variables.get(entry["path"])
                    if v is None or not np.array_equal(f[entry["h5"]][()], v.numpy()):
                        raise RuntimeError(f"checkpoint layout changed: {entry['h5']} does not hold "
                                           f"{entry['path']}; update deepens.nets.models.variable_manifest")
    finally:
        for p, v in variables.items():
            v.assign(saved[p])
