"""A training run's checkpoints and its resumable state.

Every epoch's checkpoint (with the optimizer's state) and the history rows that mark the epoch
complete are written to a resume directory outside the job's outputs first; the published
checkpoints (model variables only) are written from there when training ends.
"""
import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np

from ..io import PROVENANCE_KEY, atomic_path
from ..weights import MANIFEST_ATTR, MODEL_ATTR

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def save_checkpoint(model, manifest, path, epoch, provenance):
    """Keras 3 .weights.h5 plus a variable manifest, the model spec and provenance, written atomically.

    The file holds the optimizer's state too (Keras saves a compiled model's optimizer): that is
    the resume state; `publish_weights` writes the published checkpoints without it."""
    with atomic_path(path, suffix=".tmp.weights.h5") as tmp:
        model.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs[MANIFEST_ATTR] = json.dumps(manifest)
            f.attrs[MODEL_ATTR] = json.dumps(model.spec, sort_keys=True)
            f.attrs["epoch"] = epoch
            f.attrs[PROVENANCE_KEY.decode()] = json.dumps(provenance, sort_keys=True, default=str)


def publish_weights(source, path):
    """Copy a resume checkpoint to `path` (atomically) without the optimizer: the published
    checkpoint holds the model's variables, their manifest, the model spec and provenance only,
    so readers taking every float dataset get the weights and nothing else (a third of the bytes
    for Adam). Same source content, same bytes."""
    with atomic_path(path, suffix=".tmp.weights.h5") as tmp, h5py.File(source, "r") as src, \
            h5py.File(tmp, "w") as dst:
        for key in sorted(src.attrs):
            dst.attrs[key] = src.attrs[key]
        for name in sorted(src):
            if name != "optimizer":
                src.copy(src[name], dst, name=name)


class ResumeState:
    """Durable training state outside the job's declared outputs.

    Snakemake deletes a failed job's outputs before rerunning it, so every epoch's
    checkpoint (with optimizer state) is first written here, then the history that marks
    the epoch complete; the final outputs are linked from here when training ends. A
    fingerprint of everything that shapes the weights guards against resuming a different run.
    """

    def __init__(self, directory, fingerprint: str, log=print):
        self.dir = Path(directory)
        self.fingerprint = fingerprint
        self.log = log

    def checkpoint(self, epoch: int) -> Path:
        return self.dir / f"epoch{epoch:03d}.weights.h5"

    def load(self) -> list[dict]:
        """History rows of the completed epochs whose checkpoints exist (empty: start afresh)."""
        state_path = self.dir / "state.json"
        if not state_path.exists():
            return []
        try:
            state = json.loads(state_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            self.log(f"ignoring unreadable resume state {state_path}: {err}")
            return []
        if state.get("fingerprint") != self.fingerprint:
            self.log(f"resume state in {self.dir} belongs to other settings; starting afresh")
            return []
        rows = state["history"]
        while rows and not self.checkpoint(rows[-1]["epoch"]).exists():
            rows = rows[:-1]
        return rows if self.checkpoint(0).exists() else []

    def save(self, rows: list[dict]):
        with atomic_path(self.dir / "state.json") as tmp:
            tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "history": rows}))

    def publish(self, paths):
        """Every epoch's checkpoint at its final path, without the optimizer (publish_weights)."""
        for epoch, path in enumerate(paths):
            publish_weights(self.checkpoint(epoch), path)

    def clear(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def run_fingerprint(dataset, **settings) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name in ("x_train", "y_train", "x_val", "y_val"):
        h.update(np.ascontiguousarray(getattr(dataset, name)).tobytes())
    return h.hexdigest()
