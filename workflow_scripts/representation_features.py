import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.representations import write_representation_features  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
write_representation_features(
    snakemake.output.features, model_name=snakemake.wildcards.model,  # noqa: F821
    dataset=load_dataset(snakemake.input.dataset), checkpoint_paths=list(snakemake.input.checkpoints),  # noqa: F821
    epochs=p.epochs, test_points=p.test_points, batch_size=p.batch_size, intra_op_threads=p.intra_op_threads,
    inter_op_threads=p.inter_op_threads, provenance=prov.record())
