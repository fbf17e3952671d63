"""One corruption of the test set at every configured severity: CIFAR-10-C's files when given, else
generated locally (deepens.corruptions)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
import numpy as np  # noqa: E402
from deepens import cifar10c, corruptions  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.shift import save_shift_set  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
p, name = snakemake.params, snakemake.wildcards.corruption  # noqa: F821
ds = load_dataset(snakemake.input.dataset)  # noqa: F821
severities = [int(s) for s in p.severities]
if snakemake.input.source:  # noqa: F821
    directory = str(snakemake.input.source[0]).rsplit("/", 1)[0]  # noqa: F821
    images, labels = cifar10c.load_cifar10c(directory, name, len(ds.y_test))
    cifar10c.check_cifar10c_labels(labels, ds.y_test)
    images = images[[s - 1 for s in severities]]
    source = f"CIFAR-10-C {directory}"
else:
    images = np.stack([corruptions.corrupt(ds.x_test, name, s, p.seed) for s in severities])
    source = f"generated (deepens.corruptions, seed {p.seed})"
save_shift_set(snakemake.output.shift_set, images, severities, ds.y_test,  # noqa: F821
               {"corruption": name, "source": source, "provenance": prov.record()})
damage = [float(np.mean(np.abs(images[i].astype(np.int16) - ds.x_test))) for i in range(len(severities))]
print(f"{name}: severities {severities} from {source}; mean |change| per pixel {np.round(damage, 2).tolist()}")
