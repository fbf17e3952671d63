"""Rule confusion: the confusion counts of every checkpoint (deepens.errors.confusion_table)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.errors import confusion_table  # noqa: E402

table_job(snakemake, lambda i, p: confusion_table(list(i.predictions), p.seeds))  # noqa: F821
