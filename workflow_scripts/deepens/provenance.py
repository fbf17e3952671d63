"""How an artifact was made, in two parts.

- `Provenance.record()`: what the artifact's content depends on, embedded in its bytes: the
  job's config slice (rule, wildcards, params; the params carry the code digest of the
  rule's script and library modules), the sha256 of its inputs and the package versions. Same
  content gives the same bytes: a rerun that reproduces the numbers reproduces the file, so
  Snakemake's checksums and the audit see no change and nothing downstream reruns.
- `Provenance.volatile()`: facts about this execution that differ from run to run (host, time,
  SLURM job id, git commit, threads granted), printed once to the job's log as one line
  starting with LOG_PREFIX (`read_log_record` reads it back); wall time is in the job's
  Snakemake benchmark.
"""
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = ("numpy", "pandas", "pyarrow", "h5py", "scikit-learn", "matplotlib",
            "tensorflow-cpu", "tensorflow", "keras", "snakemake")
WORKFLOW_GLOBS = ("Snakefile", "config.schema.yaml", "rules/*.smk", "workflow_scripts/*.py",
                  "workflow_scripts/deepens/*.py", "workflow_scripts/deepens/*/*.py", "requirements.txt")
LOG_PREFIX = "deepens.execution "


def sha256_file(path, chunk=1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def workflow_root() -> Path:
    return Path(__file__).resolve().parents[2]


def code_version(root=None) -> dict:
    """The git commit (and whether the tree was dirty) plus a hash of the workflow files.

    The hash identifies the code even outside git (an unpacked release, a cluster copy).
    """
    root = Path(root or workflow_root())
    h = hashlib.sha256()
    for pattern in WORKFLOW_GLOBS:
        for path in sorted(root.glob(pattern)):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    out = {"workflow_sha256": h.hexdigest()}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        out.update(git_commit=commit, git_dirty=bool(dirty))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


class Provenance:
    """What a job records about itself: `record()` for its artifacts, `volatile()` for its log.

    config: {"rule", "wildcards", "params"}; inputs: the job's input files (hashed once here).
    """

    def __init__(self, config: dict, inputs=(), threads=None, **extra):
        self.start = time.time()
        self.config = config
        self.inputs = {str(p): sha256_file(p) for p in inputs}
        self.threads = threads
        self.extra = extra
        self.packages = package_versions()

    def record(self, *, params=None, inputs=None, **more) -> dict:
        """The deterministic record of one artifact. A job with several outputs passes each one
        the params and inputs that output depends on (`params`: a replacement for the job's
        params; `inputs`: a subset of its input paths), so a change that leaves an output's
        content alone leaves its bytes alone too."""
        config = dict(self.config)
        if params is not None:
            config["params"] = params
        if inputs is None:
            hashes = self.inputs
        else:
            missing = [str(p) for p in inputs if str(p) not in self.inputs]
            if missing:
                raise ValueError(f"not inputs of this job: {missing}")
            hashes = {str(p): self.inputs[str(p)] for p in inputs}
        return {"config": config, "inputs_sha256": hashes,
                "code": {"digest": (config.get("params") or {}).get("code")},
                "packages": self.packages, **self.extra, **more}

    def volatile(self) -> dict:
        return {"rule": self.config.get("rule"), "wildcards": self.config.get("wildcards"),
                "host": socket.gethostname(), "platform": platform.platform(),
                "argv0": Path(sys.argv[0]).name if sys.argv else None,
                "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "threads": self.threads,
                "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.start)),
                **code_version()}

    def log_volatile(self, file=None):
        print(LOG_PREFIX + json.dumps(self.volatile(), sort_keys=True, default=str), file=file or sys.stdout,
              flush=True)


def read_log_record(path) -> dict | None:
    """The execution record (Provenance.volatile) a job printed to its log; None if there is none."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith(LOG_PREFIX):
            try:
                return json.loads(line[len(LOG_PREFIX):])
            except json.JSONDecodeError:
                return None
    return None
