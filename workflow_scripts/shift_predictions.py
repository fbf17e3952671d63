import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.shift import load_shift_set, shift_predictions  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
w, p = snakemake.wildcards, snakemake.params  # noqa: F821
dataset = load_dataset(snakemake.input.dataset)  # noqa: F821
sets = {name: load_shift_set(path, dataset.y_test) for name, path in zip(p.corruptions, snakemake.input.shift_sets)}  # noqa: F821
table = shift_predictions(member=w.member, model_name=w.model, dataset=dataset, shift_sets=sets,
                          checkpoint_paths=dict(zip(p.epochs, snakemake.input.checkpoints)),  # noqa: F821
                          final_epoch=max(p.epochs),
                          seed=int(w.seed), batch_size=p.batch_size, intra_op_threads=p.intra_op_threads,
                          inter_op_threads=p.inter_op_threads, samples=p.samples, subspace_settings=dict(p.settings))
write_table(table, snakemake.output.predictions, prov.record())  # noqa: F821
