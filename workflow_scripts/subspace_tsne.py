"""Rule subspace_tsne: joint t-SNE of the trajectories, the subspace samples and the connectivity
curves' points (deepens.subspace_analysis.subspace_tsne_table)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import sample_inputs, table_job  # noqa: E402
from deepens.subspace_analysis import subspace_tsne_table  # noqa: E402


def build(i, p):
    return subspace_tsne_table(
        list(i.predictions),
        sample_inputs(i, p),
        p.seeds,
        test_points=p.test_points,
        perplexity=p.perplexity,
        seed=p.seed,
        max_iter=p.max_iter,
        split=p.split,
        curves=dict(zip((tuple(x) for x in p.pairs), i.paths)),
    )


table_job(snakemake, build)  # noqa: F821
