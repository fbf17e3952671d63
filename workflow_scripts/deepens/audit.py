"""Audit the results: a manifest of every artifact, and a seeded re-derivation of a sample.

`make audit` (workflow_scripts/audit.py) runs `main`. Three steps:

1. Manifest: every file under results/ (the audit's own folder and hidden files left out)
   with its kind, size, sha256 and provenance (Parquet key-value metadata, h5 attribute or
   the npz `meta` array), plus two checks that need no recomputation: Snakemake's own view
   of the file under the given config (`dag_status` from `--detailed-summary`) and lineage
   (every input hash the provenance recorded matches the input file present now).
2. Re-derivation: a seeded sample of jobs, each rerun by Snakemake (same Snakefile, same
   config files) in its own scratch directory that holds only hard links (or copies) of
   the job's inputs, with `--allowed-rules <rule>`, so exactly that job runs, from exactly
   the inputs the original used. The sample always holds one full training run (all its
   checkpoints and history), that run's prediction dump and the dataset, plus N sampled
   table and figure jobs.
3. Comparison of every re-derived file with the original, content-wise (see `compare_files`),
   and a report; `main` returns 0 only if everything re-derived is bit-identical and the
   lineage is intact.

No Snakemake import: Snakemake runs as a subprocess, like a user would run it.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .io import PROVENANCE_KEY, atomic_path
from .provenance import read_log_record, sha256_file, workflow_root

PROVENANCE_ATTR = PROVENANCE_KEY.decode()
KINDS = ("dataset", "checkpoint", "history", "predictions", "samples", "shift_set", "shift_predictions",
         "representations", "table", "figure", "config", "other")
FIGURE_SUFFIXES = {".png", ".pdf", ".svg"}
DEFAULT_OUT = "results/audit"

STATUS_IDENTICAL = "identical"
STATUS_DIFFERS = "differs"
STATUS_CONFIG = "config differs"
STATUS_CODE = "code differs"
STATUS_FAILED = "failed"


# --- what an artifact is ---------------------------------------------------------------

def artifact_kind(path) -> str:
    """The kind of a results file, from the path scheme of rules/common.smk."""
    p = PurePosixPath(str(path).replace(os.sep, "/"))
    name = p.name
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


# --- comparison ------------------------------------------------------------------------
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


def compare_params(original: dict | None, rederived: dict | None):
    """Compare the job's params (its config slice) recorded in two provenance records.

    Returns (None, None) when they agree, ("config", detail) when a config-derived param
    differs (the audit ran with another config than the artifact was made with), or
    ("code", detail) when only the `code` param (hash of the library modules) differs.
    """
    if not original or not rederived:
        return None, None
    pa_ = dict((original.get("config") or {}).get("params") or {})
    pb = dict((rederived.get("config") or {}).get("params") or {})
    code_a, code_b = pa_.pop("code", None), pb.pop("code", None)
    found = first_json_difference(pa_, pb, "params")
    if found:
        return "config", found
    wild = first_json_difference((original.get("config") or {}).get("wildcards"),
                                 (rederived.get("config") or {}).get("wildcards"), "wildcards")
    if wild:
        return "config", wild
    if code_a != code_b:
        return "code", f"params.code: {code_a!r} vs {code_b!r} (library modules edited since)"
    return None, None


def provenance_notes(original: dict | None, rederived: dict | None) -> list[str]:
    """Informational differences between two provenance records: packages, device."""
    notes = []
    if not original or not rederived:
        return notes
    pkg_a, pkg_b = original.get("packages") or {}, rederived.get("packages") or {}
    changed = [f"{k} {pkg_a.get(k)} vs {pkg_b.get(k)}" for k in sorted(set(pkg_a) | set(pkg_b))
               if pkg_a.get(k) != pkg_b.get(k)]
    if changed:
        notes.append("packages differ: " + ", ".join(changed))
    dev_a, dev_b = original.get("device"), rederived.get("device")
    if dev_a != dev_b:
        notes.append(f"device {json.dumps(dev_a, sort_keys=True)} vs {json.dumps(dev_b, sort_keys=True)}")
    return notes


# --- manifest --------------------------------------------------------------------------

MANIFEST_SCHEMA = pa.schema([
    ("path", pa.string()), ("kind", pa.string()), ("size", pa.int64()), ("sha256", pa.string()),
    ("rule", pa.string()), ("wildcards", pa.string()), ("started_utc", pa.string()),
    ("git_commit", pa.string()), ("workflow_sha256", pa.string()),
    ("dag_rule", pa.string()), ("dag_status", pa.string()), ("lineage", pa.string()),
    ("provenance", pa.string()),
])
MANIFEST_TSV_COLUMNS = [n for n in MANIFEST_SCHEMA.names if n != "provenance"]


def lineage_check(provenance: dict | None, hashes: dict, results="results") -> str | None:
    """Do the input hashes a job recorded match the input files present now?

    'ok', 'input changed: <path>', 'input missing: <path>', or None when the artifact
    records no inputs under results/ (figures; the dataset from a bundled source).
    """
    recorded = (provenance or {}).get("inputs_sha256") or {}
    checked = False
    for path, digest in sorted(recorded.items()):
        rel = PurePosixPath(str(path).replace(os.sep, "/"))
        if rel.is_absolute() or not rel.parts or rel.parts[0] != results:
            continue
        checked = True
        current = hashes.get(str(rel))
        if current is None:
            return f"input missing: {rel}"
        if current != digest:
            return f"input changed: {rel}"
    return "ok" if checked else None


def build_manifest(workdir, skip=(), dag: dict | None = None, results="results") -> list[dict]:
    """One row per artifact under results/ (see MANIFEST_SCHEMA); `dag` from dag_summary."""
    workdir = Path(workdir)
    dag = dag or {}
    rows = []
    for rel in iter_artifacts(workdir, results, skip):
        path = workdir / rel
        kind = artifact_kind(rel)
        try:
            prov = read_artifact_provenance(path, kind)
            error = None
        except (OSError, ValueError, KeyError, pa.ArrowException) as err:
            prov, error = None, f"provenance unreadable: {type(err).__name__}: {err}"
        cfg = (prov or {}).get("config") or {}
        out = dag.get(rel)
        # when and from which commit: the job's execution record in its log (not in the artifact)
        main_log = out.log.split(",")[0].strip() if out and out.log and out.log != "-" else None
        run = (read_log_record(workdir / main_log) if main_log else None) or {}
        rows.append({
            "path": rel, "kind": kind, "size": path.stat().st_size, "sha256": sha256_file(path),
            "rule": cfg.get("rule"),
            "wildcards": json.dumps(cfg["wildcards"], sort_keys=True) if "wildcards" in cfg else None,
            "started_utc": run.get("started_utc"),
            "git_commit": run.get("git_commit") and run["git_commit"] + ("+dirty" if run.get("git_dirty") else ""),
            "workflow_sha256": run.get("workflow_sha256"),
            "dag_rule": out.rule if out else None,
            "dag_status": out.status if out else "not in DAG",
            "lineage": error,
            "provenance": json.dumps(prov, sort_keys=True) if prov is not None else None,
            "_provenance": prov,
        })
    hashes = {r["path"]: r["sha256"] for r in rows}
    for r in rows:
        if r["lineage"] is None:
            r["lineage"] = lineage_check(r["_provenance"], hashes, results)
    return rows


def write_rows(rows: list[dict], schema: pa.Schema, parquet_path, tsv_path=None, tsv_columns=None):
    """Write rows as Parquet (zstd) and, optionally, as a tab-separated text file."""
    table = pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)
    with atomic_path(parquet_path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    if tsv_path is not None:
        columns = tsv_columns or schema.names
        def cell(value):  # no quoting: tabs and newlines inside a value become spaces
            return "" if value is None else str(value).replace("\t", " ").replace("\n", " ")

        with atomic_path(tsv_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\t".join(columns) + "\n")
            for r in rows:
                fh.write("\t".join(cell(r.get(c)) for c in columns) + "\n")
    return table


# --- the DAG, as Snakemake sees it ------------------------------------------------------

@dataclass
class DagOutput:
    path: str
    rule: str
    log: str
    inputs: tuple
    status: str


@dataclass
class Job:
    rule: str
    log: str
    outputs: list = field(default_factory=list)
    inputs: tuple = ()
    status: str = "ok"

    @property
    def key(self):
        return (self.rule, self.log)


@dataclass
class SnakemakeRunner:
    """How to call Snakemake: executable, Snakefile, config files, extra arguments."""
    snakefile: Path
    configfiles: list
    config: list = field(default_factory=list)
    extra: list = field(default_factory=list)
    executable: str = "snakemake"
    cores: str = "all"
    timeout: float | None = None

    def command(self, directory, *args) -> list[str]:
        cmd = [self.executable, "-s", str(self.snakefile), "--directory", str(directory)]
        if self.configfiles:
            cmd += ["--configfile", *map(str, self.configfiles)]
        if self.config:
            cmd += ["--config", *self.config]
        return cmd + list(self.extra) + list(args)

    def run(self, directory, *args) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(directory, *args), cwd=directory, capture_output=True, text=True,
                              timeout=self.timeout)


def default_snakemake() -> str:
    beside = Path(sys.executable).with_name("snakemake")
    return str(beside) if beside.exists() else (shutil.which("snakemake") or "snakemake")


def parse_detailed_summary(text: str) -> dict[str, DagOutput]:
    """`snakemake --detailed-summary` (tab-separated) as {output path: DagOutput}."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("output_file\t")), None)
    if start is None:
        raise RuntimeError("snakemake --detailed-summary printed no table")
    header = lines[start].split("\t")
    col = {name: i for i, name in enumerate(header)}
    out = {}
    for ln in lines[start + 1:]:
        cells = ln.split("\t")
        if len(cells) != len(header):
            continue
        inputs = tuple(p for p in cells[col["input-file(s)"]].split(",") if p and p != "-")
        path = PurePosixPath(cells[col["output_file"]]).as_posix()
        out[path] = DagOutput(path, cells[col["rule"]], cells[col["log-file(s)"]], inputs, cells[col["status"]])
    return out


def error_message(text: str, lines=3) -> str:
    """The last few message lines of a Snakemake error, without traceback frames."""
    kept = [ln.strip() for ln in text.splitlines()
            if ln.strip() and not ln.startswith(("  File ", "    ", "Traceback"))]
    return " | ".join(kept[-lines:])


def dag_summary(runner: SnakemakeRunner, workdir) -> dict[str, DagOutput]:
    proc = runner.run(workdir, "--detailed-summary")
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake --detailed-summary failed ({proc.returncode}): "
                           f"{error_message(proc.stderr or proc.stdout, 6)}")
    return parse_detailed_summary(proc.stdout)


def group_jobs(dag: dict[str, DagOutput]) -> dict[tuple, Job]:
    """Outputs grouped into jobs: one job per (rule, log file), as every rule here logs per job."""
    jobs = {}
    for out in dag.values():
        key = (out.rule, out.log or out.path)
        job = jobs.setdefault(key, Job(out.rule, out.log or out.path, [], out.inputs, out.status))
        job.outputs.append(out.path)
        if out.status != "ok":
            job.status = out.status
    for job in jobs.values():
        job.outputs.sort()
    return jobs


# --- the sample ------------------------------------------------------------------------

def choose_sample(jobs: dict[tuple, Job], present: dict[str, str], n: int, seed: int, runs: int = 1,
                  include=(), with_dataset=True) -> list[tuple[Job, str]]:
    """[(job, role)]: `runs` training runs chosen by the seed (every checkpoint and the history),
    their prediction dumps and dataset, `include`d artifacts' jobs, then `n` more jobs drawn
    through their table, figure and subspace-sample outputs. Only jobs whose outputs all exist
    are eligible. `present` maps existing artifact paths to their kind.
    """
    rng = np.random.default_rng(seed)
    eligible = {k: j for k, j in jobs.items() if all(o in present for o in j.outputs)}
    by_output = {o: k for k, j in eligible.items() for o in j.outputs}
    chosen: dict[tuple, str] = {}

    def add(key, role):
        if key is not None and key not in chosen:
            chosen[key] = role

    train_keys = sorted(k for k, j in eligible.items() if any(present[o] == "checkpoint" for o in j.outputs))
    picked_runs = [train_keys[i] for i in sorted(rng.choice(len(train_keys), min(runs, len(train_keys)),
                                                            replace=False))] if train_keys else []
    for key in picked_runs:
        job = eligible[key]
        run_dir = PurePosixPath(next(o for o in job.outputs if present[o] == "checkpoint")).parent.parent
        add(key, "training run")
        add(next((by_output[o] for o in sorted(by_output)
                  if present[o] == "predictions" and PurePosixPath(o).parent == run_dir), None), "run predictions")
        if with_dataset:
            for inp in job.inputs:
                if inp in by_output and present.get(inp) == "dataset":
                    add(by_output[inp], "dataset")
    for path in include:
        rel = PurePosixPath(str(path)).as_posix()
        if rel not in by_output:
            raise ValueError(f"--include {rel}: not an existing output of this config's DAG")
        add(by_output[rel], "requested")
    pool = sorted(o for o in by_output if present[o] in ("samples", "shift_set", "shift_predictions",
                                                          "representations", "table", "figure"))
    drawn = 0
    for i in rng.permutation(len(pool)):
        if drawn >= n:
            break
        key = by_output[pool[int(i)]]
        if key not in chosen:
            add(key, "sampled")
            drawn += 1
    return [(eligible[k], role) for k, role in chosen.items()]


# --- re-derivation ---------------------------------------------------------------------

def link_or_copy(src: Path, dst: Path):
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage_inputs(job: Job, workdir: Path, scratch: Path):
    """Place the job's inputs (hard links, else copies) at the same relative paths in scratch."""
    for inp in job.inputs:
        rel = PurePosixPath(inp)
        if rel.is_absolute():
            continue  # e.g. a CIFAR-10 tarball given by absolute path: read in place
        if ".." in rel.parts:
            raise ValueError(f"input {inp} lies outside the working directory; cannot stage it")
        src = workdir / rel
        if src.is_dir():
            shutil.copytree(src, scratch / rel, copy_function=lambda s, d: link_or_copy(Path(s), Path(d)))
        else:
            link_or_copy(src, scratch / rel)


def rederive(job: Job, workdir: Path, scratch: Path, runner: SnakemakeRunner) -> dict:
    """Rerun one job in `scratch` from the original inputs; {'ok', 'seconds', 'error'}."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    t0 = time.time()
    try:
        stage_inputs(job, workdir, scratch)
        proc = runner.run(scratch, "--cores", str(runner.cores), "--allowed-rules", job.rule, "--", *job.outputs)
    except (OSError, ValueError, subprocess.SubprocessError) as err:
        return {"ok": False, "seconds": time.time() - t0, "error": f"{type(err).__name__}: {err}"}
    (scratch / "audit-snakemake.log").write_text(proc.stdout + proc.stderr)
    error = None
    if proc.returncode != 0:
        error = f"snakemake exited {proc.returncode}: {error_message(proc.stderr or proc.stdout)} " \
                f"(log: {scratch / 'audit-snakemake.log'})"
    return {"ok": proc.returncode == 0, "seconds": time.time() - t0, "error": error}


AUDIT_SCHEMA = pa.schema([
    ("path", pa.string()), ("kind", pa.string()), ("rule", pa.string()), ("role", pa.string()),
    ("status", pa.string()), ("difference", pa.string()), ("notes", pa.string()),
    ("original_sha256", pa.string()), ("rederived_sha256", pa.string()), ("job_seconds", pa.float64()),
])


def assess(path: str, kind: str, job: Job, role: str, result: dict, workdir: Path, scratch: Path,
           dag_status: str) -> dict:
    """One report row: compare the re-derived file with the original."""
    original, new = workdir / path, scratch / path
    row = {"path": path, "kind": kind, "rule": job.rule, "role": role, "original_sha256": sha256_file(original),
           "rederived_sha256": None, "job_seconds": round(result["seconds"], 3), "notes": None}
    if not new.is_file():
        row.update(status=STATUS_FAILED, difference=result.get("error") or "the job did not write this file")
        return row
    row["rederived_sha256"] = sha256_file(new)
    notes = []
    difference = compare_files(original, new, kind)
    try:
        prov_a, prov_b = read_artifact_provenance(original, kind), read_artifact_provenance(new, kind)
    except (OSError, ValueError, KeyError, pa.ArrowException):
        prov_a = prov_b = None
    param_kind, param_detail = compare_params(prov_a, prov_b)
    notes += provenance_notes(prov_a, prov_b)
    if prov_a is None and dag_status in ("params changed", "rule implementation changed"):
        # No provenance of its own (figures): Snakemake's record of the original job says whether
        # its params (config slice and library hash, not told apart) or its script changed.
        detail = f"Snakemake reports '{dag_status}' for the original (config or code changed since it was made)"
        if difference is None:
            notes.append(detail)
        else:
            param_kind = "config" if dag_status == "params changed" else "code"
            param_detail = detail
    if param_kind == "config":
        row.update(status=STATUS_CONFIG, difference=param_detail + (
            f"; content: {difference}" if difference else "; content identical"))
    elif difference is None:
        row.update(status=STATUS_IDENTICAL, difference=None)
        if param_kind == "code":
            notes.append(param_detail)
    elif param_kind == "code":
        row.update(status=STATUS_CODE, difference=f"{difference}; {param_detail}")
    else:
        row.update(status=STATUS_DIFFERS, difference=difference)
    row["notes"] = "; ".join(notes) or None
    return row


# --- the whole audit -------------------------------------------------------------------

@dataclass
class AuditResult:
    manifest: list
    rows: list
    sample: list
    out_dir: Path

    @property
    def lineage_problems(self):
        return [r for r in self.manifest if r["lineage"] not in (None, "ok")]

    @property
    def passed(self) -> bool:
        return all(r["status"] == STATUS_IDENTICAL for r in self.rows) and not self.lineage_problems


def run_audit(workdir, runner: SnakemakeRunner, out_dir=DEFAULT_OUT, sample=5, seed=0, runs=1, include=(),
              with_dataset=True, jobs=1, scratch=None, keep_scratch=False, log=print) -> AuditResult:
    workdir = Path(workdir).resolve()
    out = Path(out_dir)
    out = out if out.is_absolute() else workdir / out
    skip = [out.relative_to(workdir).as_posix()] if out.is_relative_to(workdir) else []
    scratch = Path(scratch).resolve() if scratch else out / "scratch"
    if scratch.is_relative_to(workdir):
        skip.append(scratch.relative_to(workdir).as_posix())

    t0 = time.time()
    dag = dag_summary(runner, workdir)
    manifest = build_manifest(workdir, skip, dag)
    out.mkdir(parents=True, exist_ok=True)
    write_rows(manifest, MANIFEST_SCHEMA, out / "manifest.parquet", out / "manifest.tsv", MANIFEST_TSV_COLUMNS)
    counts = {k: sum(r["kind"] == k for r in manifest) for k in KINDS}
    log(f"manifest: {len(manifest)} artifacts ({', '.join(f'{k} {v}' for k, v in counts.items() if v)}), "
        f"{sum(r['size'] for r in manifest) / 2**20:.1f} MiB, hashed in {time.time() - t0:.1f} s "
        f"-> {out / 'manifest.parquet'} (+ .tsv)")

    present = {r["path"]: r["kind"] for r in manifest}
    chosen = choose_sample(group_jobs(dag), present, sample, seed, runs, include, with_dataset)
    n_files = sum(len(j.outputs) for j, _ in chosen)
    log(f"re-deriving {len(chosen)} jobs ({n_files} artifacts; sample seed {seed}) in {scratch}/ ...")

    def work(item):
        i, (job, role) = item
        directory = scratch / f"{i:02d}-{job.rule}"
        result = rederive(job, workdir, directory, runner)
        rows = [assess(p, present[p], job, role, result, workdir, directory, dag[p].status) for p in job.outputs]
        log(f"  {job.rule} ({role}, {len(job.outputs)} files, {result['seconds']:.1f} s): "
            + ("all identical" if all(r["status"] == STATUS_IDENTICAL for r in rows)
               else ", ".join(sorted({r['status'] for r in rows}))))
        return directory, rows

    rows, keep = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for directory, job_rows in pool.map(work, enumerate(chosen)):
            rows += job_rows
            if any(r["status"] != STATUS_IDENTICAL for r in job_rows):
                keep.append(directory)
    write_rows(rows, AUDIT_SCHEMA, out / "audit.parquet", out / "audit.tsv")
    if not keep_scratch:
        for directory in {scratch / f"{i:02d}-{j.rule}" for i, (j, _) in enumerate(chosen)} - set(keep):
            shutil.rmtree(directory, ignore_errors=True)
        if scratch.exists() and not any(scratch.iterdir()):
            scratch.rmdir()
    return AuditResult(manifest, rows, chosen, out)


def summary_text(result: AuditResult, seconds: float) -> str:
    lines = []
    statuses = {}
    for r in result.rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    lines.append(f"re-derived {len(result.rows)} artifacts of {len(result.sample)} jobs: "
                 + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    for r in result.rows:
        if r["status"] != STATUS_IDENTICAL:
            lines.append(f"  {r['status'].upper()}: {r['path']}: {r['difference']}")
    problems = result.lineage_problems
    if problems:
        lines.append(f"lineage: {len(problems)} artifacts were not made from the inputs present now:")
        lines += [f"  {r['path']}: {r['lineage']}" for r in problems[:20]]
        if len(problems) > 20:
            lines.append(f"  ... and {len(problems) - 20} more (see manifest.tsv, column lineage)")
    else:
        lines.append("lineage: every input hash recorded in provenance matches the file present")
    if any(r["status"] == STATUS_CONFIG for r in result.rows):
        lines.append("hint: 'config differs' means this audit ran with other config files than the artifacts "
                     "were made with: pass the same --configfile (make audit AUDIT_CONFIG=...)")
    stale = [r for r in result.manifest if r["dag_status"] not in ("ok", "not in DAG")]
    if stale:
        lines.append(f"note: Snakemake considers {len(stale)} artifacts out of date under this config and code "
                     f"(manifest column dag_status), e.g. {stale[0]['path']}: {stale[0]['dag_status']}")
    lines.append(f"report: {result.out_dir / 'audit.parquet'} (+ .tsv); {seconds:.0f} s")
    lines.append("AUDIT PASSED: every re-derived artifact is bit-identical" if result.passed else "AUDIT FAILED")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="audit", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--configfile", nargs="+", default=["config.yaml"],
                   help="the config files the results were made with, as given to snakemake")
    p.add_argument("--config", nargs="*", default=[], help="the --config KEY=VALUE overrides, if any")
    p.add_argument("--directory", default=".", help="the working directory that holds results/")
    p.add_argument("--snakefile", default=None, help="default: the Snakefile of this repository")
    p.add_argument("--sample", type=int, default=5, help="table/figure jobs to re-derive besides the run")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (which run, which tables/figures)")
    p.add_argument("--runs", type=int, default=1, help="full training runs to re-derive")
    p.add_argument("--include", nargs="*", default=[], help="artifacts whose jobs are re-derived in any case")
    p.add_argument("--skip-dataset", action="store_true", help="do not re-derive the run's dataset")
    p.add_argument("--out", default=DEFAULT_OUT, help="where manifest and report go (relative to --directory)")
    p.add_argument("--scratch", default=None, help="where jobs are re-derived (default: OUT/scratch)")
    p.add_argument("--keep-scratch", action="store_true",
                   help="keep every re-derived file (by default only jobs that differ are kept)")
    p.add_argument("--jobs", type=int, default=1, help="re-derivations run at once")
    p.add_argument("--cores", default="all", help="--cores of each re-derivation")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per re-derivation")
    p.add_argument("--snakemake", default=None, help="the snakemake executable")
    p.add_argument("--snakemake-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for every snakemake call (repeat), e.g. --snakemake-arg=--sdm=conda")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    workdir = Path(args.directory).resolve()
    configfiles = [Path(c) if Path(c).is_absolute() else (Path.cwd() / c).resolve() for c in args.configfile]
    for c in configfiles:
        if not c.is_file():
            print(f"audit: config file {c} not found", file=sys.stderr)
            return 2
    # The Snakefile's `configfile: "config.yaml"` directive loads the working directory's
    # config.yaml under the command-line files; scratch directories have none, so pass it.
    default = workdir / "config.yaml"
    if default.is_file() and default.resolve() not in configfiles:
        configfiles.insert(0, default)
    runner = SnakemakeRunner(
        snakefile=Path(args.snakefile).resolve() if args.snakefile else workflow_root() / "Snakefile",
        configfiles=configfiles, config=args.config, extra=args.snakemake_arg,
        executable=args.snakemake or default_snakemake(), cores=args.cores, timeout=args.timeout)
    print(f"audit of {workdir}/results with {', '.join(map(str, configfiles))}", flush=True)
    try:
        result = run_audit(workdir, runner, args.out, args.sample, args.seed, args.runs, args.include,
                           not args.skip_dataset, args.jobs, args.scratch, args.keep_scratch,
                           log=lambda m: print(m, flush=True))
    except (RuntimeError, ValueError) as err:
        print(f"audit: {err}", file=sys.stderr)
        return 2
    print(summary_text(result, time.time() - t0), flush=True)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
