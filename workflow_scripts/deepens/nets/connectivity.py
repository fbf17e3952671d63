"""Mode connectivity, the TensorFlow side: train the middle point of a quadratic Bezier curve between
two solutions (Garipov et al. 2018) and evaluate the three paths of deepens.connectivity.

Curve training: the end points theta_a, theta_b stay fixed; the middle point theta starts at their
midpoint (the curve is then the straight line) and is trained as Garipov et al. do: for every
minibatch one t ~ U(0, 1) is drawn, the network's weights are set to the curve's point
phi(t) = (1 - t)^2 theta_a + 2 t (1 - t) theta + t^2 theta_b, and the minibatch's cross-entropy
(training mode: dropout and batch statistics as in training) is minimised over theta, whose
gradient is 2 t (1 - t) times the loss's gradient at phi(t). Adam, the optimiser of training, with
the run's learning rate halved every lr_halving_epochs curve epochs and the run's training data
pipeline (same order, augmentation and batch size recipe). Deterministic: t values come from
np.random.default_rng(curve_seed(seed_a, seed_b)), the data order from the pipeline's
stateless seeds under the same purpose, and op determinism is on.

Batch norm (ResNet20v1): every evaluated point re-estimates its statistics (WeightEvaluator), so
points along the curve get their own, as Garipov et al. recompute them.
"""
import hashlib
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from ..connectivity import PATHS, bezier_coefficients, path_point  # noqa: E402
from ..landscape import interpolation_ts  # noqa: E402
from .training import format_seconds, learning_rate_schedule  # noqa: E402


def curve_seed(seed_a, seed_b, *keys) -> int:
    """A 31-bit seed of the curve from seed_a to seed_b (and sub-keys): what deepens.seeds.derive_seed
    gives for a purpose "curve" with sub-keys (seed_b, *keys). It is derived here rather than
    registered in seeds.PURPOSES so that adding curves changed the code digest of no training or
    data job (their results stay valid; tests/test_connectivity.py checks the equality)."""
    tag = int.from_bytes(hashlib.sha256(b"curve").digest()[:4], "little")
    state = np.random.SeedSequence([int(seed_a), tag], spawn_key=(int(seed_b), *map(int, keys))).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def train_curve(evaluator, dataset, theta_a, theta_b, *, seed_a, seed_b, epochs, batch_size, learning_rate,
                lr_halving_epochs, adam_epsilon=1e-8, augmentation=False, log=print) -> np.ndarray:
    """The trained middle point theta (flat float64, trainable parameters in manifest order) of the
    Bezier curve from theta_a to theta_b; epochs = 0 returns the untrained midpoint."""
    import keras

    from .pipeline import train_dataset

    tf, model = evaluator.tf, evaluator.model
    a, b = np.asarray(theta_a, np.float64), np.asarray(theta_b, np.float64)
    middle = (a + b) / 2
    if epochs <= 0:
        return middle
    slots = evaluator.flat.slots

    def pieces(vector):
        return [vector[lo:hi].astype(np.float32).reshape(shape) for _, lo, hi, shape in slots]

    ends = [(tf.constant(x), tf.constant(y)) for x, y in zip(pieces(a), pieces(b))]
    theta = [keras.Variable(x, name=f"curve_{i}") for i, x in enumerate(pieces(middle))]
    steps = math.ceil(len(dataset.y_train) / batch_size)
    optimizer = keras.optimizers.Adam(learning_rate_schedule(learning_rate, lr_halving_epochs, steps, epochs),
                                      epsilon=adam_epsilon)
    optimizer.build(theta)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = [var for var, *_ in slots]

    @tf.function(jit_compile=False)
    def step(images, labels, t):
        c0, c1, c2 = bezier_coefficients(t)
        for var, (x, y), m in zip(variables, ends, theta):
            var.assign(c0 * x + c1 * m + c2 * y)
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients([(c1 * g, m) for g, m in zip(grads, theta)])
        return loss

    ts = np.random.default_rng(curve_seed(seed_a, seed_b)).uniform(0.0, 1.0, epochs * steps).astype(np.float32)
    spec = model.spec
    batches = iter(train_dataset(dataset.x_train, dataset.y_train, batch_size, curve_seed(seed_a, seed_b, 1),
                                 curve_seed(seed_a, seed_b, 2), augmentation, 0, epochs,
                                 input_scaling=spec["input_scaling"]))
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    log(f"training the curve {seed_a} -> {seed_b}: {epochs} epochs x {steps} steps, batch {batch_size}, "
        f"Adam lr {learning_rate}")
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for i, layer in enumerate(dropouts):  # a fresh dropout stream per (layer, epoch), as in training
            layer.seed_generator.state.assign(np.array([curve_seed(seed_a, seed_b, 3, i, epoch), 0],
                                                       dtype=layer.seed_generator.state.dtype))
        # the losses stay on the device until the epoch ends (no host sync per step)
        losses = [float(x) for x in [step(*next(batches), tf.constant(ts[epoch * steps + k])) for k in range(steps)]]
        if not all(math.isfinite(x) for x in losses):
            raise FloatingPointError(f"curve {seed_a} -> {seed_b}: training loss is not finite in epoch {epoch + 1}")
        elapsed = time.perf_counter() - t0
        log(f"curve epoch {epoch + 1}/{epochs}  loss {np.mean(losses):.4f}  {elapsed:.1f}s  "
            f"ETA {format_seconds(elapsed / (epoch + 1) * (epochs - epoch - 1))}")
    return np.concatenate([m.numpy().astype(np.float64).ravel() for m in theta])


def evaluate_paths(evaluator, theta_a, theta_b, aligned_b, theta, points, seed_a, seed_b, log=print):
    """(rows of connectivity.path_table, {path: (T x N x C test probs, T x N log p_y)}) of the three
    paths (aligned left out when aligned_b is None)."""
    ts = interpolation_ts(points)
    rows, probs = [], {}
    for path in PATHS:
        if path == "aligned" and aligned_b is None:
            continue
        p_test, lp_test = [], []
        for k, t in enumerate(ts):
            out = evaluator.predict(path_point(path, t, theta_a, theta_b, aligned_b, theta))
            for split, (p, lp) in out.items():
                loss, acc = evaluator.scores(split, p, lp)
                rows.append({"seed_a": int(seed_a), "seed_b": int(seed_b), "path": path, "point": k, "t": float(t),
                             "split": split, "loss": loss, "accuracy": acc})
            p_test.append(out["test"][0])
            lp_test.append(out["test"][1])
        probs[path] = (np.stack(p_test), np.stack(lp_test))
        curve = [r["loss"] for r in rows if r["path"] == path and r["split"] == "test"]
        log(f"{path}: test loss {curve[0]:.4f} .. max {max(curve):.4f} .. {curve[-1]:.4f}")
    return rows, probs
