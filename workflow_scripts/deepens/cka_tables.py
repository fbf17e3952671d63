"""CKA tables from the per-run feature files (deepens.cka_features): across seeds at one epoch,
and along one run's trajectory; every value from one blocked Gram product of feature vectors."""
import contextlib
import json

import numpy as np
import pyarrow as pa

from .cka_features import FeatureFile, check_compatible
from .io import ArtifactError
from .metrics import cosine_from_blocks

LAYERS_META_KEY = b"deepens.cka.layers"


# --- blocked Gram products and the tables ---------------------------------------------------

def _column_ranges(n_features, n_vectors, block_elements):
    """Consecutive column ranges whose (n_vectors x width) block holds <= block_elements
    values (at least one column)."""
    width = max(1, int(block_elements) // max(1, n_vectors))
    return [(a, min(a + width, n_features)) for a in range(0, n_features, width)]


def _blocked_cosines(read_block, n_vectors, n_features, block_elements):
    """Cosines of K vectors read as column blocks read_block(a, b) of shape (K, b - a): one
    blocked Gram product (metrics.cosine_from_blocks; peak memory ~ one block)."""
    blocks = (read_block(a, b) for a, b in _column_ranges(n_features, n_vectors, block_elements))
    return cosine_from_blocks(blocks)


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
        check_compatible(list(files.values()))
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

        cos = _blocked_cosines(read_block, len(sources), first.n_features, block_elements)
    return _table(_pairs(rows, cos), first.layers)


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

        cos = _blocked_cosines(read_block, len(datasets) * e, f.n_features, block_elements)
        rows = [(int(seed), layer, f.layer_index(layer), int(ep)) for layer in layers for ep in epochs]
        cols = _pairs(rows, cos, keep=lambda a, b: a // e == b // e)
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
            check_compatible([stack.enter_context(FeatureFile(p)) for p in runs.values()])
        tables = [trajectory_table(p, layers, seed, epochs, block_elements, log) for seed, p in runs.items()]
        return pa.concat_tables(tables)
    raise ValueError(f"pairs must be 'final' or 'trajectory', got {pairs!r}")
