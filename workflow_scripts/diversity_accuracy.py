import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens import function_space, metrics  # noqa: E402
from deepens.io import read_predictions, write_table  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
p, out = snakemake.params, snakemake.output  # noqa: F821
paths = list(snakemake.input.predictions)  # noqa: F821
points = function_space.diversity_points_table(paths, p.seeds, p.reference_seed)
_, labels, probs, _ = read_predictions(paths[p.seeds.index(p.reference_seed)])
reference = metrics.accuracy(probs[-1], labels)
# From chance accuracy up, as the authors draw them: below 1/C the two limits cross.
limits = function_space.limit_curves(reference, probs.shape[-1], start=1.0 / probs.shape[-1])
write_table(points, out.points, prov.record())
write_table(limits, out.limits, prov.record())
print(f"reference seed {p.reference_seed}: accuracy {reference:.4f}; {points.num_rows} points")
