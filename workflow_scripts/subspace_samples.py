import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.subspace_sampling import sample_subspace  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
w, p = snakemake.wildcards, snakemake.params  # noqa: F821
s = dict(p.settings)
late = s.pop("late_epochs")
table = sample_subspace(
    model_name=w.model, dataset=load_dataset(snakemake.input.dataset),  # noqa: F821
    checkpoint_paths=dict(zip(late, snakemake.input.checkpoints)), final_epoch=late[-1],  # noqa: F821
    seed=int(w.seed), method=w.method, late_fraction=s.pop("late_fraction"), rank=s.pop("rank", None),
    ensemble_samples=s.pop("ensemble_samples"), ensemble_scale=s.pop("ensemble_scale", 0.0),
    plane_samples=s.pop("plane_samples"), plane_scale=s.pop("plane_scale", 0.0),
    accept_min_val_accuracy=s.pop("accept_min_val_accuracy", None), batch_size=p.batch_size,
    intra_op_threads=p.intra_op_threads, inter_op_threads=p.inter_op_threads)
write_table(table, snakemake.output.samples, prov.record())  # noqa: F821
