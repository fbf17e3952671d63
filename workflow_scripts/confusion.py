"""Rule confusion: the confusion counts of every checkpoint (deepens.errors.confusion_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.errors import confusion_table  # noqa: E402


def build(i, p):
    return confusion_table(list(i.predictions), p.seeds)


table_job(snakemake, build)  # noqa: F821
