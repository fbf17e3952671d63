"""One script for the analysis rules whose inputs are not (only) prediction dumps: the rule's
name picks a function below that reads its inputs and params and returns one table."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.io import read_table, write_table  # noqa: E402


def interpolation_barriers(i, p):
    from deepens.landscape import barriers_table
    return barriers_table(read_table(i.curves))


def shift_metrics(i, p):
    from deepens.shift_analysis import shift_metrics_table
    paths = list(i.shift)  # member-major, then seed order
    per = len(paths) // len(p.members)
    return shift_metrics_table({m: paths[k * per:(k + 1) * per] for k, m in enumerate(p.members)}, p.seeds,
                               max_subsets=p.max_subsets, subset_seed=p.subset_seed, bins=p.bins)


def cka_seeds(i, p):
    from deepens.cka import cross_seed_table
    return cross_seed_table(dict(zip(p.seeds, i.features)), p.epoch, block_elements=p.block_elements)


def cka_trajectory(i, p):
    from deepens.cka import trajectory_table
    return trajectory_table(i.features, seed=p.seed, block_elements=p.block_elements)


prov = _job.start(snakemake)  # noqa: F821
table = globals()[snakemake.rule](snakemake.input, snakemake.params)  # noqa: F821
write_table(table, snakemake.output.table, prov.record())  # noqa: F821
print(f"{snakemake.rule}: {table.num_rows} rows -> {snakemake.output.table}")  # noqa: F821
