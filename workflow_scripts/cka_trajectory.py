"""Rule cka_trajectory: linear CKA of every layer along one trajectory (deepens.cka.trajectory_table)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.cka import trajectory_table  # noqa: E402

table_job(snakemake, lambda i, p: trajectory_table(i.features, seed=p.seed, block_elements=p.block_elements))  # noqa: F821
