"""Re-derivation: a seeded sample of jobs, each rerun by Snakemake in a scratch directory holding
only its inputs, compared with the originals; the whole audit (`run_audit`)."""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa

from ..provenance import sha256_file
from .artifacts import KINDS, read_artifact_provenance
from .compare import compare_files
from .dag import Job, SnakemakeRunner, dag_summary, error_message, group_jobs
from .manifest import MANIFEST_SCHEMA, MANIFEST_TSV_COLUMNS, build_manifest, write_rows
from .params import compare_params, provenance_notes

DEFAULT_OUT = "results/audit"
STATUS_IDENTICAL = "identical"
STATUS_DIFFERS = "differs"
STATUS_CONFIG = "config differs"
STATUS_CODE = "code differs"
STATUS_FAILED = "failed"


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
    pool = sorted(o for o in by_output if present[o] in ("samples", "shift_set", "shift_predictions", "ood_set",
                                                          "ood_predictions", "connectivity", "representations",
                                                          "table", "figure"))
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
