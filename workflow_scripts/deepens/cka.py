"""Linear CKA between layer representations, in the minibatch form of Nguyen, Raghu & Kornblith.

Nothing here imports TensorFlow: the training/prediction job turns each minibatch of layer
activations into a *feature vector* (numpy only), stores the vectors of every (epoch, layer)
in one HDF5 file per run, and analysis jobs get the CKA of many (checkpoint, layer)
representations from ONE blocked Gram product of those vectors, as the weight-cosine tables do.

Maths
-----
For a minibatch of n examples with activations X (n x p, each example flattened),
K = X X^T (float64). The unbiased HSIC estimator (Song et al. 2012, "Feature selection via
dependence maximization", JMLR 13, eq. 5; Nguyen et al. 2021, eq. 3) is, with K~, L~ the Grams
with zeroed diagonal,

    HSIC_1(K, L) = 1/(n(n-3)) [ tr(K~ L~) + (1'K~1)(1'L~1)/((n-1)(n-2)) - 2/(n-2) 1'K~L~1 ].

Equivalently (Szekely & Rizzo 2014, "Partial distance correlation with methods for
dissimilarities", Ann. Stat. 42(6), Sec. 4.1; the form used by Nguyen et al.'s released code),
with the U-centred matrix, for i != j (r_i the row sums of K~, T = 1'K~1),

    U(K)_ij = K_ij - r_i/(n-2) - r_j/(n-2) + T/((n-1)(n-2)),   U(K)_ii = 0,

    HSIC_1(K, L) = 1/(n(n-3)) sum_{i != j} U(K)_ij U(L)_ij.

Minibatch CKA over batches k = 1..B of equal size n (Nguyen et al. 2021, eq. 2):

    CKA = mean_k HSIC_1(K_k, L_k) / sqrt(mean_k HSIC_1(K_k, K_k) * mean_k HSIC_1(L_k, L_k)).

U(K) is symmetric, so with f_k(X) = sqrt(2/(n(n-3))) * (U(K_k)_ij for i < j) and f(X) the
concatenation of f_k over the batches, <f(X), f(Y)> = sum_k HSIC_1(K_k, L_k), and the
minibatch CKA is the cosine of f(X) and f(Y). The batches must all have the same size n >= 4
and be the same examples, in the same order, for every representation compared.

File layout (one HDF5 per run, `write_features` / `FeatureWriter`, read by `FeatureFile`)
----------------------------------------------------------------------------------------
    /features/<layer>   float32 (E epochs x F), row e = f(representation of <layer> at epochs[e])
    attrs: format = FORMAT, epochs (int64 array, E), layers (JSON list, the layer order),
           batch_size (n), n_examples (= batches * n), deepens.provenance (JSON)
    F = (n_examples / batch_size) * n (n - 1) / 2.
"""
import contextlib
import functools
import json
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa

from .io import PROVENANCE_KEY, ArtifactError, atomic_path

FORMAT = "deepens.cka_features/1"
LAYERS_META_KEY = b"deepens.cka.layers"
_PROV_ATTR = PROVENANCE_KEY.decode()
_CHUNK_COLUMNS = 1 << 18  # 1 MiB float32 chunks, one epoch row each


# --- the estimator -----------------------------------------------------------------------

def _check_n(n, what="minibatch"):
    if n < 4:
        raise ValueError(f"{what} has {n} examples: unbiased HSIC / minibatch CKA needs batches of "
                         f"the same size n >= 4")


def _check_square(k, name="K"):
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be a square (n x n) Gram matrix, got shape {k.shape}")
    _check_n(k.shape[0], f"Gram matrix {name}")
    return k


def gram(acts) -> np.ndarray:
    """Linear Gram matrix X X^T (float64) of activations (n, ...) flattened per example."""
    x = np.asarray(acts)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"activations must have shape (n, ...) with n >= 4, got {x.shape}")
    x = x.reshape(x.shape[0], -1).astype(np.float64, copy=False)
    return x @ x.T


def u_centre(k) -> np.ndarray:
    """U-centred matrix of a symmetric (n x n) Gram (Szekely & Rizzo 2014): zero diagonal,
    zero row and column sums."""
    k = _check_square(k).copy()
    n = k.shape[0]
    np.fill_diagonal(k, 0.0)
    means = k.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))  # r_j/(n-2) - T/(2(n-1)(n-2))
    k -= means[:, None]
    k -= means[None, :]
    np.fill_diagonal(k, 0.0)
    return k


def hsic_unbiased(k, l) -> float:
    """HSIC_1 of Song et al. (2012), the direct formula (the reference for the tests)."""
    k, l = _check_square(k, "K").copy(), _check_square(l, "L").copy()
    if k.shape != l.shape:
        raise ValueError(f"K and L cover different numbers of examples: {k.shape} vs {l.shape}")
    n = k.shape[0]
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones = np.ones(n)
    trace = np.sum(k * l.T)  # tr(K~ L~)
    middle = (ones @ k @ ones) * (ones @ l @ ones) / ((n - 1) * (n - 2))
    last = 2.0 / (n - 2) * ((ones @ k) @ (l @ ones))
    return float((trace + middle - last) / (n * (n - 3)))


@functools.lru_cache(maxsize=8)
def _upper(n):
    return np.triu_indices(n, 1)


def n_pair_features(batch_size: int) -> int:
    """Length n(n-1)/2 of one batch's feature vector."""
    return batch_size * (batch_size - 1) // 2


def hsic_features(k) -> np.ndarray:
    """sqrt(2/(n(n-3))) * upper triangle (i < j) of U(K): 1-D float64, length n(n-1)/2.

    <hsic_features(K), hsic_features(L)> = hsic_unbiased(K, L)."""
    u = u_centre(k)
    n = u.shape[0]
    return u[_upper(n)] * np.sqrt(2.0 / (n * (n - 3)))


def batch_features(acts) -> np.ndarray:
    """Feature vector of one minibatch of activations (n, ...): hsic_features(gram(acts))."""
    return hsic_features(gram(acts))


def _check_batches(batches, name):
    if len(batches) == 0:
        raise ValueError(f"{name}: no batches given")
    sizes = {np.shape(b)[0] for b in batches}
    if len(sizes) != 1:
        raise ValueError(f"{name}: batches have sizes {sorted(sizes)}; minibatch CKA needs batches of "
                         f"the same size n >= 4")
    _check_n(sizes.pop(), f"{name} batch")


def minibatch_features(batches) -> np.ndarray:
    """f(X): the concatenated batch_features of a list of per-batch activations."""
    _check_batches(batches, "activations")
    return np.concatenate([batch_features(b) for b in batches])


def cka_minibatch(xs, ys) -> float:
    """Minibatch linear CKA of two representations given as lists of per-batch activations
    (the same examples, batch by batch). Reference implementation through hsic_unbiased."""
    _check_batches(xs, "xs")
    _check_batches(ys, "ys")
    if len(xs) != len(ys) or np.shape(xs[0])[0] != np.shape(ys[0])[0]:
        raise ValueError(f"xs and ys must be the same batches: {len(xs)} x {np.shape(xs[0])[0]} vs "
                         f"{len(ys)} x {np.shape(ys[0])[0]} examples")
    xy = xx = yy = 0.0
    for x, y in zip(xs, ys):
        k, l = gram(x), gram(y)
        xy += hsic_unbiased(k, l)
        xx += hsic_unbiased(k, k)
        yy += hsic_unbiased(l, l)
    return float(xy / np.sqrt(xx * yy))


def cka_from_features(features) -> np.ndarray:
    """Unblocked CKA matrix of the rows of a (K x F) feature matrix (cosines)."""
    f = np.asarray(features, dtype=np.float64)
    return _cosine(f @ f.T)


def _cosine(g):
    norms = np.sqrt(np.clip(np.diag(g), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(g / np.outer(norms, norms), -1.0, 1.0)


# --- the per-run feature file --------------------------------------------------------------

def _check_layout(layers, epochs, batch_size, n_examples):
    layers = [str(x) for x in layers]
    if not layers or len(set(layers)) != len(layers) or any("/" in x or not x for x in layers):
        raise ValueError(f"layers must be distinct non-empty names without '/', got {layers}")
    epochs = np.asarray(epochs, dtype=np.int64).reshape(-1)
    if len(epochs) == 0 or len(np.unique(epochs)) != len(epochs):
        raise ValueError(f"epochs must be distinct, got {epochs.tolist()}")
    batch_size, n_examples = int(batch_size), int(n_examples)
    _check_n(batch_size)
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


class FeatureFile:
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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

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


def _check_compatible(files):
    first = files[0]
    for f in files[1:]:
        for attr in ("batch_size", "n_examples", "layers", "n_features"):
            if getattr(f, attr) != getattr(first, attr):
                raise ArtifactError(f"CKA feature file {f.path} has {attr} {getattr(f, attr)!r}, but "
                                    f"{first.path} has {getattr(first, attr)!r}")


# --- blocked Gram products and the tables ---------------------------------------------------

def _column_ranges(n_features, n_vectors, block_elements):
    """Consecutive column ranges whose (n_vectors x width) block holds <= block_elements
    values (at least one column)."""
    width = max(1, int(block_elements) // max(1, n_vectors))
    return [(a, min(a + width, n_features)) for a in range(0, n_features, width)]


def _blocked_gram(read_block, n_vectors, n_features, block_elements):
    """sum over column blocks of B B^T (float64), B = read_block(a, b) of shape (K, b - a)."""
    g = np.zeros((n_vectors, n_vectors), dtype=np.float64)
    for a, b in _column_ranges(n_features, n_vectors, block_elements):
        block = read_block(a, b)
        g += block @ block.T
        del block  # free it before the next block is read: peak memory ~ one block
    return g


def _pairs(rows, matrix, keep=None):
    """Long table of ordered pairs (a, b) of `rows` (list of (seed, layer, layer_index, epoch))."""
    k = len(rows)
    a, b = np.divmod(np.arange(k * k), k)
    if keep is not None:
        mask = keep(a, b)
        a, b = a[mask], b[mask]
    seed, layer, index, epoch = zip(*rows)
    cols = {}
    for side, idx in (("a", a), ("b", b)):
        cols[f"seed_{side}"] = pa.array(np.asarray(seed, np.int64)[idx])
        cols[f"layer_{side}"] = pa.array(np.asarray(layer, dtype=object)[idx], pa.string())
        cols[f"layer_index_{side}"] = pa.array(np.asarray(index, np.int32)[idx])
        cols[f"epoch_{side}"] = pa.array(np.asarray(epoch, np.int32)[idx])
    cols["cka"] = pa.array(matrix[a, b].astype(np.float64))
    return cols


_COLUMNS = ["seed_a", "layer_a", "layer_index_a", "epoch_a", "seed_b", "layer_b", "layer_index_b", "epoch_b", "cka"]


def _table(cols, layers):
    table = pa.table({c: cols[c] for c in _COLUMNS})
    return table.replace_schema_metadata({LAYERS_META_KEY: json.dumps(layers).encode()})


def _select_layers(f, layers):
    layers = list(f.layers) if layers is None else [str(x) for x in layers]
    for layer in layers:
        f.layer_index(layer)  # raises naming the file
    return layers


def cross_seed_table(paths_by_seed: dict, epoch, layers=None, block_elements=4_000_000, log=None) -> pa.Table:
    """CKA of every (seed_a, layer_a) x (seed_b, layer_b) at one epoch (layer x layer within a
    seed included), from one blocked Gram product over the feature axis."""
    if not paths_by_seed:
        raise ValueError("no feature files given")
    with contextlib.ExitStack() as stack:
        files = {s: stack.enter_context(FeatureFile(p)) for s, p in paths_by_seed.items()}
        first = next(iter(files.values()))
        _check_compatible(list(files.values()))
        layers = _select_layers(first, layers)
        sources, rows = [], []
        for seed, f in files.items():
            r = f.row(epoch)
            for layer in layers:
                sources.append((f.dataset(layer), r))
                rows.append((int(seed), layer, first.layer_index(layer), int(epoch)))
        if log:
            log(f"{len(files)} runs x {len(layers)} layers at epoch {epoch}: {len(rows)} vectors of "
                f"{first.n_features:,} features")

        def read_block(a, b):
            out = np.empty((len(sources), b - a), dtype=np.float64)
            for i, (ds, r) in enumerate(sources):
                out[i] = ds[r, a:b]
            return out

        g = _blocked_gram(read_block, len(sources), first.n_features, block_elements)
    return _table(_pairs(rows, _cosine(g)), first.layers)


def trajectory_table(path, layers=None, seed=None, epochs=None, block_elements=4_000_000, log=None) -> pa.Table:
    """CKA of every (epoch_a, epoch_b) of one run, for the same layer, from one blocked Gram
    product over the feature axis. `seed` defaults to the file's provenance["seed"]."""
    with FeatureFile(path) as f:
        layers = _select_layers(f, layers)
        if seed is None:
            seed = f.provenance.get("seed")
            if seed is None:
                raise ArtifactError(f"{f.path}: no seed given and none in its provenance")
        epochs = f.epochs if epochs is None else np.asarray(epochs, np.int64).reshape(-1)
        if len(np.unique(epochs)) != len(epochs):
            raise ValueError(f"epochs must be distinct, got {epochs.tolist()}")
        picked = np.asarray([f.row(e) for e in epochs], dtype=np.int64)
        order = np.argsort(picked)  # h5py reads rows in increasing order
        all_rows = np.array_equal(picked, np.arange(len(f.epochs)))
        datasets = [f.dataset(layer) for layer in layers]
        e = len(picked)
        if log:
            log(f"{f.path}: {len(layers)} layers x {e} epochs, {f.n_features:,} features")

        def read_block(a, b):
            out = np.empty((len(datasets) * e, b - a), dtype=np.float64)
            for li, ds in enumerate(datasets):
                if all_rows:
                    out[li * e:(li + 1) * e] = ds[:, a:b]
                else:
                    out[li * e + order] = ds[np.sort(picked), a:b]
            return out

        g = _blocked_gram(read_block, len(datasets) * e, f.n_features, block_elements)
        rows = [(int(seed), layer, f.layer_index(layer), int(ep)) for layer in layers for ep in epochs]
        cols = _pairs(rows, _cosine(g), keep=lambda a, b: a // e == b // e)
        return _table(cols, f.layers)


def cka_table(runs: dict, pairs="final", layers=None, epoch=None, epochs=None, block_elements=4_000_000,
              log=None) -> pa.Table:
    """The long CKA table of runs {seed: feature file}.

    pairs="final": cross_seed_table at `epoch` (default: the last epoch of the first run, which
    every run must have). pairs="trajectory": trajectory_table of every run, concatenated.
    """
    if not runs:
        raise ValueError("no feature files given")
    if pairs == "final":
        if epoch is None:
            with FeatureFile(next(iter(runs.values()))) as f:
                epoch = int(f.epochs.max())
        return cross_seed_table(runs, epoch, layers, block_elements, log)
    if pairs == "trajectory":
        with contextlib.ExitStack() as stack:  # check compatibility before the long reads
            _check_compatible([stack.enter_context(FeatureFile(p)) for p in runs.values()])
        tables = [trajectory_table(p, layers, seed, epochs, block_elements, log) for seed, p in runs.items()]
        return pa.concat_tables(tables)
    raise ValueError(f"pairs must be 'final' or 'trajectory', got {pairs!r}")
