"""Both landscape rules: interpolation lines (landscape_interpolation) and a plane (landscape_plane)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _tfjob  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.nets.landscape_eval import ORIGIN, WeightEvaluator, interpolation_table, plane_table  # noqa: E402

prov = _tfjob.start(snakemake, snakemake.params.intra_op_threads, snakemake.params.inter_op_threads)  # noqa: F821
p, checkpoints = snakemake.params, list(snakemake.input.checkpoints)  # noqa: F821
evaluator = WeightEvaluator(load_dataset(snakemake.input.dataset), checkpoints[0],  # noqa: F821
                            batch_size=p.batch_size, intra_op_threads=p.intra_op_threads,
                            inter_op_threads=p.inter_op_threads, train_examples=p.train_examples,
                            bn_examples=p.bn_examples)
if snakemake.rule == "landscape_interpolation":  # noqa: F821
    paths = {tuple(k): c for k, c in zip(p.endpoints, checkpoints)}
    table = interpolation_table(evaluator, paths, [tuple(x) for x in p.pairs], p.points)
else:
    points = [None if x is None else tuple(x) for x in p.points]
    files = iter(checkpoints)
    table = plane_table(evaluator, points, [ORIGIN if x is None else next(files) for x in points],
                        p.resolution, p.margin)
write_table(table, snakemake.output.table, prov.record())  # noqa: F821
