"""Rule shift_metrics: scores of every member and ensemble under dataset shift
(deepens.shift_analysis.shift_metrics_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.shift_analysis import shift_metrics_table  # noqa: E402


def build(i, p):
    return shift_metrics_table(
        {m: list(i[m]) for m in p.members}, p.seeds, max_subsets=p.max_subsets, subset_seed=p.subset_seed, bins=p.bins
    )


table_job(snakemake, build)  # noqa: F821
