"""Rule section5_ensembles: the paper's Section-5 ensembles (independent vs subspace)
(deepens.subspace_analysis.section5_ensembles_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import sample_inputs, table_job  # noqa: E402
from deepens.subspace_analysis import section5_ensembles_table  # noqa: E402


def build(i, p):
    return section5_ensembles_table(
        list(i.predictions),
        sample_inputs(i, p),
        p.seeds,
        max_subsets=p.max_subsets,
        subset_seed=p.subset_seed,
        bins=p.bins,
    )


table_job(snakemake, build)  # noqa: F821
