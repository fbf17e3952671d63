"""Rule prediction_disagreement: all-pairs prediction disagreement of every checkpoint
(deepens.similarity.prediction_disagreement_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.similarity import prediction_disagreement_table  # noqa: E402


def build(i, p):
    return prediction_disagreement_table(list(i.predictions), p.seeds, split=p.split)


table_job(snakemake, build)  # noqa: F821
