"""Rule misclassified_overlap: overlap of the misclassified sets of every pair of checkpoints
(deepens.errors.misclassified_overlap_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.errors import misclassified_overlap_table  # noqa: E402


def build(i, p):
    return misclassified_overlap_table(list(i.predictions), p.seeds)


table_job(snakemake, build)  # noqa: F821
