"""The loss landscape between solutions, the TensorFlow side: evaluate weight vectors.

One compiled model (deepens.predict.softmax_fn) gets flat vectors of the TRAINABLE parameters
(manifest order, as deepens.subspace_sampling.FlatWeights assigns them) and is evaluated on the
test set and on a fixed subset of the training set (`train_examples` evenly spaced training
images, no randomness): mean cross-entropy (metrics.nll of the float32 softmax, the quantity the
checkpoint-metrics table reports) and accuracy.

Batch norm (ResNet20v1): moving statistics are not parameters of the landscape; at every
evaluated point they are re-estimated on `bn_examples` evenly spaced training images
(subspace_sampling.recompute_batch_norm), as for weight averaging. So for such models the
endpoints of a path differ slightly from the checkpoints' own metrics (which use the running
averages of training); models without batch norm evaluate the checkpoints exactly.
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from . import landscape, metrics  # noqa: E402
from .io import ArtifactError, CheckpointSet  # noqa: E402


def evenly_spaced(n_total: int, k: int) -> np.ndarray:
    """min(k, n_total) distinct indices spread evenly over 0..n_total-1 (deterministic)."""
    k = min(int(k), n_total)
    return np.unique(np.linspace(0, n_total - 1, k).round().astype(np.int64))


class WeightEvaluator:
    """Evaluate flat trainable-parameter vectors of one architecture on fixed image sets."""

    def __init__(self, model_name, dataset, reference_checkpoint, *, batch_size, intra_op_threads,
                 inter_op_threads, train_examples, bn_examples=2000, bn_batch_size=128, log=print):
        from .models import build_model, configure_tensorflow
        from .predict import softmax_fn
        from .subspace_sampling import FlatWeights

        import keras

        self.tf = configure_tensorflow(intra_op_threads, inter_op_threads)
        self.batch_size, self.bn_batch_size, self.log = batch_size, bn_batch_size, log
        self.model = build_model(model_name, dataset.input_shape, dataset.num_classes, seed=0)
        try:
            self.model.load_weights(reference_checkpoint, skip_mismatch=False)
        except Exception as err:  # Keras raises many types for a truncated or foreign file
            raise ArtifactError(f"cannot load checkpoint {reference_checkpoint}: {err}") from err
        with CheckpointSet([reference_checkpoint], "all") as cs:
            self.variables = cs.variables
        self.flat = FlatWeights(self.model, self.variables)
        self.forward = softmax_fn(self.model, dataset.input_shape, self.tf)
        self.has_bn = any(isinstance(layer, keras.layers.BatchNormalization) for layer in self.model.layers)
        train = evenly_spaced(len(dataset.y_train), train_examples)
        self.sets = {"test": (dataset.x_test, dataset.y_test),
                     "train": (dataset.x_train[train], dataset.y_train[train])}
        self.bn_images = dataset.x_train[evenly_spaced(len(dataset.y_train), bn_examples)] if self.has_bn else None

    def load(self, paths) -> list[np.ndarray]:
        """Flat float64 trainable parameters of checkpoints (same architecture as the model)."""
        with CheckpointSet(paths, "all") as cs:
            if cs.variables != self.variables:
                raise ArtifactError(f"checkpoints {[str(p) for p in paths]} differ in architecture from the model")
            return [cs.flat(i) for i in range(len(paths))]

    def probs(self, x) -> np.ndarray:
        from .predict import batched
        return batched(self.forward, x, self.batch_size, self.tf)

    def evaluate(self, vector) -> dict:
        """{split: (loss, accuracy)} of one parameter vector."""
        from .subspace_sampling import recompute_batch_norm

        self.flat.assign(vector)
        if self.has_bn:
            recompute_batch_norm(self.model, self.bn_images, self.bn_batch_size, self.tf)
        out = {}
        for split, (x, y) in self.sets.items():
            p = self.probs(x)
            out[split] = (metrics.nll(p, y), metrics.accuracy(p, y))
        return out


def interpolation_table(evaluator: WeightEvaluator, checkpoints: dict, pairs, points, log=print):
    """Curves along straight lines between checkpoint pairs.

    checkpoints maps (seed, epoch) -> path; pairs are landscape.interpolation_pairs tuples.
    """
    ts = landscape.interpolation_ts(points)
    keys = sorted({(p[1], p[2]) for p in pairs} | {(p[3], p[4]) for p in pairs})
    missing = [k for k in keys if k not in checkpoints]
    if missing:
        raise ValueError(f"interpolation needs the checkpoints of (seed, epoch) {missing}")
    theta = dict(zip(keys, evaluator.load([checkpoints[k] for k in keys])))
    rows, t0 = [], time.perf_counter()
    for kind, sa, ea, sb, eb in pairs:
        for t in ts:
            for split, (loss, acc) in evaluator.evaluate(landscape.interpolate(theta[sa, ea], theta[sb, eb], t)).items():
                rows.append({"kind": kind, "seed_a": sa, "epoch_a": ea, "seed_b": sb, "epoch_b": eb, "split": split,
                             "t": float(t), "loss": loss, "accuracy": acc})
        curve = [r["loss"] for r in rows[-2 * len(ts):] if r["split"] == "test"]
        log(f"{kind} seed {sa} epoch {ea} -> seed {sb} epoch {eb}: test loss {curve[0]:.4f} .. max {max(curve):.4f} "
            f".. {curve[-1]:.4f} ({time.perf_counter() - t0:.1f}s)")
    return landscape.curves_table(rows)


def plane_table(evaluator: WeightEvaluator, points: list[tuple[int, int]], paths: list, resolution, margin,
                log=print):
    """Loss and accuracy on a grid in the plane through three checkpoints, plus the three anchors.

    One row per (point, split). Anchor rows (anchor 0..2, with the checkpoint's seed and epoch)
    come first; grid rows have anchor = seed = epoch = -1 and grid indices i (x) and j (y).
    """
    import pyarrow as pa

    if len(points) != 3 or len(paths) != 3:
        raise ValueError(f"a plane needs exactly three points, got {points}")
    origin, u, v, coords = landscape.plane_basis(*evaluator.load(paths))
    xs, ys = landscape.plane_grid(coords, resolution, margin)
    log(f"plane through (seed, epoch) {points}: coordinates {np.round(coords, 4).tolist()}, "
        f"{len(xs)} x {len(ys)} grid")
    rows, t0 = [], time.perf_counter()

    def add(x, y, anchor, i, j, seed=-1, epoch=-1):
        for split, (loss, acc) in evaluator.evaluate(landscape.plane_point(origin, u, v, x, y)).items():
            rows.append({"anchor": anchor, "seed": seed, "epoch": epoch, "i": i, "j": j, "x": float(x),
                         "y": float(y), "split": split, "loss": loss, "accuracy": acc})

    for a, ((x, y), (seed, epoch)) in enumerate(zip(coords, points)):
        add(x, y, a, -1, -1, seed, epoch)
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            add(x, y, -1, i, j)
        log(f"row {j + 1}/{len(ys)} ({time.perf_counter() - t0:.1f}s)")
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("anchor", pa.int32()), ("seed", pa.int64()), ("epoch", pa.int64()), ("i", pa.int32()), ("j", pa.int32()), ("x", pa.float64()), ("y", pa.float64()),
        ("split", pa.string()), ("loss", pa.float64()), ("accuracy", pa.float64())]))
    return table
