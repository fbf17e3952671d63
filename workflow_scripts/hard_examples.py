"""Rule hard_examples: how many final solutions misclassify each test example (deepens.errors.hard_examples_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.errors import hard_examples_table  # noqa: E402


def build(i, p):
    return hard_examples_table(list(i.predictions), p.seeds)


table_job(snakemake, build)  # noqa: F821
