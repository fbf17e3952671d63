"""Rule subspace_diversity_points: the reference run's subspace samples on the diversity-accuracy plane
(deepens.subspace_analysis.subspace_diversity_points_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import sample_inputs, table_job  # noqa: E402
from deepens.subspace_analysis import subspace_diversity_points_table  # noqa: E402


def build(i, p):
    return subspace_diversity_points_table(list(i.predictions), sample_inputs(i, p), p.seeds, p.reference_seed)


table_job(snakemake, build)  # noqa: F821
