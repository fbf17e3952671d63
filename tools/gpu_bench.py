#!/usr/bin/env python3
"""Epoch time of the pipeline's MediumCNN and ResNet20v1 on CIFAR-shaped data, float32 and mixed precision.

A short, self-contained benchmark for a GPU machine (issue "Benchmarks"). It builds the
networks with the pipeline's own `deepens.nets.models.build_model`, so what is timed is exactly
what the workflow trains, compiles them the way `deepens.nets.training.train_run` does (Adam at
1.6e-3, sparse cross-entropy from logits, accuracy metric, batch 128), and trains them on
synthetic uint8 images scaled to [0, 1] (fixed seed; the speed of these networks does not
depend on the pixel values).

For every (precision, model) pair it reports the first epoch (compilation and warm-up)
separately from the mean of the timed epochs that follow, the images per second, an
analytic training GFLOP/s (3x the forward FLOPs of the convolutions and dense layers) and
that rate as a fraction of a matrix-product peak measured on the same device.

Runs on any Keras 3 backend: KERAS_BACKEND=jax on a GPU machine without TensorFlow, the
TensorFlow backend (the pipeline's) where TensorFlow is installed.

    python tools/gpu_bench.py                # full run: 49,500 images, 1 warm-up + 2 timed epochs
    python tools/gpu_bench.py --quick --precisions float32   # CPU smoke test: 512 images, 1 timed epoch
                                             # (mixed_float16 on TensorFlow's CPU backend is very slow)

Prints the backend, device and versions, then one line `RESULTS {json}`; writes the JSON
to $OUT/gpu_bench.json when OUT is set (and after every configuration, so a run stopped
early keeps what it finished), or to --json.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))

import numpy as np  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CPU smoke test: tiny data, 1 timed epoch, small matmul")
    p.add_argument("--models", default="medium_cnn,resnet20v1")
    p.add_argument("--precisions", default="float32,mixed_float16")
    p.add_argument("--images", type=int, default=49_500,
                   help="training images per epoch (CIFAR-10's 50,000 less the paper config's 500 for validation)")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up epoch")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=1.6e-3)
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--matmul-size", type=int, default=8192)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.epochs, args.matmul_size = 512, 1, 512
    return args


# ---------------------------------------------------------------- environment

def device_info():
    import keras

    info = {"backend": keras.backend.backend(), "keras": keras.__version__, "python": platform.python_version(),
            "numpy": np.__version__, "host": platform.node()}
    backend = info["backend"]
    if backend == "jax":
        import jax
        import jaxlib

        d = jax.devices()[0]
        info.update(jax=jax.__version__, jaxlib=jaxlib.__version__, platform=d.platform, device=d.device_kind,
                    n_devices=jax.device_count())
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        name = "CPU"
        if gpus:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
        info.update(tensorflow=tf.__version__, platform="gpu" if gpus else "cpu", device=name)
    else:
        info.update(platform="unknown", device="unknown")
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            info["nvidia_smi"] = out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    if info.get("platform") == "cpu":
        info["cpu"] = platform.processor() or platform.machine()
        info["cpu_count"] = os.cpu_count()
    return info


# ---------------------------------------------------------------- FLOPs

def forward_flops(model):
    """Multiply-adds x2 of one image's forward pass through the Conv2D and Dense layers (+ biases).

    Batch norm, ReLU, pooling, dropout and the additions are left out: they are a few
    per cent of the arithmetic but, being memory-bound, not of the time.
    """
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            out = layer.output.shape  # (None, H, W, C)
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            per_out = 2 * kh * kw * cin + (1 if layer.use_bias else 0)
            total += int(out[1]) * int(out[2]) * int(out[3]) * per_out
        elif isinstance(layer, layers.Dense):
            cin, cout = layer.input.shape[-1], layer.units
            total += (2 * cin + (1 if layer.use_bias else 0)) * cout
    return int(total)


# ---------------------------------------------------------------- matmul peak

def matmul_peak(n, dtypes=("float32", "bfloat16", "float16"), repeats=10):
    """TFLOP/s of an n x n x n matrix product on the backend's device, per dtype.

    On JAX float32 is measured twice: at the default precision (what Keras' float32 layers
    get; on NVIDIA GPUs from Ampere on, XLA may run it on tensor cores in TF32) and at
    precision HIGHEST (true float32 arithmetic).
    """
    import keras

    backend = keras.backend.backend()
    flops = 2.0 * n ** 3
    out = {}
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        key = jax.random.PRNGKey(0)
        variants = []
        for dt in dtypes:
            variants.append((dt, dt, None))
            if dt == "float32":
                variants.append(("float32_highest", dt, jax.lax.Precision.HIGHEST))
        for label, dt, prec in variants:
            a = jax.random.normal(key, (n, n), dtype=jnp.float32).astype(dt)
            b = jax.random.normal(jax.random.fold_in(key, 1), (n, n), dtype=jnp.float32).astype(dt)
            f = jax.jit(lambda x, y, p=prec: jnp.matmul(x, y, precision=p))
            f(a, b).block_until_ready()
            f(a, b).block_until_ready()
            t0 = time.perf_counter()
            for _ in range(repeats):
                c = f(a, b)
            c.block_until_ready()
            dt_s = (time.perf_counter() - t0) / repeats
            out[label] = round(flops / dt_s / 1e12, 3)
    elif backend == "tensorflow":
        import tensorflow as tf

        for dt in dtypes:
            a = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 0)), dt)
            b = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 1)), dt)
            f = tf.function(lambda x, y: tf.linalg.matmul(x, y))
            try:
                f(a, b).numpy()
            except Exception as err:  # e.g. float16 matmul unsupported on some CPUs
                out[dt] = f"failed: {type(err).__name__}"
                continue
            t0 = time.perf_counter()
            for _ in range(repeats):
                c = f(a, b)
            c.numpy()
            out[dt] = round(flops / ((time.perf_counter() - t0) / repeats) / 1e12, 3)
    return out


# ---------------------------------------------------------------- training epochs

class EpochTimer:
    """Wall time of each epoch, synchronised on the epoch's last loss (it depends on every step)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times, self.losses = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self._t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                loss = float(np.asarray((logs or {}).get("loss", np.nan)))  # forces the device to finish
                self.times.append(time.perf_counter() - self._t0)
                self.losses.append(loss)

        return _Timer()


def synthetic_cifar(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8).astype(np.float32) / 255.0
    y = rng.integers(0, 10, size=(n,), dtype=np.int32)
    return x, y


def bench_one(model_name, precision, x, y, args):
    import keras
    from deepens.nets.models import build_model

    keras.utils.clear_session()
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(args.seed)
    model = build_model(model_name, (32, 32, 3), 10, seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=args.steps_per_execution)
    timer = EpochTimer()
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=args.batch_size, epochs=1 + args.epochs, shuffle=True, verbose=0,
              callbacks=[timer])
    total = time.perf_counter() - t0
    n = len(x)
    timed = timer.times[1:]
    mean = float(np.mean(timed))
    fwd = forward_flops(model)
    train_gflop_per_image = 3 * fwd / 1e9
    return {
        "model": model_name, "precision": precision, "compute_dtype": model.layers[1].compute_dtype,
        "logits_dtype": model.layers[-1].compute_dtype, "optimizer": type(model.optimizer).__name__,
        "params": int(model.count_params()), "images": n, "batch_size": args.batch_size,
        "steps_per_epoch": -(-n // args.batch_size), "steps_per_execution": args.steps_per_execution,
        "first_epoch_s": round(timer.times[0], 3), "epoch_times_s": [round(t, 3) for t in timed],
        "epoch_mean_s": round(mean, 3), "epoch_min_s": round(float(np.min(timed)), 3),
        "images_per_s": round(n / mean, 1), "ms_per_step": round(1000 * mean / -(-n // args.batch_size), 3),
        "forward_mflop_per_image": round(fwd / 1e6, 2),
        "train_gflops": round(train_gflop_per_image * n / mean, 1),
        "fit_total_s": round(total, 2), "final_loss": timer.losses[-1],
    }


def main(argv=None):
    args = parse_args(argv)
    import keras

    info = device_info()
    print("backend:", info["backend"], "| keras", info["keras"], "| device:", info.get("device"),
          "| nvidia-smi:", info.get("nvidia_smi", "n/a"), flush=True)
    print("versions:", {k: v for k, v in info.items() if k in ("python", "numpy", "jax", "jaxlib", "tensorflow")},
          flush=True)
    out_paths = []
    if os.environ.get("OUT"):
        out_paths.append(Path(os.environ["OUT"]) / "gpu_bench.json")
    if args.json:
        out_paths.append(Path(args.json))
    results = {"info": info, "settings": {k: v for k, v in vars(args).items() if k != "json"},
               "matmul_tflops": {}, "runs": []}

    def dump():
        for p in out_paths:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(results, indent=1))

    t0 = time.perf_counter()
    results["matmul_tflops"] = matmul_peak(args.matmul_size)
    results["matmul_n"] = args.matmul_size
    print(f"matmul {args.matmul_size}^3 TFLOP/s:", results["matmul_tflops"], flush=True)
    dump()

    x, y = synthetic_cifar(args.images, args.seed)
    for precision in args.precisions.split(","):
        for name in args.models.split(","):
            try:
                r = bench_one(name, precision, x, y, args)
            except Exception as err:  # keep the other configurations
                r = {"model": name, "precision": precision, "error": f"{type(err).__name__}: {err}"}
            peak_key = "float32" if precision == "float32" else "float16"
            peak = results["matmul_tflops"].get(peak_key)
            if "train_gflops" in r and isinstance(peak, (int, float)) and peak > 0:
                r["fraction_of_matmul_peak"] = round(r["train_gflops"] / 1e3 / peak, 4)
                r["peak_used"] = f"{peak_key} matmul {peak} TFLOP/s"
            results["runs"].append(r)
            print("run:", json.dumps(r), flush=True)
            dump()
    keras.mixed_precision.set_global_policy("float32")
    results["wall_s"] = round(time.perf_counter() - t0, 1)
    dump()
    print("RESULTS", json.dumps(results), flush=True)
    return results


if __name__ == "__main__":
    main()
