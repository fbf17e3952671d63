"""Rule evaluate_solution: every subspace method's samples and every member under dataset shift
(deepens.subspace_sampling)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.shift import load_shift_set  # noqa: E402
from deepens.subspace_sampling import evaluate_solution  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
w, p, out = snakemake.wildcards, snakemake.params, snakemake.output  # noqa: F821
s = p.settings
dataset = load_dataset(snakemake.input.dataset)  # noqa: F821
shift = s["shift"]
sets = None if shift is None else {c: load_shift_set(path, dataset.y_test)
                                   for c, path in zip(shift["corruptions"], snakemake.input.shift_sets)}  # noqa: F821
evaluate_solution(
    dataset=dataset, checkpoint_paths=dict(zip(s["epochs"], snakemake.input.checkpoints)),  # noqa: F821
    final_epoch=s["final_epoch"], seed=int(w.seed), late_epochs=s["late_epochs"], methods=dict(s["methods"]),
    sample_paths={m: out[f"samples_{m}"] for m in s["methods"]}, shift_sets=sets,
    shift_paths={m: out[f"shift_{m}"] for m in (shift["members"] if shift else [])},
    shift_samples=shift["samples"] if shift else None, snapshot_epochs=shift["snapshot_epochs"] if shift else [],
    batch_size=p.batch_size, intra_op_threads=p.intra_op_threads, inter_op_threads=p.inter_op_threads,
    rank=s["rank"], recompute_batch_norm=s["recompute_batch_norm"], bn_examples=s["bn_examples"],
    provenance=prov.record())
