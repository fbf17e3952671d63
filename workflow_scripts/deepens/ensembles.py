"""Ensemble tables (docs/methods.md, Ensembles): independent and snapshot ensembles by size, and
the ensemble of all seeds against single models at every epoch.

An ensemble predicts the mean of its members' softmax probabilities; its log-probability of the
label is the log-mean-exp of theirs (so its NLL has no floor). Runs are streamed one Parquet file
at a time: only the final-epoch probabilities of every run (S x N x C) and the run being read
stay in memory. Ensembles of many subsets are formed as one indicator-matrix product per block
of subsets (BLAS), and all scores of a block come from array reductions.

Every ensemble (and single network) is also scored after temperature scaling fitted on the
validation split (deepens.calibration): columns temperature, nll/brier/ece_calibrated.
"""
import itertools
import math

import numpy as np
import pyarrow as pa

from .calibration import CALIBRATED, calibrated_scores
from .io import iter_runs, label_log_prob
from .metrics import log_mean_exp

SCORES = ("accuracy", "nll", "brier", "ece")


def subsets(n: int, k: int, max_subsets: int, seed: int) -> np.ndarray:
    """(B x k) int64 rows of sorted member indices, rows in lexicographic order.

    All comb(n, k) combinations when there are at most max_subsets, otherwise max_subsets
    distinct ones drawn uniformly with np.random.default_rng(seed).
    """
    if not 1 <= k <= n or max_subsets < 1:
        raise ValueError(f"need 1 <= k <= n and max_subsets >= 1, got n={n}, k={k}, max_subsets={max_subsets}")
    if math.comb(n, k) <= max_subsets:
        combos = itertools.chain.from_iterable(itertools.combinations(range(n), k))
        return np.fromiter(combos, np.int64).reshape(-1, k)
    rng = np.random.default_rng(seed)
    drawn = np.empty((0, k), np.int64)
    while True:
        # The first k of a uniformly random ranking is a uniform k-subset; duplicates are
        # dropped (keeping draw order) and topped up, never enumerating all combinations.
        need = max_subsets - len(drawn)
        rank = np.argsort(rng.random((max(2 * need, 64), n)), axis=1)[:, :k]
        drawn = np.concatenate([drawn, np.sort(rank, axis=1)])
        _, first = np.unique(drawn, axis=0, return_index=True)
        drawn = drawn[np.sort(first)]
        if len(drawn) >= max_subsets:
            return np.unique(drawn[:max_subsets], axis=0)  # np.unique sorts rows lexicographically


def subset_log_probs(log_probs, rows) -> np.ndarray:
    """(B x N) log-probabilities of the label of the ensembles of members `rows` (B x k indices)
    of (S x N) member log-probabilities: log-mean-exp over each row's members."""
    return log_mean_exp(np.asarray(log_probs, np.float64)[np.asarray(rows)], axis=1)


def cumulative_log_probs(log_probs) -> np.ndarray:
    """(K x N): row k-1 is the log-probability of the ensemble of the first k of (K x N) members."""
    a = np.asarray(log_probs, np.float64)
    k = np.arange(1, len(a) + 1, dtype=np.float64)[:, None]
    return np.logaddexp.accumulate(a, axis=0) - np.log(k)


def batched_scores(probs, labels, bins=15, log_prob_label=None) -> dict:
    """metrics.accuracy/nll/brier/ece of every row of (B x N x C) probs, as (B,) arrays.

    log_prob_label: (B x N) log p_y of every row, e.g. from subset_log_probs; None derives it
    from probs (exact unless p_y underflowed)."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    b, n, _ = probs.shape
    if log_prob_label is None:
        log_prob_label = np.stack([label_log_prob(p, labels) for p in probs])
    pred = probs.argmax(axis=-1)
    correct = (pred == labels).astype(np.float64)
    py = probs[:, np.arange(n), labels].astype(np.float64)
    p64 = probs.astype(np.float64, copy=False)
    sq = np.einsum("bnc,bnc->bn", p64, p64)
    conf = probs.max(axis=-1).astype(np.float64)
    # One bincount over all rows: offset each row's bin indices by row * bins.
    which = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1) + bins * np.arange(b)[:, None]
    gap = np.abs(np.bincount(which.ravel(), correct.ravel(), b * bins)
                 - np.bincount(which.ravel(), conf.ravel(), b * bins)).reshape(b, bins)
    return {"accuracy": correct.mean(axis=1),
            "nll": -np.asarray(log_prob_label, np.float64).mean(axis=1),
            "brier": (sq - 2 * py + 1).mean(axis=1),
            "ece": gap.sum(axis=1) / n}


def score(part, bins=15) -> dict:
    """batched_scores of a (probs, labels, log p_y) triple."""
    probs, labels, log_prob_label = part
    return batched_scores(probs, labels, bins, log_prob_label)


def mean_entropy(probs) -> np.ndarray:
    """Mean over examples of the Shannon entropy (nats, 0 log 0 = 0) of every (N x C) slice."""
    p = np.asarray(probs, np.float64)
    return -np.einsum("...nc,...nc->...", p, np.log(np.where(p > 0, p, 1.0))) / p.shape[-2]


def _rows(kind, size, seed, members, scores, diversity, calibrated) -> dict:
    m = len(members)  # size may be one value or one per row
    return {"kind": [kind] * m, "size": np.broadcast_to(size, m), "seed": np.full(m, seed, np.int64),
            "members": members, **{s: scores[s] for s in SCORES}, "diversity": diversity,
            **{c: calibrated[c] for c in CALIBRATED}}


def _table(parts) -> pa.Table:
    cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    schema = {"kind": pa.string(), "size": pa.int32(), "seed": pa.int64(), "members": pa.string(),
              **{s: pa.float64() for s in (*SCORES, "diversity", "accuracy_std", *CALIBRATED)}, "epoch": pa.int32()}
    return pa.table({name: pa.array(v, schema[name]) for name, v in cols.items()})


def last_k_ensembles(run, size):
    """(probs, labels, log p_y) of the ensembles of a run's last k checkpoints, k = 1..size."""
    k = np.arange(1, size + 1)
    last = run.probs[::-1][:size]  # newest first, so cumulative sums are the last-k ensembles
    return (np.cumsum(last, axis=0, dtype=np.float64) / k[:, None, None], run.labels,
            cumulative_log_probs(run.log_prob_label[::-1][:size]))


def _snapshot_rows(seed, run, val, max_size, bins) -> dict:
    """Ensembles of one run's last k checkpoints, k = 1..min(max_size, E), epoch 0 never used."""
    epochs = run.epochs
    size = min(max_size, len(epochs) - 1)
    k = np.arange(1, size + 1)
    test = last_k_ensembles(run, size)
    diversity = mean_entropy(test[0]) - np.cumsum(mean_entropy(run.probs[::-1][:size])) / k
    diversity[k == 1] = 0.0  # a single member has no diversity (exactly, not up to rounding)
    members = [",".join(map(str, epochs[len(epochs) - j:])) for j in k]
    return _rows("snapshot", k, seed, members, score(test, bins), diversity,
                 calibrated_scores(last_k_ensembles(val, size), test, bins))


def subset_ensembles(probs, labels, log_probs, rows):
    """(probs, labels, log p_y) of the ensembles of members `rows` (B x k indices) of (S x N x C)
    member probabilities with (S x N) label log-probabilities."""
    s, n, c = probs.shape
    indicator = np.zeros((len(rows), s))
    np.put_along_axis(indicator, rows, 1.0, axis=1)
    ens = (indicator @ probs.reshape(s, n * c) / rows.shape[1]).reshape(-1, n, c)
    return ens, labels, subset_log_probs(log_probs, rows)


def _independent_rows(test, val, seeds, max_subsets, subset_seed, bins, block):
    """Every (sampled) k-subset of the S final-epoch solutions, for k = 1..S; test and val are
    (S x N x C probs, labels, S x N label log-probs)."""
    s = len(test[0])
    member_entropy = mean_entropy(test[0])
    seed_names = np.asarray([str(x) for x in seeds], object)
    for k in range(1, s + 1):
        chosen = subsets(s, k, max_subsets, subset_seed + k)
        for start in range(0, len(chosen), block):
            rows = chosen[start:start + block]
            ens = subset_ensembles(*test, rows)
            diversity = np.zeros(len(rows)) if k == 1 else mean_entropy(ens[0]) - member_entropy[rows].mean(axis=1)
            members = [",".join(r) for r in seed_names[rows]]
            yield _rows("independent", k, -1, members, score(ens, bins), diversity,
                        calibrated_scores(subset_ensembles(*val, rows), ens, bins))


def ensemble_metrics_table(prediction_paths, seeds, max_subsets=100, subset_seed=0, snapshot_max_size=10,
                           bins=15, block=32) -> pa.Table:
    """Independent (size 1..S, over subsets of seeds) and snapshot (last k checkpoints of each
    run) ensembles: accuracy, nll, brier, ece and Jensen-Shannon diversity, and the last three
    after temperature scaling fitted on the validation split; one row per ensemble."""
    if len(prediction_paths) != len(seeds) or len(seeds) == 0:
        raise ValueError(f"need one prediction file per seed, got {len(prediction_paths)} files for {len(seeds)} seeds")
    final = {"test": ([], [], []), "val": ([], [], [])}
    snapshot = []
    for seed, run, val in zip(seeds, iter_runs(prediction_paths), iter_runs(prediction_paths, "val")):
        for split, r in (("test", run), ("val", val)):
            final[split][0].append(r.probs[-1].astype(np.float64))
            final[split][1].append(r.labels)
            final[split][2].append(r.log_prob_label[-1])
        snapshot.append(_snapshot_rows(int(seed), run, val, snapshot_max_size, bins))
        del run, val  # only the final epoch (copied above) outlives this run
    test, val = ((np.stack(p), labels[0], np.stack(lp)) for p, labels, lp in (final["test"], final["val"]))
    return _table(list(_independent_rows(test, val, seeds, max_subsets, subset_seed, bins, block)) + snapshot)


def ensemble_by_epoch_table(prediction_paths, seeds, bins=15) -> pa.Table:
    """At every epoch, the ensemble of all seeds against the mean (and std) of single models."""
    if len(prediction_paths) != len(seeds) or len(seeds) == 0:
        raise ValueError(f"need one prediction file per seed, got {len(prediction_paths)} files for {len(seeds)} seeds")
    total, total_logp, single = None, None, []
    for run in iter_runs(prediction_paths):
        epochs, labels = run.epochs, run.labels
        if total is None:
            total, total_logp = np.zeros(run.probs.shape), np.full(run.log_prob_label.shape, -np.inf)
        total += run.probs
        total_logp = np.logaddexp(total_logp, run.log_prob_label)
        single.append(batched_scores(run.probs, labels, bins, run.log_prob_label))
    total /= len(seeds)
    ens = batched_scores(total, labels, bins, total_logp - np.log(len(seeds)))
    m = len(epochs)
    single_mean = {s: np.mean([r[s] for r in single], axis=0) for s in SCORES}
    ens_part = {"epoch": epochs, "kind": ["ensemble"] * m, **ens, "accuracy_std": np.zeros(m)}
    single_part = {"epoch": epochs, "kind": ["single_mean"] * m, **single_mean,
                   # population std (ddof=0): defined even for a single seed
                   "accuracy_std": np.std([r["accuracy"] for r in single], axis=0)}
    return _table([ens_part, single_part]).sort_by([("epoch", "ascending"), ("kind", "ascending")])
