"""The per-model tables: all-pairs weight cosine, all-pairs disagreement, per-checkpoint scores.

Rows are keyed by (seed, epoch) -- pairs by seed_a, epoch_a, seed_b, epoch_b -- and the
checkpoints of every seed are handled together so within-trajectory (same seed) and
across-seed comparisons come from one Gram product.
"""
import numpy as np
import pyarrow as pa

from . import metrics
from .io import iter_runs, read_predictions
from .weights import CheckpointSet


def _keys(seeds, epochs):
    seed_col = np.repeat(np.asarray(seeds, np.int64), len(epochs))
    epoch_col = np.tile(np.asarray(epochs, np.int32), len(seeds))
    return {"seed": seed_col, "epoch": epoch_col}


def weight_cosine_table(checkpoint_paths, seeds, epochs, parameters="all", block_elements=4_000_000,
                        log=print) -> pa.Table:
    """checkpoint_paths ordered seed-major (all epochs of seeds[0], then seeds[1], ...)."""
    if len(checkpoint_paths) != len(seeds) * len(epochs):
        raise ValueError(f"expected {len(seeds)} seeds x {len(epochs)} epochs checkpoints, got {len(checkpoint_paths)}")
    with CheckpointSet(checkpoint_paths, parameters) as cs:
        log(f"{len(checkpoint_paths)} checkpoints, {len(cs.variables)} variables, "
            f"{cs.n_parameters:,} parameters ({parameters})")
        cos = metrics.cosine_from_blocks(cs.blocks(block_elements))
    return metrics.pairs_table(_keys(seeds, epochs), cos, "cosine")


def prediction_disagreement_table(prediction_paths, seeds, split="test", log=print) -> pa.Table:
    """All pairs of checkpoints: the fraction of the split's examples (test, or val as the
    authors' notebook) whose predicted class differs."""
    # Only argmax labels are kept per run, so memory is K x N ints, not K x N x C floats.
    predicted = []
    for run in iter_runs(prediction_paths, split):
        epochs, num_classes = run.epochs, run.probs.shape[-1]
        predicted.append(run.probs.argmax(axis=-1))
    predicted = np.concatenate(predicted)
    log(f"{predicted.shape[0]} checkpoints x {predicted.shape[1]} {split} examples")
    dis = metrics.disagreement_matrix(predicted, num_classes)
    return metrics.pairs_table(_keys(seeds, epochs), dis, "disagreement")


def checkpoint_metrics_table(prediction_paths, seeds, bins=15) -> pa.Table:
    rows = []
    for seed, path in zip(seeds, prediction_paths):
        for split in ("test", "val"):
            run = read_predictions(path, split)
            for e, p, logp in zip(run.epochs, run.probs, run.log_prob_label):
                rows.append({"seed": int(seed), "split": split, "epoch": int(e),
                             **metrics.scores(p, run.labels, logp, bins)})
    return pa.Table.from_pylist(rows)
