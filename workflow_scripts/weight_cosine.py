import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.similarity import weight_cosine_table  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
table = weight_cosine_table(snakemake.input.checkpoints, p.seeds, p.epochs, p.parameters, p.block_elements)  # noqa: F821
write_table(table, snakemake.output.table, prov.record())  # noqa: F821
