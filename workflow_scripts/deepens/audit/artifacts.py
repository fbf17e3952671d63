"""What an artifact under results/ is: its kind (from the path scheme of rules/common.smk) and the
provenance it embeds (Parquet key-value metadata, h5 attribute or the npz `meta` array)."""
from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

import h5py
import numpy as np
import pyarrow.parquet as pq

from ..io import PROVENANCE_KEY

PROVENANCE_ATTR = PROVENANCE_KEY.decode()
KINDS = ("dataset", "checkpoint", "history", "predictions", "samples", "shift_set", "shift_predictions",
         "ood_set", "ood_predictions", "connectivity", "representations", "table", "figure", "config", "other")
FIGURE_SUFFIXES = {".png", ".pdf", ".svg"}


def artifact_kind(path) -> str:
    """The kind of a results file, from the path scheme of rules/common.smk."""
    p = PurePosixPath(str(path).replace(os.sep, "/"))
    name = p.name
    if p.parent.parent.name == "connectivity":
        return "connectivity"  # a pair's paths, path predictions, alignment and trained curve
    if name.endswith(".weights.h5"):
        return "checkpoint"
    if name == "history.parquet":
        return "history"
    if name == "predictions.parquet":
        return "predictions"
    if p.suffix == ".parquet" and p.parent.name == "subspace":
        return "samples"  # a run's subspace samples: one table per sampling method
    if p.parent.name == "shift":
        if p.suffix == ".npz":
            return "shift_set"  # one corruption of the test set at every severity
        if p.suffix == ".parquet":
            return "shift_predictions"  # one member of a run on every shift set
    if p.parent.name == "ood":
        if p.suffix == ".npz":
            return "ood_set"  # an out-of-distribution set of images
        if p.suffix == ".parquet":
            return "ood_predictions"  # one member of a run on every OOD set
    if name == "representations.h5":
        return "representations"  # a run's CKA features
    if name == "resolved_config.yaml":
        return "config"  # the run's resolved config (records no provenance: it is the config)
    if p.suffix == ".npz":
        return "dataset"
    if p.suffix == ".parquet":
        return "table"
    if p.suffix in FIGURE_SUFFIXES:
        return "figure"
    return "other"


def iter_artifacts(workdir, results="results", skip=()):
    """Relative posix paths of every file under workdir/results, sorted.

    Hidden files and directories (temporary files of atomic writes, `.resume`, `.scratch`)
    and the directories in `skip` (relative to workdir) are left out.
    """
    workdir = Path(workdir)
    skip = {PurePosixPath(str(s).replace(os.sep, "/")) for s in skip}
    out = []
    root = workdir / results
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = PurePosixPath(Path(dirpath).relative_to(workdir).as_posix())
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and rel_dir / d not in skip)
        for name in filenames:
            if not name.startswith("."):
                out.append(str(rel_dir / name))
    return sorted(out)


def read_artifact_provenance(path, kind=None) -> dict | None:
    """The provenance a job recorded in an artifact, or None (figures record none).

    Parquet: key-value metadata `deepens.provenance`; h5: root attribute of that name;
    npz: the `provenance` key of the JSON `meta` array. Raises on unreadable files.
    """
    path = Path(path)
    kind = kind or artifact_kind(path)
    if path.suffix == ".parquet":
        meta = pq.read_schema(path).metadata or {}
        raw = meta.get(PROVENANCE_KEY)
        return json.loads(raw) if raw is not None else None
    if path.suffix == ".h5":
        with h5py.File(path, "r") as f:
            raw = f.attrs.get(PROVENANCE_ATTR)
        if raw is None:
            return None
        return json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                return None
            meta = json.loads(str(z["meta"]))
        return meta.get("provenance") if isinstance(meta, dict) else None
    return None
