"""The per-run CKA feature file (HDF5): what deepens.nets.representations writes and the CKA
tables read (the features themselves: deepens.cka).

File layout (one HDF5 per run, `write_features` / `FeatureWriter`, read by `FeatureFile`)
----------------------------------------------------------------------------------------
    /features/<layer>   float32 (E epochs x F), row e = f(representation of <layer> at epochs[e])
    attrs: format = FORMAT, epochs (int64 array, E), layers (JSON list, the layer order),
           batch_size (n), n_examples (= batches * n), deepens.provenance (JSON)
    F = (n_examples / batch_size) * n (n - 1) / 2.
"""
import contextlib
import json
from pathlib import Path

import h5py
import numpy as np

from .cka import check_n, n_pair_features
from .io import PROVENANCE_KEY, ArtifactError, Closing, atomic_path

FORMAT = "deepens.cka_features/1"
_PROV_ATTR = PROVENANCE_KEY.decode()
_CHUNK_COLUMNS = 1 << 18  # 1 MiB float32 chunks, one epoch row each


# --- the per-run feature file --------------------------------------------------------------

def _check_layout(layers, epochs, batch_size, n_examples):
    layers = [str(x) for x in layers]
    if not layers or len(set(layers)) != len(layers) or any("/" in x or not x for x in layers):
        raise ValueError(f"layers must be distinct non-empty names without '/', got {layers}")
    epochs = np.asarray(epochs, dtype=np.int64).reshape(-1)
    if len(epochs) == 0 or len(np.unique(epochs)) != len(epochs):
        raise ValueError(f"epochs must be distinct, got {epochs.tolist()}")
    batch_size, n_examples = int(batch_size), int(n_examples)
    check_n(batch_size)
    if n_examples <= 0 or n_examples % batch_size:
        raise ValueError(f"n_examples ({n_examples}) must be a positive multiple of batch_size ({batch_size}): "
                         f"the features cover whole batches of the same size n >= 4")
    return layers, epochs, batch_size, n_examples, n_examples // batch_size * n_pair_features(batch_size)


class FeatureWriter:
    """Write a feature file row by row or batch by batch (bounded memory for the writing job).

        with FeatureWriter(path, epochs, layers, batch_size, n_examples, provenance) as w:
            w.put(layer, epoch, batch_features(acts), batch=b)   # or a whole row: batch=None

    The file appears under `path` (atomically) only if the block succeeds and every
    (layer, epoch, batch) was written.
    """

    def __init__(self, path, epochs, layers, batch_size, n_examples, provenance: dict):
        (self.layers, self.epochs, self.batch_size, self.n_examples,
         self.n_features) = _check_layout(layers, epochs, batch_size, n_examples)
        self.path = Path(path)
        self.provenance = provenance
        self.n_batches = self.n_examples // self.batch_size
        self._row = {int(e): i for i, e in enumerate(self.epochs)}
        self._done = np.zeros((len(self.layers), len(self.epochs), self.n_batches), dtype=bool)
        self._stack = None
        self._file = None

    def __enter__(self):
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(self.path, suffix=".tmp.h5"))
            self._file = stack.enter_context(h5py.File(tmp, "w"))
            f = self._file
            f.attrs["format"] = FORMAT
            f.attrs["epochs"] = self.epochs
            f.attrs["layers"] = json.dumps(self.layers)
            f.attrs["batch_size"] = self.batch_size
            f.attrs["n_examples"] = self.n_examples
            f.attrs[_PROV_ATTR] = json.dumps(self.provenance, sort_keys=True, default=str)
            group = f.create_group("features")
            chunks = (1, min(self.n_features, _CHUNK_COLUMNS))
            for layer in self.layers:
                group.create_dataset(layer, shape=(len(self.epochs), self.n_features), dtype=np.float32,
                                     chunks=chunks)
            self._stack = stack.pop_all()
        return self

    def put(self, layer, epoch, values, batch=None):
        """Write the features of (layer, epoch): a whole row (batch=None, length F) or one
        batch's n(n-1)/2 features (batch = its index, 0-based)."""
        try:
            li = self.layers.index(str(layer))
            row = self._row[int(epoch)]
        except (ValueError, KeyError):
            raise ValueError(f"{self.path}: no layer {layer!r} / epoch {epoch} in this file "
                             f"(layers {self.layers}, epochs {self.epochs.tolist()})") from None
        values = np.asarray(values, dtype=np.float32).reshape(-1)
        p = n_pair_features(self.batch_size)
        if batch is None:
            start, stop, done = 0, self.n_features, slice(None)
        else:
            if not 0 <= int(batch) < self.n_batches:
                raise ValueError(f"batch {batch} out of range 0..{self.n_batches - 1}")
            start, stop, done = int(batch) * p, (int(batch) + 1) * p, int(batch)
        if values.size != stop - start:
            raise ValueError(f"{self.path}: layer {layer!r} epoch {epoch}: expected {stop - start} features "
                             f"(batch_size {self.batch_size}), got {values.size}")
        self._file["features"][self.layers[li]][row, start:stop] = values
        self._done[li, row, done] = True

    def __exit__(self, exc_type, exc, tb):
        stack, self._stack = self._stack, None
        if exc_type is None and not self._done.all():
            li, row, b = np.argwhere(~self._done)[0]
            err = ValueError(f"{self.path}: features of layer {self.layers[li]!r}, epoch {self.epochs[row]}, "
                             f"batch {b} were never written ({int((~self._done).sum())} batches missing)")
            try:
                stack.__exit__(type(err), err, None)
            finally:
                self._file = None
            raise err
        try:
            return stack.__exit__(exc_type, exc, tb)
        finally:
            self._file = None


def write_features(path, features: dict, epochs, layers, batch_size, n_examples, provenance: dict):
    """Write a run's features: features[layer] is an (E epochs x F) array, rows in `epochs` order."""
    with FeatureWriter(path, epochs, layers, batch_size, n_examples, provenance) as w:
        extra = set(map(str, features)) - set(w.layers)
        if extra:
            raise ValueError(f"features given for layers not in `layers`: {sorted(extra)}")
        for layer in w.layers:
            if layer not in features:
                raise ValueError(f"no features given for layer {layer!r}")
            arr = np.asarray(features[layer])
            if arr.shape != (len(w.epochs), w.n_features):
                raise ValueError(f"features[{layer!r}] has shape {arr.shape}, expected "
                                 f"({len(w.epochs)} epochs, {w.n_features} features)")
            for e, row in zip(w.epochs, arr):
                w.put(layer, e, row)


class FeatureFile(Closing):
    """An open feature file: metadata, layer datasets and epoch rows, with clear errors."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:  # missing (FileNotFoundError), truncated or not HDF5
            raise ArtifactError(f"cannot read CKA feature file {self.path}: {err}") from err
        try:
            a = self._file.attrs
            if a.get("format") != FORMAT:
                raise ArtifactError(f"{self.path} is not a CKA feature file (format {a.get('format')!r}, "
                                    f"expected {FORMAT!r})")
            self.epochs = np.asarray(a["epochs"], dtype=np.int64).reshape(-1)
            self.layers = list(json.loads(a["layers"]))
            self.batch_size = int(a["batch_size"])
            self.n_examples = int(a["n_examples"])
            self.provenance = json.loads(a.get(_PROV_ATTR, "{}"))
            self.n_features = self.n_examples // self.batch_size * n_pair_features(self.batch_size)
            self._row = {int(e): i for i, e in enumerate(self.epochs)}
            for layer in self.layers:
                shape = self.dataset(layer).shape
                if shape != (len(self.epochs), self.n_features):
                    raise ArtifactError(f"{self.path}: features/{layer} has shape {shape}, expected "
                                        f"({len(self.epochs)}, {self.n_features})")
        except (KeyError, ValueError, TypeError, OSError) as err:
            self.close()
            if isinstance(err, ArtifactError):
                raise
            raise ArtifactError(f"corrupt CKA feature file {self.path}: {err!r}") from err
        except BaseException:
            self.close()
            raise

    def close(self):
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    def dataset(self, layer) -> h5py.Dataset:
        try:
            return self._file["features"][str(layer)]
        except (KeyError, ValueError) as err:
            raise ArtifactError(f"{self.path} has no features for layer {layer!r} "
                                f"(layers: {self.layers})") from err

    def row(self, epoch) -> int:
        try:
            return self._row[int(epoch)]
        except KeyError:
            raise ArtifactError(f"{self.path} has no features for epoch {epoch} "
                                f"(epochs: {self.epochs.tolist()})") from None

    def read(self, layer, epoch) -> np.ndarray:
        """One whole (layer, epoch) feature vector, float64 (for tests and small files)."""
        return np.asarray(self.dataset(layer)[self.row(epoch)], dtype=np.float64)

    def layer_index(self, layer) -> int:
        if layer not in self.layers:
            raise ArtifactError(f"{self.path} has no features for layer {layer!r} (layers: {self.layers})")
        return self.layers.index(layer)


def check_compatible(files):
    first = files[0]
    for f in files[1:]:
        for attr in ("batch_size", "n_examples", "layers", "n_features"):
            if getattr(f, attr) != getattr(first, attr):
                raise ArtifactError(f"CKA feature file {f.path} has {attr} {getattr(f, attr)!r}, but "
                                    f"{first.path} has {getattr(first, attr)!r}")
