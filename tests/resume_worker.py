"""Run one training run in this process (the resume tests start and SIGKILL it).

usage: resume_worker.py OUTDIR EPOCHS [KILL_SPEC]
KILL_SPEC makes the process SIGKILL itself at a precise point:
  replace:<name>[:<n>]  the n-th time (default 1) a file named <name> is about to be renamed
                        into place (mid-write: the temporary file is complete, the final
                        name not yet there)
"""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow_scripts"))
from deepens import data, io, provenance  # noqa: E402
from deepens.nets import training  # noqa: E402

out, epochs = Path(sys.argv[1]), int(sys.argv[2])
kill = sys.argv[3] if len(sys.argv) > 3 else ""
if kill.startswith("replace:"):
    _, target, *nth = kill.split(":")
    countdown, real_replace = [int(nth[0]) if nth else 1], os.replace

    def replace(src, dst):
        if Path(dst).name == target:
            countdown[0] -= 1
            if countdown[0] == 0:
                os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)

    io.os.replace = replace
ds = data.prepare_digits(300, 100)
training.train_run(model_name="small_cnn", dataset=ds, seed=3, epochs=epochs, batch_size=32, learning_rate=1.6e-3,
                   lr_halving_epochs=2, dropout=0.1, augmentation=True, steps_per_execution=1, jit_compile=False,
                   intra_op_threads=1, inter_op_threads=1,
                   checkpoint_paths=[out / f"epoch{e:03d}.weights.h5" for e in range(epochs + 1)],
                   history_path=out / "history.parquet", provenance=provenance.Provenance({}),
                   resume_dir=out / ".resume")
