"""Shared test set-up: the library package lives in workflow_scripts/."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(workdir, config) of one complete run of the tiny DAG, shared by the whole session.

    Tests read it; a test that changes files works on a copy (shutil.copytree).
    """
    from workflow_helpers import snakemake, write_config

    workdir = tmp_path_factory.mktemp("tiny")
    config = write_config(workdir)
    snakemake(workdir, config)
    return workdir, config
