#!/usr/bin/env python3
"""The Python half of tools/gpu_check.sh (docs/gpu.md); never run by the tests.

    python tools/gpu_check.py device [--allow-cpu]     # where TensorFlow computes; exit 2 without a GPU
    python tools/gpu_check.py compare RUN_A RUN_B      # the two runs' results, exactly; exit 4 if they differ
    python tools/gpu_check.py epoch-times [--images N] [--epochs E] [--models ...] [--precisions ...]

epoch-times trains each model with the pipeline's own loop, `deepens.nets.training.train_run` (the
networks of `deepens.nets.models.build_model`, tf.data input, the configured training settings),
on random CIFAR-shaped data (uint8 32x32x3, 10 classes, fixed seed), and reports the seconds
per epoch from the run's history table. An epoch's seconds there are what the workflow's
history records: the training steps, the validation pass and the checkpoint write. The first
epoch also traces the step functions, so it is reported apart from the mean of the others.
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = "small_cnn,medium_cnn,resnet20v1"
COMPARED = (".h5", ".parquet")  # checkpoints, representations; every table


# --- device ------------------------------------------------------------------------------

def cmd_device(args) -> int:
    import tensorflow as tf
    from deepens.nets.devices import device_info

    info = device_info(tf)
    print(json.dumps(info, indent=1))
    if info["kind"] != "GPU":
        print("no GPU visible to TensorFlow" + (" (continuing: --allow-cpu)" if args.allow_cpu else ""),
              file=sys.stderr)
        return 0 if args.allow_cpu else 2
    return 0


# --- compare -----------------------------------------------------------------------------

def compare_runs(a, b, log=print) -> int:
    """Number of differing files among results/**/*.h5 and *.parquet of the two work dirs.

    deepens.audit.compare.compare_files: every HDF5 dataset and attribute bit for bit, every Parquet
    column bit for bit with its schema; not compared are the provenance records (wall times,
    host) and the history's wall-clock `seconds` column.
    """
    from deepens.audit.artifacts import artifact_kind, iter_artifacts
    from deepens.audit.compare import compare_files

    files_a = {p for p in iter_artifacts(a) if p.endswith(COMPARED)}
    files_b = {p for p in iter_artifacts(b) if p.endswith(COMPARED)}
    differing, counts = 0, {}
    for rel in sorted(files_a ^ files_b):
        differing += 1
        log(f"DIFFERS {rel}: only in {'the first' if rel in files_a else 'the second'} run")
    for rel in sorted(files_a & files_b):
        kind = artifact_kind(rel)
        counts[kind] = counts.get(kind, 0) + 1
        found = compare_files(Path(a) / rel, Path(b) / rel, kind)
        if found:
            differing += 1
            if differing <= 20:
                log(f"DIFFERS {rel}: {found}")
    if not files_a & files_b:
        log("no results to compare")
        return max(differing, 1)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    if differing:
        log(f"the two runs differ: {differing} of {len(files_a | files_b)} files ({summary})")
    else:
        log(f"the two runs are bit-identical: {len(files_a)} files ({summary})")
    return differing


DIFFER = 4  # compare's exit status when the runs differ (1 is Python's for an uncaught error)


def cmd_compare(args) -> int:
    return DIFFER if compare_runs(args.run_a, args.run_b) else 0


# --- epoch times -------------------------------------------------------------------------

def synthetic_cifar(n_train, n_val, seed):
    import numpy as np
    from deepens.data import Dataset

    rng = np.random.default_rng(seed)
    images = lambda n: rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)  # noqa: E731
    labels = lambda n: rng.integers(0, 10, size=(n,)).astype(np.int64)  # noqa: E731
    return Dataset(x_train=images(n_train), y_train=labels(n_train), x_val=images(n_val), y_val=labels(n_val),
                   x_test=images(1), y_test=labels(1), class_names=[f"class{i}" for i in range(10)],
                   meta={"name": "synthetic-cifar"})


def train_settings(config_path, model):
    """The model's train_run settings in a config (per_model overrides merged), as the workflow's."""
    import yaml
    from deepens.config import model_config, validate_config

    config = validate_config(yaml.safe_load(Path(config_path).read_text()), ROOT / "config.schema.yaml")
    train = dict(model_config(config, model)["train"])
    # one process runs every model: the experiment's thread counts for all of them
    train.update(intra_op_threads=config["train"]["intra_op_threads"],
                 inter_op_threads=config["train"]["inter_op_threads"])
    return train, config["train"]["validation_size"]


def time_one(model, mixed, args, dataset, scratch):
    import keras
    import numpy as np
    from deepens.nets.training import train_run
    from deepens.provenance import Provenance

    settings, _ = train_settings(args.config, model)
    settings.pop("validation_size")
    settings.update(epochs=args.epochs, mixed_precision=mixed)
    if args.batch_size:
        settings["batch_size"] = args.batch_size
    out = Path(scratch) / f"{model}-{'mixed' if mixed else 'float32'}"
    keras.backend.clear_session()
    table = train_run(model_name=model, dataset=dataset, seed=args.seed,
                      checkpoint_paths=[out / f"epoch{e:03d}.weights.h5" for e in range(args.epochs + 1)],
                      history_path=out / "history.parquet", provenance=Provenance({}), log=lambda *a: None,
                      **settings)
    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("float32")
    seconds = table["seconds"].to_pylist()
    later = seconds[1:] or seconds
    return {"model": model, "precision": "mixed" if mixed else "float32", "policy": policy,
            "batch_size": settings["batch_size"], "steps_per_execution": settings["steps_per_execution"],
            "augmentation": settings["augmentation"], "images": len(dataset.y_train),
            "val_images": len(dataset.y_val), "epoch_seconds": [round(s, 3) for s in seconds],
            "first_epoch_s": round(seconds[0], 3), "epoch_mean_s": round(float(np.mean(later)), 3),
            "images_per_s": round(len(dataset.y_train) / float(np.mean(later)), 1),
            "final_loss": round(table["loss"].to_pylist()[-1], 4)}


def cmd_epoch_times(args) -> int:
    from deepens.nets.models import configure_tensorflow

    first, val_size = train_settings(args.config, args.models.split(",")[0])
    tf = configure_tensorflow(first["intra_op_threads"], first["inter_op_threads"])
    from deepens.nets.devices import device_info

    tf.get_logger().setLevel("ERROR")  # retracing notes: every model has its own step functions
    info = device_info(tf)
    where = ", ".join(g["name"] or g["device"] for g in info["gpus"]) or "CPU"
    val_size = val_size if args.val_images is None else args.val_images
    print(f"epoch times on {where}: train_run on {args.images} random CIFAR-shaped images (+{val_size} "
          f"validation), {args.epochs} epochs, the settings of {args.config}", flush=True)
    dataset = synthetic_cifar(args.images, val_size, args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu_check_times.") as scratch:
        for precision in args.precisions.split(","):
            for model in args.models.split(","):
                row = time_one(model, precision == "mixed", args, dataset, scratch)
                rows.append(row)
                print(f"  {model:<11} {row['precision']:<7} (policy {row['policy']:<13}) first epoch "
                      f"{row['first_epoch_s']:8.2f} s   then {row['epoch_mean_s']:8.2f} s/epoch   "
                      f"{row['images_per_s']:9.0f} images/s", flush=True)
    if info["kind"] != "GPU" and "mixed" in args.precisions.split(","):
        print("  (no GPU: train_run keeps mixed-precision runs float32, deepens.nets.devices.training_policy)")
    result = {"device": info, "settings": {k: v for k, v in vars(args).items() if k != "func"}, "runs": rows}
    print("EPOCH_TIMES " + json.dumps(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(required=True)
    d = sub.add_parser("device", help="print deepens.nets.devices.device_info; exit 2 without a GPU")
    d.add_argument("--allow-cpu", action="store_true")
    d.set_defaults(func=cmd_device)
    c = sub.add_parser("compare", help="compare results/ of two work dirs exactly")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.set_defaults(func=cmd_compare)
    t = sub.add_parser("epoch-times", help="seconds per epoch of train_run on random CIFAR-shaped data")
    t.add_argument("--images", type=int, default=10_000, help="training images per epoch")
    t.add_argument("--val-images", type=int, default=None, help="validation images (default: the config's)")
    t.add_argument("--epochs", type=int, default=3, help="epochs per run (the first includes tracing)")
    t.add_argument("--batch-size", type=int, default=128, help="0: the config's")
    t.add_argument("--models", default=MODELS)
    t.add_argument("--precisions", default="float32,mixed", help="float32 and/or mixed (mixed_float16 on a GPU)")
    t.add_argument("--config", default=str(ROOT / "configs" / "cifar10_paper.yaml"),
                   help="whose training settings to use (per_model overrides included)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", default=None, help="also write the results here")
    t.set_defaults(func=cmd_epoch_times)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
