"""Run the real workflow on small configs in temporary directories."""
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


def write_config(workdir: Path, overrides: dict | None = None, name="config.yaml") -> Path:
    """The tiny config with `overrides` deep-merged in, written into workdir."""
    config = yaml.safe_load(TINY.read_text())

    def merge(base, extra):
        for k, v in extra.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                merge(base[k], v)
            else:
                base[k] = v

    merge(config, overrides or {})
    path = workdir / name
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(workdir: Path, configfile: Path, *args, env=None, check=True, timeout=900, snakefile=None):
    cmd = [str(SNAKEMAKE), "-s", str(snakefile or ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def planned_jobs(workdir: Path, configfile: Path, *args, with_output=False):
    """{rule: count} of the jobs a dry run plans (empty when nothing is to be done)."""
    proc = snakemake(workdir, configfile, "-n", *args)
    out = proc.stdout + proc.stderr
    jobs = {}
    if "Nothing to be done" not in out:
        table = out.split("Job stats:")[1].split("total")[0]
        jobs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}
    return (jobs, out) if with_output else jobs
