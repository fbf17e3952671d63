import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens import data  # noqa: E402

prov = _job.start(snakemake, inputs=[])  # noqa: F821
p = snakemake.params  # noqa: F821
if p.name == "digits":
    ds = data.prepare_digits(p.test_size, p.validation_size)
else:
    source = snakemake.input.source[0] if snakemake.input.source else None  # noqa: F821
    ds = data.prepare_cifar10(source, p.validation_size, p.scratch_dir)
data.save_dataset(ds, snakemake.output.dataset, meta={"provenance": prov.record()})  # noqa: F821
print({s: len(ds.split(s)[1]) for s in data.SPLITS}, "classes:", ds.class_names)
