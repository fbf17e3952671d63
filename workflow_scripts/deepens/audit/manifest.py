"""The manifest: every artifact under results/ with its kind, size, sha256, provenance, Snakemake's
view of it and its lineage (the input hashes it recorded against the files present now)."""
from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

from ..io import atomic_path
from ..provenance import read_log_record, sha256_file
from .artifacts import artifact_kind, iter_artifacts, read_artifact_provenance

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
