"""Rule train: one run's checkpoints (epoch 0..E) and training history (deepens.nets.training)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _tfjob  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.nets.training import train_run  # noqa: E402

w, p = snakemake.wildcards, snakemake.params  # noqa: F821
prov = _tfjob.start(snakemake, p.train["intra_op_threads"], p.train["inter_op_threads"])  # noqa: F821
train_run(model_name=w.model, dataset=load_dataset(snakemake.input.dataset), seed=int(w.seed),  # noqa: F821
          checkpoint_paths=snakemake.output.checkpoints, history_path=snakemake.output.history,  # noqa: F821
          provenance=prov, resume_dir=p.resume_dir, timing_path=snakemake.log.timing, **p.train)  # noqa: F821
