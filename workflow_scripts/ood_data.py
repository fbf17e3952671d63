"""One out-of-distribution set in the dataset's image shape: generated (seeded) or read from a
local file (deepens.ood)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens import ood  # noqa: E402
from deepens.data import load_dataset  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
spec, name = snakemake.params.spec, snakemake.wildcards.ood_set  # noqa: F821
ds = load_dataset(snakemake.input.dataset)  # noqa: F821
if spec["kind"] == "file":
    images = ood.load_file(snakemake.input.source[0], ds.input_shape, spec["size"])  # noqa: F821
    source = f"file {snakemake.input.source[0]}"  # noqa: F821
else:
    images = ood.generate(spec["kind"], ds.x_test, spec["size"], spec["seed"])
    source = f"generated ({spec['kind']}, seed {spec['seed']})"
ood.save_ood_set(snakemake.output.ood_set, images, {"name": name, "source": source,  # noqa: F821
                                                     "provenance": prov.record()})
print(f"{name}: {len(images)} images {images.shape[1:]} from {source}")
