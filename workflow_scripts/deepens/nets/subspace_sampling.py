"""Around one run's solution, evaluated once: subspace samples and every member under dataset shift.

One TensorFlow job per run (rule evaluate_solution) loads the run's final and late checkpoints
once, sets weight vectors into ONE compiled model and writes
- per subspace method, its samples table (io.samples_table): softmax and label log-probability
  on the test and validation sets of every ensemble and plane sample (deepens.subspace draws
  the vectors: numpy only);
- per shift member (deepens.shift), its predictions on the clean and every corrupted test set:
  "final" (the final checkpoint), "snapshot" (the ensemble of the last snapshot_epochs
  checkpoints), and per method its ensemble (the first `shift_samples` ensemble samples, the very
  weight vectors of its samples table; the weight average for averaging).

- theta: the final checkpoint's TRAINABLE variables, flattened in manifest order (float64 from
  the file, exactly the stored float32 values, cast back to float32 when assigned).
- Batch norm (models with it, i.e. ResNet20v1): with recompute_batch_norm every sample and the
  weight average get moving statistics re-estimated on `bn_examples` evenly spaced training images
  (evaluation.recompute_batch_norm), as the loss landscape does; without it samples keep the final
  checkpoint's statistics (the weight average is re-estimated either way: its statistics must come
  from its own weights). Checkpoints ("final", "snapshot") are evaluated exactly as saved.
- Seeds: rng = default_rng(derive_seed(seed, "subspace", METHOD_KEYS[method], PURPOSE_KEYS[purpose])),
  fixed integer keys, so reruns are bit-identical, and a method's samples do not depend on the
  other methods or on the order they are evaluated in.
- Acceptance (random subspace, "ensemble" purpose only: the notebook's diversity plane keeps every
  sample), as the authors' notebook: with accept_min_val_accuracy set, each of the ensemble_samples
  slots gets up to accept_tries draws (each a fresh scale and direction); the first draw reaching
  that validation accuracy is kept, and a slot none of whose draws does is dropped. Kept samples keep
  their slot number as sample id. A run that keeps none fails.
- Diagonal Gaussian, "plane" purpose: the scale is drawn per sample, s = plane_scale * U(0, 1),
  as the notebook does (diagonal_plane_uniform=False: fixed plane_scale). The drawn scale is the
  table's `scale` column.
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from .. import subspace  # noqa: E402
from ..data import evenly_spaced  # noqa: E402
from ..io import ArtifactError, samples_table, write_table  # noqa: E402
from ..seeds import derive_seed  # noqa: E402
from ..shift import CLEAN, ShiftMember  # noqa: E402
from ..subspace import METHODS  # noqa: E402
from ..weights import CheckpointSet  # noqa: E402

# Stable seed sub-keys: never renumber; a new method or purpose gets a new number.
METHOD_KEYS = {"random": 1, "dropout": 2, "diagonal": 3, "lowrank": 4, "averaging": 5}
PURPOSE_KEYS = {"ensemble": 1, "plane": 2}
PURPOSES = ("ensemble", "plane")
SPLITS = ("test", "val")


def method_rng(seed, method, purpose) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, "subspace", METHOD_KEYS[method], PURPOSE_KEYS[purpose]))


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


class SolutionRun:
    """One run's solution, its late checkpoints and ONE compiled model into which weight vectors are set."""

    def __init__(self, *, dataset, checkpoint_paths: dict, final_epoch, seed, late_epochs, batch_size,
                 intra_op_threads, inter_op_threads, rank=None, recompute_batch_norm=True, bn_examples=2000,
                 bn_batch_size=128, log=print):
        from .evaluation import FlatWeights, Forward, batch_norm_layers
        from .models import configure_tensorflow, load_model

        self.paths = {int(e): p for e, p in checkpoint_paths.items()}
        self.final_epoch, self.late = int(final_epoch), [int(e) for e in late_epochs]
        missing = sorted({self.final_epoch, *self.late} - set(self.paths))
        if missing:
            raise ValueError(f"needs the checkpoints of epochs {missing} (final epoch {self.final_epoch}, late "
                             f"epochs {self.late}); got {sorted(self.paths)}")
        self.tf = tf = configure_tensorflow(intra_op_threads, inter_op_threads)
        self.dataset, self.seed, self.rank, self.log = dataset, seed, rank, log
        self.bn_batch_size = bn_batch_size
        with CheckpointSet([self.paths[self.final_epoch]] + [self.paths[e] for e in self.late], "all") as cs:
            variables = cs.variables
            self.theta = cs.flat(0)
            self.late_matrix = np.stack([cs.flat(i) for i in range(1, 1 + len(self.late))])
        self.model = load_model(self.paths[self.final_epoch])
        self.flat = FlatWeights(self.model, variables)
        if self.flat.size != self.theta.size:
            raise ArtifactError(f"checkpoint holds {self.theta.size} trainable parameters, the model {self.flat.size}")
        self.forward = Forward(self.model, batch_size, tf)
        self.has_bn = bool(batch_norm_layers(self.model))
        self.recompute = bool(recompute_batch_norm) and self.has_bn
        self.final_state = [v.numpy() for v in self.model.non_trainable_variables]
        self.bn_images = dataset.x_train[evenly_spaced(len(dataset.y_train), bn_examples)] if self.has_bn else None
        log(f"solution of seed {seed} at epoch {self.final_epoch}: {self.theta.size:,} parameters, late epochs "
            f"{self.late[0]}..{self.late[-1]}" + (f", batch norm re-estimated per sample on {len(self.bn_images)} "
                                                  f"training images" if self.recompute else ""))

    def predict(self, split_or_images, labels=None):
        """(probs, log p_y) of the weights the model holds, on a split name or on images with labels."""
        if isinstance(split_or_images, str):
            split_or_images, labels = self.dataset.split(split_or_images)
        return self.forward(split_or_images, labels)

    def set_vector(self, vector, batch_norm=None):
        """Set trainable parameters; batch-norm statistics re-estimated (batch_norm True, default:
        recompute_batch_norm) or the final checkpoint's."""
        from .evaluation import recompute_batch_norm

        self.flat.assign(vector)
        if self.has_bn and (self.recompute if batch_norm is None else batch_norm):
            recompute_batch_norm(self.model, self.bn_images, self.bn_batch_size, self.tf)
        else:
            for var, value in zip(self.model.non_trainable_variables, self.final_state):
                var.assign(value)

    def set_checkpoint(self, epoch):
        from .models import load_weights
        load_weights(self.model, self.paths[int(epoch)])

    def set_average(self):
        """The weight average of the late checkpoints (batch norm always re-estimated)."""
        self.set_vector(subspace.weight_average(self.late_matrix), batch_norm=True)

    def samples(self, method, purpose, n, scale, accept_min_val_accuracy=None, accept_tries=5,
                diagonal_plane_uniform=True):
        """Set each kept sample into the model in turn; yields (slot, drawn scale, (val probs, val log p_y)).

        The model holds the sample while the caller handles the yielded item. A prefix of n'
        slots is the same whatever n is (the generators are sequential).
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"subspace.{purpose}_samples must be >= 1, got {n}")
        if method not in METHODS or method == "averaging":
            raise ValueError(f"{method!r} is not a sampling method; expected one of {METHODS[:-1]}")
        if method == "dropout" and not 0 <= scale < 1:
            raise ValueError(f"subspace.dropout.{purpose}_scale is the largest drop probability and must be in "
                             f"[0, 1), got {scale}")
        draws = _draws(method, purpose, n, scale, self.theta, self.late_matrix, self.rank,
                       method_rng(self.seed, method, purpose), diagonal_plane_uniform)
        threshold = accept_min_val_accuracy if (method == "random" and purpose == "ensemble") else None
        tries = 1 if threshold is None else int(accept_tries)
        y_val = self.dataset.y_val
        for slot in range(n):
            for _ in range(tries):
                vector, drawn = next(draws)
                self.set_vector(vector)
                val = self.predict("val")
                if threshold is None or np.mean(val[0].argmax(axis=1) == y_val) >= threshold:
                    yield slot, drawn, val
                    break
            else:
                self.log(f"random subspace: slot {slot} dropped (no draw of {tries} reached validation accuracy "
                         f">= {threshold})")


def check_method_settings(method, settings: dict):
    """Fail before any work on an unknown method or settings its samplers would reject later."""
    if method not in METHODS:
        raise ValueError(f"unknown subspace method {method!r}; expected one of {METHODS}")
    if method == "averaging":
        return
    for purpose in PURPOSES:
        n = settings.get(f"{purpose}_samples", 0)
        if int(n) < 1:
            raise ValueError(f"subspace.{purpose}_samples must be >= 1, got {n}")
        scale = settings.get(f"{purpose}_scale", 0.0)
        if method == "dropout" and not 0 <= scale < 1:
            raise ValueError(f"subspace.dropout.{purpose}_scale is the largest drop probability and must be in "
                             f"[0, 1), got {scale}")


def _accuracy(probs, labels) -> float:
    return float(np.mean(probs.argmax(axis=1) == labels))


def sample_method(run: SolutionRun, method, settings: dict, shift: ShiftMember | None = None, shift_samples=None,
                  diagonal_plane_uniform=True) -> pa.Table:
    """One method's samples table; adds its first `shift_samples` ensemble samples (all when None;
    the weight average for averaging) to `shift`, the method's member under dataset shift."""
    check_method_settings(method, settings)
    ds, t0, parts = run.dataset, time.perf_counter(), []
    if method == "averaging":
        run.set_average()
        probs = {split: run.predict(split) for split in SPLITS}
        if shift is not None:
            shift.add(run.predict, clean=probs["test"])
        test_acc = [_accuracy(probs["test"][0], ds.y_test)]
        for purpose in PURPOSES:
            for split in SPLITS:
                parts.append(samples_table(method, purpose, split, [0], [0.0], test_acc, ds.split(split)[1],
                                           probs[split][0][None], probs[split][1][None]))
        run.log(f"weight average: test accuracy {test_acc[0]:.4f} ({time.perf_counter() - t0:.1f}s)")
        return pa.concat_tables(parts)
    threshold = settings.get("accept_min_val_accuracy")
    for purpose in PURPOSES:
        n, scale = int(settings[f"{purpose}_samples"]), settings.get(f"{purpose}_scale", 0.0)
        kept = {split: ([], []) for split in SPLITS}
        slots, scales, test_acc = [], [], []
        for slot, drawn, val in run.samples(method, purpose, n, scale, threshold, settings.get("accept_tries", 5),
                                            diagonal_plane_uniform):
            test = run.predict("test")
            for split, (p, lp) in (("val", val), ("test", test)):
                kept[split][0].append(p)
                kept[split][1].append(lp)
            slots.append(slot)
            scales.append(drawn)
            test_acc.append(_accuracy(test[0], ds.y_test))
            if purpose == "ensemble" and shift is not None and (shift_samples is None or len(slots) <= shift_samples):
                shift.add(run.predict, clean=test)
        if not slots:
            raise RuntimeError(f"random subspace: none of {n} {purpose} samples (scale {scale}) reached validation "
                               f"accuracy >= {threshold} in {settings.get('accept_tries', 5)} draws each; lower "
                               f"subspace.random.accept_min_val_accuracy or subspace.random.ensemble_scale")
        for split in SPLITS:
            parts.append(samples_table(method, purpose, split, slots, scales, test_acc, ds.split(split)[1],
                                       np.stack(kept[split][0]), np.stack(kept[split][1])))
        accepted = f", {len(slots)} of {n} slots kept at val accuracy >= {threshold}" \
            if threshold is not None and purpose == "ensemble" else ""
        run.log(f"{method} {purpose}: {len(slots)} samples at scale {scale}, "
                f"test accuracy mean {np.mean(test_acc):.4f} "
                f"(min {np.min(test_acc):.4f}, max {np.max(test_acc):.4f}){accepted} ({time.perf_counter() - t0:.1f}s)")
    return pa.concat_tables(parts)


def evaluate_solution(*, dataset, checkpoint_paths: dict, final_epoch, seed, late_epochs, methods: dict,
                      sample_paths: dict, shift_sets: dict | None, shift_paths: dict, shift_samples, snapshot_epochs,
                      batch_size, intra_op_threads, inter_op_threads, rank=None, recompute_batch_norm=True,
                      bn_examples=2000, ood_sets: dict | None = None, ood_paths: dict | None = None,
                      provenance=lambda output: {}, log=print):
    """Write every method's samples table (sample_paths[method]), every shift member's table
    (shift_paths[member]: final, snapshot, methods; none when shift_sets is None) and every
    member's OOD table (ood_paths[member]; none without ood_sets).

    methods: method -> its settings (ensemble/plane samples and scales, acceptance).
    shift_sets: corruption -> shift.load_shift_set dict; ood_sets: name -> images (ood.load_ood_set).
    provenance: output name ("samples_<method>", "shift_<member>", "ood_<member>") -> its provenance.
    """
    for method, settings in methods.items():
        check_method_settings(method, settings)
    members = shift_sets is not None or bool(ood_sets)
    missing = sorted(set(map(int, snapshot_epochs)) - set(map(int, checkpoint_paths))) if members else []
    if missing:
        raise ValueError(f"the snapshot member needs the checkpoints of epochs {missing}; "
                         f"got {sorted(checkpoint_paths)}")
    run = SolutionRun(dataset=dataset, checkpoint_paths=checkpoint_paths, final_epoch=final_epoch, seed=seed,
                      late_epochs=late_epochs, batch_size=batch_size, intra_op_threads=intra_op_threads,
                      inter_op_threads=inter_op_threads, rank=rank, recompute_batch_norm=recompute_batch_norm,
                      bn_examples=bn_examples, log=log)

    def member(name):
        if not members:
            return None
        return ShiftMember(name, dataset.x_test, dataset.y_test, shift_sets or {}, ood_sets,
                           val=(dataset.x_val, dataset.y_val) if shift_sets is not None else None)

    def finish(m):
        if m is not None:
            if shift_sets is not None:
                write_table(m.table(), shift_paths[m.name], provenance(f"shift_{m.name}"))
            if ood_sets:
                write_table(m.ood_table(), ood_paths[m.name], provenance(f"ood_{m.name}"))
            log(f"member {m.name}: {m.count} weight vector(s), clean accuracy {m.clean_accuracy():.4f}")

    for name, epochs in (("final", [run.final_epoch]), ("snapshot", list(snapshot_epochs))):
        m = member(name)
        if m is not None:
            for epoch in epochs:
                run.set_checkpoint(epoch)
                m.add(run.predict)
        finish(m)
    for method in sorted(methods, key=METHODS.index):
        m = member(method)
        table = sample_method(run, method, methods[method], m, shift_samples)
        write_table(table, sample_paths[method], provenance(f"samples_{method}"))
        finish(m)
    return run


__all__ = ["CLEAN", "METHODS", "SolutionRun", "evaluate_solution", "method_rng", "sample_method"]
