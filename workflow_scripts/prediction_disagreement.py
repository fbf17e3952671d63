import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.similarity import prediction_disagreement_table  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
table = prediction_disagreement_table(snakemake.input.predictions, snakemake.params.seeds)  # noqa: F821
write_table(table, snakemake.output.table, prov.record())  # noqa: F821
