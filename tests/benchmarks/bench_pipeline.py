"""Benchmark the training / prediction / similarity / Parquet pipeline against bare baselines.

Every number is a ratio or a rate measured in ONE run of this script on one machine, each
measurement in a fresh spawned process (TensorFlow's thread counts can be set only once per
process, and peak RSS is per process). Items:

  1. train_run + evaluate_checkpoints (+ the Parquet dump) vs bare Keras model.fit on in-memory
     float32 arrays: same model (deepens.nets.models.build_model), epochs, batch size and threads.
  2. training throughput (images/s, steady-state epochs) of the pipeline's loop vs bare fit, at
     the pipeline's default settings (config.yaml: steps_per_execution 1) and at the best ones
     measured (steps_per_execution >= steps per epoch: one compiled call per epoch), with the
     same intra-op threads (1 = the pipeline default, 2 = both cores); GFLOP/s (analytic FLOPs)
     against an fp32 tf matmul peak measured in the same process; and, per steady-state epoch,
     the CPU seconds of the thread(s) running the training step vs the other threads (the
     input pipeline, which on a CPU also draws the dropout masks), with how busy the rest of
     the machine was meanwhile (/proc/stat): the wall-clock ratio needs a free core for the
     input pipeline, the CPU split shows what it becomes when there is one.
  3. all-pairs weight cosine (metrics.cosine_from_blocks on in-memory float64 blocks, the blocks
     CheckpointSet.blocks would yield; also on the float32 blocks as stored) and disagreement
     (argmax + metrics.disagreement_matrix) vs two per-pair loops over the upper triangle with
     the diagonal, mirrored (the write-up's `for j in range(i, K)`): the loop issue 6 specifies
     (float64 np.dot and norms per pair; argmax of both and equality per pair) and the write-up's
     loop as written (float32 np.dot and norms; labels computed once per checkpoint, np.equal
     per pair); tracemalloc peak and ru_maxrss per process.
  4. Parquet prediction dumps: io.predictions_table + io.write_table, io.read_predictions, and
     loading every seed's predictions of a model into one array; np.save/np.load as reference.
  5. (--e2e) cold snakemake --cores 2 on the default config in a temp copy, a no-op rerun, and
     a rerun with one seed added (--config seeds=[0,1,2,3]).
  A. make-run: cold `snakemake --cores 2` of the default (digits) config for a baseline revision
     (--baseline, default d81d96b: before the coarse TensorFlow jobs) and for the working tree, each
     in its own fresh copy (git archive / a copy of the working tree), this venv's snakemake, in
     alternating order (--make-run-rounds); job counts from each tree's dry run (TensorFlow jobs =
     jobs of rules whose conda env is the training env); ratio now / baseline (target <= 0.5);
     a no-op rerun of the working tree; the cores other processes kept busy meanwhile.
  B. paper-jobs: `snakemake -n --configfile configs/cifar10_paper.yaml` in both trees: jobs,
     TensorFlow jobs, TensorFlow jobs per run (target <= 3), landscape jobs per model and
     connectivity jobs (one per pair of seeds).
  C. evaluation: SmallCNN as the paper preset builds it (raw inputs, Glorot-uniform biases) on
     CIFAR-shaped data, intra-op threads 1, interleaved rounds in one process: images/s of the
     pipeline's training step (train_run's compiled train function and loop with the CPU dropout
     masks), of evaluation.Forward at batch 256..2048, of Forward's compiled step alone, and of
     ShiftMember.add over synthetic shift sets (what evaluate_solution does per weight vector,
     split into Forward and the float64 accumulation); ratios forward / training step (target
     >= 2.5) and shift path / training step, per wall second and per CPU second.
  D. stage: the training stage of N seeds (--stage-seeds, default 2) on CIFAR-shaped data, each
     run a fresh process: N plain model.fit runs one after another at TensorFlow's default threads
     (also with a test-set prediction per epoch) vs train_run as snakemake --cores 2 runs it (N at
     once, intra/inter-op 1), one at a time at intra-op 2, N at once without the pipeline's masks,
     and one at a time at intra-op 1; stage wall seconds, ratio vs plain fit (target <= 1), steady-
     state throughput, CPU per epoch split into step and input pipeline.

Prints one JSON line; --out DIR also writes DIR/pipeline.json, DIR/pipeline.tsv, DIR/pipeline.md.
Items run by default: all but e2e (--only ITEM.. / --skip ITEM..); item names: train, throughput,
similarity, parquet, evaluation, stage, paper-jobs, make-run, e2e.

    .venv/bin/python tests/benchmarks/bench_pipeline.py [--full] [--e2e] [--out benchmarks/bench]
    .venv/bin/python tests/benchmarks/bench_pipeline.py --full --only similarity   # K = 400, 1 M parameters
    .venv/bin/python tests/benchmarks/bench_pipeline.py --only make-run paper-jobs --baseline d81d96b
    .venv/bin/python tests/benchmarks/bench_pipeline.py --only stage --stage-seeds 3 --stage-rounds 2
"""

import argparse
import concurrent.futures
import json
import math
import multiprocessing
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow_scripts"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

QUICK = dict(
    n_train=10_000,
    n_test=2_000,
    n_val=100,
    epochs=3,
    batch_size=128,
    other_models=dict(medium_cnn=(512, 2), resnet20v1=(512, 2)),  # (images, epochs)
    sim_k=100,
    sim_params=100_000,
    sim_n=10_000,
    sim_c=10,
    loop_pairs=None,
    interleaved_rounds=4,
    pq_seeds=3,
    pq_checkpoints=21,
    pq_n=10_000,
    eval_train=10_000,
    eval_test=5_000,
    eval_corruptions=2,
    eval_rounds=3,
    stage_train=10_000,
    stage_test=2_000,
    stage_epochs=3,
)
FULL = dict(
    n_train=25_000,
    n_test=5_000,
    n_val=250,
    epochs=5,
    batch_size=128,
    other_models=dict(medium_cnn=(5_000, 3), resnet20v1=(5_000, 3)),
    sim_k=400,
    sim_params=1_000_000,
    sim_n=10_000,
    sim_c=10,
    loop_pairs=4_000,
    interleaved_rounds=6,
    pq_seeds=10,
    pq_checkpoints=41,
    pq_n=10_000,
    eval_train=25_000,
    eval_test=10_000,
    eval_corruptions=6,
    eval_rounds=5,
    stage_train=25_000,
    stage_test=5_000,
    stage_epochs=4,
)
EVAL_BATCH_SIZES = (256, 512, 1024, 2048)  # evaluation.Forward; 2048 = the config default (predict.batch_size)
ITEMS = ["train", "throughput", "similarity", "parquet", "evaluation", "stage", "paper-jobs", "make-run", "e2e"]


def rss_mib():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


BEST_STEPS_PER_EXECUTION = 1000  # >= steps per epoch here (79; --full 196): one compiled call per epoch


def cpu_snapshot():
    """(wall, CPU seconds of this process by thread class, machine busy CPU seconds) from /proc.

    Thread classes: "step" = TensorFlow's compute pools (threads named tf_Compute*, where the
    training step's kernels run), "main" = the Python thread (Keras's loop, callbacks,
    checkpoint writes), "other" = the rest (tf.data's threads: the input pipeline).
    """
    tick = os.sysconf("SC_CLK_TCK")
    pid = os.getpid()

    def cpu_of(path):
        with open(path) as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2 :].split()
        return stat[stat.index("(") + 1 : stat.rindex(")")], (int(fields[11]) + int(fields[12])) / tick

    by = {"step": 0.0, "main": 0.0, "other": 0.0}
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                name, cpu = cpu_of(f"/proc/self/task/{tid}/stat")
            except OSError:
                continue
            if int(tid) == pid:
                by["main"] += cpu
            elif name.startswith("tf_Compute"):
                by["step"] += cpu
        # the process total also counts threads that have exited (tf.data starts and ends some)
        by["other"] = cpu_of("/proc/self/stat")[1] - by["main"] - by["step"]
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(v[:8]) - v[3] - v[4]) / tick  # all but idle and iowait
    except (OSError, ValueError):
        busy = math.nan
    return time.perf_counter(), by, busy


def epoch_cpu(a, b):
    """Per-epoch dict from two cpu_snapshot()s: wall, CPU by thread class, other processes' cores."""
    wall = b[0] - a[0]
    mine = {k: b[1][k] - a[1][k] for k in b[1]}
    others = (b[2] - a[2] - sum(mine.values())) / wall if wall > 0 else math.nan
    return {"wall_s": wall, **{f"{k}_cpu_s": v for k, v in mine.items()}, "other_processes_cores": others}


# --- FLOP counts (analytic, per image, forward; multiply-add = 2 FLOPs) -----------------------


def forward_flops(model_name, hw=32, cin=3, classes=10):
    if model_name in ("small_cnn", "medium_cnn"):
        channels = (16, 32, 32) if model_name == "small_cnn" else (64, 128, 256, 256)
        total, h, c = 0, hw, cin
        for ch in channels:
            total += 2 * h * h * 9 * c * ch
            h, c = math.ceil(h / 2), ch  # maxpool 2 'same'
        return total + 2 * h * h * c * classes
    if model_name == "resnet20v1":
        total, h, c = 2 * hw * hw * 9 * cin * 16, hw, 16
        for stage, f in enumerate((16, 32, 64)):
            for block in range(3):
                s = 2 if stage > 0 and block == 0 else 1
                ho = h // s
                total += 2 * ho * ho * 9 * c * f + 2 * ho * ho * 9 * f * f
                if s != 1 or c != f:
                    total += 2 * ho * ho * c * f
                h, c = ho, f
        return total + 2 * c * classes
    raise ValueError(model_name)


# --- workers (each runs in a fresh spawned process) ------------------------------------------


def synthetic_dataset(n_train, n_test, n_val, seed=0):
    from deepens.data import Dataset

    rng = np.random.default_rng(seed)

    def split(n):
        return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)

    xtr, ytr = split(n_train)
    xva, yva = split(n_val)
    xte, yte = split(n_test)
    return Dataset(xtr, ytr, xva, yva, xte, yte, [str(i) for i in range(10)])


def matmul_peak(tf, n=2048, repeats=10):
    a = tf.random.normal((n, n), dtype=tf.float32, seed=1)
    b = tf.random.normal((n, n), dtype=tf.float32, seed=2)
    tf.linalg.matmul(a, b).numpy()  # warm-up
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def _steady(seconds):
    """Median epoch time over the epochs after the first (tracing); the only epoch if just one."""
    s = list(seconds)
    return float(np.median(s[1:] if len(s) > 1 else s))


def _median_cpu(rows):
    """Median of each field of epoch_cpu() dicts."""
    return {k: float(np.median([e[k] for e in rows])) for k in rows[0]} if rows else {}


def _steady_cpu(epochs):
    """_median_cpu over the steady-state epochs (all but the first, unless there is only one)."""
    return _median_cpu(epochs[1:] if len(epochs) > 1 else epochs)


def _timing_seconds(path):
    """Epoch seconds from train_run's timing log (timing_path: 'epoch<TAB>seconds' lines)."""
    return [float(line.split("\t")[1]) for line in Path(path).read_text().splitlines()[1:]]


class _Provenance:
    def record(self, **more):
        return {"benchmark": "bench_pipeline", **more}


def pipeline_worker(model, n_train, n_test, n_val, epochs, batch_size, threads, predict, steps_per_execution=1):
    """train_run (+ evaluate_checkpoints + write_table of the dump) in a fresh process."""
    t_import = time.perf_counter()
    from deepens import io
    from deepens.nets import training
    from deepens.nets.models import configure_tensorflow
    from deepens.nets.predict import evaluate_checkpoints

    tf = configure_tensorflow(threads, 1)
    import_s = time.perf_counter() - t_import
    ds = synthetic_dataset(n_train, n_test, n_val)
    out = {}
    snaps = []  # train_run logs once before its first epoch and once after each epoch

    def log(*args):
        snaps.append(cpu_snapshot())

    with tempfile.TemporaryDirectory() as tmp:
        paths = [f"{tmp}/run/epoch{e:03d}.weights.h5" for e in range(epochs + 1)]
        t0 = time.perf_counter()
        training.train_run(
            model_name=model,
            dataset=ds,
            seed=0,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=1.6e-3,
            lr_halving_epochs=10,
            dropout=0.1,
            augmentation=False,
            steps_per_execution=steps_per_execution,
            jit_compile=False,
            intra_op_threads=threads,
            inter_op_threads=1,
            checkpoint_paths=paths,
            history_path=f"{tmp}/run/history.parquet",
            provenance=_Provenance(),
            log=log,
            timing_path=f"{tmp}/run/timing.tsv",
        )
        out["train_s"] = time.perf_counter() - t0
        out["epoch_s"] = _timing_seconds(f"{tmp}/run/timing.tsv")
        out["epoch_cpu"] = [epoch_cpu(a, b) for a, b in zip(snaps[-epochs - 1 : -1], snaps[-epochs:])]
        if predict:
            t1 = time.perf_counter()
            table = evaluate_checkpoints(ds, paths, list(range(epochs + 1)), 2048, threads, 1, log=lambda *a: None)
            out["predict_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            io.write_table(table, f"{tmp}/run/predictions.parquet", {}, row_group_size=n_test + n_val)
            out["dump_write_s"] = time.perf_counter() - t2
        out["total_s"] = time.perf_counter() - t0
    out["matmul_gflops"] = matmul_peak(tf)
    out["tf_import_s"] = import_s
    out["peak_rss_mib"] = rss_mib()
    return out


def bare_worker(model, n_train, n_test, n_val, epochs, batch_size, threads):
    """Bare Keras: build_model, compile, model.fit on in-memory float32 arrays (no checkpoints,
    no validation, no determinism flag); same thread counts as the pipeline run it is compared to."""
    t_import = time.perf_counter()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from deepens.nets.models import build_model

    import_s = time.perf_counter() - t_import
    ds = synthetic_dataset(n_train, n_test, n_val)
    x = ds.x_train.astype(np.float32) / 255.0
    y = ds.y_train.astype(np.int32)
    epoch_s, epoch_cpus = [], []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.snap = cpu_snapshot()
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_s.append(time.perf_counter() - self.t)
            epoch_cpus.append(epoch_cpu(self.snap, cpu_snapshot()))

    t0 = time.perf_counter()
    keras.utils.set_random_seed(0)
    m = build_model(model, ds.input_shape, ds.num_classes, 0, 0.1)
    m.compile(
        optimizer=keras.optimizers.Adam(1.6e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    m.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[Timer()])
    out = {"total_s": time.perf_counter() - t0, "epoch_s": epoch_s, "epoch_cpu": epoch_cpus}
    out["matmul_gflops"] = matmul_peak(tf)
    out["tf_import_s"] = import_s
    out["peak_rss_mib"] = rss_mib()
    return out


def interleaved_worker(model, n_train, batch_size, threads, rounds, variants):
    """Epochs of several training loops alternating in ONE process, so they share the same noise.

    Variants: "bare" (model.fit on in-memory float32 arrays, one epoch per call) or an int, the
    pipeline's loop at that steps_per_execution: training.train_dataset with the dropout masks
    drawn in the input pipeline, one iterator over all epochs, training.feed_dropout_masks and
    training.epoch_steps_runner, as train_run does (without its validation pass and checkpoints).
    One warm-up epoch each, then `rounds` rounds in alternating order.
    """
    from deepens.nets import training
    from deepens.nets.models import build_model, configure_tensorflow

    configure_tensorflow(threads, 1)
    import keras

    ds = synthetic_dataset(n_train, 1, 1)
    xf, yi = ds.x_train.astype(np.float32) / 255.0, ds.y_train.astype(np.int32)
    steps = math.ceil(n_train / batch_size)
    loops = []
    for v in variants:
        keras.utils.set_random_seed(0)
        m = build_model(model, ds.input_shape, ds.num_classes, 0, 0.1)
        m.compile(
            optimizer=keras.optimizers.Adam(1.6e-3),
            metrics=["accuracy"],
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        if v == "bare":
            loops.append(lambda m=m: m.fit(xf, yi, batch_size=batch_size, epochs=1, shuffle=True, verbose=0))
            continue
        specs = training.dropout_specs(m)
        training.feed_dropout_masks(m, specs)
        it = iter(
            training.train_dataset(
                ds.x_train, ds.y_train, batch_size, 1, 2, False, 0, rounds + 1, dropout=(0, specs) if specs else None
            )
        )
        run = training.epoch_steps_runner(m, steps, v)
        loops.append(lambda m=m, it=it, run=run: (m.reset_metrics(), run(it), m.get_metrics_result()))
    epochs = {str(v): [] for v in variants}
    for rnd in range(rounds + 1):
        order = list(range(len(variants)))
        for i in order if rnd % 2 == 0 else order[::-1]:
            a = cpu_snapshot()
            loops[i]()
            if rnd > 0:
                epochs[str(variants[i])].append(epoch_cpu(a, cpu_snapshot()))
    return {"steps_per_epoch": steps, "epochs": epochs}


def _triu_pairs(k, limit):
    """The write-up's loop order: for i in range(K): for j in range(i, K) (mirrored into [j, i])."""
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    return pairs if limit is None else pairs[:limit]


def _timed(fn):
    tracemalloc.start()
    t = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, elapsed, peak


def cosine_worker(method, k, p, loop_pairs, blas_threads, block_elements=4_000_000):
    """method: blocked (float64 blocks), blocked_f32 (float32 blocks), loop (issue 6: float64 per
    pair), loop_writeup (the write-up as written: float32 np.dot and norms per pair)."""
    from deepens import metrics
    from threadpoolctl import threadpool_limits

    threadpool_limits(blas_threads)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((k, p), dtype=np.float32)  # checkpoints as stored (float32)
    base = rss_mib()
    total_pairs = k * (k + 1) // 2
    step = max(1, block_elements // k)
    if method == "blocked":
        # What CheckpointSet.blocks yields: K x b float64 column blocks of <= block_elements.
        run = lambda: metrics.cosine_from_blocks(w[:, s : s + step].astype(np.float64) for s in range(0, p, step))  # noqa: E731
    elif method == "blocked_f32":
        # The float32 blocks as stored (views, no copy): converted to float64 chunk by chunk inside.
        run = lambda: metrics.cosine_from_blocks(w[:, s : s + step] for s in range(0, p, step))  # noqa: E731
    else:
        pairs = _triu_pairs(k, loop_pairs)

        def run():
            cos = np.empty((k, k))
            for i, j in pairs:
                if method == "loop":
                    a, b = w[i].astype(np.float64), w[j].astype(np.float64)
                else:  # loop_writeup: np.dot of the float32 weight vectors, as the write-up did
                    a, b = w[i], w[j]
                cos[i, j] = cos[j, i] = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
            return cos

    cos, elapsed, peak = _timed(run)
    done = total_pairs if method.startswith("blocked") else len(pairs)
    i, j = 3, k - 2  # within the first pairs of the loop order, so also checked when extrapolating
    a, b = w[i].astype(np.float64), w[j].astype(np.float64)
    check = float(abs(cos[i, j] - np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))))
    return {
        "s": elapsed * total_pairs / done,
        "measured_s": elapsed,
        "pairs_measured": done,
        "pairs_total": total_pairs,
        "extrapolated": done < total_pairs,
        "tracemalloc_peak_mib": round(peak / 2**20, 1),
        "peak_rss_mib": rss_mib(),
        "data_rss_mib": base,
        "max_abs_err_vs_float64_pair": check,
    }


def disagreement_worker(method, k, n, c, loop_pairs, blas_threads):
    """method: blocked (argmax once + metrics.disagreement_matrix), loop (issue 6: argmax of both
    and equality per pair), loop_writeup (the write-up as written: labels = argmax once per
    checkpoint, then 1 - sum(equal(labels_i, labels_j)) / N per pair)."""
    from deepens import metrics
    from threadpoolctl import threadpool_limits

    threadpool_limits(blas_threads)
    rng = np.random.default_rng(0)
    probs = rng.random((k, n, c), dtype=np.float32)
    base = rss_mib()
    total_pairs = k * (k + 1) // 2
    pairs = _triu_pairs(k, loop_pairs)
    if method == "blocked":
        run = lambda: metrics.disagreement_matrix(probs.argmax(axis=-1), c)  # noqa: E731
    elif method == "loop":

        def run():
            dis = np.empty((k, k))
            for i, j in pairs:
                dis[i, j] = dis[j, i] = np.mean(probs[i].argmax(-1) != probs[j].argmax(-1))
            return dis
    else:

        def run():
            labels = [p.argmax(-1) for p in probs]  # the write-up's evaluate(): once per checkpoint
            dis = np.empty((k, k))
            for i, j in pairs:
                dis[i, j] = dis[j, i] = 1 - np.sum(np.equal(labels[i], labels[j])) / n
            return dis

    dis, elapsed, peak = _timed(run)
    done = total_pairs if method == "blocked" else len(pairs)
    estimate = elapsed * total_pairs / done
    if method == "loop_writeup" and done < total_pairs:
        # the K argmaxes ran in full; only the pair loop is cut short, so only it is scaled up
        t = time.perf_counter()
        [p.argmax(-1) for p in probs]
        labels_s = time.perf_counter() - t
        estimate = labels_s + max(0.0, elapsed - labels_s) * total_pairs / done
    check = float(abs(dis[2, k - 1] - np.mean(probs[2].argmax(-1) != probs[k - 1].argmax(-1))))
    return {
        "s": estimate,
        "measured_s": elapsed,
        "pairs_measured": done,
        "pairs_total": total_pairs,
        "extrapolated": done < total_pairs,
        "tracemalloc_peak_mib": round(peak / 2**20, 1),
        "peak_rss_mib": rss_mib(),
        "data_rss_mib": base,
        "max_abs_err_vs_pair": check,
    }


def parquet_worker(seeds, checkpoints, n, c=10):
    from deepens import io

    rng = np.random.default_rng(0)
    labels = rng.integers(0, c, n)
    out = {"build_s": 0.0, "write_s": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        paths, raw = [], []
        for s in range(seeds):
            probs = rng.random((checkpoints, n, c), dtype=np.float32)
            probs /= probs.sum(-1, keepdims=True)
            t = time.perf_counter()
            table = io.pa.concat_tables([io.predictions_table("test", e, labels, probs[e]) for e in range(checkpoints)])
            out["build_s"] += time.perf_counter() - t
            paths.append(f"{tmp}/seed{s}.parquet")
            t = time.perf_counter()
            io.write_table(table, paths[-1], {}, row_group_size=n)
            out["write_s"] += time.perf_counter() - t
            raw.append(probs)
        out["file_mib_per_seed"] = round(os.path.getsize(paths[0]) / 2**20, 2)
        t = time.perf_counter()
        e, y, p = io.read_predictions(paths[0], "test")
        out["read_one_s"] = time.perf_counter() - t
        assert np.array_equal(p, raw[0])
        t = time.perf_counter()
        allp = np.stack([io.read_predictions(path, "test")[2] for path in paths])
        out["load_all_s"] = time.perf_counter() - t
        out["load_all_shape"] = list(allp.shape)
        del allp
        # Reference: raw float32 arrays via np.save / np.load (no compression, no keys).
        t = time.perf_counter()
        for s, probs in enumerate(raw):
            np.save(f"{tmp}/seed{s}.npy", probs)
        out["npy_write_s"] = time.perf_counter() - t
        t = time.perf_counter()
        allr = np.stack([np.load(f"{tmp}/seed{s}.npy") for s in range(seeds)])
        out["npy_load_all_s"] = time.perf_counter() - t
        del allr
    k = seeds * checkpoints
    out.update(
        write_ms_per_checkpoint=1e3 * (out["build_s"] + out["write_s"]) / k,
        read_ms_per_checkpoint=1e3 * out["read_one_s"] / checkpoints,
        load_all_ms_per_checkpoint=1e3 * out["load_all_s"] / k,
        mb_per_s_load_all=k * n * c * 4 / 1e6 / out["load_all_s"],
        peak_rss_mib=rss_mib(),
    )
    return out


def import_worker():
    return rss_mib()


def fresh(fn, *args):
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# --- end to end ------------------------------------------------------------------------------


def e2e(cores=2):
    ignore = shutil.ignore_patterns(
        ".venv",
        "results",
        "logs",
        "benchmarks",
        ".snakemake",
        ".git",
        "__pycache__",
        ".pytest_cache",
        "docs",
        "report.html",
    )
    snakemake = str(ROOT / ".venv" / "bin" / "snakemake")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "wf"
        shutil.copytree(ROOT, work, ignore=ignore)

        def run(name, *args):
            t = time.perf_counter()
            proc = subprocess.run([snakemake, "--cores", str(cores), *args], cwd=work, capture_output=True, text=True)
            out[f"{name}_s"] = time.perf_counter() - t
            if proc.returncode:
                raise RuntimeError(f"snakemake ({name}) failed:\n{proc.stderr[-3000:]}")
            steps = re.findall(r"\d+ of (\d+) steps", proc.stderr)
            out[f"{name}_jobs"] = int(steps[-1]) if steps else 0

        run("cold")
        run("noop")
        # One seed added on the command line (config.yaml names only the dataset; the digits demo's
        # seeds [0, 1, 2] are the schema's default for it): the same run with seeds [0, 1, 2, 3].
        run("add_seed", "--config", "seeds=[0, 1, 2, 3]")
    out["noop_ratio"] = out["noop_s"] / out["cold_s"]
    out["add_seed_ratio"] = out["add_seed_s"] / out["cold_s"]
    return out


# --- C. evaluation vs training step (CIFAR-shaped, SmallCNN as the paper preset builds it) --------

PAPER_SMALL_CNN = dict(
    dropout=0.1, bias_initializer="glorot_uniform", input_scaling="raw"
)  # configs/cifar10_paper.yaml


def _paper_small_cnn(ds, seed):
    from deepens.nets.models import build_model

    return build_model("small_cnn", ds.input_shape, ds.num_classes, seed, **PAPER_SMALL_CNN)


def _synthetic_shift_sets(n_test, corruptions, seed=1):
    """corruption -> a shift.load_shift_set-like dict of random uint8 images at severities 1..5."""
    rng = np.random.default_rng(seed)
    return {
        f"synthetic{k}": {
            "images": rng.integers(0, 256, (5, n_test, 32, 32, 3), dtype=np.uint8),
            "severities": np.arange(1, 6),
        }
        for k in range(corruptions)
    }


def evaluation_worker(n_train, n_test, batch_sizes, shift_batch_size, corruptions, rounds, threads=1, train_batch=128):
    """Images/s of the training step, of evaluation.Forward and of ShiftMember.add, interleaved in ONE
    process (intra-op `threads`, inter-op 1): round 0 warms every path up (tracing), then `rounds`
    rounds of [one training epoch, Forward over the test set at each batch size, the model-only
    step of Forward on ready tensors, one ShiftMember.add over the clean test set + the shift sets].

    The training step is train_run's compiled train function and loop (compile as train_run does,
    steps_per_execution 1000 = the config default, training.feed_dropout_masks with the masks drawn
    by training.train_dataset, one iterator, training.epoch_steps_runner) without its validation pass
    and checkpoint writes.
    """
    from deepens.nets import training
    from deepens.nets.evaluation import Forward
    from deepens.nets.models import configure_tensorflow
    from deepens.shift import ShiftMember

    tf = configure_tensorflow(threads, 1)
    import keras

    ds = synthetic_dataset(n_train, n_test, 1)
    keras.utils.set_random_seed(0)
    m = _paper_small_cnn(ds, 0)
    steps = math.ceil(n_train / train_batch)
    m.compile(
        optimizer=keras.optimizers.Adam(1.6e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=BEST_STEPS_PER_EXECUTION,
        jit_compile=False,
    )
    specs = training.dropout_specs(m)
    training.feed_dropout_masks(m, specs)
    it = iter(
        training.train_dataset(
            ds.x_train, ds.y_train, train_batch, 1, 2, False, 0, rounds + 1, dropout=(0, specs), input_scaling="raw"
        )
    )
    run_epoch = training.epoch_steps_runner(m, steps, BEST_STEPS_PER_EXECUTION)
    forwards = {bs: Forward(m, bs, tf) for bs in batch_sizes}
    shift_forward = forwards.get(shift_batch_size) or Forward(m, shift_batch_size, tf)
    sets = _synthetic_shift_sets(n_test, corruptions)
    shift_images = n_test * (1 + 5 * corruptions)
    # Forward's compiled step alone on tensors made beforehand (no numpy -> tensor conversion, no .numpy()
    # of the outputs beyond what ends the computation): what the model costs without Forward's glue.
    labels = ds.y_test.astype(np.int32)
    ready = [
        (tf.constant(ds.x_test[i : i + shift_batch_size]), tf.constant(labels[i : i + shift_batch_size]))
        for i in range(0, n_test, shift_batch_size)
    ]
    rows = {"train": [], **{f"forward_{bs}": [] for bs in batch_sizes}, "forward_step_only": [], "shift_add": []}
    shift_predict_s = []

    def timed(name, fn, keep):
        a = cpu_snapshot()
        fn()
        if keep:
            rows[name].append(epoch_cpu(a, cpu_snapshot()))

    for rnd in range(rounds + 1):
        keep = rnd > 0
        timed("train", lambda: (m.reset_metrics(), run_epoch(it)), keep)
        for bs in batch_sizes:
            timed(f"forward_{bs}", lambda f=forwards[bs]: f(ds.x_test, ds.y_test), keep)

        def step_only():
            for x, y in ready:
                p, lp = shift_forward._step(x, y)
                p.numpy(), lp.numpy()

        timed("forward_step_only", step_only, keep)
        member = ShiftMember("final", ds.x_test, ds.y_test, sets)
        spent = [0.0]

        def predict(x, y):
            t = time.perf_counter()
            out = shift_forward(x, y)
            spent[0] += time.perf_counter() - t
            return out

        timed("shift_add", lambda: member.add(predict), keep)
        if keep:
            shift_predict_s.append(spent[0])
    images = {"train": n_train, "shift_add": shift_images}
    out = {"steps_per_epoch": steps, "shift_images_per_add": shift_images, "shift_predict_s": shift_predict_s}
    for name, got in rows.items():
        n = images.get(name, n_test)
        walls = [e["wall_s"] for e in got]
        cpu = [e["step_cpu_s"] + e["main_cpu_s"] + e["other_cpu_s"] for e in got]
        out[name] = {
            "images": n,
            "wall_s": walls,
            "img_s_median": n / float(np.median(walls)),
            "img_s_best": n / min(walls),
            "img_per_cpu_s": n / float(np.median(cpu)),
            **{k: float(np.median([e[k] for e in got])) for k in got[0] if k != "wall_s"},
        }
    out["peak_rss_mib"] = rss_mib()
    return out


# --- D. the training stage of N seeds: pipeline jobs vs plain model.fit runs ------------------------


def stage_plain_worker(seed, n_train, n_test, epochs, batch_size, predict_each_epoch):
    """A plain Keras script: TensorFlow's default threads (no thread settings, no op determinism), the
    paper preset's SmallCNN, model.fit on in-memory float32 arrays of the raw pixels; optionally a
    model.predict of the test set after every epoch (Keras's default predict batch size)."""
    t0 = time.perf_counter()
    import keras
    import tensorflow as tf

    import_s = time.perf_counter() - t0
    ds = synthetic_dataset(n_train, n_test, 1)
    x, y = ds.x_train.astype(np.float32), ds.y_train.astype(np.int32)  # raw 0-255, as input_scaling "raw"
    x_test = ds.x_test.astype(np.float32)
    epoch_s, epochs_cpu, predict_s = [], [], []
    whole = cpu_snapshot()

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.snap = cpu_snapshot()

        def on_epoch_end(self, epoch, logs=None):
            if predict_each_epoch:
                t = time.perf_counter()
                self.model.predict(x_test, verbose=0)
                predict_s.append(time.perf_counter() - t)
            e = epoch_cpu(self.snap, cpu_snapshot())
            epoch_s.append(e["wall_s"])
            epochs_cpu.append(e)

    t1 = time.perf_counter()
    keras.utils.set_random_seed(seed)
    m = _paper_small_cnn(ds, seed)
    m.compile(
        optimizer=keras.optimizers.Adam(1.6e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    m.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[Timer()])
    return {
        "import_s": import_s,
        "train_s": time.perf_counter() - t1,
        "epoch_s": epoch_s,
        "epoch_cpu": epochs_cpu,
        "predict_s": predict_s,
        "cpu": epoch_cpu(whole, cpu_snapshot()),
        "threads": [
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        ],
        "peak_rss_mib": rss_mib(),
    }


def stage_pipeline_worker(seed, n_train, n_test, n_val, epochs, batch_size, intra, inter, masks_in_pipeline):
    """train_run as the train rule runs it for the paper preset's SmallCNN (raw inputs, Glorot biases,
    steps_per_execution 1000, a checkpoint per epoch, validation each epoch) at the given threads."""
    t0 = time.perf_counter()
    from deepens.nets import training
    from deepens.nets.models import configure_tensorflow

    configure_tensorflow(intra, inter)
    import_s = time.perf_counter() - t0
    ds = synthetic_dataset(n_train, n_test, n_val)
    snaps = []

    def log(*args):
        snaps.append(cpu_snapshot())

    whole = cpu_snapshot()
    with tempfile.TemporaryDirectory() as tmp:
        paths = [f"{tmp}/run/epoch{e:03d}.weights.h5" for e in range(epochs + 1)]
        t1 = time.perf_counter()
        training.train_run(
            model_name="small_cnn",
            dataset=ds,
            seed=seed,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=1.6e-3,
            lr_halving_epochs=10,
            augmentation=False,
            steps_per_execution=BEST_STEPS_PER_EXECUTION,
            jit_compile=False,
            intra_op_threads=intra,
            inter_op_threads=inter,
            checkpoint_paths=paths,
            history_path=f"{tmp}/run/history.parquet",
            provenance=_Provenance(),
            timing_path=f"{tmp}/run/timing.tsv",
            dropout_masks_in_pipeline=masks_in_pipeline,
            log=log,
            **PAPER_SMALL_CNN,
        )
        train_s = time.perf_counter() - t1
        epoch_s = _timing_seconds(f"{tmp}/run/timing.tsv")
    return {
        "import_s": import_s,
        "train_s": train_s,
        "epoch_s": epoch_s,
        "epoch_cpu": [epoch_cpu(a, b) for a, b in zip(snaps[-epochs - 1 : -1], snaps[-epochs:])],
        "cpu": epoch_cpu(whole, cpu_snapshot()),
        "threads": [intra, inter],
        "peak_rss_mib": rss_mib(),
    }


def _child(conn, fn, args):
    try:
        conn.send(("ok", fn(*args)))
    except BaseException:  # noqa: BLE001 - reported to the parent
        import traceback

        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def machine_busy_s():
    """Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return math.nan


def _children_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime + me.ru_utime + me.ru_stime


class LoadMeter:
    """Wall time, the machine's busy cores (/proc/stat) and how many of them were NOT this process and
    its (waited-for) children, over a with-block; load averages at both ends."""

    def __enter__(self):
        self.load0 = [round(x, 2) for x in os.getloadavg()]
        self.t, self.busy, self.own = time.perf_counter(), machine_busy_s(), _children_cpu_s()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t
        busy, own = machine_busy_s() - self.busy, _children_cpu_s() - self.own
        self.stats = {
            "wall_s": self.wall,
            "busy_cores": busy / self.wall,
            "own_cores": own / self.wall,
            "other_processes_cores": (busy - own) / self.wall,
            "loadavg_start": self.load0,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        }
        return False


def fresh_group(calls, concurrent, env=None):
    """Run (fn, args) calls each in a fresh spawned process, all at once or one after another.

    env: variables set for the children (e.g. OMP_NUM_THREADS as snakemake sets them for a job).
    Returns (results, per-call wall seconds from process start to exit, LoadMeter stats of the group).
    """
    ctx = multiprocessing.get_context("spawn")
    saved = {k: os.environ.get(k) for k in (env or {})}
    results, walls = [None] * len(calls), [None] * len(calls)

    def start(i):
        fn, args = calls[i]
        recv, send = ctx.Pipe(False)
        os.environ.update(env or {})
        try:
            t = time.perf_counter()
            p = ctx.Process(target=_child, args=(send, fn, args))
            p.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        send.close()
        return p, recv, t

    def finish(i, p, recv, t):
        try:
            status, value = recv.recv()
        except EOFError:
            status, value = "error", f"worker {calls[i][0].__name__} died (exit code {p.exitcode})"
        p.join()
        walls[i] = time.perf_counter() - t
        if status != "ok":
            raise RuntimeError(f"{calls[i][0].__name__} failed:\n{value}")
        results[i] = value

    with LoadMeter() as meter:
        if concurrent:
            started = [start(i) for i in range(len(calls))]
            for i, s in enumerate(started):
                finish(i, *s)
        else:
            for i in range(len(calls)):
                finish(i, *start(i))
    return results, walls, meter.stats


STAGE_VARIANTS = {
    # name: (worker, concurrent, extra args, env as snakemake would set it for the job, description)
    "plain_fit": (
        "plain",
        False,
        (False,),
        None,
        "N plain model.fit runs one after another, TensorFlow's default threads",
    ),
    "plain_fit_predict": (
        "plain",
        False,
        (True,),
        None,
        "the same with a test-set model.predict after every epoch (the issue's plain script)",
    ),
    "pipeline_concurrent_t1": (
        "pipeline",
        True,
        (1, 1, True),
        1,
        "train_run, N jobs at once, intra-op 1 inter-op 1 (what snakemake --cores 2 runs today)",
    ),
    "pipeline_sequential_t2": (
        "pipeline",
        False,
        (2, 1, True),
        2,
        "train_run, one job at a time, intra-op 2 inter-op 1",
    ),
    "pipeline_concurrent_t1_no_masks": (
        "pipeline",
        True,
        (1, 1, False),
        1,
        "train_run, N jobs at once, intra-op 1, dropout masks drawn by Keras in the step",
    ),
    "pipeline_sequential_t1": (
        "pipeline",
        False,
        (1, 1, True),
        1,
        "train_run, one job at a time, intra-op 1 (each job alone: the input pipeline has a core)",
    ),
}


def stage(cfg, seeds, variants, rounds):
    """Item D: wall seconds of the training stage of `seeds` runs for each variant, in fresh processes."""
    n_train, n_test, n_val, epochs, bs = cfg["stage_train"], cfg["stage_test"], cfg["n_val"], cfg["stage_epochs"], 128
    out = {
        "seeds": seeds,
        "images": n_train,
        "test_images": n_test,
        "val_images": n_val,
        "epochs": epochs,
        "batch_size": bs,
        "rounds": rounds,
        "variants": {},
    }
    order = [v for v in STAGE_VARIANTS if v in variants]
    for rnd in range(rounds):
        for name in order if rnd % 2 == 0 else order[::-1]:
            kind, concurrent, extra, threads, desc = STAGE_VARIANTS[name]
            if kind == "plain":
                calls = [(stage_plain_worker, (s, n_train, n_test, epochs, bs, *extra)) for s in range(seeds)]
            else:
                calls = [(stage_pipeline_worker, (s, n_train, n_test, n_val, epochs, bs, *extra)) for s in range(seeds)]
            env = (
                None
                if threads is None
                else {
                    k: str(threads)
                    for k in (
                        "OMP_NUM_THREADS",
                        "GOTO_NUM_THREADS",
                        "OPENBLAS_NUM_THREADS",
                        "MKL_NUM_THREADS",
                        "VECLIB_MAXIMUM_THREADS",
                        "NUMEXPR_NUM_THREADS",
                    )
                }
            )
            results, walls, load = fresh_group(calls, concurrent, env)
            v = out["variants"].setdefault(name, {"description": desc, "concurrent": concurrent, "runs": []})
            per_epoch = [_steady(res["epoch_s"]) for res in results]
            cpu = [_steady_cpu(res["epoch_cpu"]) for res in results]
            v["runs"].append(
                {
                    "stage_wall_s": load["wall_s"],
                    "process_wall_s": walls,
                    "import_s": [res["import_s"] for res in results],
                    "train_s": [res["train_s"] for res in results],
                    "epoch_s": [res["epoch_s"] for res in results],
                    "steady_epoch_s": per_epoch,
                    "predict_s": [sum(res.get("predict_s") or [0.0]) for res in results],
                    "threads": results[0]["threads"],
                    "steady_epoch_cpu": {k: float(np.mean([c[k] for c in cpu])) for k in cpu[0]},
                    "process_cpu_s": float(
                        sum(
                            res["cpu"]["main_cpu_s"] + res["cpu"]["step_cpu_s"] + res["cpu"]["other_cpu_s"]
                            for res in results
                        )
                    ),
                    "load": load,
                }
            )
            print(
                f"# stage {name}: {load['wall_s']:.1f} s, steady epochs {[round(p, 2) for p in per_epoch]}, "
                f"other processes {load['other_processes_cores']:.2f} cores",
                file=sys.stderr,
                flush=True,
            )
    base = out["variants"].get("plain_fit")
    for name, v in out["variants"].items():
        v["stage_wall_s"] = float(np.median([run["stage_wall_s"] for run in v["runs"]]))
        v["steady_epoch_s"] = float(np.median([x for run in v["runs"] for x in run["steady_epoch_s"]]))
        v["other_processes_cores"] = float(np.median([run["load"]["other_processes_cores"] for run in v["runs"]]))
        # Steady state (what a long run converges to): images per second of the whole stage over the epochs
        # after the first: N runs' epochs at once when concurrent, one run's when sequential.
        v["steady_stage_img_s"] = (seeds if v["concurrent"] else 1) * n_train / v["steady_epoch_s"]
        cpu = [run["steady_epoch_cpu"] for run in v["runs"]]
        v["steady_epoch_cpu_s"] = float(np.median([c["step_cpu_s"] + c["main_cpu_s"] + c["other_cpu_s"] for c in cpu]))
        # the stage without TensorFlow's import (per process; overlapped when the runs are concurrent)
        v["stage_wall_without_import_s"] = float(
            np.median(
                [
                    run["stage_wall_s"] - (max(run["import_s"]) if v["concurrent"] else sum(run["import_s"]))
                    for run in v["runs"]
                ]
            )
        )
    if base is not None:
        for v in out["variants"].values():
            v["ratio_vs_plain_fit"] = v["stage_wall_s"] / base["stage_wall_s"]
            v["steady_speedup_vs_plain_fit"] = v["steady_stage_img_s"] / base["steady_stage_img_s"]
            v["ratio_without_import_vs_plain_fit"] = (
                v["stage_wall_without_import_s"] / base["stage_wall_without_import_s"]
            )
    return out


# --- A / B. make run: today vs a baseline revision; the paper preset's planned jobs -----------------

TREE_IGNORE = shutil.ignore_patterns(
    ".venv",
    ".venv-gpu",
    "results",
    "logs",
    "benchmarks",
    ".snakemake",
    ".git",
    "__pycache__",
    ".pytest_cache",
    "report.html",
)
SNAKEMAKE = ROOT / ".venv" / "bin" / "snakemake"


def tree_copy(ref, dest):
    """A fresh copy of a revision's tree: ref None = the working tree (as e2e copies it), else `git archive`."""
    dest = Path(dest)
    if ref is None:
        shutil.copytree(ROOT, dest, ignore=TREE_IGNORE)
    else:
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def revision(ref):
    """{ref, commit, dirty (working tree only)} for the record."""

    def git(*a):
        return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout.strip()

    if ref is None:
        return {
            "ref": "HEAD (working tree)",
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    return {"ref": ref, "commit": git("rev-parse", ref)}


def tensorflow_rules(tree):
    """Rules of a tree whose jobs run TensorFlow: their conda env is the training env
    (envs/training.yaml, or get_tensorflow_env, which picks training.yaml or training-gpu.yaml)."""
    names = set()
    for path in sorted(Path(tree).glob("rules/*.smk")) + [Path(tree) / "Snakefile"]:
        text = path.read_text() if path.exists() else ""
        parts = re.split(r"^[ \t]*rule (\w+):[ \t]*$", text, flags=re.M)  # [before, name, body, name, body, ...]
        for name, body in zip(parts[1::2], parts[2::2]):
            if re.search(r"conda:\s*\n\s*(get_tensorflow_env|\S*envs/training(-gpu)?\.yaml)", body):
                names.add(name)
    return names


def planned(tree, *args):
    """{rule: count} of a dry run in `tree` (snakemake's job table)."""
    proc = subprocess.run([str(SNAKEMAKE), "-n", "--cores", "2", *args], cwd=tree, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    if proc.returncode:
        raise RuntimeError(f"snakemake -n {' '.join(args)} failed in {tree}:\n{text[-3000:]}")
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:")[1].split("\ntotal")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def job_counts(tree, *args):
    jobs = planned(tree, *args)
    tf_rules = tensorflow_rules(tree)
    tf_jobs = {rule: n for rule, n in jobs.items() if rule in tf_rules}
    landscape = sum(n for rule, n in tf_jobs.items() if rule.startswith("landscape"))
    connectivity = tf_jobs.get("connectivity", 0)  # one per pair of seeds, not per run
    runs = jobs.get("train", 0)
    return {
        "jobs": sum(jobs.values()),
        "tensorflow_jobs": sum(tf_jobs.values()),
        "tensorflow_by_rule": tf_jobs,
        "landscape_jobs": landscape,
        "connectivity_jobs": connectivity,
        "runs": runs,
        "tensorflow_jobs_per_run": (sum(tf_jobs.values()) - landscape - connectivity) / runs if runs else None,
        "by_rule": jobs,
    }


def job_seconds(tree, tf_rules):
    """Wall seconds of every job of a finished run, summed per rule, from the rules' `benchmark:` files
    (benchmarks/<rule>/...tsv, column s): where the run's time went (on 2 cores, wall ~ sum / 2 when
    jobs fill both cores)."""
    by_rule = {}
    for path in (Path(tree) / "benchmarks").glob("*/**/*.tsv"):
        try:
            rows = path.read_text().splitlines()
            s = float(rows[1].split("\t")[0])
        except (OSError, IndexError, ValueError):
            continue
        rule = path.relative_to(Path(tree) / "benchmarks").parts[0]
        by_rule[rule] = by_rule.get(rule, 0.0) + s
    total = sum(by_rule.values())
    return {
        "job_s_total": total,
        "tensorflow_job_s": sum(v for k, v in by_rule.items() if k in tf_rules),
        "job_s_by_rule": dict(sorted(((k, round(v, 2)) for k, v in by_rule.items()), key=lambda kv: -kv[1])),
    }


def timed_snakemake(tree, *args, cores=2):
    with LoadMeter() as meter:
        proc = subprocess.run([str(SNAKEMAKE), "--cores", str(cores), *args], cwd=tree, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {tree}:\n{proc.stderr[-3000:]}")
    steps = re.findall(r"\d+ of (\d+) steps", proc.stderr)
    return {**meter.stats, "jobs_run": int(steps[-1]) if steps else 0}


def make_run(baseline, rounds=1):
    """Item A: cold `snakemake --cores 2` of the default config, baseline revision vs the working tree,
    each in its own fresh copy, alternating (ABBA over rounds); then a no-op rerun of the working tree."""
    out = {"baseline": {**revision(baseline), "runs": []}, "head": {**revision(None), "runs": []}}
    refs = {"baseline": baseline, "head": None}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ref in refs.items():
            counts = job_counts(tree_copy(ref, Path(tmp) / f"{name}_dry"))
            out[name].update(
                jobs=counts["jobs"],
                tensorflow_jobs=counts["tensorflow_jobs"],
                tensorflow_by_rule=counts["tensorflow_by_rule"],
            )
        for rnd in range(rounds):
            for name in ("baseline", "head") if rnd % 2 == 0 else ("head", "baseline"):
                tree = tree_copy(refs[name], Path(tmp) / f"{name}{rnd}")
                run = timed_snakemake(tree)
                run.update(job_seconds(tree, out[name]["tensorflow_by_rule"]))
                if name == "head" and "noop" not in out["head"]:
                    out["head"]["noop"] = timed_snakemake(tree)
                out[name]["runs"].append(run)
                print(
                    f"# make-run {name} round {rnd}: {run['wall_s']:.1f} s, {run['jobs_run']} jobs, other processes "
                    f"{run['other_processes_cores']:.2f} cores",
                    file=sys.stderr,
                    flush=True,
                )
                shutil.rmtree(tree)
    for name in refs:
        out[name]["cold_s"] = float(np.median([run["wall_s"] for run in out[name]["runs"]]))
        out[name]["other_processes_cores"] = float(
            np.median([run["other_processes_cores"] for run in out[name]["runs"]])
        )
    out["ratio_head_over_baseline"] = out["head"]["cold_s"] / out["baseline"]["cold_s"]
    out["paired_ratios"] = [h["wall_s"] / b["wall_s"] for h, b in zip(out["head"]["runs"], out["baseline"]["runs"])]
    out["target_ratio_max"] = 0.5
    out["noop_over_cold"] = out["head"]["noop"]["wall_s"] / out["head"]["cold_s"]
    return out


def paper_jobs(baseline, configfile="configs/cifar10_paper.yaml"):
    """Item B: the paper preset's dry-run job counts, working tree and baseline revision."""
    import yaml

    out = {"configfile": configfile}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ref in (("head", None), ("baseline", baseline)):
            tree = tree_copy(ref, Path(tmp) / name)
            counts = job_counts(tree, "--configfile", configfile)
            models = len(yaml.safe_load((tree / configfile).read_text())["models"])
            counts.update(revision(ref), models=models, landscape_jobs_per_model=counts["landscape_jobs"] / models)
            out[name] = counts
    out["target_tensorflow_jobs_per_run_max"] = 3
    return out


# --- main ------------------------------------------------------------------------------------


def machine():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "nproc": os.cpu_count(),
        "sched_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in load] if load else None,
    }


def r(x, nd=3):
    return None if x is None else round(float(x), nd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="larger sizes (tens of minutes on 2 cores)")
    parser.add_argument("--e2e", action="store_true", help="also time cold / no-op / one-seed-added snakemake runs")
    parser.add_argument("--only", nargs="*", choices=ITEMS, help="run only these items (default: all but e2e)")
    parser.add_argument("--skip", nargs="*", choices=ITEMS, default=[], help="leave these items out")
    parser.add_argument(
        "--baseline",
        default="d81d96b",
        help="revision the make-run and paper-jobs items compare the working tree with "
        "(default d81d96b: the last commit before the coarse TensorFlow jobs)",
    )
    parser.add_argument(
        "--make-run-rounds",
        type=int,
        default=1,
        help="cold runs of each revision in make-run, alternating baseline/HEAD (default 1)",
    )
    parser.add_argument("--stage-seeds", type=int, default=2, help="runs in the training stage item (default 2)")
    parser.add_argument(
        "--stage-rounds",
        type=int,
        default=1,
        help="repetitions of every stage variant, order reversed every round (default 1)",
    )
    parser.add_argument(
        "--stage-variants",
        nargs="*",
        choices=list(STAGE_VARIANTS),
        default=list(STAGE_VARIANTS),
        help="stage variants to run (default: all)",
    )
    parser.add_argument("--out", help="directory for pipeline.json, pipeline.tsv and pipeline.md")
    parser.add_argument(
        "--blas-threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="OpenBLAS threads for the similarity item (default: 1 2)",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=INT",
        help="override sizes of the chosen preset, e.g. --set stage_train=2000 eval_rounds=1 "
        "(for trying the script out; results are then not comparable)",
    )
    args = parser.parse_args()
    cfg = dict(FULL if args.full else QUICK)
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in cfg:
            parser.error(f"--set: unknown size {key!r}; one of {sorted(cfg)}")
        cfg[key] = int(value)
    only = set(args.only or [i for i in ITEMS if i != "e2e"]) - set(args.skip)
    res = {
        "size": ("full" if args.full else "quick") + (f" with {' '.join(args.set)}" if args.set else ""),
        "machine": machine(),
    }
    t_all = time.perf_counter()

    # 1 + 2: SmallCNN, pipeline (train + every prediction dump) vs bare fit, intra-op threads 1 and 2.
    if "train" in only or "throughput" in only:
        fl = {m: forward_flops(m) for m in ("small_cnn", "medium_cnn", "resnet20v1")}
        res["train_flops_per_image"] = {m: 3 * f for m, f in fl.items()}
        runs = [("small_cnn", cfg["n_train"], cfg["epochs"], t) for t in ((1, 2) if "throughput" in only else (1,))]
        if "throughput" in only:
            runs += [(m, n, e, 1) for m, (n, e) in cfg["other_models"].items()]
            if args.full:
                runs += [(m, n, e, 2) for m, (n, e) in cfg["other_models"].items()]
        tp = {}
        for model, n, epochs, threads in runs:
            common = (
                model,
                n,
                cfg["n_test"] if model == "small_cnn" else 1,
                cfg["n_val"] if model == "small_cnn" else 10,
                epochs,
                cfg["batch_size"],
                threads,
            )
            # default settings, the baseline, then the best settings: the baseline sits between the two
            pipe = fresh(pipeline_worker, *common, model == "small_cnn")
            bare = fresh(bare_worker, *common)
            best = fresh(pipeline_worker, *common, False, BEST_STEPS_PER_EXECUTION) if model == "small_cnn" else None
            key = f"{model}_t{threads}"
            flops = 3 * fl[model]
            ps, bs = _steady(pipe["epoch_s"]), _steady(bare["epoch_s"])
            row = {
                "images": n,
                "epochs": epochs,
                "threads": threads,
                "pipeline_img_s": r(n / ps, 1),
                "bare_img_s": r(n / bs, 1),
                "pipeline_over_bare_epoch": r(ps / bs),
                "speedup_vs_bare": r(bs / ps),
                "speedup_vs_bare_fastest": r(
                    min(bare["epoch_s"][1:] or bare["epoch_s"]) / min(pipe["epoch_s"][1:] or pipe["epoch_s"])
                ),
                "pipeline_gflops": r(n * flops / ps / 1e9, 2),
                "bare_gflops": r(n * flops / bs / 1e9, 2),
                "matmul_peak_gflops": r(max(pipe["matmul_gflops"], bare["matmul_gflops"]), 1),
                "pipeline_epoch_s": [r(x) for x in pipe["epoch_s"]],
                "bare_epoch_s": [r(x) for x in bare["epoch_s"]],
                "pipeline_train_s": r(pipe["train_s"]),
                "bare_total_s": r(bare["total_s"]),
                "pipeline_peak_rss_mib": pipe["peak_rss_mib"],
                "bare_peak_rss_mib": bare["peak_rss_mib"],
                "pipeline_cpu": {kk: r(v) for kk, v in _steady_cpu(pipe["epoch_cpu"]).items()},
                "bare_cpu": {kk: r(v) for kk, v in _steady_cpu(bare["epoch_cpu"]).items()},
            }
            row["pipeline_pct_of_peak"] = r(100 * row["pipeline_gflops"] / row["matmul_peak_gflops"], 1)
            row["bare_pct_of_peak"] = r(100 * row["bare_gflops"] / row["matmul_peak_gflops"], 1)
            if best is not None:
                bps = _steady(best["epoch_s"])
                row.update(
                    best_steps_per_execution=BEST_STEPS_PER_EXECUTION,
                    pipeline_best_img_s=r(n / bps, 1),
                    speedup_best_vs_bare=r(bs / bps),
                    pipeline_best_epoch_s=[r(x) for x in best["epoch_s"]],
                    speedup_best_vs_bare_fastest=r(
                        min(bare["epoch_s"][1:] or bare["epoch_s"]) / min(best["epoch_s"][1:] or best["epoch_s"])
                    ),
                    pipeline_best_cpu={kk: r(v) for kk, v in _steady_cpu(best["epoch_cpu"]).items()},
                )
            if threads == 1:
                # With one intra-op thread the step's kernels run one after another on a tf_Compute thread
                # while the Python thread waits on them, so step + main CPU is the training loop's serial
                # time; the input pipeline (other) overlaps with it given a core of its own. Ratio of bare's
                # serial time to the pipeline's bound max(serial, input): the speed-up on a quiet machine.
                def serial(c):
                    return c["step_cpu_s"] + c["main_cpu_s"]

                bc = _steady_cpu(bare["epoch_cpu"])
                for name, run in (("", pipe), ("best_", best)):
                    if run is not None:
                        pc = _steady_cpu(run["epoch_cpu"])
                        row[f"{name}free_core_speedup_vs_bare"] = r(serial(bc) / max(serial(pc), pc["other_cpu_s"]))
            if model == "small_cnn":
                row.update(
                    pipeline_predict_s=r(pipe["predict_s"]),
                    pipeline_dump_write_s=r(pipe["dump_write_s"]),
                    pipeline_total_s=r(pipe["total_s"]),
                    ratio_train_plus_dumps_over_bare_fit=r(pipe["total_s"] / bare["total_s"]),
                    ratio_train_only_over_bare_fit=r(pipe["train_s"] / bare["total_s"]),
                )
            tp[key] = row
            print(f"# {key}: {json.dumps(row)}", file=sys.stderr, flush=True)
        res["training"] = tp
    if "throughput" in only:
        # 2b: the same comparison with every variant's epochs interleaved in one process.
        rounds = cfg["interleaved_rounds"]
        out = fresh(
            interleaved_worker,
            "small_cnn",
            cfg["n_train"],
            cfg["batch_size"],
            1,
            rounds,
            ["bare", 1, BEST_STEPS_PER_EXECUTION],
        )
        il = {"images": cfg["n_train"], "rounds": rounds, "threads": 1, "steps_per_epoch": out["steps_per_epoch"]}
        bare = out["epochs"]["bare"]
        for v, rows in out["epochs"].items():
            name = "bare" if v == "bare" else "pipeline_default" if v == "1" else "pipeline_best"
            walls = [e["wall_s"] for e in rows]
            il[name] = {
                "steps_per_execution": None if v == "bare" else int(v),
                "min_s": r(min(walls)),
                "median_s": r(float(np.median(walls))),
                "epoch_s": [r(w) for w in walls],
                **{kk: r(vv) for kk, vv in _median_cpu(rows).items()},
            }
            if v != "bare":
                il[name]["speedup_min"] = r(min(e["wall_s"] for e in bare) / min(walls))
                il[name]["speedup_median_paired"] = r(
                    float(np.median([b["wall_s"] / e["wall_s"] for b, e in zip(bare, rows)]))
                )
        res["training_interleaved"] = il
        print(f"# interleaved: {json.dumps(il)}", file=sys.stderr, flush=True)

    # 3: all-pairs similarity, blocked Gram products vs per-pair loops.
    if "similarity" in only:
        k, p, n, c = cfg["sim_k"], cfg["sim_params"], cfg["sim_n"], cfg["sim_c"]
        sim = {"k": k, "parameters": p, "test_points": n, "classes": c}
        # OpenBLAS threads: 1 is what every workflow job gets (snakemake exports OPENBLAS_NUM_THREADS=
        # threads, and the analysis rules declare threads: 1); 2 is numpy's default outside snakemake.
        # Baselines: "loop" is the per-pair loop issue 6 specifies (float64 np.dot and norms; argmax of both
        # and equality per pair) and gives the headline speed-up; "loop_writeup" is the write-up's code as
        # written (float32 np.dot; labels once per checkpoint), cheaper, and less exact for cosine. Both loop
        # over the upper triangle with the diagonal and mirror it, as the write-up's `for j in range(i, K)`.
        for bt in args.blas_threads:
            for name, worker, methods in (
                ("cosine", cosine_worker, ("blocked", "blocked_f32", "loop", "loop_writeup")),
                ("disagreement", disagreement_worker, ("blocked", "loop", "loop_writeup")),
            ):
                for method in methods:
                    a = (
                        (method, k, p, cfg["loop_pairs"], bt)
                        if name == "cosine"
                        else (method, k, n, c, cfg["loop_pairs"], bt)
                    )
                    sim[f"{name}_{method}_blas{bt}"] = {
                        kk: (float(f"{v:.2g}") if kk.startswith("max_abs_err") else r(v, 4))
                        if isinstance(v, float)
                        else v
                        for kk, v in fresh(worker, *a).items()
                    }
                    print(
                        f"# {name} {method} blas{bt}: {sim[f'{name}_{method}_blas{bt}']}", file=sys.stderr, flush=True
                    )
                blocked = sim[f"{name}_blocked_blas{bt}"]["s"]
                sim[f"{name}_speedup_blas{bt}"] = r(sim[f"{name}_loop_blas{bt}"]["s"] / blocked, 1)
                sim[f"{name}_speedup_vs_writeup_blas{bt}"] = r(sim[f"{name}_loop_writeup_blas{bt}"]["s"] / blocked, 1)
                if name == "cosine":
                    f32 = sim[f"cosine_blocked_f32_blas{bt}"]["s"]
                    sim[f"cosine_f32_blocks_speedup_blas{bt}"] = r(sim[f"cosine_loop_blas{bt}"]["s"] / f32, 1)
                    sim[f"cosine_f32_blocks_speedup_vs_writeup_blas{bt}"] = r(
                        sim[f"cosine_loop_writeup_blas{bt}"]["s"] / f32, 1
                    )
        res["similarity"] = sim
        print(f"# similarity: {json.dumps(sim)}", file=sys.stderr, flush=True)

    # 4: Parquet prediction dumps.
    if "parquet" in only:
        res["parquet"] = {
            kk: (r(v, 4) if isinstance(v, float) else v)
            for kk, v in fresh(parquet_worker, cfg["pq_seeds"], cfg["pq_checkpoints"], cfg["pq_n"]).items()
        }
        res["parquet"].update(seeds=cfg["pq_seeds"], checkpoints=cfg["pq_checkpoints"], test_points=cfg["pq_n"])
        print(f"# parquet: {json.dumps(res['parquet'])}", file=sys.stderr, flush=True)

    # B: the paper preset's planned jobs, working tree and baseline (dry runs, seconds).
    if "paper-jobs" in only:
        res["paper_jobs"] = paper_jobs(args.baseline)
        pj = res["paper_jobs"]
        print(
            f"# paper-jobs: head {pj['head']['jobs']} jobs ({pj['head']['tensorflow_jobs']} TensorFlow), baseline "
            f"{pj['baseline']['jobs']} ({pj['baseline']['tensorflow_jobs']})",
            file=sys.stderr,
            flush=True,
        )

    # C: evaluation (Forward, the shift path) vs the training step, one process, interleaved rounds.
    if "evaluation" in only:
        ev = fresh(
            evaluation_worker,
            cfg["eval_train"],
            cfg["eval_test"],
            list(EVAL_BATCH_SIZES),
            2048,
            cfg["eval_corruptions"],
            cfg["eval_rounds"],
        )
        res["evaluation"] = evaluation_summary(ev, cfg)
        print(f"# evaluation: {json.dumps(res['evaluation']['ratios'])}", file=sys.stderr, flush=True)

    # D: the training stage of N seeds, pipeline jobs vs plain model.fit runs.
    if "stage" in only:
        res["stage"] = stage(cfg, args.stage_seeds, args.stage_variants, args.stage_rounds)

    # A: make run cold, baseline revision vs the working tree (the longest item: last).
    if "make-run" in only:
        res["make_run"] = make_run(args.baseline, args.make_run_rounds)

    res["import_only_peak_rss_mib"] = fresh(import_worker)
    if args.e2e or "e2e" in only:
        res["e2e"] = {kk: (r(v) if isinstance(v, float) else v) for kk, v in e2e().items()}
    res["bench_wall_s"] = r(time.perf_counter() - t_all, 1)
    res["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    md = summary(res)
    print(json.dumps(res))
    print(md, file=sys.stderr)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "pipeline.json").write_text(json.dumps(res, indent=1) + "\n")
        (out / "pipeline.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in flatten(res)))
        (out / "pipeline.md").write_text(md + "\n")


def evaluation_summary(ev, cfg):
    """Rates and ratios of item C from evaluation_worker's rounds (medians over the rounds)."""
    paths = {}
    for name in ["train", *(f"forward_{b}" for b in EVAL_BATCH_SIZES), "forward_step_only", "shift_add"]:
        v = ev[name]
        paths[name] = {
            "images": v["images"],
            "img_s": r(v["img_s_median"], 0),
            "img_s_best": r(v["img_s_best"], 0),
            "img_per_cpu_s": r(v["img_per_cpu_s"], 0),
            "wall_s": [r(w) for w in v["wall_s"]],
            **{k: r(v[k]) for k in ("step_cpu_s", "main_cpu_s", "other_cpu_s", "other_processes_cores")},
        }
    train = ev["train"]
    best = max(EVAL_BATCH_SIZES, key=lambda b: ev[f"forward_{b}"]["img_s_median"])
    fwd, shift = ev[f"forward_{best}"], ev["shift_add"]
    wall = float(np.median(shift["wall_s"]))
    predict = float(np.median(ev["shift_predict_s"]))
    return {
        "train_images": cfg["eval_train"],
        "test_images": cfg["eval_test"],
        "shift_corruptions": cfg["eval_corruptions"],
        "shift_images_per_add": ev["shift_images_per_add"],
        "rounds": cfg["eval_rounds"],
        "intra_op_threads": 1,
        "steps_per_epoch": ev["steps_per_epoch"],
        "training_step": "train_run's compiled train function and epoch loop (batch 128, steps_per_execution 1000, "
        "dropout masks drawn in the tf.data pipeline), without its validation pass and checkpoints",
        "paths": paths,
        "shift_profile": {
            "add_s": r(wall),
            "in_forward_s": r(predict),
            "numpy_accumulation_s": r(wall - predict),
            "forward_share": r(predict / wall),
        },
        "ratios": {
            "forward_best_batch_size": best,
            "forward_over_train_step": r(fwd["img_s_median"] / train["img_s_median"], 2),
            "forward_2048_over_train_step": r(ev["forward_2048"]["img_s_median"] / train["img_s_median"], 2),
            "shift_over_train_step": r(shift["img_s_median"] / train["img_s_median"], 2),
            "shift_over_forward_2048": r(shift["img_s_median"] / ev["forward_2048"]["img_s_median"], 2),
            "forward_over_train_step_per_cpu_s": r(fwd["img_per_cpu_s"] / train["img_per_cpu_s"], 2),
            "shift_over_train_step_per_cpu_s": r(shift["img_per_cpu_s"] / train["img_per_cpu_s"], 2),
            "step_only_over_forward_2048": r(
                ev["forward_step_only"]["img_s_median"] / ev["forward_2048"]["img_s_median"], 2
            ),
            "target_forward_over_train_step_min": 2.5,
        },
        "peak_rss_mib": ev["peak_rss_mib"],
    }


def flatten(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", json.dumps(v)


def summary(res):
    m = res["machine"]
    lines = [
        f"## bench_pipeline ({res['size']}), {m['nproc']} cores, {m['cpu_model']}, "
        f"load {m['loadavg_at_start']} -> {m.get('loadavg_at_end')}",
        "",
    ]
    tr = res.get("training", {})
    s1 = tr.get("small_cnn_t1")
    if s1 and "ratio_train_plus_dumps_over_bare_fit" in s1:
        lines += [
            "### 1. SmallCNN: train_run + evaluate_checkpoints + dump vs bare model.fit",
            "",
            f"{s1['images']} images x {s1['epochs']} epochs, batch 128, intra-op threads 1: pipeline "
            f"{s1['pipeline_total_s']} s (train {s1['pipeline_train_s']} s, predict {s1['pipeline_predict_s']} s, "
            f"write {s1['pipeline_dump_write_s']} s) vs bare fit {s1['bare_total_s']} s: "
            f"**{s1['ratio_train_plus_dumps_over_bare_fit']}x** (train only {s1['ratio_train_only_over_bare_fit']}x; "
            "target <= 1.15x)",
            "",
        ]
    if tr:
        lines += [
            "### 2. Training throughput (steady-state epochs)",
            "",
            "Speed-up = bare fit epoch time / pipeline epoch time (target for SmallCNN: >= 1.3), of the median "
            "and of the fastest steady-state epoch (the least disturbed by other processes). Default: the "
            "pipeline's config defaults (steps_per_execution 1); best: steps_per_execution >= steps per epoch. "
            "Free-core estimate: bare's serial CPU per epoch / max(pipeline's serial CPU, its input pipeline's "
            "CPU), i.e. the speed-up when the input pipeline has a core of its own. Busy cores: CPU used by "
            "other processes during the pipeline / bare epochs.",
            "",
            "| model | threads | images x epochs | pipeline img/s (default / best) | bare img/s | "
            "speed-up default (median / fastest) | speed-up best (median / fastest) | "
            "free-core estimate (default / best) | "
            "step+main / input CPU s per epoch (pipeline default) | step+main CPU s (bare) | "
            "busy cores (pipeline / bare) | pipeline GFLOP/s | matmul peak GFLOP/s | pipeline % peak |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for key, row in tr.items():
            # with 2 intra-op threads the kernels also run on unnamed pool threads: no step / input split
            pc, bc = (row.get("pipeline_cpu", {}), row.get("bare_cpu", {})) if row["threads"] == 1 else ({}, {})
            serial = lambda c: r(c["step_cpu_s"] + c["main_cpu_s"], 2) if c else None  # noqa: E731
            lines.append(
                f"| {key.rsplit('_t', 1)[0]} | {row['threads']} | {row['images']} x {row['epochs']} | "
                f"{row['pipeline_img_s']} / {row.get('pipeline_best_img_s', '-')} | {row['bare_img_s']} | "
                f"**{row['speedup_vs_bare']}x** / {row['speedup_vs_bare_fastest']}x | "
                f"**{row.get('speedup_best_vs_bare', '-')}x** / {row.get('speedup_best_vs_bare_fastest', '-')}x | "
                f"{row.get('free_core_speedup_vs_bare', '-')} / {row.get('best_free_core_speedup_vs_bare', '-')} | "
                f"{serial(pc)} / {r(pc.get('other_cpu_s'), 2)} | {serial(bc)} | "
                f"{r(row['pipeline_cpu'].get('other_processes_cores'), 2)} / "
                f"{r(row['bare_cpu'].get('other_processes_cores'), 2)} | "
                f"{row['pipeline_gflops']} | {row['matmul_peak_gflops']} | {row['pipeline_pct_of_peak']} |"
            )
        lines.append("")
    il = res.get("training_interleaved")
    if il:
        lines += [
            f"### 2b. SmallCNN, epochs interleaved in one process ({il['images']} images, {il['steps_per_epoch']} "
            f"steps per epoch, {il['rounds']} rounds, intra-op threads 1)",
            "",
            "Every loop gets the same share of the machine's noise. Speed-up = bare epoch time / pipeline epoch "
            "time: of the fastest epochs (the least disturbed) and the median of the per-round ratios.",
            "",
            "| loop | steps_per_execution | fastest epoch s | median epoch s | speed-up (fastest / paired median) | "
            "step CPU s | main CPU s | input CPU s | busy cores |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name in ("bare", "pipeline_default", "pipeline_best"):
            v = il[name]
            sp = "" if name == "bare" else f"**{v['speedup_min']}x** / {v['speedup_median_paired']}x"
            lines.append(
                f"| {name} | {v['steps_per_execution'] or '-'} | {v['min_s']} | {v['median_s']} | {sp} | "
                f"{v['step_cpu_s']} | {v['main_cpu_s']} | {v['other_cpu_s']} | {v['other_processes_cores']} |"
            )
        lines.append("")
    sim = res.get("similarity")
    if sim:
        lines += [
            f"### 3. All-pairs similarity, K = {sim['k']} ({sim['parameters']:,} parameters; "
            f"{sim['test_points']:,} x {sim['classes']} predictions)",
            "",
            "Loops over the upper triangle with the diagonal, mirrored (the write-up's `for j in range(i, K)`). "
            "Headline speed-up: vs the loop issue 6 specifies (float64 np.dot and norms per pair; argmax of "
            "both and equality per pair). Also vs the write-up's code as written (float32 np.dot and norms per "
            "pair; labels computed once per checkpoint, np.equal per pair).",
            "",
            "| table | method | OpenBLAS threads | s | speed-up of blocked (issue 6 loop / write-up loop) | "
            "tracemalloc MiB | RSS MiB | abs err vs float64 pair |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for bt in (1, 2):
            for name in ("cosine", "disagreement"):
                if f"{name}_blocked_blas{bt}" not in sim:
                    continue
                methods = (
                    ("blocked", "blocked_f32", "loop", "loop_writeup")
                    if name == "cosine"
                    else ("blocked", "loop", "loop_writeup")
                )
                for method in methods:
                    m = sim[f"{name}_{method}_blas{bt}"]
                    ext = " (extrapolated)" if m["extrapolated"] else ""
                    if method == "blocked":
                        sp = f"**{sim[f'{name}_speedup_blas{bt}']}x** / {sim[f'{name}_speedup_vs_writeup_blas{bt}']}x"
                    elif method == "blocked_f32":
                        f32 = "cosine_f32_blocks_speedup"
                        sp = f"{sim[f'{f32}_blas{bt}']}x / {sim[f'{f32}_vs_writeup_blas{bt}']}x"
                    else:
                        sp = ""
                    err = m.get("max_abs_err_vs_float64_pair", m.get("max_abs_err_vs_pair"))
                    lines.append(
                        f"| {name} | {method} | {bt} | {m['s']}{ext} | {sp} | {m['tracemalloc_peak_mib']} | "
                        f"{m['peak_rss_mib']} | {err} |"
                    )
        lines.append("")
    pq = res.get("parquet")
    if pq:
        lines += [
            "### 4. Parquet prediction dumps",
            "",
            f"{pq['seeds']} seeds x {pq['checkpoints']} checkpoints x {pq['test_points']} x 10: "
            f"write {r(pq['write_ms_per_checkpoint'], 1)} ms/checkpoint (build + zstd write), read "
            f"{r(pq['read_ms_per_checkpoint'], 1)} ms/checkpoint, load all into {pq['load_all_shape']} "
            f"{pq['load_all_s']} s ({r(pq['mb_per_s_load_all'], 0)} MB/s; np.load of the same: "
            f"{pq['npy_load_all_s']} s), {pq['file_mib_per_seed']} MiB/seed file",
            "",
        ]
    if "e2e" in res:
        e = res["e2e"]
        lines += [
            "### 5. End to end (snakemake --cores 2, default config)",
            "",
            f"cold {e['cold_s']} s ({e.get('cold_jobs')} jobs), no-op rerun {e['noop_s']} s "
            f"({e['noop_ratio']}x), one seed added {e['add_seed_s']} s ({e.get('add_seed_jobs')} jobs, "
            f"{e['add_seed_ratio']}x)",
            "",
        ]
    mr = res.get("make_run")
    if mr:
        b, h = mr["baseline"], mr["head"]
        ok = "meets" if mr["ratio_head_over_baseline"] <= mr["target_ratio_max"] else "misses"
        lines += [
            "### A. make run: cold `snakemake --cores 2`, default (digits) config, baseline vs now",
            "",
            "Each run in its own fresh copy of the revision's tree, this venv's snakemake; busy cores = cores "
            "other processes kept busy during the run (/proc/stat minus this run's processes).",
            "",
            "| revision | commit | jobs | TensorFlow jobs | cold s (each run) | other processes' cores |",
            "|---|---|---|---|---|---|",
        ]
        for name, v in (("baseline " + b["ref"], b), ("now " + h["ref"], h)):
            lines.append(
                f"| {name} | {v['commit'][:10]}{' (dirty)' if v.get('dirty') else ''} | {v['jobs']} | "
                f"{v['tensorflow_jobs']} ({', '.join(f'{k} {n}' for k, n in v['tensorflow_by_rule'].items())}) | "
                f"{', '.join(str(r(x['wall_s'], 1)) for x in v['runs'])} | "
                f"{', '.join(str(r(x['other_processes_cores'], 2)) for x in v['runs'])} |"
            )
        lines += [
            "",
            "Where the time went (last run of each; seconds of every job summed per rule, from the rules' "
            "benchmark files; on 2 cores the wall is about half the sum):",
            "",
        ]
        for name, v in (("baseline", b), ("now", h)):
            run = v["runs"][-1]
            if "job_s_total" in run:
                top = ", ".join(f"{k} {r(x, 1)}" for k, x in list(run["job_s_by_rule"].items())[:8])
                lines.append(
                    f"- {name}: {r(run['job_s_total'], 1)} job-s, of which TensorFlow jobs "
                    f"{r(run['tensorflow_job_s'], 1)}; largest: {top}"
                )
        lines += [
            "",
            f"now / baseline: **{r(mr['ratio_head_over_baseline'], 3)}x** (target <= {mr['target_ratio_max']}: "
            f"{ok}); no-op rerun of now {r(h['noop']['wall_s'], 1)} s ({r(mr['noop_over_cold'], 3)}x its cold run)"
            + (
                " -- the machine was busy: compare the ratio, not the seconds"
                if max(b["other_processes_cores"], h["other_processes_cores"]) > 0.25
                else ""
            ),
            "",
        ]
    pj = res.get("paper_jobs")
    if pj:
        lines += [
            f"### B. Paper preset, planned jobs (`snakemake -n --configfile {pj['configfile']}`)",
            "",
            "| revision | jobs | TensorFlow jobs | TensorFlow jobs per run (target <= 3) | landscape jobs per model | "
            "TensorFlow rules |",
            "|---|---|---|---|---|---|",
        ]
        for name in ("baseline", "head"):
            v = pj[name]
            lines.append(
                f"| {name} {v['ref']} | {v['jobs']} | {v['tensorflow_jobs']} | "
                f"**{r(v['tensorflow_jobs_per_run'], 2)}** | "
                f"{r(v['landscape_jobs_per_model'], 2)} | "
                f"{', '.join(f'{k} {n}' for k, n in v['tensorflow_by_rule'].items())} |"
            )
        lines.append("")
    ev = res.get("evaluation")
    if ev:
        ra = ev["ratios"]
        lines += [
            f"### C. Evaluation vs the training step (SmallCNN as the paper preset builds it, CIFAR-shaped, "
            f"intra-op threads 1, {ev['rounds']} interleaved rounds in one process)",
            "",
            f"Training step: {ev['training_step']}; {ev['train_images']} images per epoch. Forward: "
            f"evaluation.Forward over {ev['test_images']} test images. Shift: ShiftMember.add (clean + "
            f"{ev['shift_corruptions']} corruptions x 5 severities = {ev['shift_images_per_add']} images, Forward "
            "at batch 2048). Step only: Forward's compiled step on ready tensors at batch 2048. img/s = median "
            "over rounds; img per CPU s = per second of this process's CPU (all threads).",
            "",
            "| path | img/s | img/s best round | img per CPU s | step / main / other CPU s | busy cores |",
            "|---|---|---|---|---|---|",
        ]
        for name, v in ev["paths"].items():
            lines.append(
                f"| {name} | {v['img_s']} | {v['img_s_best']} | {v['img_per_cpu_s']} | {v['step_cpu_s']} / "
                f"{v['main_cpu_s']} / {v['other_cpu_s']} | {v['other_processes_cores']} |"
            )
        sp = ev["shift_profile"]
        lines += [
            "",
            f"forward (batch {ra['forward_best_batch_size']}) / training step: **{ra['forward_over_train_step']}x** "
            f"(batch 2048: {ra['forward_2048_over_train_step']}x; per CPU second "
            f"{ra['forward_over_train_step_per_cpu_s']}x; target >= 2.5); shift path / training step: "
            f"**{ra['shift_over_train_step']}x** (per CPU second {ra['shift_over_train_step_per_cpu_s']}x; "
            f"{ra['shift_over_forward_2048']}x of Forward's rate). One add: {sp['add_s']} s, of which "
            f"{sp['in_forward_s']} s in Forward and {sp['numpy_accumulation_s']} s in ShiftMember's float64 "
            "accumulation (sums, logaddexp, entropy).",
            "",
        ]
    st = res.get("stage")
    if st:
        lines += [
            f"### D. Training stage of {st['seeds']} seeds ({st['images']} CIFAR-shaped images x {st['epochs']} "
            f"epochs, batch {st['batch_size']}, paper preset's SmallCNN), each process fresh",
            "",
            "Stage wall = first process start to last exit (TensorFlow import included on every side); ratio = "
            "stage wall / plain fit's (target: <= 1 for a pipeline variant); without import = the same with "
            "each process's TensorFlow import taken out (overlapped ones once). Steady epoch = median of each "
            "run's epochs after the first; steady stage img/s = images trained per second by the whole stage "
            "in those epochs (N runs at once for concurrent variants), and its speed-up over plain fit: what "
            "long runs converge to. CPU per steady epoch (mean over runs): total, and at intra-op 1 the step "
            "(tf_Compute thread) / input pipeline (tf.data: gather, cast, dropout masks) split; with more "
            "intra-op threads the kernels also run on unnamed threads, so no split. Others' cores: cores "
            "other processes kept busy during the variant (/proc/stat).",
            "",
            "| variant | threads intra/inter | stage wall s | ratio vs plain fit (without import) | "
            "steady epoch s | steady stage img/s (speed-up vs plain fit) | CPU s per steady epoch "
            "(step / input) | TF import s | others' cores |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, v in st["variants"].items():
            run = v["runs"][-1]
            c = run["steady_epoch_cpu"]
            th = run["threads"]
            split = f" ({r(c['step_cpu_s'], 2)} / {r(c['other_cpu_s'], 2)})" if th[0] == 1 else ""
            lines.append(
                f"| {name} | {th[0] or 'default'}/{th[1] or 'default'} | {r(v['stage_wall_s'], 1)} | "
                f"**{r(v.get('ratio_vs_plain_fit'), 2)}** ({r(v.get('ratio_without_import_vs_plain_fit'), 2)}) | "
                f"{r(v['steady_epoch_s'], 2)} | {r(v['steady_stage_img_s'], 0)} "
                f"({r(v.get('steady_speedup_vs_plain_fit'), 2)}x) | {r(v['steady_epoch_cpu_s'], 2)}{split} | "
                f"{', '.join(str(r(x, 1)) for x in run['import_s'])} | {r(v['other_processes_cores'], 2)} |"
            )
        lines += ["", "; ".join(f"{k}: {v['description']}" for k, v in st["variants"].items()), ""]
    lines.append(f"bench wall {res['bench_wall_s']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
