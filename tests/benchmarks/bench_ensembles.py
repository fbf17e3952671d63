"""Benchmark the ensemble tables (and the existing disagreement table) on synthetic predictions.

Full size: 10 seeds x 41 checkpoints x 10,000 test points x 10 classes (and 500 validation points,
which temperature scaling is fitted on, as the CIFAR-10 validation split); --small: 3 seeds x 6.
Each table is built in a fresh spawned process, so its wall time and peak RSS
(getrusage ru_maxrss) are its own, not inflated by data generation or the other tables.
Prints one JSON line.

    .venv/bin/python tests/benchmarks/bench_ensembles.py [--small]
"""
import argparse
import concurrent.futures
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow_scripts"))

import numpy as np  # noqa: E402
from deepens import ensembles, errors, io, similarity  # noqa: E402

TABLES = {"ensemble_metrics_table": ensembles.ensemble_metrics_table,
          "ensemble_by_epoch_table": ensembles.ensemble_by_epoch_table,
          "prediction_disagreement_table": lambda paths, seeds: similarity.prediction_disagreement_table(
              paths, seeds, log=lambda *a: None),
          "misclassified_overlap_table": errors.misclassified_overlap_table,
          "confusion_table": errors.confusion_table,
          "hard_examples_table": errors.hard_examples_table}


def write_runs(directory, seeds, checkpoints, n, c, rng_seed=0, n_val=500):
    """Softmax of Gaussian logits whose label margin grows with the epoch (float32 rows), on the
    test split (n points) and the val split (n_val)."""
    rng = np.random.default_rng(rng_seed)
    labels = {"test": rng.integers(0, c, n), "val": rng.integers(0, c, n_val)}
    paths = []
    for s in range(seeds):
        parts = []
        for e in range(checkpoints):
            for split, y in labels.items():
                logits = rng.standard_normal((len(y), c), np.float32)
                logits[np.arange(len(y)), y] += 3.0 * e / max(1, checkpoints - 1)
                p = np.exp(logits - logits.max(axis=1, keepdims=True))
                parts.append(io.predictions_table(split, e, y, p / p.sum(axis=1, keepdims=True)))
        paths.append(Path(directory) / f"seed{s}.parquet")
        io.write_table(io.pa.concat_tables(parts), paths[-1], {})
    return [str(p) for p in paths]


def timed(name, paths, seeds):
    start = time.perf_counter()
    table = TABLES[name](paths, seeds)
    return {f"{name}_s": round(time.perf_counter() - start, 3), f"{name}_rows": table.num_rows,
            f"{name}_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="3 seeds x 6 checkpoints")
    args = parser.parse_args()
    seeds, checkpoints, n, c = (3, 6, 10_000, 10) if args.small else (10, 41, 10_000, 10)
    result = {"seeds": seeds, "checkpoints": checkpoints, "test_points": n, "classes": c}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = write_runs(tmp, seeds, checkpoints, n, c)
        result["generate_s"] = round(time.perf_counter() - start, 3)
        spawn = multiprocessing.get_context("spawn")
        for name in TABLES:
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
                result.update(pool.submit(timed, name, paths, list(range(seeds))).result())
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            # Peak RSS of a process that only imports the modules: the baseline to subtract.
            result["import_only_peak_rss_mib"] = pool.submit(_import_rss).result()
    print(json.dumps(result))


def _import_rss():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


if __name__ == "__main__":
    main()
