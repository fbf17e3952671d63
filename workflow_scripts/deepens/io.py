"""File contracts: atomic writes, Parquet tables with provenance, checkpoint weights via h5py.

Nothing here imports TensorFlow: analysis jobs read checkpoints and predictions through
this module alone.
"""
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PROVENANCE_KEY = b"deepens.provenance"
LOG_PROB = "log_prob_label"  # column: natural log-probability of the label, from the log-softmax


_UMASK = os.umask(0)
os.umask(_UMASK)


class Closing:
    """`with X(...) as x:` closes x at the end of the block (x.close())."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ArtifactError(ValueError):
    """A file the workflow made or was given is missing, truncated or malformed."""


@contextlib.contextmanager
def atomic_path(path, suffix=".tmp"):
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds.

    A killed or failing job never leaves a truncated file under the final name. `suffix`
    lets writers that insist on an extension (Keras wants `.weights.h5`) have it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are shared like any file
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_table(table: pa.Table, path, provenance: dict, row_group_size=None):
    """Write a Parquet table (zstd) atomically, provenance as JSON key-value metadata."""
    meta = dict(table.schema.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_size)


def read_table(path, columns=None, filters=None) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns, filters=filters)
    except (OSError, pa.ArrowException) as err:
        raise ArtifactError(f"cannot read Parquet table {path}: {err}") from err


def read_provenance(path) -> dict:
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException) as err:
        raise ArtifactError(f"cannot read Parquet table {path}: {err}") from err
    return json.loads(meta.get(PROVENANCE_KEY, b"{}"))


# --- predictions -----------------------------------------------------------------------
# One table per run: keys (split, epoch, example), label, log_prob_label (float64: the exact
# log-probability of the label, so no NLL is floored), prob_0..prob_{C-1} (float32).

def label_log_prob(probs, labels) -> np.ndarray:
    """log p_y from probabilities alone: exact only where p_y is representable (tests, fixtures)."""
    py = np.take_along_axis(np.asarray(probs, np.float64), np.asarray(labels)[:, None], axis=-1)[:, 0]
    with np.errstate(divide="ignore"):
        return np.log(py)


def predictions_table(split, epoch, labels, probs, log_prob_label=None) -> pa.Table:
    """log_prob_label: log p_y per example from the network's log-softmax; None derives it from
    probs (exact unless p_y underflowed; writers of real predictions pass it)."""
    n, c = probs.shape
    labels = np.asarray(labels, np.int32)
    logp = label_log_prob(probs, labels) if log_prob_label is None else np.asarray(log_prob_label, np.float64)
    if logp.shape != (n,):
        raise ValueError(f"log_prob_label must hold one value per example ({n}), got shape {logp.shape}")
    cols = {"split": pa.array([split] * n, pa.string()).dictionary_encode(),
            "epoch": pa.array(np.full(n, epoch, np.int32)),
            "example": pa.array(np.arange(n, dtype=np.int32)),
            "label": pa.array(labels), LOG_PROB: pa.array(logp)}
    cols.update({f"prob_{k}": pa.array(np.asarray(probs[:, k], np.float32)) for k in range(c)})
    return pa.table(cols)


def log_probs_of(table: pa.Table, path="predictions") -> np.ndarray:
    if LOG_PROB not in table.column_names:
        raise ArtifactError(f"{path} has no '{LOG_PROB}' column (made by an older version? rerun it)")
    return table[LOG_PROB].to_numpy()


def probabilities(table: pa.Table) -> np.ndarray:
    """The (rows x classes) float32 probability matrix of a predictions table."""
    names = sorted((c for c in table.column_names if c.startswith("prob_")), key=lambda c: int(c[5:]))
    if not names:
        raise ArtifactError("predictions table has no prob_* columns")
    return np.stack([table[c].to_numpy() for c in names], axis=1)


class RunPredictions(NamedTuple):
    """One run's predictions on one split: probs (epochs x examples x classes) float32,
    log_prob_label (epochs x examples) float64."""
    epochs: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    log_prob_label: np.ndarray


def read_predictions(path, split="test") -> RunPredictions:
    """One run's predictions on `split`, sorted by epoch and example."""
    t = read_table(path, filters=[("split", "=", split)])
    if t.num_rows == 0:
        raise ArtifactError(f"predictions {path} hold no rows for split {split!r}")
    t = t.sort_by([("epoch", "ascending"), ("example", "ascending")])
    ep, ex = t["epoch"].to_numpy(), t["example"].to_numpy()
    epochs = np.unique(ep)
    n = t.num_rows // len(epochs)
    if not (n * len(epochs) == t.num_rows and np.array_equal(ep, np.repeat(epochs, n))
            and np.array_equal(ex, np.tile(ex[:n], len(epochs)))):
        raise ArtifactError(f"predictions {path}: split {split!r} is not a full epoch x example grid")
    probs = probabilities(t)
    labels = t["label"].to_numpy()[:n]
    return RunPredictions(epochs, labels, probs.reshape(len(epochs), n, -1),
                          log_probs_of(t, f"predictions {path}").reshape(len(epochs), n))


def iter_runs(prediction_paths, split="test"):
    """Yield RunPredictions per run, one at a time (only one run is held in memory), checking
    that every run covers the same epochs, examples and classes as the first."""
    ref = first = None
    for path in prediction_paths:
        run = read_predictions(path, split)
        if ref is None:
            ref, first = (run.epochs, run.labels, run.probs.shape[-1]), path
        elif not (np.array_equal(run.epochs, ref[0]) and np.array_equal(run.labels, ref[1])
                  and run.probs.shape[-1] == ref[2]):
            raise ArtifactError(f"predictions {path} cover other epochs, examples or classes than {first} "
                                f"(split {split!r})")
        yield run
        del run  # release this run before the next one is read


# --- subspace samples ------------------------------------------------------------------
# One table per (run, method): keys (purpose, sample, split, example), the sample's method,
# drawn scale and test accuracy, the label and float32 probabilities prob_0..prob_{C-1}.
# purpose: "ensemble" (samples for the Section-5 ensembles) or "plane" (the wider samples
# of the diversity-accuracy plane).

def samples_table(method, purpose, split, sample_ids, scales, test_accuracies, labels, probs,
                  log_prob_label=None) -> pa.Table:
    """probs: (samples x examples x classes) for one split and purpose; log_prob_label (samples x
    examples), None to derive it from probs (see predictions_table)."""
    s, n, _ = probs.shape
    parts = []
    for i in range(s):
        t = predictions_table(split, 0, labels, probs[i], None if log_prob_label is None else log_prob_label[i])
        t = t.drop(["epoch"])
        parts.append(t.add_column(0, "sample", pa.array(np.full(n, sample_ids[i], np.int32)))
                      .add_column(0, "test_accuracy", pa.array(np.full(n, test_accuracies[i], np.float64)))
                      .add_column(0, "scale", pa.array(np.full(n, scales[i], np.float64)))
                      .add_column(0, "purpose", pa.array([purpose] * n, pa.string()).dictionary_encode())
                      .add_column(0, "method", pa.array([method] * n, pa.string()).dictionary_encode()))
    return pa.concat_tables(parts)


def read_samples(path, split="test", purpose="ensemble") -> dict:
    """One run's samples of one method: sample ids, scales, test accuracies, labels, probs (S x N x C)."""
    t = read_table(path, filters=[("split", "=", split), ("purpose", "=", purpose)])
    if t.num_rows == 0:
        return {"sample": np.zeros(0, np.int32), "scale": np.zeros(0), "test_accuracy": np.zeros(0),
                "labels": None, "probs": None, "log_prob_label": None, "method": None}
    t = t.sort_by([("sample", "ascending"), ("example", "ascending")])
    sample = t["sample"].to_numpy()
    ids, first = np.unique(sample, return_index=True)
    n = t.num_rows // len(ids)
    if n * len(ids) != t.num_rows or not np.array_equal(sample, np.repeat(ids, n)):
        raise ArtifactError(f"samples {path}: split {split!r}, purpose {purpose!r} is not a full sample x example grid")
    return {"sample": ids, "scale": t["scale"].to_numpy()[first], "test_accuracy": t["test_accuracy"].to_numpy()[first],
            "labels": t["label"].to_numpy()[:n], "probs": probabilities(t).reshape(len(ids), n, -1),
            "log_prob_label": log_probs_of(t, f"samples {path}").reshape(len(ids), n), "method": t["method"][0].as_py()}
