"""Rule ensemble_by_epoch: the ensemble of all seeds against single models at every epoch
(deepens.ensembles.ensemble_by_epoch_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.ensembles import ensemble_by_epoch_table  # noqa: E402


def build(i, p):
    return ensemble_by_epoch_table(list(i.predictions), p.seeds, bins=p.bins)


table_job(snakemake, build)  # noqa: F821
