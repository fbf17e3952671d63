"""Where TensorFlow computes (CPU or GPU), and what a training job does differently on each.

No TensorFlow import at module level: the caller passes the module (as configure_tensorflow
returns it), so importing this module stays cheap and tests can pass a stand-in.
"""
import re
import shutil
import subprocess
from pathlib import Path

PROC_DRIVER_VERSION = Path("/proc/driver/nvidia/version")
NVIDIA_SMI_TIMEOUT_S = 10


def training_policy(on_gpu: bool, mixed_precision: bool, masks_in_pipeline: bool) -> tuple[str, bool]:
    """(Keras precision policy, whether the dropout masks are drawn in the input pipeline).

    float16 compute with float32 variables pays off on GPUs only: on a CPU training stays
    float32 whatever the config says. Drawing the dropout masks in the tf.data pipeline is a
    CPU speed-up (the masks are computed on another core ahead of the step); on a GPU Keras
    draws them on the device, faster than the host pipeline could.
    """
    policy = "mixed_float16" if on_gpu and mixed_precision else "float32"
    return policy, bool(masks_in_pipeline and not on_gpu)


def _driver_from_proc(path: Path) -> str | None:
    try:
        first = path.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    # "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024"
    match = re.search(r"\s(\d+\.\d+(?:\.\d+)*)\s", first + " ")
    return match.group(1) if match else None


def _driver_from_nvidia_smi() -> str | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=NVIDIA_SMI_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        return None
    return lines[0].strip() or None  # one line per GPU, all with the same driver


def nvidia_driver_version() -> str | None:
    """The NVIDIA kernel driver's version, e.g. '550.54.14'; None without an NVIDIA driver."""
    return _driver_from_proc(PROC_DRIVER_VERSION) or _driver_from_nvidia_smi()


def device_info(tf=None) -> dict:
    """Where TensorFlow computes, for provenance: the same for every run on one kind of machine
    (no times, no host names).

    kind: "GPU" when TensorFlow sees a GPU, else "CPU"; gpus: name and compute capability of
    each visible GPU; cuda_build: whether this TensorFlow is a CUDA build, with the CUDA and
    cuDNN versions it was built with (None in a CPU build); driver: the NVIDIA driver's
    version, None where there is none.
    """
    if tf is None:
        import tensorflow as tf
    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(device) or {}
        except (ValueError, RuntimeError):  # a device TensorFlow lists but cannot describe
            details = {}
        capability = details.get("compute_capability")
        gpus.append({"device": device.name, "name": details.get("device_name"),
                     "compute_capability": ".".join(str(int(c)) for c in capability) if capability else None})
    build = dict(tf.sysconfig.get_build_info())
    return {"kind": "GPU" if gpus else "CPU", "gpus": gpus, "tensorflow": tf.__version__,
            "cuda_build": bool(build.get("is_cuda_build", False)),
            "cuda_version": build.get("cuda_version"), "cudnn_version": build.get("cudnn_version"),
            "driver": nvidia_driver_version()}
