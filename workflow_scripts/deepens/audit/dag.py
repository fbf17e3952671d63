"""The DAG as Snakemake sees it (`snakemake --detailed-summary`, run as a subprocess), grouped
into jobs (one per rule and log file)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


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
