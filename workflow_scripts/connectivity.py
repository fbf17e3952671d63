"""Rule connectivity: one pair of solutions -- permutation alignment of b to a (numpy), the trained
Bezier curve (TensorFlow), and the three paths evaluated (deepens.connectivity). Each output records
only the settings it depends on: the alignment its own, the curve its training's, the paths all."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _tfjob  # noqa: E402

prov = _tfjob.start(snakemake, snakemake.params.intra_op_threads, snakemake.params.inter_op_threads)  # noqa: F821

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
from deepens.alignment import align_flat  # noqa: E402
from deepens.connectivity import METHOD, path_table, permutation_table  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.io import samples_table, write_table  # noqa: E402
from deepens.landscape import interpolation_ts  # noqa: E402
from deepens.nets.checkpoints import save_checkpoint  # noqa: E402
from deepens.nets.connectivity import evaluate_paths, train_curve  # noqa: E402
from deepens.nets.landscape_eval import WeightEvaluator  # noqa: E402
from deepens.nets.models import variable_manifest  # noqa: E402
from deepens.weights import read_model_spec  # noqa: E402

p, i, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
seed_a, seed_b = p.pair
SHARED = ("code", "device", "batch_size", "intra_op_threads", "inter_op_threads")
shared = {k: getattr(p, k) for k in SHARED}


def record(*settings, evaluation=True):
    """Provenance naming only `settings` (and, for what TensorFlow computed, the evaluation's)."""
    params = {**(shared if evaluation else {"code": p.code}), **{k: getattr(p, k) for k in settings}}
    return prov.record(params=params, inputs=[*([i.dataset] if evaluation else []), *i.checkpoints])


dataset = load_dataset(i.dataset)
evaluator = WeightEvaluator(dataset, i.checkpoints[0], batch_size=p.batch_size, intra_op_threads=p.intra_op_threads,
                            inter_op_threads=p.inter_op_threads, train_examples=p.train_examples,
                            bn_examples=p.bn_examples)
theta_a, theta_b = evaluator.load(list(i.checkpoints))
model_name = read_model_spec(i.checkpoints[0])["name"]
alignment = p.alignment
aligned_b, perms = align_flat(model_name, evaluator.variables, theta_a, theta_b, seed=alignment["seed"],
                              max_iter=alignment["max_iter"])
moved = {g: int(np.sum(perm != np.arange(len(perm)))) for g, perm in perms.items()}
print(f"alignment of seed {seed_b} to seed {seed_a}: units moved per group {moved}; "
      f"distance {np.linalg.norm(theta_a - theta_b):.4f} -> {np.linalg.norm(theta_a - aligned_b):.4f}", flush=True)
write_table(permutation_table(perms), out.alignment, record("pair", "alignment", evaluation=False))

curve = p.curve
theta = train_curve(evaluator, dataset, theta_a, theta_b, seed_a=seed_a, seed_b=seed_b, epochs=curve["epochs"],
                    batch_size=curve["batch_size"], learning_rate=curve["learning_rate"],
                    lr_halving_epochs=curve["lr_halving_epochs"], adam_epsilon=curve["adam_epsilon"],
                    augmentation=curve["augmentation"])
evaluator.flat.assign(theta)  # the curve's middle point, saved as a checkpoint of the network
save_checkpoint(evaluator.model, variable_manifest(evaluator.model), out.curve, -1, record("pair", "curve"))

rows, probs = evaluate_paths(evaluator, theta_a, theta_b, aligned_b, theta, p.points, seed_a, seed_b)
everything = ("pair", "alignment", "curve", "points", "train_examples", "bn_examples")
write_table(path_table(rows), out.paths, record(*everything))
ts = interpolation_ts(p.points)
labels = dataset.y_test
write_table(pa.concat_tables([samples_table(METHOD, path, "test", np.arange(len(ts)), ts,
                                            (pp.argmax(-1) == labels).mean(axis=1), labels, pp, lp)
                              for path, (pp, lp) in probs.items()]), out.predictions, record(*everything))
