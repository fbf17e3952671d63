"""Rule interpolation_barriers: barrier heights of every interpolation line (deepens.landscape.barriers_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.io import read_table  # noqa: E402
from deepens.landscape import barriers_table  # noqa: E402


def build(i, p):
    return barriers_table(read_table(i.curves))


table_job(snakemake, build)  # noqa: F821
