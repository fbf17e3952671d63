"""Rule cka_seeds: linear CKA of every layer pair across seeds (deepens.cka_tables.cross_seed_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.cka_tables import cross_seed_table  # noqa: E402


def build(i, p):
    return cross_seed_table(dict(zip(p.seeds, i.features)), p.epoch, block_elements=p.block_elements)


table_job(snakemake, build)  # noqa: F821
