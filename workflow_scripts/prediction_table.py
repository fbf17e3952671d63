"""One script for every rule that turns the runs' prediction dumps into one table.

The rule's name picks the library function; its params (other than the code digest)
are the function's keyword arguments.
"""
import importlib
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.io import write_table  # noqa: E402

BUILDERS = {
    "prediction_disagreement": "similarity:prediction_disagreement_table",
    "checkpoint_metrics": "similarity:checkpoint_metrics_table",
    "confusion": "errors:confusion_table",
    "hard_examples": "errors:hard_examples_table",
    "misclassified_overlap": "errors:misclassified_overlap_table",
    "function_space_tsne": "function_space:tsne_table",
    "ensemble_metrics": "ensembles:ensemble_metrics_table",
    "ensemble_by_epoch": "ensembles:ensemble_by_epoch_table",
    "subspace_tsne": "subspace_analysis:subspace_tsne_table",
    "subspace_diversity_points": "subspace_analysis:subspace_diversity_points_table",
    "section5_ensembles": "subspace_analysis:section5_ensembles_table",
}

prov = _job.start(snakemake)  # noqa: F821
module, name = BUILDERS[snakemake.rule].split(":")  # noqa: F821
build = getattr(importlib.import_module(f"deepens.{module}"), name)
kwargs = {k: v for k, v in snakemake.params.items() if k not in ("code", "methods")}  # noqa: F821
if "samples" in snakemake.input.keys():  # noqa: F821
    # the rules list sample files method-major, then in the order of the seeds
    methods, samples = snakemake.params.methods, list(snakemake.input.samples)  # noqa: F821
    per = len(samples) // max(1, len(methods))
    kwargs["sample_paths"] = {m: samples[i * per:(i + 1) * per] for i, m in enumerate(methods)}
table = build(list(snakemake.input.predictions), **kwargs)  # noqa: F821
write_table(table, snakemake.output.table, prov.record())  # noqa: F821
print(f"{snakemake.rule}: {table.num_rows} rows -> {snakemake.output.table}")  # noqa: F821
