"""Start of a TensorFlow rule's script: _job.start, with TensorFlow configured first (threads and
op determinism, deepens.nets.models.configure_tensorflow) and the device it computes on recorded in
the provenance of every artifact (deepens.nets.devices.device_info: kind, GPU model, CUDA build,
driver; the same on every machine of one kind). Analysis scripts use _job alone."""
import _job


def start(snakemake, intra_op_threads, inter_op_threads):
    prov = _job.start(snakemake)  # the log is open before TensorFlow is imported: its errors land there
    from deepens.nets.devices import device_info
    from deepens.nets.models import configure_tensorflow

    tf = configure_tensorflow(int(intra_op_threads), int(inter_op_threads))
    prov.extra["device"] = device_info(tf)
    print(f"TensorFlow {tf.__version__} on {prov.extra['device']['kind']}")
    return prov
