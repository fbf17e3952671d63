"""Robustness under dataset shift, the TensorFlow side: predictions of one run's members on the
corrupted test sets (METHODS.md, Under dataset shift).

A shift set is one corruption at severities 1..5 (deepens.corruptions, or CIFAR-10-C files), saved
by `save_shift_set` as an .npz: `images` (severities x N x H x W x C uint8), `severities`, `labels`
(N) and JSON `meta` (corruption, source, provenance). Severity 0 is the clean test set.

Members of a run (one job each, so adding a subspace method computes only its predictions):
- "final": the final checkpoint;
- a subspace method: the mean softmax of its first `samples` ENSEMBLE samples -- the very weight
  vectors of the run's subspace sample table (same seeds, same acceptance; see
  deepens.subspace_sampling.SubspaceRun) -- i.e. that run's subspace ensemble;
- "averaging": the weight average of the late checkpoints (batch norm re-estimated).
Output: one long table per (run, member), keys (corruption, severity, example), the label and
float32 probabilities prob_0..prob_{C-1}; `samples` says how many weight vectors were averaged.
"""
import json
import os
import time
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from .io import ArtifactError, atomic_path, predictions_table, probabilities, read_table  # noqa: E402

CLEAN = "clean"


def save_shift_set(path, images, severities, labels, meta: dict):
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 5 or images.shape[0] != len(severities) \
            or images.shape[1] != len(labels):
        raise ValueError(f"a shift set is (severities x N x H x W x C) uint8 with one label per image; got "
                         f"{images.dtype} {images.shape}, {len(severities)} severities, {len(labels)} labels")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, images=images, severities=np.asarray(severities, np.int64),
                 labels=np.asarray(labels, np.int64), meta=np.array(json.dumps(meta, sort_keys=True, default=str)))


def load_shift_set(path, y_test=None) -> dict:
    """{'images', 'severities', 'labels', 'meta'}; checks the labels against y_test when given."""
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("images", "severities", "labels", "meta")}
        out["meta"] = json.loads(str(out["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise ArtifactError(f"cannot read shift set {path}: {err}") from err
    if out["images"].dtype != np.uint8 or out["images"].ndim != 5 or out["images"].shape[:2] != (
            len(out["severities"]), len(out["labels"])):
        raise ArtifactError(f"shift set {path}: expected (severities x N x H x W x C) uint8 images, got "
                            f"{out['images'].dtype} {out['images'].shape}")
    if y_test is not None and not np.array_equal(out["labels"], y_test):
        raise ArtifactError(f"shift set {path} is not a corruption of this dataset's test set (labels differ)")
    return out


def shift_table(corruption, severity, labels, probs) -> pa.Table:
    t = predictions_table("test", 0, labels, probs).drop(["split", "epoch"])
    n = len(labels)
    return (t.add_column(0, "severity", pa.array(np.full(n, severity, np.int32)))
             .add_column(0, "corruption", pa.array([corruption] * n, pa.string())))


def read_shift_predictions(path) -> dict:
    """{(corruption, severity): (labels, probs N x C)} of one member's table, and its sample count."""
    t = read_table(path)
    if t.num_rows == 0:
        raise ArtifactError(f"shift predictions {path} hold no rows")
    t = t.sort_by([("corruption", "ascending"), ("severity", "ascending"), ("example", "ascending")])
    corruption = np.asarray(t["corruption"].to_pylist(), object)
    severity, labels = t["severity"].to_numpy(), t["label"].to_numpy()
    probs = probabilities(t)
    out = {}
    keys = np.char.add(corruption.astype(str), "/" + severity.astype(str))
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    for start, count in zip(first, counts):
        out[(corruption[start], int(severity[start]))] = (labels[start:start + count], probs[start:start + count])
    return out, int(t["samples"][0].as_py())


def shift_predictions(*, member, model_name, dataset, shift_sets: dict, checkpoint_paths: dict, final_epoch,
                      seed, batch_size, intra_op_threads, inter_op_threads, samples=None, subspace_settings=None,
                      log=print) -> pa.Table:
    """Predictions of one member of a run on the clean test set and every shift set.

    shift_sets: corruption -> load_shift_set dict. checkpoint_paths: epoch -> path (the final one;
    for subspace members also the late ones). subspace_settings: get_subspace_settings' dict of
    the method (late_fraction, rank, ensemble_samples, ensemble_scale, accept_min_val_accuracy).
    """
    t0 = time.perf_counter()
    inputs = [(CLEAN, 0, dataset.x_test)] + [
        (name, int(sev), s["images"][i]) for name, s in shift_sets.items() for i, sev in enumerate(s["severities"])]
    sums = [np.zeros((len(dataset.y_test), dataset.num_classes), np.float64) for _ in inputs]
    if member == "final":
        from .models import build_model, configure_tensorflow
        from .predict import batched, softmax_fn

        tf = configure_tensorflow(intra_op_threads, inter_op_threads)
        model = build_model(model_name, dataset.input_shape, dataset.num_classes, seed=0)
        path = checkpoint_paths[int(final_epoch)]
        try:
            model.load_weights(path, skip_mismatch=False)
        except Exception as err:  # Keras raises many types for a truncated or foreign file
            raise ArtifactError(f"cannot load checkpoint {path}: {err}") from err
        forward = softmax_fn(model, dataset.input_shape, tf)
        for acc, (_, _, x) in zip(sums, inputs):
            acc += batched(forward, x, batch_size, tf)
        count = 1
    else:
        from .subspace_sampling import SubspaceRun

        s = dict(subspace_settings or {})
        run = SubspaceRun(model_name=model_name, dataset=dataset, checkpoint_paths=checkpoint_paths,
                          final_epoch=final_epoch, seed=seed, method=member, late_fraction=s["late_fraction"],
                          rank=s.get("rank"), batch_size=batch_size, intra_op_threads=intra_op_threads,
                          inter_op_threads=inter_op_threads, log=log)
        if member == "averaging":
            run.set_average()
            for acc, (_, _, x) in zip(sums, inputs):
                acc += run.predict(x)
            count = 1
        else:
            n = int(s["ensemble_samples"] if samples is None else min(int(samples), int(s["ensemble_samples"])))
            count = 0
            for _ in run.samples("ensemble", n, s.get("ensemble_scale", 0.0), s.get("accept_min_val_accuracy")):
                for acc, (_, _, x) in zip(sums, inputs):
                    acc += run.predict(x)
                count += 1
    parts = []
    for acc, (name, severity, _) in zip(sums, inputs):
        probs = (acc / count).astype(np.float32)
        parts.append(shift_table(name, severity, dataset.y_test, probs))
    table = pa.concat_tables(parts)
    table = table.add_column(0, "samples", pa.array(np.full(table.num_rows, count, np.int32)))
    clean = probabilities(parts[0]).argmax(1) == dataset.y_test
    log(f"{member} of seed {seed}: {count} weight vector(s), {len(inputs)} test sets, clean accuracy "
        f"{clean.mean():.4f} ({time.perf_counter() - t0:.1f}s)")
    return table
