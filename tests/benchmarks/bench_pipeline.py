"""Benchmark the training / prediction / similarity / Parquet pipeline against bare baselines.

Every number is a ratio or a rate measured in ONE run of this script on one machine, each
measurement in a fresh spawned process (TensorFlow's thread counts can be set only once per
process, and peak RSS is per process). Items:

  1. train_run + predict_checkpoints (+ the Parquet dump) vs bare Keras model.fit on in-memory
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
     a rerun with one seed added.

Prints one JSON line; --out DIR also writes DIR/pipeline.json, DIR/pipeline.tsv, DIR/pipeline.md.

    .venv/bin/python tests/benchmarks/bench_pipeline.py [--full] [--e2e] [--out benchmarks/bench]
    .venv/bin/python tests/benchmarks/bench_pipeline.py --full --only similarity   # K = 400, 1 M parameters
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

QUICK = dict(n_train=10_000, n_test=2_000, n_val=100, epochs=3, batch_size=128,
             other_models=dict(medium_cnn=(512, 2), resnet20v1=(512, 2)),  # (images, epochs)
             sim_k=100, sim_params=100_000, sim_n=10_000, sim_c=10, loop_pairs=None, interleaved_rounds=4,
             pq_seeds=3, pq_checkpoints=21, pq_n=10_000)
FULL = dict(n_train=25_000, n_test=5_000, n_val=250, epochs=5, batch_size=128,
            other_models=dict(medium_cnn=(5_000, 3), resnet20v1=(5_000, 3)),
            sim_k=400, sim_params=1_000_000, sim_n=10_000, sim_c=10, loop_pairs=4_000, interleaved_rounds=6,
            pq_seeds=10, pq_checkpoints=41, pq_n=10_000)


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
        fields = stat[stat.rindex(")") + 2:].split()
        return stat[stat.index("(") + 1:stat.rindex(")")], (int(fields[11]) + int(fields[12])) / tick

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
    return 2 * n ** 3 / best / 1e9


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


class _Provenance:
    def record(self, **more):
        return {"benchmark": "bench_pipeline", **more}


def pipeline_worker(model, n_train, n_test, n_val, epochs, batch_size, threads, predict, steps_per_execution=1):
    """train_run (+ predict_checkpoints + write_table of the dump) in a fresh process."""
    t_import = time.perf_counter()
    from deepens import io
    from deepens.nets import training
    from deepens.nets.models import configure_tensorflow
    from deepens.nets.predict import predict_checkpoints
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
        hist = training.train_run(
            model_name=model, dataset=ds, seed=0, epochs=epochs, batch_size=batch_size, learning_rate=1.6e-3,
            lr_halving_epochs=10, dropout=0.1, augmentation=False, steps_per_execution=steps_per_execution,
            jit_compile=False, intra_op_threads=threads, inter_op_threads=1, checkpoint_paths=paths,
            history_path=f"{tmp}/run/history.parquet", provenance=_Provenance(), log=log)
        out["train_s"] = time.perf_counter() - t0
        out["epoch_s"] = hist["seconds"].to_pylist()
        out["epoch_cpu"] = [epoch_cpu(a, b) for a, b in zip(snaps[-epochs - 1:-1], snaps[-epochs:])]
        if predict:
            t1 = time.perf_counter()
            table = predict_checkpoints(model, ds, paths, list(range(epochs + 1)), 2048, threads, 1,
                                        log=lambda *a: None)
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
    m.compile(optimizer=keras.optimizers.Adam(1.6e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
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
        m.compile(optimizer=keras.optimizers.Adam(1.6e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if v == "bare":
            loops.append(lambda m=m: m.fit(xf, yi, batch_size=batch_size, epochs=1, shuffle=True, verbose=0))
            continue
        specs = training.dropout_specs(m)
        training.feed_dropout_masks(m, specs)
        it = iter(training.train_dataset(ds.x_train, ds.y_train, batch_size, 1, 2, False, 0, rounds + 1,
                                         dropout=(0, specs) if specs else None))
        run = training.epoch_steps_runner(m, steps, v)
        loops.append(lambda m=m, it=it, run=run: (m.reset_metrics(), run(it), m.get_metrics_result()))
    epochs = {str(v): [] for v in variants}
    for rnd in range(rounds + 1):
        order = list(range(len(variants)))
        for i in (order if rnd % 2 == 0 else order[::-1]):
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
        run = lambda: metrics.cosine_from_blocks(w[:, s:s + step].astype(np.float64) for s in range(0, p, step))  # noqa: E731
    elif method == "blocked_f32":
        # The float32 blocks as stored (views, no copy): converted to float64 chunk by chunk inside.
        run = lambda: metrics.cosine_from_blocks(w[:, s:s + step] for s in range(0, p, step))  # noqa: E731
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
    return {"s": elapsed * total_pairs / done, "measured_s": elapsed, "pairs_measured": done,
            "pairs_total": total_pairs, "extrapolated": done < total_pairs,
            "tracemalloc_peak_mib": round(peak / 2 ** 20, 1), "peak_rss_mib": rss_mib(),
            "data_rss_mib": base, "max_abs_err_vs_float64_pair": check}


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
    return {"s": estimate, "measured_s": elapsed, "pairs_measured": done,
            "pairs_total": total_pairs, "extrapolated": done < total_pairs,
            "tracemalloc_peak_mib": round(peak / 2 ** 20, 1), "peak_rss_mib": rss_mib(),
            "data_rss_mib": base, "max_abs_err_vs_pair": check}


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
        out["file_mib_per_seed"] = round(os.path.getsize(paths[0]) / 2 ** 20, 2)
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
    out.update(write_ms_per_checkpoint=1e3 * (out["build_s"] + out["write_s"]) / k,
               read_ms_per_checkpoint=1e3 * out["read_one_s"] / checkpoints,
               load_all_ms_per_checkpoint=1e3 * out["load_all_s"] / k,
               mb_per_s_load_all=k * n * c * 4 / 1e6 / out["load_all_s"], peak_rss_mib=rss_mib())
    return out


def import_worker():
    return rss_mib()


def fresh(fn, *args):
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# --- end to end ------------------------------------------------------------------------------

def e2e(cores=2):
    ignore = shutil.ignore_patterns(".venv", "results", "logs", "benchmarks", ".snakemake", ".git",
                                    "__pycache__", ".pytest_cache", "docs", "report.html")
    snakemake = str(ROOT / ".venv" / "bin" / "snakemake")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "wf"
        shutil.copytree(ROOT, work, ignore=ignore)

        def run(name):
            t = time.perf_counter()
            proc = subprocess.run([snakemake, "--cores", str(cores)], cwd=work, capture_output=True, text=True)
            out[f"{name}_s"] = time.perf_counter() - t
            if proc.returncode:
                raise RuntimeError(f"snakemake ({name}) failed:\n{proc.stderr[-3000:]}")
            steps = re.findall(r"\d+ of (\d+) steps", proc.stderr)
            out[f"{name}_jobs"] = int(steps[-1]) if steps else 0
        run("cold")
        run("noop")
        # One seed added the way a user would: edit config.yaml (seeds [0, 1, 2] -> [0, 1, 2, 3]).
        cfg = (work / "config.yaml").read_text()
        if "seeds: [0, 1, 2]\n" not in cfg:
            raise RuntimeError("config.yaml no longer has 'seeds: [0, 1, 2]'; update the e2e benchmark")
        (work / "config.yaml").write_text(cfg.replace("seeds: [0, 1, 2]\n", "seeds: [0, 1, 2, 3]\n"))
        run("add_seed")
    out["noop_ratio"] = out["noop_s"] / out["cold_s"]
    out["add_seed_ratio"] = out["add_seed_s"] / out["cold_s"]
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
    return {"nproc": os.cpu_count(), "sched_affinity": len(os.sched_getaffinity(0)), "cpu_model": model,
            "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_at_start": [round(x, 2) for x in load] if load else None}


def r(x, nd=3):
    return None if x is None else round(float(x), nd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="larger sizes (tens of minutes on 2 cores)")
    parser.add_argument("--e2e", action="store_true", help="also time cold / no-op / one-seed-added snakemake runs")
    parser.add_argument("--only", nargs="*", choices=["train", "throughput", "similarity", "parquet", "e2e"],
                        help="run only these items (default: all but e2e)")
    parser.add_argument("--out", help="directory for pipeline.json, pipeline.tsv and pipeline.md")
    parser.add_argument("--blas-threads", type=int, nargs="+", default=[1, 2],
                        help="OpenBLAS threads for the similarity item (default: 1 2)")
    args = parser.parse_args()
    cfg = FULL if args.full else QUICK
    only = set(args.only or ["train", "throughput", "similarity", "parquet"])
    res = {"size": "full" if args.full else "quick", "machine": machine()}
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
            common = (model, n, cfg["n_test"] if model == "small_cnn" else 1, cfg["n_val"] if model == "small_cnn" else 10,
                      epochs, cfg["batch_size"], threads)
            # default settings, the baseline, then the best settings: the baseline sits between the two
            pipe = fresh(pipeline_worker, *common, model == "small_cnn")
            bare = fresh(bare_worker, *common)
            best = fresh(pipeline_worker, *common, False, BEST_STEPS_PER_EXECUTION) if model == "small_cnn" else None
            key = f"{model}_t{threads}"
            flops = 3 * fl[model]
            ps, bs = _steady(pipe["epoch_s"]), _steady(bare["epoch_s"])
            row = {"images": n, "epochs": epochs, "threads": threads,
                   "pipeline_img_s": r(n / ps, 1), "bare_img_s": r(n / bs, 1),
                   "pipeline_over_bare_epoch": r(ps / bs), "speedup_vs_bare": r(bs / ps),
                   "speedup_vs_bare_fastest": r(min(bare["epoch_s"][1:] or bare["epoch_s"]) /
                                                min(pipe["epoch_s"][1:] or pipe["epoch_s"])),
                   "pipeline_gflops": r(n * flops / ps / 1e9, 2), "bare_gflops": r(n * flops / bs / 1e9, 2),
                   "matmul_peak_gflops": r(max(pipe["matmul_gflops"], bare["matmul_gflops"]), 1),
                   "pipeline_epoch_s": [r(x) for x in pipe["epoch_s"]], "bare_epoch_s": [r(x) for x in bare["epoch_s"]],
                   "pipeline_train_s": r(pipe["train_s"]), "bare_total_s": r(bare["total_s"]),
                   "pipeline_peak_rss_mib": pipe["peak_rss_mib"], "bare_peak_rss_mib": bare["peak_rss_mib"],
                   "pipeline_cpu": {kk: r(v) for kk, v in _steady_cpu(pipe["epoch_cpu"]).items()},
                   "bare_cpu": {kk: r(v) for kk, v in _steady_cpu(bare["epoch_cpu"]).items()}}
            row["pipeline_pct_of_peak"] = r(100 * row["pipeline_gflops"] / row["matmul_peak_gflops"], 1)
            row["bare_pct_of_peak"] = r(100 * row["bare_gflops"] / row["matmul_peak_gflops"], 1)
            if best is not None:
                bps = _steady(best["epoch_s"])
                row.update(best_steps_per_execution=BEST_STEPS_PER_EXECUTION, pipeline_best_img_s=r(n / bps, 1),
                           speedup_best_vs_bare=r(bs / bps), pipeline_best_epoch_s=[r(x) for x in best["epoch_s"]],
                           speedup_best_vs_bare_fastest=r(min(bare["epoch_s"][1:] or bare["epoch_s"]) /
                                                          min(best["epoch_s"][1:] or best["epoch_s"])),
                           pipeline_best_cpu={kk: r(v) for kk, v in _steady_cpu(best["epoch_cpu"]).items()})
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
                row.update(pipeline_predict_s=r(pipe["predict_s"]), pipeline_dump_write_s=r(pipe["dump_write_s"]),
                           pipeline_total_s=r(pipe["total_s"]),
                           ratio_train_plus_dumps_over_bare_fit=r(pipe["total_s"] / bare["total_s"]),
                           ratio_train_only_over_bare_fit=r(pipe["train_s"] / bare["total_s"]))
            tp[key] = row
            print(f"# {key}: {json.dumps(row)}", file=sys.stderr, flush=True)
        res["training"] = tp
    if "throughput" in only:
        # 2b: the same comparison with every variant's epochs interleaved in one process.
        rounds = cfg["interleaved_rounds"]
        out = fresh(interleaved_worker, "small_cnn", cfg["n_train"], cfg["batch_size"], 1, rounds,
                    ["bare", 1, BEST_STEPS_PER_EXECUTION])
        il = {"images": cfg["n_train"], "rounds": rounds, "threads": 1, "steps_per_epoch": out["steps_per_epoch"]}
        bare = out["epochs"]["bare"]
        for v, rows in out["epochs"].items():
            name = "bare" if v == "bare" else "pipeline_default" if v == "1" else "pipeline_best"
            walls = [e["wall_s"] for e in rows]
            il[name] = {"steps_per_execution": None if v == "bare" else int(v),
                        "min_s": r(min(walls)), "median_s": r(float(np.median(walls))), "epoch_s": [r(w) for w in walls],
                        **{kk: r(vv) for kk, vv in _median_cpu(rows).items()}}
            if v != "bare":
                il[name]["speedup_min"] = r(min(e["wall_s"] for e in bare) / min(walls))
                il[name]["speedup_median_paired"] = r(float(np.median([b["wall_s"] / e["wall_s"] for b, e in zip(bare, rows)])))
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
            for name, worker, methods in (("cosine", cosine_worker, ("blocked", "blocked_f32", "loop", "loop_writeup")),
                                          ("disagreement", disagreement_worker, ("blocked", "loop", "loop_writeup"))):
                for method in methods:
                    a = (method, k, p, cfg["loop_pairs"], bt) if name == "cosine" else (method, k, n, c, cfg["loop_pairs"], bt)
                    sim[f"{name}_{method}_blas{bt}"] = {
                        kk: (float(f"{v:.2g}") if kk.startswith("max_abs_err") else r(v, 4)) if isinstance(v, float) else v
                        for kk, v in fresh(worker, *a).items()}
                    print(f"# {name} {method} blas{bt}: {sim[f'{name}_{method}_blas{bt}']}", file=sys.stderr, flush=True)
                blocked = sim[f"{name}_blocked_blas{bt}"]["s"]
                sim[f"{name}_speedup_blas{bt}"] = r(sim[f"{name}_loop_blas{bt}"]["s"] / blocked, 1)
                sim[f"{name}_speedup_vs_writeup_blas{bt}"] = r(sim[f"{name}_loop_writeup_blas{bt}"]["s"] / blocked, 1)
                if name == "cosine":
                    f32 = sim[f"cosine_blocked_f32_blas{bt}"]["s"]
                    sim[f"cosine_f32_blocks_speedup_blas{bt}"] = r(sim[f"cosine_loop_blas{bt}"]["s"] / f32, 1)
                    sim[f"cosine_f32_blocks_speedup_vs_writeup_blas{bt}"] = r(sim[f"cosine_loop_writeup_blas{bt}"]["s"] / f32, 1)
        res["similarity"] = sim
        print(f"# similarity: {json.dumps(sim)}", file=sys.stderr, flush=True)

    # 4: Parquet prediction dumps.
    if "parquet" in only:
        res["parquet"] = {kk: (r(v, 4) if isinstance(v, float) else v)
                          for kk, v in fresh(parquet_worker, cfg["pq_seeds"], cfg["pq_checkpoints"], cfg["pq_n"]).items()}
        res["parquet"].update(seeds=cfg["pq_seeds"], checkpoints=cfg["pq_checkpoints"], test_points=cfg["pq_n"])
        print(f"# parquet: {json.dumps(res['parquet'])}", file=sys.stderr, flush=True)

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


def flatten(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", json.dumps(v)


def summary(res):
    m = res["machine"]
    lines = [f"## bench_pipeline ({res['size']}), {m['nproc']} cores, {m['cpu_model']}, "
             f"load {m['loadavg_at_start']} -> {m.get('loadavg_at_end')}", ""]
    tr = res.get("training", {})
    s1 = tr.get("small_cnn_t1")
    if s1 and "ratio_train_plus_dumps_over_bare_fit" in s1:
        lines += ["### 1. SmallCNN: train_run + predict_checkpoints + dump vs bare model.fit", "",
                  f"{s1['images']} images x {s1['epochs']} epochs, batch 128, intra-op threads 1: pipeline "
                  f"{s1['pipeline_total_s']} s (train {s1['pipeline_train_s']} s, predict {s1['pipeline_predict_s']} s, "
                  f"write {s1['pipeline_dump_write_s']} s) vs bare fit {s1['bare_total_s']} s: "
                  f"**{s1['ratio_train_plus_dumps_over_bare_fit']}x** (train only {s1['ratio_train_only_over_bare_fit']}x; "
                  "target <= 1.15x)", ""]
    if tr:
        lines += ["### 2. Training throughput (steady-state epochs)", "",
                  "Speed-up = bare fit epoch time / pipeline epoch time (target for SmallCNN: >= 1.3), of the median "
                  "and of the fastest steady-state epoch (the least disturbed by other processes). Default: the "
                  "pipeline's config defaults (steps_per_execution 1); best: steps_per_execution >= steps per epoch. "
                  "Free-core estimate: bare's serial CPU per epoch / max(pipeline's serial CPU, its input pipeline's "
                  "CPU), i.e. the speed-up when the input pipeline has a core of its own. Busy cores: CPU used by "
                  "other processes during the pipeline / bare epochs.", "",
                  "| model | threads | images x epochs | pipeline img/s (default / best) | bare img/s | "
                  "speed-up default (median / fastest) | speed-up best (median / fastest) | free-core estimate (default / best) | "
                  "step+main / input CPU s per epoch (pipeline default) | step+main CPU s (bare) | "
                  "busy cores (pipeline / bare) | pipeline GFLOP/s | matmul peak GFLOP/s | pipeline % peak |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
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
                f"{row['pipeline_gflops']} | {row['matmul_peak_gflops']} | {row['pipeline_pct_of_peak']} |")
        lines.append("")
    il = res.get("training_interleaved")
    if il:
        lines += [f"### 2b. SmallCNN, epochs interleaved in one process ({il['images']} images, {il['steps_per_epoch']} "
                  f"steps per epoch, {il['rounds']} rounds, intra-op threads 1)", "",
                  "Every loop gets the same share of the machine's noise. Speed-up = bare epoch time / pipeline epoch "
                  "time: of the fastest epochs (the least disturbed) and the median of the per-round ratios.", "",
                  "| loop | steps_per_execution | fastest epoch s | median epoch s | speed-up (fastest / paired median) | "
                  "step CPU s | main CPU s | input CPU s | busy cores |", "|---|---|---|---|---|---|---|---|---|"]
        for name in ("bare", "pipeline_default", "pipeline_best"):
            v = il[name]
            sp = "" if name == "bare" else f"**{v['speedup_min']}x** / {v['speedup_median_paired']}x"
            lines.append(f"| {name} | {v['steps_per_execution'] or '-'} | {v['min_s']} | {v['median_s']} | {sp} | "
                         f"{v['step_cpu_s']} | {v['main_cpu_s']} | {v['other_cpu_s']} | {v['other_processes_cores']} |")
        lines.append("")
    sim = res.get("similarity")
    if sim:
        lines += [f"### 3. All-pairs similarity, K = {sim['k']} ({sim['parameters']:,} parameters; "
                  f"{sim['test_points']:,} x {sim['classes']} predictions)", "",
                  "Loops over the upper triangle with the diagonal, mirrored (the write-up's `for j in range(i, K)`). "
                  "Headline speed-up: vs the loop issue 6 specifies (float64 np.dot and norms per pair; argmax of "
                  "both and equality per pair). Also vs the write-up's code as written (float32 np.dot and norms per "
                  "pair; labels computed once per checkpoint, np.equal per pair).", "",
                  "| table | method | OpenBLAS threads | s | speed-up of blocked (issue 6 loop / write-up loop) | "
                  "tracemalloc MiB | RSS MiB | abs err vs float64 pair |", "|---|---|---|---|---|---|---|---|"]
        for bt in (1, 2):
            for name in ("cosine", "disagreement"):
                if f"{name}_blocked_blas{bt}" not in sim:
                    continue
                methods = ("blocked", "blocked_f32", "loop", "loop_writeup") if name == "cosine" else ("blocked", "loop", "loop_writeup")
                for method in methods:
                    m = sim[f"{name}_{method}_blas{bt}"]
                    ext = " (extrapolated)" if m["extrapolated"] else ""
                    if method == "blocked":
                        sp = f"**{sim[f'{name}_speedup_blas{bt}']}x** / {sim[f'{name}_speedup_vs_writeup_blas{bt}']}x"
                    elif method == "blocked_f32":
                        sp = f"{sim[f'cosine_f32_blocks_speedup_blas{bt}']}x / {sim[f'cosine_f32_blocks_speedup_vs_writeup_blas{bt}']}x"
                    else:
                        sp = ""
                    err = m.get("max_abs_err_vs_float64_pair", m.get("max_abs_err_vs_pair"))
                    lines.append(f"| {name} | {method} | {bt} | {m['s']}{ext} | {sp} | {m['tracemalloc_peak_mib']} | "
                                 f"{m['peak_rss_mib']} | {err} |")
        lines.append("")
    pq = res.get("parquet")
    if pq:
        lines += ["### 4. Parquet prediction dumps", "",
                  f"{pq['seeds']} seeds x {pq['checkpoints']} checkpoints x {pq['test_points']} x 10: "
                  f"write {r(pq['write_ms_per_checkpoint'], 1)} ms/checkpoint (build + zstd write), read "
                  f"{r(pq['read_ms_per_checkpoint'], 1)} ms/checkpoint, load all into {pq['load_all_shape']} "
                  f"{pq['load_all_s']} s ({r(pq['mb_per_s_load_all'], 0)} MB/s; np.load of the same: "
                  f"{pq['npy_load_all_s']} s), {pq['file_mib_per_seed']} MiB/seed file", ""]
    if "e2e" in res:
        e = res["e2e"]
        lines += ["### 5. End to end (snakemake --cores 2, default config)", "",
                  f"cold {e['cold_s']} s ({e.get('cold_jobs')} jobs), no-op rerun {e['noop_s']} s "
                  f"({e['noop_ratio']}x), one seed added {e['add_seed_s']} s ({e.get('add_seed_jobs')} jobs, "
                  f"{e['add_seed_ratio']}x)", ""]
    lines.append(f"bench wall {res['bench_wall_s']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
