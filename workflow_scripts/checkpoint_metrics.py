"""Rule checkpoint_metrics: accuracy, NLL, Brier and ECE of every checkpoint
(deepens.similarity.checkpoint_metrics_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.similarity import checkpoint_metrics_table  # noqa: E402


def build(i, p):
    return checkpoint_metrics_table(list(i.predictions), p.seeds, bins=p.bins)


table_job(snakemake, build)  # noqa: F821
