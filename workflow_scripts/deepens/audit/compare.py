"""Comparing a re-derived artifact with its original: content by format (h5, Parquet, npz, bytes),
bit for bit, and the provenance records (params, code digest, packages, device)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..io import PROVENANCE_KEY
from ..provenance import sha256_file
from .artifacts import PROVENANCE_ATTR, artifact_kind

# Each compare_* returns None when the contents are identical, else one line naming where
# they first differ (original value first, re-derived second).

def _fmt(value) -> str:
    if isinstance(value, np.generic):
        return str(value)  # numpy's shortest round-trip repr of that dtype
    if isinstance(value, bytes):
        return repr(value[:60])
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bits(array: np.ndarray) -> np.ndarray:
    """Floats as their bit patterns: NaN equals NaN with the same bits, 0.0 differs from -0.0."""
    if array.dtype.kind in "fc":
        return np.ascontiguousarray(array).view(f"u{array.dtype.itemsize}" if array.dtype.kind == "f"
                                                else f"u{array.dtype.itemsize // 2}")
    return array


def _same_value(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def compare_arrays(a: np.ndarray, b: np.ndarray, what: str) -> str | None:
    """Exact (bitwise) comparison of two numpy arrays: dtype, shape, then the first element."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype:
        return f"{what} dtype: {a.dtype} vs {b.dtype}"
    if a.shape != b.shape:
        return f"{what} shape: {a.shape} vs {b.shape}"
    if a.dtype.kind == "O":
        flat_a, flat_b = a.ravel(), b.ravel()
        differ = np.array([not _same_value(x, y) for x, y in zip(flat_a.tolist(), flat_b.tolist())], bool)
    elif a.dtype.kind == "V":
        differ = np.array([x.tobytes() != y.tobytes() for x, y in zip(a.ravel(), b.ravel())], bool)
    else:
        differ = (_bits(a) != _bits(b)).ravel()
    count = int(np.count_nonzero(differ))
    if not count:
        return None
    flat = int(np.flatnonzero(differ)[0])
    index = np.unravel_index(flat, a.shape) if a.shape else ()
    where = f" index {tuple(int(i) for i in index)}" if a.shape else ""
    return (f"{what}{where}: {_fmt(a[index] if a.shape else a[()])} vs {_fmt(b[index] if b.shape else b[()])}"
            f" ({count} of {a.size} elements differ)")


def first_json_difference(a, b, prefix="") -> str | None:
    """Where two JSON-like values first differ, as 'key.path: a vs b' (sorted keys)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in b:
                return f"{name}: {_fmt(a[key])} vs (absent)"
            if key not in a:
                return f"{name}: (absent) vs {_fmt(b[key])}"
            found = first_json_difference(a[key], b[key], name)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_json_difference(x, y, f"{prefix}[{i}]")
            if found:
                return found
        return None
    return None if _same_value(a, b) else f"{prefix or 'value'}: {_fmt(a)} vs {_fmt(b)}"


def compare_bytes(a, b, chunk=1 << 20) -> str | None:
    """Byte-for-byte; the first differing byte offset (figures are written without timestamps)."""
    size_a, size_b = os.path.getsize(a), os.path.getsize(b)
    offset = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                n = min(len(x), len(y))
                i = next((k for k in range(n) if x[k] != y[k]), n)
                if i < n:
                    return f"byte {offset + i}: 0x{x[i]:02x} vs 0x{y[i]:02x} (sizes {size_a} vs {size_b})"
                return f"size: {size_a} vs {size_b} bytes (identical up to byte {offset + n})"
            if not x:
                return None
            offset += len(x)


def _object_array(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def _arrow_values(column: pa.ChunkedArray):
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    primitive = (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type))
    if primitive and arr.null_count == 0:
        return arr.to_numpy(zero_copy_only=False)
    return _object_array(arr.to_pylist())  # nulls as None


def compare_parquet(a, b) -> str | None:
    """Schema (field names, types, nullability, metadata other than provenance) and every
    column exactly, row by row."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    sa, sb = ta.schema, tb.schema
    if sa.names != sb.names:
        return f"schema: columns {sa.names} vs {sb.names}"
    for fa, fb in zip(sa, sb):
        if not fa.remove_metadata().equals(fb.remove_metadata()):
            return f"schema: column '{fa.name}' {fa.type}{'' if fa.nullable else ' not null'} vs " \
                   f"{fb.type}{'' if fb.nullable else ' not null'}"
        if (fa.metadata or {}) != (fb.metadata or {}):
            return f"schema: metadata of column '{fa.name}' differs"
    meta_a = {k: v for k, v in (sa.metadata or {}).items() if k != PROVENANCE_KEY}
    meta_b = {k: v for k, v in (sb.metadata or {}).items() if k != PROVENANCE_KEY}
    for key in sorted(set(meta_a) | set(meta_b)):
        if meta_a.get(key) != meta_b.get(key):
            return f"schema: key-value metadata {key.decode(errors='replace')!r} differs"
    if ta.num_rows != tb.num_rows:
        return f"rows: {ta.num_rows} vs {tb.num_rows}"
    for name in sa.names:
        va, vb = _arrow_values(ta[name]), _arrow_values(tb[name])
        if va.dtype != vb.dtype:  # e.g. nulls in one file only
            va, vb = _object_array(va.tolist()), _object_array(vb.tolist())
        if va.dtype == object:
            differ = np.array([not _same_value(x, y) for x, y in zip(va.tolist(), vb.tolist())], bool)
        else:
            differ = _bits(va) != _bits(vb)
        count = int(np.count_nonzero(differ))
        if count:
            row = int(np.flatnonzero(differ)[0])
            return f"column '{name}' row {row}: {_fmt(va[row])} vs {_fmt(vb[row])} " \
                   f"({count} of {ta.num_rows} rows differ)"
    return None


def _h5_objects(f: h5py.File) -> dict:
    objects = {"/": f}
    f.visititems(lambda name, obj: objects.__setitem__(name, obj))
    return objects


def _attr_value(value):
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


def compare_h5(a, b) -> str | None:
    """Every group and dataset (arrays exactly, element by element) and every attribute except
    the provenance attribute (it holds wall-clock times)."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        oa, ob = _h5_objects(fa), _h5_objects(fb)
        for name in sorted(set(oa) | set(ob)):
            if name not in ob:
                return f"object {name}: only in the original"
            if name not in oa:
                return f"object {name}: only in the re-derived file"
            x, y = oa[name], ob[name]
            kind_x = "dataset" if isinstance(x, h5py.Dataset) else "group"
            kind_y = "dataset" if isinstance(y, h5py.Dataset) else "group"
            if kind_x != kind_y:
                return f"object {name}: {kind_x} vs {kind_y}"
            keys_a = {k for k in x.attrs.keys() if k != PROVENANCE_ATTR}
            keys_b = {k for k in y.attrs.keys() if k != PROVENANCE_ATTR}
            if keys_a != keys_b:
                return f"attributes of {name}: {sorted(keys_a)} vs {sorted(keys_b)}"
            for key in sorted(keys_a):
                va, vb = _attr_value(x.attrs[key]), _attr_value(y.attrs[key])
                if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
                    found = compare_arrays(np.asarray(va), np.asarray(vb), f"attribute '{key}' of {name}")
                else:
                    found = None if _same_value(va, vb) or (
                        isinstance(va, np.generic) and isinstance(vb, np.generic)
                        and va.dtype == vb.dtype and va.tobytes() == vb.tobytes()) \
                        else f"attribute '{key}' of {name}: {_fmt(va)} vs {_fmt(vb)}"
                if found:
                    return found
            if kind_x == "dataset":
                found = compare_arrays(x[()], y[()], f"dataset {name}")
                if found:
                    return found
    return None


def _strip_provenance(array: np.ndarray):
    """A 0-d string array holding a JSON object, with its provenance key dropped; else None."""
    if array.shape != () or array.dtype.kind not in "US":
        return None
    try:
        value = json.loads(str(array))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    value.pop("provenance", None)
    return value


def compare_npz(a, b) -> str | None:
    """Every array exactly; a JSON `meta` array is compared key by key without its provenance."""
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if sorted(za.files) != sorted(zb.files):
            return f"arrays: {sorted(za.files)} vs {sorted(zb.files)}"
        for name in za.files:
            x, y = za[name], zb[name]
            jx, jy = _strip_provenance(x), _strip_provenance(y)
            if jx is not None and jy is not None:
                found = first_json_difference(jx, jy)
                if found:
                    return f"array '{name}' (JSON) key {found}"
                continue
            found = compare_arrays(x, y, f"array '{name}'")
            if found:
                return found
    return None


def compare_files(original, rederived, kind=None) -> str | None:
    """None if the two files hold the same content, else where they first differ.

    Equal sha256 is identical. Otherwise by format: .h5 (datasets and attributes),
    .parquet (schema and columns), .npz (arrays), anything else bytes. The provenance
    record is compared separately (compare_params).
    """
    original, rederived = Path(original), Path(rederived)
    kind = kind or artifact_kind(original)
    if sha256_file(original) == sha256_file(rederived):
        return None
    suffix = original.suffix
    try:
        if suffix == ".h5":
            return compare_h5(original, rederived)
        if suffix == ".parquet":
            return compare_parquet(original, rederived)
        if suffix == ".npz":
            return compare_npz(original, rederived)
    except (OSError, ValueError, pa.ArrowException, KeyError) as err:
        return f"cannot read for comparison ({type(err).__name__}: {err}); bytes differ: " \
               f"{compare_bytes(original, rederived)}"
    return compare_bytes(original, rederived)


