"""The loss landscape between solutions, the TensorFlow side: evaluate weight vectors.

One compiled model (evaluation.Forward) gets flat vectors of the TRAINABLE parameters (manifest
order, evaluation.FlatWeights) and is evaluated on the test set and on a fixed subset of the
training set (`train_examples` evenly spaced training images, no randomness): mean cross-entropy
(from the log-softmax, the quantity the checkpoint-metrics table reports) and accuracy.

Batch norm (ResNet20v1): moving statistics are not parameters of the landscape; at every
evaluated point they are re-estimated on `bn_examples` evenly spaced training images
(evaluation.recompute_batch_norm), as for subspace samples. So for such models the
endpoints of a path differ slightly from the checkpoints' own metrics (which use the running
averages of training); models without batch norm evaluate the checkpoints exactly.
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from .. import landscape, metrics  # noqa: E402
from ..data import evenly_spaced  # noqa: E402
from ..io import ArtifactError  # noqa: E402
from ..weights import CheckpointSet  # noqa: E402

ORIGIN = "origin"  # the zero vector of weight space, a plane point (the paper's radial cut)


class WeightEvaluator:
    """Evaluate flat trainable-parameter vectors of one architecture on fixed image sets."""

    def __init__(self, dataset, reference_checkpoint, *, batch_size, intra_op_threads,
                 inter_op_threads, train_examples, bn_examples=2000, bn_batch_size=128, log=print):
        from .evaluation import FlatWeights, Forward, batch_norm_layers
        from .models import configure_tensorflow, load_model

        self.tf = configure_tensorflow(intra_op_threads, inter_op_threads)
        self.batch_size, self.bn_batch_size, self.log = batch_size, bn_batch_size, log
        self.model = load_model(reference_checkpoint)
        with CheckpointSet([reference_checkpoint], "all") as cs:
            self.variables = cs.variables
        self.flat = FlatWeights(self.model, self.variables)
        self.forward = Forward(self.model, batch_size, self.tf)
        self.has_bn = bool(batch_norm_layers(self.model))
        train = evenly_spaced(len(dataset.y_train), train_examples)
        self.sets = {"test": (dataset.x_test, dataset.y_test),
                     "train": (dataset.x_train[train], dataset.y_train[train])}
        self.bn_images = dataset.x_train[evenly_spaced(len(dataset.y_train), bn_examples)] if self.has_bn else None

    def load(self, paths) -> list[np.ndarray]:
        """Flat float64 trainable parameters of checkpoints (same architecture as the model);
        ORIGIN stands for the zero vector."""
        files = [p for p in paths if p != ORIGIN]
        with CheckpointSet(files, "all") as cs:
            if cs.variables != self.variables:
                raise ArtifactError(f"checkpoints {[str(p) for p in files]} differ in architecture from the model")
            loaded = iter([cs.flat(i) for i in range(len(files))])
        return [np.zeros(self.flat.size) if p == ORIGIN else next(loaded) for p in paths]

    def predict(self, vector) -> dict:
        """{split: (probs, log p_y)} of one parameter vector."""
        from .evaluation import recompute_batch_norm

        self.flat.assign(vector)
        if self.has_bn:
            recompute_batch_norm(self.model, self.bn_images, self.bn_batch_size, self.tf)
        return {split: self.forward(x, y) for split, (x, y) in self.sets.items()}

    def evaluate(self, vector) -> dict:
        """{split: (loss, accuracy)} of one parameter vector."""
        return {split: self.scores(split, p, logp) for split, (p, logp) in self.predict(vector).items()}

    def scores(self, split, probs, log_prob_label):
        """(loss, accuracy) of predictions of one split's images."""
        y = self.sets[split][1]
        return metrics.nll(probs, y, log_prob_label), metrics.accuracy(probs, y)


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
            point = landscape.interpolate(theta[sa, ea], theta[sb, eb], t)
            for split, (loss, acc) in evaluator.evaluate(point).items():
                rows.append({"kind": kind, "seed_a": sa, "epoch_a": ea, "seed_b": sb, "epoch_b": eb, "split": split,
                             "t": float(t), "loss": loss, "accuracy": acc})
        curve = [r["loss"] for r in rows[-2 * len(ts):] if r["split"] == "test"]
        log(f"{kind} seed {sa} epoch {ea} -> seed {sb} epoch {eb}: test loss {curve[0]:.4f} .. max {max(curve):.4f} "
            f".. {curve[-1]:.4f} ({time.perf_counter() - t0:.1f}s)")
    return landscape.curves_table(rows)


def plane_table(evaluator: WeightEvaluator, points: list, paths: list, resolution, margin, log=print):
    """Loss and accuracy on a grid in the plane through three points, plus the three anchors.

    points: (seed, epoch) per checkpoint, or None for the origin of weight space (paths ORIGIN;
    only as the first point, the plane's own origin: the paper's radial cut).
    One row per (point, split). Anchor rows (anchor 0..2, with the checkpoint's seed and epoch,
    -1 for the origin; `point` names it) come first; grid rows have anchor = seed = epoch = -1,
    point "" and grid indices i (x) and j (y). radius and angle (degrees) are the polar
    coordinates of (x, y) about the plane's origin.
    """
    import pyarrow as pa

    if len(points) != 3 or len(paths) != 3:
        raise ValueError(f"a plane needs exactly three points, got {points}")
    if any(p is None for p in points[1:]):
        raise ValueError(f"the origin can only be a plane's first point, got {points}")
    origin, u, v, coords = landscape.plane_basis(*evaluator.load(paths))
    xs, ys = landscape.plane_grid(coords, resolution, margin)
    names = [ORIGIN if p is None else f"{p[0]}:{p[1]}" for p in points]
    log(f"plane through {names}: coordinates {np.round(coords, 4).tolist()}, {len(xs)} x {len(ys)} grid")
    rows, t0 = [], time.perf_counter()

    def add(x, y, anchor, i, j, seed=-1, epoch=-1, point=""):
        for split, (loss, acc) in evaluator.evaluate(landscape.plane_point(origin, u, v, x, y)).items():
            rows.append({"anchor": anchor, "point": point, "seed": seed, "epoch": epoch, "i": i, "j": j,
                         "x": float(x), "y": float(y), "radius": float(np.hypot(x, y)),
                         "angle": float(np.degrees(np.arctan2(y, x))), "split": split, "loss": loss,
                         "accuracy": acc})

    for a, ((x, y), point, name) in enumerate(zip(coords, points, names)):
        seed, epoch = (-1, -1) if point is None else point
        add(x, y, a, -1, -1, seed, epoch, name)
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            add(x, y, -1, i, j)
        log(f"row {j + 1}/{len(ys)} ({time.perf_counter() - t0:.1f}s)")
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("anchor", pa.int32()), ("point", pa.string()), ("seed", pa.int64()), ("epoch", pa.int64()),
        ("i", pa.int32()), ("j", pa.int32()), ("x", pa.float64()), ("y", pa.float64()), ("radius", pa.float64()),
        ("angle", pa.float64()), ("split", pa.string()), ("loss", pa.float64()), ("accuracy", pa.float64())]))
