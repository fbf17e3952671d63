"""How an artifact was made: config slice, seeds, code and package versions, input hashes."""
import hashlib
import importlib.metadata
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
                  "workflow_scripts/deepens/*.py", "requirements.txt")


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
    """Collects what a job records about itself; call `record()` when writing an artifact."""

    def __init__(self, config: dict, inputs=(), **extra):
        self.start = time.time()
        self.config = config
        self.inputs = {str(p): sha256_file(p) for p in inputs}
        self.extra = extra
        self.code, self.packages = code_version(), package_versions()

    def record(self, **more) -> dict:
        return {
            "config": self.config,
            "inputs_sha256": self.inputs,
            "code": self.code,
            "packages": self.packages,
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "argv0": Path(sys.argv[0]).name if sys.argv else None,
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.start)),
            "wall_seconds": round(time.time() - self.start, 3),
            **self.extra,
            **more,
        }
