"""Benchmark the training / prediction / similarity / Parquet pipeline against bare baselines.

Every number is a ratio or a rate measured in ONE run of this script on one machine, each
measurement in a fresh spawned process (TensorFlow's thread counts can be set only once per
process, and peak RSS is per process). Items:

  1. train_run + predict_checkpoints (+ the Parquet dump) vs bare Keras model.fit on in-memory
     float32 arrays: same model (deepens.models.build_model), epochs, batch size and threads.
  2. training throughput (images/s, steady-state epochs) of the pipeline's loop vs bare fit, and
     GFLOP/s (analytic FLOPs) against an fp32 tf matmul peak measured in the same process, with
     the same intra-op threads (1 = the pipeline default, 2 = both cores).
  3. all-pairs weight cosine (metrics.cosine_from_blocks on in-memory float64 blocks, the blocks
     CheckpointSet.blocks would yield) and disagreement (argmax + metrics.disagreement_matrix) vs
     the per-pair loop of the original write-up; tracemalloc peak and ru_maxrss per process.
  4. Parquet prediction dumps: io.predictions_table + io.write_table, io.read_predictions, and
     loading every seed's predictions of a model into one array; np.save/np.load as reference.
  5. (--e2e) cold snakemake --cores 2 on the default config in a temp copy, a no-op rerun, and
     a rerun with one seed added.

Prints one JSON line; --out DIR also writes DIR/pipeline.json, DIR/pipeline.tsv, DIR/pipeline.md.

    .venv/bin/python tests/benchmarks/bench_pipeline.py [--full] [--e2e] [--out benchmarks/bench]
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
             sim_k=100, sim_params=100_000, sim_n=10_000, sim_c=10, loop_pairs=None,
             pq_seeds=3, pq_checkpoints=21, pq_n=10_000)
FULL = dict(n_train=25_000, n_test=5_000, n_val=250, epochs=5, batch_size=128,
            other_models=dict(medium_cnn=(5_000, 3), resnet20v1=(5_000, 3)),
            sim_k=400, sim_params=1_000_000, sim_n=10_000, sim_c=10, loop_pairs=4_000,
            pq_seeds=10, pq_checkpoints=41, pq_n=10_000)


def rss_mib():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


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


class _Provenance:
    def record(self, **more):
        return {"benchmark": "bench_pipeline", **more}


def pipeline_worker(model, n_train, n_test, n_val, epochs, batch_size, threads, predict):
    """train_run (+ predict_checkpoints + write_table of the dump) in a fresh process."""
    t_import = time.perf_counter()
    from deepens import io, training
    from deepens.predict import predict_checkpoints
    from deepens.models import configure_tensorflow
    tf = configure_tensorflow(threads, 1)
    import_s = time.perf_counter() - t_import
    ds = synthetic_dataset(n_train, n_test, n_val)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [f"{tmp}/run/epoch{e:03d}.weights.h5" for e in range(epochs + 1)]
        t0 = time.perf_counter()
        hist = training.train_run(
            model_name=model, dataset=ds, seed=0, epochs=epochs, batch_size=batch_size, learning_rate=1.6e-3,
            lr_halving_epochs=10, dropout=0.1, augmentation=False, steps_per_execution=1, jit_compile=False,
            intra_op_threads=threads, inter_op_threads=1, checkpoint_paths=paths,
            history_path=f"{tmp}/run/history.parquet", provenance=_Provenance(), log=lambda *a: None)
        out["train_s"] = time.perf_counter() - t0
        out["epoch_s"] = hist["seconds"].to_pylist()
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
    from deepens.models import build_model
    import_s = time.perf_counter() - t_import
    ds = synthetic_dataset(n_train, n_test, n_val)
    x = ds.x_train.astype(np.float32) / 255.0
    y = ds.y_train.astype(np.int32)
    epoch_s = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_s.append(time.perf_counter() - self.t)

    t0 = time.perf_counter()
    keras.utils.set_random_seed(0)
    m = build_model(model, ds.input_shape, ds.num_classes, 0, 0.1)
    m.compile(optimizer=keras.optimizers.Adam(1.6e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    m.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[Timer()])
    out = {"total_s": time.perf_counter() - t0, "epoch_s": epoch_s}
    out["matmul_gflops"] = matmul_peak(tf)
    out["tf_import_s"] = import_s
    out["peak_rss_mib"] = rss_mib()
    return out


def _triu_pairs(k, limit):
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    return pairs if limit is None else pairs[:limit]


def cosine_worker(method, k, p, loop_pairs, blas_threads, block_elements=4_000_000):
    from threadpoolctl import threadpool_limits
    from deepens import metrics
    threadpool_limits(blas_threads)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((k, p), dtype=np.float32)  # checkpoints as stored (float32)
    base = rss_mib()
    total_pairs = k * (k + 1) // 2
    tracemalloc.start()
    t = time.perf_counter()
    if method == "blocked":
        # What CheckpointSet.blocks yields: K x b float64 column blocks of <= block_elements.
        step = max(1, block_elements // k)
        cos = metrics.cosine_from_blocks(w[:, s:s + step].astype(np.float64) for s in range(0, p, step))
        done = total_pairs
    else:  # original write-up: np.dot and norms per pair (upper triangle incl. diagonal, mirrored)
        cos = np.empty((k, k))
        pairs = _triu_pairs(k, loop_pairs)
        for i, j in pairs:
            a, b = w[i].astype(np.float64), w[j].astype(np.float64)
            cos[i, j] = cos[j, i] = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
        done = len(pairs)
    elapsed = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    check = None
    if method == "blocked":
        i, j = 3, k - 2
        check = float(abs(cos[i, j] - np.dot(w[i].astype(np.float64), w[j]) /
                          (np.linalg.norm(w[i].astype(np.float64)) * np.linalg.norm(w[j].astype(np.float64)))))
    return {"s": elapsed * total_pairs / done, "measured_s": elapsed, "pairs_measured": done,
            "pairs_total": total_pairs, "extrapolated": done < total_pairs,
            "tracemalloc_peak_mib": round(peak / 2 ** 20, 1), "peak_rss_mib": rss_mib(),
            "data_rss_mib": base, "max_abs_err_vs_pair": check}


def disagreement_worker(method, k, n, c, loop_pairs, blas_threads):
    from threadpoolctl import threadpool_limits
    from deepens import metrics
    threadpool_limits(blas_threads)
    rng = np.random.default_rng(0)
    probs = rng.random((k, n, c), dtype=np.float32)
    base = rss_mib()
    total_pairs = k * (k + 1) // 2
    tracemalloc.start()
    t = time.perf_counter()
    if method == "blocked":
        dis = metrics.disagreement_matrix(probs.argmax(axis=-1), c)
        done = total_pairs
    else:  # original write-up: argmax of both and equality per pair
        dis = np.empty((k, k))
        pairs = _triu_pairs(k, loop_pairs)
        for i, j in pairs:
            dis[i, j] = dis[j, i] = np.mean(probs[i].argmax(-1) != probs[j].argmax(-1))
        done = len(pairs)
    elapsed = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    check = None
    if method == "blocked":
        check = float(abs(dis[2, k - 1] - np.mean(probs[2].argmax(-1) != probs[k - 1].argmax(-1))))
    return {"s": elapsed * total_pairs / done, "measured_s": elapsed, "pairs_measured": done,
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
            pipe = fresh(pipeline_worker, *common, model == "small_cnn")
            bare = fresh(bare_worker, *common)
            key = f"{model}_t{threads}"
            flops = 3 * fl[model]
            ps, bs = _steady(pipe["epoch_s"]), _steady(bare["epoch_s"])
            row = {"images": n, "epochs": epochs, "threads": threads,
                   "pipeline_img_s": r(n / ps, 1), "bare_img_s": r(n / bs, 1),
                   "pipeline_over_bare_epoch": r(ps / bs),
                   "pipeline_gflops": r(n * flops / ps / 1e9, 2), "bare_gflops": r(n * flops / bs / 1e9, 2),
                   "matmul_peak_gflops": r(max(pipe["matmul_gflops"], bare["matmul_gflops"]), 1),
                   "pipeline_epoch_s": [r(x) for x in pipe["epoch_s"]], "bare_epoch_s": [r(x) for x in bare["epoch_s"]],
                   "pipeline_train_s": r(pipe["train_s"]), "bare_total_s": r(bare["total_s"]),
                   "pipeline_peak_rss_mib": pipe["peak_rss_mib"], "bare_peak_rss_mib": bare["peak_rss_mib"]}
            row["pipeline_pct_of_peak"] = r(100 * row["pipeline_gflops"] / row["matmul_peak_gflops"], 1)
            row["bare_pct_of_peak"] = r(100 * row["bare_gflops"] / row["matmul_peak_gflops"], 1)
            if model == "small_cnn":
                row.update(pipeline_predict_s=r(pipe["predict_s"]), pipeline_dump_write_s=r(pipe["dump_write_s"]),
                           pipeline_total_s=r(pipe["total_s"]),
                           ratio_train_plus_dumps_over_bare_fit=r(pipe["total_s"] / bare["total_s"]),
                           ratio_train_only_over_bare_fit=r(pipe["train_s"] / bare["total_s"]))
            tp[key] = row
            print(f"# {key}: {json.dumps(row)}", file=sys.stderr, flush=True)
        res["training"] = tp

    # 3: all-pairs similarity, blocked Gram products vs per-pair loops.
    if "similarity" in only:
        k, p, n, c = cfg["sim_k"], cfg["sim_params"], cfg["sim_n"], cfg["sim_c"]
        sim = {"k": k, "parameters": p, "test_points": n, "classes": c}
        # OpenBLAS threads: 1 is what every workflow job gets (snakemake exports OPENBLAS_NUM_THREADS=
        # threads, and the analysis rules declare threads: 1); 2 is numpy's default outside snakemake.
        for bt in (1, 2):
            for name, worker in (("cosine", cosine_worker), ("disagreement", disagreement_worker)):
                for method in ("blocked", "loop"):
                    a = (method, k, p, cfg["loop_pairs"], bt) if name == "cosine" else (method, k, n, c, cfg["loop_pairs"], bt)
                    sim[f"{name}_{method}_blas{bt}"] = {kk: (r(v, 4) if isinstance(v, float) else v)
                                                        for kk, v in fresh(worker, *a).items()}
                sim[f"{name}_speedup_blas{bt}"] = r(sim[f"{name}_loop_blas{bt}"]["s"] / sim[f"{name}_blocked_blas{bt}"]["s"], 1)
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
                  "| model | threads | images x epochs | pipeline img/s | bare img/s | pipeline/bare epoch time | "
                  "pipeline GFLOP/s | bare GFLOP/s | matmul peak GFLOP/s | pipeline % peak |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for key, row in tr.items():
            lines.append(f"| {key.rsplit('_t', 1)[0]} | {row['threads']} | {row['images']} x {row['epochs']} | "
                         f"{row['pipeline_img_s']} | {row['bare_img_s']} | {row['pipeline_over_bare_epoch']} | "
                         f"{row['pipeline_gflops']} | {row['bare_gflops']} | {row['matmul_peak_gflops']} | "
                         f"{row['pipeline_pct_of_peak']} |")
        lines.append("")
    sim = res.get("similarity")
    if sim:
        lines += [f"### 3. All-pairs similarity, K = {sim['k']} ({sim['parameters']:,} parameters; "
                  f"{sim['test_points']:,} x {sim['classes']} predictions)", "",
                  "| table | OpenBLAS threads | blocked s | loop s | speed-up | blocked tracemalloc MiB | "
                  "loop tracemalloc MiB | blocked RSS MiB | loop RSS MiB |", "|---|---|---|---|---|---|---|---|---|"]
        for bt in (1, 2):
            for name in ("cosine", "disagreement"):
                b, lo = sim[f"{name}_blocked_blas{bt}"], sim[f"{name}_loop_blas{bt}"]
                ext = " (extrapolated)" if lo["extrapolated"] else ""
                lines.append(f"| {name} | {bt} | {b['s']} | {lo['s']}{ext} | **{sim[f'{name}_speedup_blas{bt}']}x** | "
                             f"{b['tracemalloc_peak_mib']} | {lo['tracemalloc_peak_mib']} | {b['peak_rss_mib']} | "
                             f"{lo['peak_rss_mib']} |")
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
