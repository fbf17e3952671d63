"""Rule ensemble_metrics: independent and snapshot ensembles by size (deepens.ensembles.ensemble_metrics_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.ensembles import ensemble_metrics_table  # noqa: E402


def build(i, p):
    return ensemble_metrics_table(
        list(i.predictions),
        p.seeds,
        max_subsets=p.max_subsets,
        subset_seed=p.subset_seed,
        snapshot_max_size=p.snapshot_max_size,
        bins=p.bins,
    )


table_job(snakemake, build)  # noqa: F821
