"""Rule cka_trajectory: linear CKA of every layer along one trajectory (deepens.cka_tables.trajectory_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.cka_tables import trajectory_table  # noqa: E402


def build(i, p):
    return trajectory_table(i.features, seed=p.seed, block_elements=p.block_elements)


table_job(snakemake, build)  # noqa: F821
