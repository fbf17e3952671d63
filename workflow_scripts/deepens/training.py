"""Training one run: a checkpoint per epoch (epoch 0 = initialisation) and a history table.

Determinism: TensorFlow op determinism on, thread counts fixed by config, and every source
of randomness is a stateless function of (purpose seed, epoch, example) -- data order,
augmentation and dropout -- so the weights depend only on the config and the run seed.

Speed (CPU): Keras's Dropout draws its Philox uniforms inside the training step, which for
SmallCNN is about half of the step's time on one intra-op thread. On a CPU the pipeline
draws the same keep masks (same seeds, same op, bit for bit) in the tf.data pipeline
instead, so they are computed on another core ahead of the step, and the step only applies
them (docs/benchmarks.md). train_run runs the epochs itself rather than with `model.fit`: one
iterator over all epochs keeps the input pipeline ahead across epoch boundaries, and compiled
calls of `steps_per_execution` steps never cross one (epoch_steps_runner: the last call of an
epoch runs the remainder), so any steps_per_execution gives the same checkpoints.
"""
import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from .devices import training_policy  # noqa: E402
from .io import MANIFEST_ATTR, MODEL_ATTR, PROVENANCE_KEY, atomic_path, write_table  # noqa: E402
from .seeds import derive_seed  # noqa: E402


def augment_image(image, seed, tf):
    """The seed write-up's augmentation, stateless, on [0, 1] images: pad by a quarter, random
    crop back, brightness, clip."""
    size = image.shape[0]
    pad = size + size // 4
    crop_seed, bright_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    image = tf.image.resize_with_crop_or_pad(image, pad, pad)
    image = tf.image.stateless_random_crop(image, [size, size, image.shape[-1]], crop_seed)
    image = tf.image.stateless_random_brightness(image, 0.5, bright_seed)
    return tf.clip_by_value(image, 0.0, 1.0)


def dropout_specs(model):
    """(index, rate, feature shape) of the model's Dropout layers whose masks the pipeline can draw.

    The index counts every keras Dropout layer in `model.layers` order (the index its
    per-epoch seed is derived with); layers with rate 0 or a noise_shape are left out.
    """
    import keras

    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    return [(i, float(layer.rate), tuple(int(d) for d in layer.output.shape[1:]))
            for i, layer in enumerate(dropouts) if layer.rate > 0 and layer.noise_shape is None]


def _cast_seed(seed, tf):
    # keras.src.backend.tensorflow.random._cast_seed: an int64 SeedGenerator state -> int32 seed
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)


def train_dataset(x, y, batch_size, shuffle_seed, augment_seed, augmentation, first_epoch, epochs,
                  dropout=None, input_scaling="unit"):
    """Batches for epochs first_epoch..epochs-1; each epoch's order is a pure function of its index.

    Images reach the network as models.model_inputs scales them (pixels / 255, or raw 0-255);
    augmentation works on [0, 1] images, and raw inputs are scaled back by 255 after it.

    dropout: optional (run_seed, dropout_specs(model)). Each batch then also carries, per listed
    layer, the boolean keep mask Keras's Dropout would draw at that step: its seed generator
    is reset to [derive_seed(run_seed, "dropout", index, epoch), 0] at every epoch start
    (train_run) and advances by [0, 1] per step, and it calls
    tf.nn.experimental.stateless_dropout, i.e. stateless_uniform(shape, seed) >= rate.
    Elements are then ((images, masks), labels) instead of (images, labels).
    """
    import tensorflow as tf

    from .models import model_inputs

    n = len(y)
    images, labels = tf.constant(x), tf.constant(y, tf.int32)
    back = 255.0 if input_scaling == "raw" else 1.0
    if dropout is not None:
        run_seed, specs = dropout
        # int64 [epoch, layer] table of the per-(layer, epoch) dropout seeds
        layer_seeds = tf.constant([[derive_seed(run_seed, "dropout", i, e) for i, _, _ in specs]
                                   for e in range(first_epoch, epochs)], tf.int64)

    def add_masks(epoch, step, batch):
        masks = []
        for j, (_, rate, shape) in enumerate(specs):
            seed = _cast_seed(tf.stack([layer_seeds[epoch - first_epoch, j], step]), tf)
            noise_shape = tf.stack([tf.shape(batch[1])[0], *shape])
            masks.append(tf.random.stateless_uniform(noise_shape, seed=seed, dtype=tf.float32) >= rate)
        return (batch[0], tuple(masks)), batch[1]

    def one_epoch(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(shuffle_seed, tf.int64), epoch]))
        d = tf.data.Dataset.from_tensor_slices(order)
        if augmentation:
            def load(i):
                img = model_inputs(tf.gather(images, i), "unit", tf)
                seed = tf.stack([tf.constant(augment_seed, tf.int64), epoch * n + i])
                out = augment_image(img, seed, tf)
                return (out * back if back != 1.0 else out), tf.gather(labels, i)
            d = d.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size)
        else:
            d = d.batch(batch_size).map(
                lambda i: (model_inputs(tf.gather(images, i), input_scaling, tf), tf.gather(labels, i)))
        if dropout is not None:
            d = d.enumerate().map(lambda step, batch: add_masks(epoch, step, batch),
                                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return d

    return tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)


def feed_dropout_masks(model, specs):
    """Make the model's training step take ((images, masks), labels) batches and apply the masks.

    The listed Dropout layers, when called with training=True inside the training step,
    compute the values tf.nn.experimental.stateless_dropout computes from its uniforms,
    forward where(mask, x * (1 / (1 - rate)), 0) and backward where(mask, g, 0) * (1 / (1 - rate)),
    bit for bit; with same-shape Select ops, about 3x cheaper on a CPU than the SelectV2 with a
    broadcast scalar zero that stateless_dropout and its gradient use. Anywhere else
    (evaluation, prediction, a step without masks) they stay Keras's own Dropout.
    """
    import keras
    import tensorflow as tf

    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    feeding = {}

    def masked_dropout(x, mask, rate):
        scale = tf.convert_to_tensor(1 / (1 - rate), dtype=x.dtype)

        @tf.custom_gradient
        def apply(x):
            def grad(g):
                return tf.math.multiply(tf.raw_ops.Select(condition=mask, x=g, y=tf.zeros_like(g)), scale)
            return tf.raw_ops.Select(condition=mask, x=tf.math.multiply(x, scale), y=tf.zeros_like(x)), grad
        return apply(x)

    for j, (i, rate, _) in enumerate(specs):
        layer = dropouts[i]
        if float(layer.rate) != rate:
            raise ValueError(f"dropout layer {i} has rate {layer.rate}, the masks were drawn for {rate}")

        def call(inputs, training=False, j=j, rate=layer.rate, keras_call=layer.call):
            masks = feeding.get("masks")
            if not training or masks is None:
                return keras_call(inputs, training=training)
            return masked_dropout(inputs, masks[j], rate)

        layer.call = call
    keras_train_step = model.train_step

    def train_step(data):
        (x, masks), y = data
        feeding["masks"] = masks
        try:
            return keras_train_step((x, y))
        finally:
            feeding.clear()

    model.train_step = train_step


def eval_dataset(x, y, batch_size, input_scaling="unit"):
    import tensorflow as tf

    from .models import model_inputs

    def scale(a, b):
        return model_inputs(a, input_scaling, tf), b

    d = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32))).batch(batch_size)
    return d.map(scale).cache().prefetch(tf.data.AUTOTUNE)


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


HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def save_checkpoint(model, manifest, path, epoch, provenance):
    """Keras 3 .weights.h5 plus a variable manifest, the model spec and provenance, written atomically.

    The file holds the optimizer's state too (Keras saves a compiled model's optimizer): that is
    the resume state; `publish_weights` writes the published checkpoints without it."""
    with atomic_path(path, suffix=".tmp.weights.h5") as tmp:
        model.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs[MANIFEST_ATTR] = json.dumps(manifest)
            f.attrs[MODEL_ATTR] = json.dumps(model.spec, sort_keys=True)
            f.attrs["epoch"] = epoch
            f.attrs[PROVENANCE_KEY.decode()] = json.dumps(provenance, sort_keys=True, default=str)


def publish_weights(source, path):
    """Copy a resume checkpoint to `path` (atomically) without the optimizer: the published
    checkpoint holds the model's variables, their manifest, the model spec and provenance only,
    so readers taking every float dataset get the weights and nothing else (a third of the bytes
    for Adam). Same source content, same bytes."""
    with atomic_path(path, suffix=".tmp.weights.h5") as tmp, h5py.File(source, "r") as src, \
            h5py.File(tmp, "w") as dst:
        for key in sorted(src.attrs):
            dst.attrs[key] = src.attrs[key]
        for name in sorted(src):
            if name != "optimizer":
                src.copy(src[name], dst, name=name)


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


class ResumeState:
    """Durable training state outside the job's declared outputs.

    Snakemake deletes a failed job's outputs before rerunning it, so every epoch's
    checkpoint (with optimizer state) is first written here, then the history that marks
    the epoch complete; the final outputs are linked from here when training ends. A
    fingerprint of everything that shapes the weights guards against resuming a different run.
    """

    def __init__(self, directory, fingerprint: str, log=print):
        self.dir = Path(directory)
        self.fingerprint = fingerprint
        self.log = log

    def checkpoint(self, epoch: int) -> Path:
        return self.dir / f"epoch{epoch:03d}.weights.h5"

    def load(self) -> list[dict]:
        """History rows of the completed epochs whose checkpoints exist (empty: start afresh)."""
        state_path = self.dir / "state.json"
        if not state_path.exists():
            return []
        try:
            state = json.loads(state_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            self.log(f"ignoring unreadable resume state {state_path}: {err}")
            return []
        if state.get("fingerprint") != self.fingerprint:
            self.log(f"resume state in {self.dir} belongs to other settings; starting afresh")
            return []
        rows = state["history"]
        while rows and not self.checkpoint(rows[-1]["epoch"]).exists():
            rows = rows[:-1]
        return rows if self.checkpoint(0).exists() else []

    def save(self, rows: list[dict]):
        with atomic_path(self.dir / "state.json") as tmp:
            tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "history": rows}))

    def publish(self, paths):
        """Every epoch's checkpoint at its final path, without the optimizer (publish_weights)."""
        for epoch, path in enumerate(paths):
            publish_weights(self.checkpoint(epoch), path)

    def clear(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def run_fingerprint(dataset, **settings) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name in ("x_train", "y_train", "x_val", "y_val"):
        h.update(np.ascontiguousarray(getattr(dataset, name)).tobytes())
    return h.hexdigest()


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
    # are drawn in the input pipeline on a CPU only (deepens.devices.training_policy).
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
        f"{steps} steps/epoch, epochs {start + 1}..{epochs}, threads intra {intra_op_threads} inter {inter_op_threads}, "
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
