"""Rule evaluate_checkpoints: every checkpoint's predictions, and the CKA features (deepens.predict)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.predict import evaluate_checkpoints  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
p, out = snakemake.params, snakemake.output  # noqa: F821
dataset = load_dataset(snakemake.input.dataset)  # noqa: F821
reps = None if p.representations is None else {**p.representations, "path": out.representations,
                                               "provenance": prov.record()}
table = evaluate_checkpoints(dataset, list(snakemake.input.checkpoints), p.epochs, p.batch_size,  # noqa: F821
                             p.intra_op_threads, p.inter_op_threads, representations=reps)
write_table(table, out.predictions, prov.record(), row_group_size=len(dataset.y_test) + len(dataset.y_val))
