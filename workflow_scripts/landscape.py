"""The landscape rule: one job per model evaluates every interpolation line and every plane,
sharing one evaluator (model, data, compiled forward pass), and writes one table each. Each table
records only the settings and checkpoints it depends on, so changing one plane leaves the other
tables byte-identical (and what reads them does not rerun)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _tfjob  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.nets.landscape_eval import ORIGIN, WeightEvaluator, interpolation_table, plane_table  # noqa: E402

prov = _tfjob.start(snakemake, snakemake.params.intra_op_threads, snakemake.params.inter_op_threads)  # noqa: F821
p, i, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
paths = {tuple(k): c for k, c in zip(p.checkpoints, i.checkpoints)}
SHARED = ("code", "device", "train_examples", "bn_examples", "batch_size", "intra_op_threads", "inter_op_threads")
shared = {k: getattr(p, k) for k in SHARED}


def record(keys, **settings):
    return prov.record(params={**shared, **settings}, inputs=[i.dataset, *(paths[k] for k in sorted(keys))])


evaluator = WeightEvaluator(load_dataset(i.dataset), next(iter(paths.values())), batch_size=p.batch_size,
                            intra_op_threads=p.intra_op_threads, inter_op_threads=p.inter_op_threads,
                            train_examples=p.train_examples, bn_examples=p.bn_examples)
pairs = [tuple(x) for x in p.pairs]
table = interpolation_table(evaluator, paths, pairs, p.points)
write_table(table, out.interpolation,
            record({(a, b) for _, *ends in pairs for a, b in (ends[:2], ends[2:])}, pairs=p.pairs, points=p.points))
for (name, points), path in zip(p.planes.items(), out.planes):
    points = [None if x is None else tuple(x) for x in points]
    print(f"plane {name}: {points}", flush=True)
    table = plane_table(evaluator, points, [ORIGIN if x is None else paths[x] for x in points], p.resolution,
                        p.margin)
    write_table(table, path, record({x for x in points if x is not None}, plane=name, points=p.planes[name],
                                    resolution=p.resolution, margin=p.margin))
