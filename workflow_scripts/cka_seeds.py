"""Rule cka_seeds: linear CKA of every layer pair across seeds (deepens.cka.cross_seed_table)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.cka import cross_seed_table  # noqa: E402

table_job(snakemake, lambda i, p: cross_seed_table(dict(zip(p.seeds, i.features)), p.epoch, block_elements=p.block_elements))  # noqa: F821
