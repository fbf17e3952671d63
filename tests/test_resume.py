"""A training run killed with SIGKILL anywhere resumes and ends bit-identical to an uninterrupted one."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from deepens import io

WORKER = Path(__file__).with_name("resume_worker.py")
EPOCHS = 5


def start(out, kill=""):
    return subprocess.Popen([sys.executable, str(WORKER), str(out), str(EPOCHS), kill],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(out, kill=""):
    proc = start(out, kill)
    output = proc.communicate(timeout=300)[0]
    return proc.returncode, output


def arrays(path):
    with h5py.File(path) as f:
        out = {}
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    rc, output = finish(out)
    assert rc == 0, output
    return out


def assert_same_run(a, b):
    for e in range(EPOCHS + 1):
        x, y = arrays(a / f"epoch{e:03d}.weights.h5"), arrays(b / f"epoch{e:03d}.weights.h5")
        assert x.keys() == y.keys()
        assert not [k for k in x if k.startswith("optimizer")], "published checkpoints hold no optimizer state"
        for k in x:
            assert np.array_equal(x[k], y[k]), f"epoch {e}: {k} differs"
        # same weights, same bytes: nothing of the interruption reaches the files
        assert (a / f"epoch{e:03d}.weights.h5").read_bytes() == (b / f"epoch{e:03d}.weights.h5").read_bytes(), e
    ha, hb = io.read_table(a / "history.parquet"), io.read_table(b / "history.parquet")
    assert ha.equals(hb) and "seconds" not in ha.column_names
    assert (a / "history.parquet").read_bytes() == (b / "history.parquet").read_bytes()
    assert not (b / ".resume").exists()


@pytest.mark.parametrize("kills", [
    ["replace:epoch002.weights.h5"],            # mid checkpoint write: temp file complete, not renamed
    ["replace:state.json:3"],                   # epoch 2 checkpoint written, epoch not yet marked complete
    ["replace:epoch000.weights.h5", "replace:epoch004.weights.h5"],  # twice, the first before any epoch
    ["replace:history.parquet"],                # training done, outputs published, history not
], ids=["mid-checkpoint", "before-epoch-marked", "twice", "before-history"])
def test_kill_at_a_precise_point_then_resume(reference, tmp_path, kills):
    for kill in kills:
        rc, output = finish(tmp_path, kill)
        assert rc == -signal.SIGKILL, output
        assert not (tmp_path / "history.parquet").exists()
    rc, output = finish(tmp_path)
    assert rc == 0, output
    assert "resuming after epoch" in output
    assert_same_run(reference, tmp_path)


def test_kills_at_arbitrary_times_then_resume(reference, tmp_path):
    """SIGKILL at moments spread over training, whatever it was doing, until it finishes."""
    resume = tmp_path / ".resume"
    for delay in (0.05, 0.4, 0.9, 0.25):
        proc = start(tmp_path)
        deadline = time.time() + 120
        while not (resume / "epoch000.weights.h5").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    rc, output = finish(tmp_path)
    assert rc == 0, output
    assert_same_run(reference, tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".epoch")]  # no temporary files left


def test_resume_state_of_other_settings_is_not_used(reference, tmp_path):
    rc, _ = finish(tmp_path, "replace:epoch003.weights.h5")
    state = tmp_path / ".resume" / "state.json"
    state.write_text(state.read_text().replace('"fingerprint": "', '"fingerprint": "x'))
    rc, output = finish(tmp_path)
    assert rc == 0 and "belongs to other settings" in output
    assert_same_run(reference, tmp_path)


def test_killed_workflow_resumes_training_on_rerun(tmp_path):
    """SIGKILL the whole Snakemake process group mid-training; unlock and rerun: same weights."""
    from workflow_helpers import snakemake, write_config

    override = {"seeds": [0], "train": {"epochs": 6, "batch_size": 16}}
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ref.mkdir(), killed.mkdir()
    snakemake(ref, write_config(ref, override), "--until", "train")
    config = write_config(killed, override)
    cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(Path(__file__).parents[1] / "Snakefile"),
           "--directory", str(killed), "--configfile", str(config), "--cores", "1", "--until", "train"]
    proc = subprocess.Popen(cmd, cwd=killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    marker = killed / "results/digits/small_cnn/seed0/.resume/epoch003.weights.h5"
    deadline = time.time() + 300
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    snakemake(killed, config, "--unlock")
    snakemake(killed, config, "--until", "train")
    assert "resuming after epoch" in (killed / "logs/train/digits/small_cnn/seed0.log").read_text()
    run = "results/digits/small_cnn/seed0"
    assert_same_run_dirs(ref / run, killed / run)


def assert_same_run_dirs(a, b):
    for path in sorted((a / "checkpoints").iterdir()):
        x, y = arrays(path), arrays(b / "checkpoints" / path.name)
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x), path.name
    assert io.read_table(a / "history.parquet").equals(io.read_table(b / "history.parquet"))
    assert not (b / ".resume").exists()
