"""Rule evaluate_checkpoints: every checkpoint's predictions, and the CKA features (deepens.nets.predict)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _tfjob  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.nets.predict import evaluate_checkpoints  # noqa: E402

prov = _tfjob.start(snakemake, snakemake.params.intra_op_threads, snakemake.params.inter_op_threads)  # noqa: F821
p, i, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
# Each product records only what it depends on: the predictions not the CKA settings, the
# features not the forward-pass batch size and only the checkpoints they read.
shared = {k: v for k, v in p.items() if k not in ("batch_size", "representations")}
dataset = load_dataset(i.dataset)
reps = None
if p.representations is not None:
    read = [c for e, c in zip(p.epochs, i.checkpoints) if e in p.representations["epochs"]]
    reps = {**p.representations, "path": out.representations,
            "provenance": prov.record(params={**shared, "representations": p.representations},
                                      inputs=[i.dataset, *read])}
table = evaluate_checkpoints(dataset, list(i.checkpoints), p.epochs, p.batch_size, p.intra_op_threads,
                             p.inter_op_threads, representations=reps)
write_table(table, out.predictions, prov.record(params={**shared, "batch_size": p.batch_size}),
            row_group_size=len(dataset.y_test) + len(dataset.y_val))
