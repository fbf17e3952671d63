"""Start of a TensorFlow rule's script: _job.start, with TensorFlow configured first (threads and
op determinism, deepens.nets.models.configure_tensorflow) and the device it computes on recorded in
the provenance of every artifact (deepens.nets.devices.device_info: kind, GPU model, CUDA build,
driver; the same on every machine of one kind). Analysis scripts use _job alone.

Importing this module keeps scikit-learn and matplotlib out of the job: Keras imports both when
they are installed (its scikit-learn wrapper and its image gallery), about 1.4 s of the 4.2 s
TensorFlow import measured here, and the shared virtual environment of `make run` has them for
the analysis jobs. No TensorFlow job uses either (the test suite runs every one of them), so an
`import sklearn` here fails at once instead of costing every job its start time."""
import sys

import _job

for _name in ("sklearn", "matplotlib"):
    sys.modules.setdefault(_name, None)


def start(snakemake, intra_op_threads, inter_op_threads):
    prov = _job.start(snakemake)  # the log is open before TensorFlow is imported: its errors land there
    from deepens.nets.devices import device_info
    from deepens.nets.models import configure_tensorflow

    tf = configure_tensorflow(int(intra_op_threads), int(inter_op_threads))
    prov.extra["device"] = device_info(tf)
    print(f"TensorFlow {tf.__version__} on {prov.extra['device']['kind']}")
    return prov
