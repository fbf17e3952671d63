import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.predict import predict_checkpoints  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
dataset = load_dataset(snakemake.input.dataset)  # noqa: F821
table = predict_checkpoints(snakemake.wildcards.model, dataset, snakemake.input.checkpoints, p.epochs,  # noqa: F821
                            p.batch_size, p.intra_op_threads, p.inter_op_threads)
write_table(table, snakemake.output.predictions, prov.record(),  # noqa: F821
            row_group_size=len(dataset.y_test) + len(dataset.y_val))
