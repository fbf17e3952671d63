"""Rule reliability: reliability diagrams before and after temperature scaling
(deepens.reliability.reliability_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.reliability import reliability_table  # noqa: E402


def build(i, p):
    samples = {m: i[m][0] for m in p.methods}  # the reference seed's samples file per method
    return reliability_table(list(i.predictions), p.seeds, p.reference_seed, samples, bins=p.bins)


table_job(snakemake, build)  # noqa: F821
