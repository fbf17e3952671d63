"""Rule misclassified_overlap: overlap of the misclassified sets of every pair of checkpoints (deepens.errors.misclassified_overlap_table)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.errors import misclassified_overlap_table  # noqa: E402

table_job(snakemake, lambda i, p: misclassified_overlap_table(list(i.predictions), p.seeds))  # noqa: F821
