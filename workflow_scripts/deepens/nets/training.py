"""Training one run: a checkpoint per epoch (epoch 0 = initialisation) and a history table.

Determinism: TensorFlow op determinism on, thread counts fixed by config, and every source
of randomness is a stateless function of (purpose seed, epoch, example) -- data order,
augmentation and dropout (deepens.nets.pipeline) -- so the weights depend only on the config
and the run seed. train_run runs the epochs itself rather than with `model.fit`: one iterator
over all epochs keeps the input pipeline ahead across epoch boundaries, and compiled calls of
`steps_per_execution` steps never cross one (epoch_steps_runner: the last call of an epoch
runs the remainder), so any steps_per_execution gives the same checkpoints. Killed at any
point, a run resumes from its last complete epoch (deepens.nets.checkpoints.ResumeState).
"""
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from ..io import atomic_path, write_table  # noqa: E402
from ..seeds import derive_seed  # noqa: E402
from .checkpoints import HISTORY_COLUMNS, ResumeState, run_fingerprint, save_checkpoint  # noqa: E402
from .devices import training_policy  # noqa: E402
from .pipeline import dropout_specs, eval_dataset, feed_dropout_masks, train_dataset  # noqa: E402


def learning_rate_schedule(learning_rate, halving_epochs, steps_per_epoch, epochs):
    import keras

    n = max(0, (epochs - 1) // halving_epochs)
    if n == 0:
        return learning_rate
    # The optimizer evaluates the schedule at the count of steps already taken, and
    # PiecewiseConstantDecay switches after x > boundary: epoch e (0-based) starts at e * steps.
    boundaries = [halving_epochs * steps_per_epoch * (i + 1) - 1 for i in range(n)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, [learning_rate * 0.5 ** i for i in range(n + 1)])


def epoch_steps_runner(model, steps, steps_per_execution):
    """A function running exactly `steps` training steps from an iterator, in compiled calls.

    Keras's fit would run ceil(steps / steps_per_execution) calls of steps_per_execution steps
    per epoch, so with a continuing iterator an epoch whose length is not a multiple would eat
    into the next one. Here an epoch is steps // size calls of `size` steps and one call of the
    remainder (size = min(steps_per_execution, steps)); each call size is its own Keras train
    function (Keras reads model.steps_per_execution when it traces the call's loop).
    """
    size = max(1, min(int(steps_per_execution), steps))
    chunks = [size] * (steps // size) + ([steps % size] if steps % size else [])
    functions = {}

    def run(iterator):
        logs = None
        for n in chunks:
            model.steps_per_execution = n  # what Keras reads when it (re)traces this call
            if n not in functions:
                model.make_train_function(force=True)
                functions[n] = model.train_function
            logs = functions[n](iterator)
        model.steps_per_execution = size
        return logs

    return run


def format_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def train_run(*, model_name, dataset, seed, epochs, batch_size, learning_rate, lr_halving_epochs,
              dropout, augmentation, steps_per_execution, jit_compile, intra_op_threads,
              inter_op_threads, checkpoint_paths, history_path, provenance, mixed_precision=False,
              input_scaling="unit", bias_initializer="zeros", adam_epsilon=1e-8, resume_dir=None,
              dropout_masks_in_pipeline=True, timing_path=None, log=print):
    """Train one (dataset, model, seed) run, writing checkpoint_paths[e] after epoch e.

    Killed at any point, a rerun with the same resume_dir (default: `.resume` beside the
    checkpoints) continues from the last complete epoch and ends bit-identical to an
    uninterrupted run: data order, augmentation and dropout depend only on (seed, epoch),
    and the resume checkpoints carry the optimizer state (the published ones do not).
    The history table holds the epoch's metrics (HISTORY_COLUMNS); the wall-clock seconds of
    every epoch go to `timing_path` (a TSV log), so equal training gives equal files.
    """
    if len(checkpoint_paths) != epochs + 1:
        raise ValueError(f"need {epochs + 1} checkpoint paths (epochs 0..{epochs}), got {len(checkpoint_paths)}")
    from .models import build_model, check_manifest, configure_tensorflow, variable_manifest

    settings = dict(model_name=model_name, seed=seed, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, lr_halving_epochs=lr_halving_epochs, dropout=dropout,
                    augmentation=augmentation, steps_per_execution=steps_per_execution, jit_compile=jit_compile,
                    intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads,
                    mixed_precision=mixed_precision, input_scaling=input_scaling, bias_initializer=bias_initializer,
                    adam_epsilon=adam_epsilon)
    tf = configure_tensorflow(intra_op_threads, inter_op_threads)
    import keras

    # float16 compute with float32 variables (and a float32 output layer and softmax) pays off
    # on GPUs only; on a CPU training stays float32 whatever the config says. The dropout masks
    # are drawn in the input pipeline on a CPU only (deepens.nets.devices.training_policy).
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    policy, masks_in_pipeline = training_policy(on_gpu, mixed_precision, dropout_masks_in_pipeline)
    keras.mixed_precision.set_global_policy(policy)
    if policy != "float32":  # a mixed-precision run's state never resumes a float32 one (or back)
        settings["precision_policy"] = policy
    resume = ResumeState(resume_dir or Path(checkpoint_paths[0]).parent / ".resume",
                         run_fingerprint(dataset, **settings), log)

    keras.utils.set_random_seed(derive_seed(seed, "init"))
    model = build_model(model_name, dataset.input_shape, dataset.num_classes, seed, dropout, bias_initializer,
                        input_scaling)
    steps = math.ceil(len(dataset.y_train) / batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate_schedule(learning_rate, lr_halving_epochs, steps, epochs),
                                        epsilon=adam_epsilon),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    model.optimizer.build(model.trainable_variables)
    manifest = variable_manifest(model)
    dropouts = [l for l in model.layers if isinstance(l, keras.layers.Dropout)]
    # On a CPU the dropout masks are drawn ahead, in the input pipeline (same bits); on a GPU
    # Keras draws them on the device, which is faster than the host pipeline could.
    specs = dropout_specs(model) if masks_in_pipeline else []
    if specs:
        feed_dropout_masks(model, specs)
    rows = resume.load()

    def begin_epoch(epoch):
        # Dropout masks: a fresh stream per (layer, epoch), independent of what ran before (used as
        # such when Keras draws them; the pipeline's masks are drawn from the same seeds).
        for i, layer in enumerate(dropouts):
            layer.seed_generator.state.assign(
                np.array([derive_seed(seed, "dropout", i, epoch), 0], dtype=layer.seed_generator.state.dtype))
        return time.perf_counter()

    def end_epoch(epoch, logs, t0):
        logs = {k: float(v) for k, v in logs.items()}
        seconds = time.perf_counter() - t0
        done = epoch + 1
        if not math.isfinite(logs.get("loss", math.nan)):
            raise FloatingPointError(f"training loss is {logs.get('loss')} at epoch {done} "
                                     f"(model {model_name}, seed {seed}); no checkpoint written for it")
        lr = learning_rate * 0.5 ** (epoch // lr_halving_epochs)
        rows.append({"epoch": done, "loss": logs["loss"], "accuracy": logs["accuracy"],
                     "val_loss": logs["val_loss"], "val_accuracy": logs["val_accuracy"],
                     "learning_rate": lr, "seconds": seconds})
        save_checkpoint(model, manifest, resume.checkpoint(done), done, provenance.record(epoch=done))
        resume.save(rows)  # the epoch counts as complete only once this is written
        eta = np.mean([r["seconds"] for r in rows]) * (epochs - done)
        log(f"epoch {done}/{epochs}  loss {logs['loss']:.4f}  acc {logs['accuracy']:.4f}  "
            f"val_acc {logs['val_accuracy']:.4f}  {seconds:.1f}s  ETA {format_seconds(eta)}")

    check_manifest(model, manifest)
    start = rows[-1]["epoch"] if rows else 0
    if start > 0:
        model.load_weights(resume.checkpoint(start))  # weights and optimizer state
        log(f"resuming after epoch {start} (state in {resume.dir})")
    else:
        resume.clear()
        save_checkpoint(model, manifest, resume.checkpoint(0), 0, provenance.record(epoch=0))
        resume.save(rows)
    log(f"training {model_name} seed {seed}: {model.count_params():,} parameters, {len(dataset.y_train)} images, "
        f"{steps} steps/epoch, epochs {start + 1}..{epochs}, "
        f"threads intra {intra_op_threads} inter {inter_op_threads}, "
        f"{'GPU' if on_gpu else 'CPU'}, {policy}")
    if start < epochs:
        # What model.fit does per epoch (reset metrics, steps, logs, validation), with one iterator
        # over every remaining epoch and exactly `steps` steps per epoch (epoch_steps_runner).
        batches = iter(train_dataset(dataset.x_train, dataset.y_train, batch_size, derive_seed(seed, "shuffle"),
                                     derive_seed(seed, "augment"), augmentation, start, epochs,
                                     dropout=(seed, specs) if specs else None, input_scaling=input_scaling))
        val = eval_dataset(dataset.x_val, dataset.y_val, 1024, input_scaling)
        run_epoch = epoch_steps_runner(model, steps, steps_per_execution)
        for epoch in range(start, epochs):
            model.reset_metrics()
            t0 = begin_epoch(epoch)
            run_epoch(batches)
            logs = dict(model.get_metrics_result())
            val_logs = model.evaluate(val, verbose=0, return_dict=True)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
            end_epoch(epoch, logs, t0)
    resume.publish(checkpoint_paths)
    table = pa.Table.from_pylist([{k: r[k] for k in HISTORY_COLUMNS} for r in rows], schema=pa.schema(
        [("epoch", pa.int32())] + [(k, pa.float64()) for k in HISTORY_COLUMNS[1:]]))
    write_table(table, history_path, provenance.record())
    if timing_path is not None:  # wall-clock seconds per epoch: a log, never part of an artifact
        with atomic_path(timing_path) as tmp:
            tmp.write_text("epoch\tseconds\n" + "".join(f"{r['epoch']}\t{r['seconds']:.3f}\n" for r in rows))
    resume.clear()
    return table
