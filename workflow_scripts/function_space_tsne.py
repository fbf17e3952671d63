"""Rule function_space_tsne: t-SNE of every checkpoint's predictions (deepens.function_space.tsne_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.function_space import tsne_table  # noqa: E402


def build(i, p):
    return tsne_table(
        list(i.predictions),
        p.seeds,
        test_points=p.test_points,
        perplexity=p.perplexity,
        seed=p.seed,
        max_iter=p.max_iter,
        split=p.split,
    )


table_job(snakemake, build)  # noqa: F821
