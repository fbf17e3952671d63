"""Rule train: one run's checkpoints (epoch 0..E) and training history (deepens.training)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.training import train_run  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
w, p = snakemake.wildcards, snakemake.params  # noqa: F821
train_run(model_name=w.model, dataset=load_dataset(snakemake.input.dataset), seed=int(w.seed),  # noqa: F821
          checkpoint_paths=snakemake.output.checkpoints, history_path=snakemake.output.history,  # noqa: F821
          provenance=prov, resume_dir=p.resume_dir, timing_path=snakemake.log.timing, **p.train)  # noqa: F821
