"""CPU/GPU branches (deepens.nets.devices), each exercised on a CPU: the GPU side with a stand-in."""
import itertools
import types

import numpy as np
import pytest
from deepens.nets import devices


@pytest.mark.parametrize("on_gpu,mixed_precision,masks_in_pipeline",
                         list(itertools.product([False, True], repeat=3)))
def test_training_policy(on_gpu, mixed_precision, masks_in_pipeline):
    policy, masks = devices.training_policy(on_gpu, mixed_precision, masks_in_pipeline)
    assert policy == ("mixed_float16" if on_gpu and mixed_precision else "float32")
    assert masks is (masks_in_pipeline and not on_gpu)


def _no_driver(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "PROC_DRIVER_VERSION", tmp_path / "absent")
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)


def test_driver_version_from_proc(monkeypatch, tmp_path):
    _no_driver(monkeypatch, tmp_path)
    assert devices.nvidia_driver_version() is None
    proc = tmp_path / "version"
    proc.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  "
                    "(dvs-builder@U22-I3-AE18-23-3)  Wed Oct 1 12:00:00 UTC 2025\nGCC version:  gcc version 12.3.0\n")
    monkeypatch.setattr(devices, "PROC_DRIVER_VERSION", proc)
    assert devices.nvidia_driver_version() == "580.159.04"
    proc.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n")
    assert devices.nvidia_driver_version() == "535.104.05"


def test_driver_version_from_nvidia_smi(monkeypatch, tmp_path):
    _no_driver(monkeypatch, tmp_path)
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\nprintf '550.54.14\\n550.54.14\\n'\n")
    smi.chmod(0o755)
    monkeypatch.setattr(devices.shutil, "which", lambda name: str(smi) if name == "nvidia-smi" else None)
    assert devices.nvidia_driver_version() == "550.54.14"
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert devices.nvidia_driver_version() is None


def _fake_tf(gpus, details, build):
    experimental = types.SimpleNamespace(get_device_details=lambda d: details[d.name])
    config = types.SimpleNamespace(list_physical_devices=lambda kind=None: list(gpus) if kind == "GPU" else [],
                                   experimental=experimental)
    return types.SimpleNamespace(__version__="2.21.0", config=config,
                                 sysconfig=types.SimpleNamespace(get_build_info=lambda: dict(build)))


def test_device_info_gpu_branch_with_a_stand_in(monkeypatch, tmp_path):
    _no_driver(monkeypatch, tmp_path)
    proc = tmp_path / "version"
    proc.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue Sep 30 2025\n")
    monkeypatch.setattr(devices, "PROC_DRIVER_VERSION", proc)
    gpu = types.SimpleNamespace(name="/physical_device:GPU:0", device_type="GPU")
    tf = _fake_tf([gpu], {gpu.name: {"device_name": "NVIDIA H100 80GB HBM3", "compute_capability": (9, 0)}},
                  {"is_cuda_build": True, "cuda_version": "12.5.1", "cudnn_version": "9"})
    info = devices.device_info(tf)
    assert info == {"kind": "GPU", "tensorflow": "2.21.0",
                    "gpus": [{"device": "/physical_device:GPU:0", "name": "NVIDIA H100 80GB HBM3",
                              "compute_capability": "9.0"}],
                    "cuda_build": True, "cuda_version": "12.5.1", "cudnn_version": "9", "driver": "580.159.04"}
    assert devices.device_info(tf) == info  # nothing in it changes from call to call

    def undescribed(device):
        raise ValueError("no details")

    tf.config.experimental.get_device_details = undescribed
    assert devices.device_info(tf)["gpus"] == [{"device": gpu.name, "name": None, "compute_capability": None}]


def test_device_info_on_this_cpu_machine(monkeypatch, tmp_path):
    tf = pytest.importorskip("tensorflow")
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees a GPU here")
    info = devices.device_info(tf)
    assert info["kind"] == "CPU" and info["gpus"] == [] and info["tensorflow"] == tf.__version__
    if not tf.sysconfig.get_build_info().get("is_cuda_build"):  # tensorflow-cpu
        assert info["cuda_build"] is False and info["cuda_version"] is None and info["cudnn_version"] is None
    if not devices.PROC_DRIVER_VERSION.exists() and not devices.shutil.which("nvidia-smi"):
        assert info["driver"] is None
    assert devices.device_info(tf) == info
    _no_driver(monkeypatch, tmp_path)
    assert devices.device_info(tf)["driver"] is None


# --- the epoch loop follows training_policy ---------------------------------------------------

@pytest.fixture
def fake_gpu(monkeypatch):
    """TensorFlow reports one GPU to train_run (the ops still run on the CPU); records the
    choices train_run makes: the pipeline masks and the precision policy."""
    tf = pytest.importorskip("tensorflow")
    import keras
    from deepens.nets import training
    from deepens.nets.models import configure_tensorflow

    configure_tensorflow(1, 1)  # as tests/test_training.py: before any op, same threads
    real = tf.config.list_physical_devices
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [gpu] if kind == "GPU" else real(kind))
    seen = {"feed_dropout_masks": 0, "pipeline_dropout": []}
    feed, dataset = training.feed_dropout_masks, training.train_dataset

    def counting_feed(*a, **k):
        seen["feed_dropout_masks"] += 1
        return feed(*a, **k)

    def recording_dataset(*a, **k):
        seen["pipeline_dropout"].append(k.get("dropout"))
        return dataset(*a, **k)

    monkeypatch.setattr(training, "feed_dropout_masks", counting_feed)
    monkeypatch.setattr(training, "train_dataset", recording_dataset)
    yield seen
    keras.mixed_precision.set_global_policy("float32")


def _train(tmp_path, name, epochs=2, **overrides):
    import h5py
    from deepens import data, provenance
    from deepens.nets import training

    ds = data.prepare_digits(300, 100)
    out = tmp_path / name
    paths = [out / f"epoch{e:03d}.weights.h5" for e in range(epochs + 1)]
    args = dict(model_name="small_cnn", dataset=ds, seed=5, epochs=epochs, batch_size=128, learning_rate=1.6e-3,
                lr_halving_epochs=2, dropout=0.2, augmentation=False, steps_per_execution=1, jit_compile=False,
                intra_op_threads=1, inter_op_threads=1, checkpoint_paths=paths, history_path=out / "history.parquet",
                provenance=provenance.Provenance({}), log=lambda *a: None)
    args.update(overrides)
    table = training.train_run(**args)
    with h5py.File(paths[-1]) as f:
        found = {}
        f.visititems(lambda n, o: found.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return found, table


def test_with_a_gpu_keras_draws_the_dropout_masks(tmp_path, fake_gpu):
    """On a GPU the pipeline never draws masks, even when asked to (dropout_masks_in_pipeline),
    and the run is the one Keras's own Dropout gives (here on the CPU, bit for bit)."""
    import keras

    weights, table = _train(tmp_path, "gpu", dropout_masks_in_pipeline=True)
    assert fake_gpu == {"feed_dropout_masks": 0, "pipeline_dropout": [None]}
    assert keras.mixed_precision.global_policy().name == "float32"
    reference, ref_table = _train(tmp_path, "keras", dropout_masks_in_pipeline=False)
    assert weights.keys() == reference.keys()
    assert all(np.array_equal(weights[k], reference[k]) for k in weights)
    assert table.equals(ref_table)


def test_with_a_gpu_mixed_precision_trains_and_checkpoints_float32(tmp_path, fake_gpu):
    """mixed_float16 (float16 compute, float32 variables) through the whole epoch loop: finite
    loss, float32 checkpoints. Runs on the CPU here, as it would on a GPU."""
    import keras

    weights, table = _train(tmp_path, "mixed", epochs=1, mixed_precision=True)
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    assert fake_gpu["feed_dropout_masks"] == 0 and fake_gpu["pipeline_dropout"] == [None]
    assert np.isfinite(table["loss"].to_numpy()).all()
    kernels = {k: v for k, v in weights.items() if k.startswith("layers/") and "/vars/" in k}
    assert kernels and all(v.dtype == np.float32 for v in kernels.values())


def test_with_a_gpu_mixed_precision_resumes_bit_identical(tmp_path, fake_gpu):
    """A mixed-precision run stopped after epoch 1 resumes (loss-scale optimizer state included)
    and ends as the uninterrupted run."""
    whole, whole_table = _train(tmp_path, "whole", epochs=2, mixed_precision=True)

    def stop_after_epoch_1(line):
        if line.startswith("epoch 1/2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, "resumed", epochs=2, mixed_precision=True, log=stop_after_epoch_1)
    lines = []
    resumed, resumed_table = _train(tmp_path, "resumed", epochs=2, mixed_precision=True, log=lines.append)
    assert any(line.startswith("resuming after epoch 1") for line in lines)
    assert not any(k.startswith("optimizer") for k in whole)  # the loss-scale optimizer stays in the resume state
    assert whole.keys() == resumed.keys() and all(np.array_equal(whole[k], resumed[k]) for k in whole)
    assert whole_table.equals(resumed_table)
