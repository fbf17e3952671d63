"""Rule connectivity_metrics: the paths of every pair as point, barrier and diversity-plane tables
(deepens.connectivity.connectivity_tables)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.connectivity import connectivity_tables  # noqa: E402
from deepens.io import read_predictions, write_table  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
p, i, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
reference = read_predictions(i.reference)
points, barriers, diversity = connectivity_tables(list(i.paths), list(i.predictions), [tuple(x) for x in p.pairs],
                                                  p.reference_seed, reference.probs[-1], reference.labels)
write_table(points, out.points, prov.record())
write_table(barriers, out.barriers, prov.record())
write_table(diversity, out.diversity_points, prov.record())
print(barriers.to_pandas()[["seed_a", "seed_b", "path", "split", "loss_barrier", "error_barrier",
                            "interior_disagreement"]].to_string())
