"""Subspace samples of one run: draw weight vectors around its final solution, predict with each.

The numpy side (what is drawn, and the authors' defaults with where they come from) lives in
deepens.subspace; this module reads the checkpoints, swaps every sample into ONE compiled model
and dumps float32 softmax predictions on the test and validation sets (io.samples_table).

- theta: the final checkpoint's TRAINABLE variables, flattened in manifest order (float64 from
  the file, exactly the stored float32 values, cast back to float32 when assigned).
- Non-trainable variables (ResNet20v1's batch-norm moving statistics) stay the final
  checkpoint's, except for "averaging" on a model with batch norm: there they are re-estimated
  on the training images (un-augmented, in order, batches of `bn_batch_size`) with the averaged
  weights, as SWA does: each BN layer runs in training mode with momentum 0, so after a batch its
  moving statistics ARE that batch's mean and (biased) variance; these are averaged over the
  batches, weighted by batch size (so the moving mean is exactly the mean over the training set
  of the layer's input) and assigned at the end. Training mode normalises with batch statistics,
  so the pass does not depend on the old moving statistics.
- Seeds: rng = default_rng(derive_seed(seed, "subspace", METHOD_KEYS[method], PURPOSE_KEYS[purpose])),
  fixed integer keys, so reruns are bit-identical and adding a method changes no other's samples.
- Acceptance (random subspace, "ensemble" purpose only -- the notebook's diversity plane keeps
  every sample): with accept_min_val_accuracy set, samples are drawn until `ensemble_samples`
  reach that validation accuracy, at most ACCEPT_TRIES_PER_SAMPLE x ensemble_samples draws, else
  an error. (The notebook instead gives each sample 5 tries and drops it after 5 failures.)
- Diagonal Gaussian, "plane" purpose: the scale is drawn per sample, s = plane_scale * U(0, 1),
  as the notebook's cell "czoWhgyGAFoC" does (diagonal_plane_uniform=False: fixed plane_scale).
  The drawn scale is the table's `scale` column.
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from . import subspace  # noqa: E402
from .io import ArtifactError, CheckpointSet, samples_table  # noqa: E402
from .seeds import derive_seed  # noqa: E402

METHODS = ("random", "dropout", "diagonal", "lowrank", "averaging")
# Stable seed sub-keys: never renumber; a new method or purpose gets a new number.
METHOD_KEYS = {"random": 1, "dropout": 2, "diagonal": 3, "lowrank": 4, "averaging": 5}
PURPOSE_KEYS = {"ensemble": 1, "plane": 2}
PURPOSES = ("ensemble", "plane")
SPLITS = ("test", "val")
ACCEPT_TRIES_PER_SAMPLE = 20


def method_rng(seed, method, purpose) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, "subspace", METHOD_KEYS[method], PURPOSE_KEYS[purpose]))


class FlatWeights:
    """Assign flat parameter vectors (manifest order) into a model's trainable variables."""

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

    def assign(self, vector):
        if vector.shape != (self.size,):
            raise ValueError(f"expected a flat vector of {self.size} parameters, got shape {vector.shape}")
        for var, a, b, shape in self.slots:
            var.assign(vector[a:b].astype(np.float32).reshape(shape))


def recompute_batch_norm(model, x, batch_size, tf) -> int:
    """Re-estimate every BatchNormalization layer's moving statistics on images `x` (uint8).

    Returns the number of batch-norm layers (0: nothing to do). See the module docstring.
    """
    import keras

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return 0
    saved = [layer.momentum for layer in bns]
    for layer in bns:
        layer.momentum = 0.0  # moving statistic := this batch's statistic
    try:
        @tf.function(input_signature=[tf.TensorSpec([None, *x.shape[1:]], tf.uint8)], jit_compile=False)
        def step(images):
            model(tf.cast(images, tf.float32) / 255.0, training=True)

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


def _draws(method, purpose, n, scale, theta, late, rank, rng, diagonal_plane_uniform):
    """Iterator of (vector, drawn scale) for one method and purpose (endless for random: acceptance may redraw)."""
    if method == "random":
        return subspace.iter_random(theta, scale, rng, None)
    if method == "dropout":
        return subspace.iter_dropout(theta, scale, rng, n)
    if method == "diagonal":
        mean, std = subspace.diagonal_fit(late)
        return subspace.iter_diagonal(mean, std, scale, rng, n, uniform=purpose == "plane" and diagonal_plane_uniform)
    if method == "lowrank":
        if rank is None:
            raise ValueError("the low-rank Gaussian needs subspace.rank")
        mean, directions, _ = subspace.lowrank_fit(late, rank)
        return subspace.iter_lowrank(mean, directions, scale, rng, n)
    raise AssertionError(method)


class SubspaceRun:
    """One run's solution, late checkpoints and ONE compiled model into which samples are set.

    Shared by the subspace samples (sample_subspace) and their predictions under dataset shift
    (deepens.shift), which must see exactly the same weight vectors.
    """

    def __init__(self, *, model_name, dataset, checkpoint_paths: dict, final_epoch, seed, method, late_fraction,
                 rank, batch_size, intra_op_threads, inter_op_threads, bn_batch_size=128, log=print):
        if method not in METHODS:
            raise ValueError(f"unknown subspace method {method!r}; expected one of {METHODS}")
        checkpoint_paths = {int(e): p for e, p in checkpoint_paths.items()}
        self.final_epoch = final_epoch = int(final_epoch)
        self.late = late = subspace.late_epochs(final_epoch, late_fraction)
        missing = [e for e in [final_epoch, *late] if e not in checkpoint_paths]
        if missing:
            raise ValueError(f"subspace sampling needs the checkpoints of epochs {sorted(set(missing))} (final epoch "
                             f"{final_epoch}, late epochs {late[0]}..{late[-1]}); got {sorted(checkpoint_paths)}")
        from .models import build_model, configure_tensorflow
        from .predict import softmax_fn

        self.tf = tf = configure_tensorflow(intra_op_threads, inter_op_threads)
        self.dataset, self.seed, self.method, self.rank = dataset, seed, method, rank
        self.batch_size, self.bn_batch_size, self.log = batch_size, bn_batch_size, log
        self.needs_late = method in ("diagonal", "lowrank", "averaging")
        paths = [checkpoint_paths[final_epoch]] + ([checkpoint_paths[e] for e in late] if self.needs_late else [])
        with CheckpointSet(paths, "all") as cs:
            variables = cs.variables
            self.theta = cs.flat(0)
            self.late_matrix = np.stack([cs.flat(i) for i in range(1, len(paths))]) if self.needs_late else None

        self.model = build_model(model_name, dataset.input_shape, dataset.num_classes, seed=0)
        try:
            self.model.load_weights(checkpoint_paths[final_epoch], skip_mismatch=False)
        except Exception as err:  # Keras raises many types for a truncated or foreign file
            raise ArtifactError(f"cannot load checkpoint {checkpoint_paths[final_epoch]}: {err}") from err
        self.flat = FlatWeights(self.model, variables)
        if self.flat.size != self.theta.size:
            raise ArtifactError(f"checkpoint holds {self.theta.size} trainable parameters, the model {self.flat.size}")
        self.forward = softmax_fn(self.model, dataset.input_shape, tf)
        log(f"subspace {method} around epoch {final_epoch} of {model_name} seed {seed}: {self.theta.size:,} "
            f"parameters" + (f", late epochs {late[0]}..{late[-1]} ({len(late)})" if self.needs_late else ""))

    def predict(self, x) -> np.ndarray:
        from .predict import batched
        return batched(self.forward, x, self.batch_size, self.tf)

    def split_accuracy(self, probs, split) -> float:
        return float(np.mean(probs.argmax(axis=1) == self.dataset.split(split)[1]))

    def set_average(self) -> int:
        """Set the weight average of the late checkpoints (batch norm re-estimated); returns #BN layers."""
        self.flat.assign(subspace.weight_average(self.late_matrix))
        n_bn = recompute_batch_norm(self.model, self.dataset.x_train, self.bn_batch_size, self.tf)
        if n_bn:
            self.log(f"re-estimated the moving statistics of {n_bn} batch-norm layers on "
                     f"{len(self.dataset.y_train)} training images")
        return n_bn

    def samples(self, purpose, n, scale, accept_min_val_accuracy=None, diagonal_plane_uniform=True):
        """Set each of the n accepted samples into the model in turn; yields (drawn scale, val probs, draws so far).

        The model holds the sample while the caller handles the yielded item. A prefix of n'
        samples is the same whatever n is (the generators are sequential).
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"subspace.{purpose}_samples must be >= 1, got {n}")
        if self.method == "averaging":
            raise ValueError("weight averaging has no samples; use set_average")
        if self.method == "dropout" and not 0 <= scale < 1:
            raise ValueError(f"subspace.dropout.{purpose}_scale is the largest drop probability and must be in "
                             f"[0, 1), got {scale}")
        rng = method_rng(self.seed, self.method, purpose)
        draws = _draws(self.method, purpose, n, scale, self.theta, self.late_matrix, self.rank, rng,
                       diagonal_plane_uniform)
        threshold = accept_min_val_accuracy if (self.method == "random" and purpose == "ensemble") else None
        max_tries, kept, tries = ACCEPT_TRIES_PER_SAMPLE * n, 0, 0
        while kept < n:
            if threshold is not None and tries >= max_tries:
                raise RuntimeError(
                    f"random subspace: only {kept} of {n} samples (scale {scale}) reached validation accuracy "
                    f">= {threshold} in {tries} draws; lower subspace.random.accept_min_val_accuracy or "
                    f"subspace.random.ensemble_scale")
            vector, drawn = next(draws)
            tries += 1
            self.flat.assign(vector)
            val = self.predict(self.dataset.x_val)
            if threshold is not None and self.split_accuracy(val, "val") < threshold:
                continue
            kept += 1
            yield drawn, val, tries


def sample_subspace(*, model_name, dataset, checkpoint_paths: dict, final_epoch, seed, method, late_fraction,
                    rank, ensemble_samples, ensemble_scale, plane_samples, plane_scale, accept_min_val_accuracy,
                    batch_size, intra_op_threads, inter_op_threads, diagonal_plane_uniform=True,
                    bn_batch_size=128, log=print) -> pa.Table:
    """Samples of `method` around the run's final solution; predictions on test and val.

    checkpoint_paths maps after-epoch numbers to checkpoint files; it must hold `final_epoch`
    and the late epochs subspace.late_epochs(final_epoch, late_fraction).
    Returns the concatenated io.samples_table's for purposes ensemble/plane and splits test/val.
    """
    if method == "dropout":
        for name, s in (("ensemble_scale", ensemble_scale), ("plane_scale", plane_scale)):
            if not 0 <= s < 1:
                raise ValueError(f"subspace.dropout.{name} is the largest drop probability and must be in [0, 1), "
                                 f"got {s}")
    run = SubspaceRun(model_name=model_name, dataset=dataset, checkpoint_paths=checkpoint_paths,
                      final_epoch=final_epoch, seed=seed, method=method, late_fraction=late_fraction, rank=rank,
                      batch_size=batch_size, intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads,
                      bn_batch_size=bn_batch_size, log=log)
    t0 = time.perf_counter()
    parts = []
    if method == "averaging":
        run.set_average()
        probs = {split: run.predict(dataset.split(split)[0])[None] for split in SPLITS}
        test_acc = [run.split_accuracy(probs["test"][0], "test")]
        for purpose in PURPOSES:
            for split in SPLITS:
                parts.append(samples_table(method, purpose, split, [0], [0.0], test_acc, dataset.split(split)[1],
                                           probs[split]))
        log(f"weight average: test accuracy {test_acc[0]:.4f} ({time.perf_counter() - t0:.1f}s)")
        return pa.concat_tables(parts)

    for purpose, n, scale in (("ensemble", ensemble_samples, ensemble_scale), ("plane", plane_samples, plane_scale)):
        n = int(n)
        threshold = accept_min_val_accuracy if (method == "random" and purpose == "ensemble") else None
        kept = {split: [] for split in SPLITS}
        scales, test_acc, tries = [], [], 0
        for drawn, val, tries in run.samples(purpose, n, scale, threshold, diagonal_plane_uniform):
            test = run.predict(dataset.x_test)
            kept["val"].append(val)
            kept["test"].append(test)
            scales.append(drawn)
            test_acc.append(run.split_accuracy(test, "test"))
        for split in SPLITS:
            parts.append(samples_table(method, purpose, split, np.arange(n), scales, test_acc,
                                       dataset.split(split)[1], np.stack(kept[split])))
        accepted = f", {n} of {tries} draws accepted at val accuracy >= {threshold}" if threshold is not None else ""
        log(f"{purpose}: {n} samples at scale {scale}, test accuracy mean {np.mean(test_acc):.4f} "
            f"(min {np.min(test_acc):.4f}, max {np.max(test_acc):.4f}){accepted} ({time.perf_counter() - t0:.1f}s)")
    return pa.concat_tables(parts)
