"""Check the paper's claims on one (dataset, model) run set: estimate, bootstrap CI, verdict.

Pure functions of numpy arrays (the caller reads the pipeline's files). Each claim function
returns row dicts (see COLUMNS); `findings_table` makes them a Parquet-ready table and
`summary_lines` a plain-text summary. (key, subject) identifies a row.

Claims and estimates (S seeds, N test examples):
1. seed_cosine: mean over seed pairs i<j of |cos| of the final weights; holds below `bound`.
2. trajectory_cosine: mean cosine of each run's late checkpoints with its own final one; holds
   above `minimum`.
3. disagreement_gap: across - within, across = mean over seed pairs of the fraction of examples
   where the final solutions' predictions differ, within = mean over runs and late checkpoints of
   the fraction differing from that run's final solution; holds above 0.
4. diversity_plane, per method: mean y(independents) - mean y(matched samples), y = dis / (1 -
   acc) with dis the disagreement with the reference solution; samples are matched when their
   accuracy is within `tolerance` of the independents' mean accuracy (chosen once, on the full
   data). Holds above 0: accuracy-matched subspace samples are less diverse. n_seeds = R + 1.
5. ensemble_vs_snapshot: accuracy (NLL) of the ensemble of the S finals minus (the mean over runs
   of that of) each run's K-checkpoint snapshot ensemble, signed so that > 0 favours the former.
6. subspace_vs_ensemble: "<method> + ensemble" (first m = M // S samples of every run) against
   "<method> alone" (first S*m samples of one run, averaged over runs); same member count.
7. barriers: mean test-loss barrier on the straight line between solution pairs (holds above
   `barrier_min`), and mean rise above the running minimum on the line from each initialisation
   to its solution (holds below `tolerance`: that line is monotone).
8. shift_advantage, per metric (NLL, Brier): adv(sev) = mean over corruptions at that severity of
   [mean single-solution loss - S-ensemble loss]; estimate adv(max severity) - adv(0), above 0.
9. connectivity, over the connectivity pairs: curve_barrier, the mean ratio of the trained curve's
   test-loss barrier to the straight line's (holds below `curve_barrier_ratio`), and
   aligned_barrier, the mean straight-line barrier minus that after permutation alignment (holds
   above 0). Barriers of the mean loss over the examples; pairs and examples resampled.
Ensembles average probabilities; their log p_y is the log-mean-exp of the members' (float64,
never clipped); Brier = sum_c p_c^2 - 2 p_y + 1; accuracy = argmax of the mean probabilities.

Bootstrap: percentile interval at `confidence` from `n_boot` replicates. A replicate resamples
with replacement the test examples (multinomial counts; every replicate's weighted means are one
matrix product) and the seeds, jointly (seeds drawn first, then examples). Pair statistics skip
pairs of two copies of one seed; a replicate with no valid pair is NaN. NaN replicates are
dropped (the note counts them); with fewer than half finite the CI is (nan, nan). An ensemble of
all S seeds is not resampled over seeds (a repeated member makes a smaller ensemble), only over
examples; the per-run side (snapshots, singles, "alone") is. Claim 4 resamples the independents,
not the samples (they are the reference run's). A non-finite estimate has no interval.
Every row has its own stream np.random.default_rng([seed, claim, k]), k numbering the claim's
sub-rows (metric), never the method: the methods of claims 4 and 6 share the resample (common
random numbers), so adding or removing a method, or a claim, changes no other interval.

Verdict: "above" holds if ci_low > threshold, fails if ci_high < threshold; "below" mirrored;
otherwise (NaN bounds included) inconclusive.
"""
import numpy as np
import pyarrow as pa

from .bootstrap import _example_means, _gap_reps, _interval, _pair_reps, verdict
from .metrics import log_mean_exp

COLUMNS = (("claim", pa.int32()), ("key", pa.string()), ("subject", pa.string()), ("statement", pa.string()),
           ("metric", pa.string()), ("estimate", pa.float64()), ("ci_low", pa.float64()),
           ("ci_high", pa.float64()), ("threshold", pa.float64()), ("direction", pa.string()),
           ("verdict", pa.string()), ("n_seeds", pa.int64()), ("n_examples", pa.int64()),
           ("n_boot", pa.int64()), ("note", pa.string()))
SCHEMA = pa.schema(COLUMNS)


def rise_above_running_min(values) -> float:
    """max_i [values[i] - min(values[:i+1])]: 0 for a non-increasing curve; NaN if empty."""
    v = np.asarray(values, np.float64)
    return float(np.max(v - np.minimum.accumulate(v))) if v.size else float("nan")




def _row(claim, key, subject, statement, metric, estimate, reps, threshold, direction,
         n_seeds, n_examples, confidence, note=""):
    low, high, why = _interval(estimate, reps, confidence)
    return {"claim": claim, "key": key, "subject": subject, "statement": statement, "metric": metric,
            "estimate": float(estimate), "ci_low": low, "ci_high": high, "threshold": float(threshold),
            "direction": direction, "verdict": verdict(low, high, threshold, direction),
            "n_seeds": int(n_seeds), "n_examples": int(n_examples),
            "n_boot": 0 if reps is None else int(reps.size), "note": "; ".join(s for s in (note, why) if s)}


def seed_cosine(cos_final, bound=0.1, *, n_boot=1000, confidence=0.95, seed=0):
    c = np.abs(np.asarray(cos_final, np.float64))
    s = c.shape[0]
    statement = f"Final solutions of different seeds are nearly orthogonal (mean |cos| < {bound:g})."
    args = (1, "seed_cosine", "", statement, "mean |cosine| of final weights over seed pairs")
    if s < 2:
        return [_row(*args, np.nan, None, bound, "below", s, 0, confidence, "fewer than 2 seeds")]
    c = (c + c.T) / 2  # a pair's value whichever way round the resample draws it
    estimate = c[np.triu_indices(s, 1)].mean()
    idx = np.random.default_rng([seed, 1, 0]).integers(0, s, size=(n_boot, s))
    reps = _pair_reps(idx, lambda ia, ib: c[ia, ib])
    return [_row(*args, estimate, reps, bound, "below", s, 0, confidence)]


def trajectory_cosine(cos_late, minimum=0.9, *, n_boot=1000, confidence=0.95, seed=0):
    c = np.asarray(cos_late, np.float64)
    statement = f"Late checkpoints stay close to their run's final solution (mean cosine > {minimum:g})."
    args = (2, "trajectory_cosine", "", statement, "mean cosine of late checkpoints with own final")
    if c.ndim != 2 or 0 in c.shape:
        return [_row(*args, np.nan, None, minimum, "above", c.shape[0], 0, confidence, "no late checkpoints")]
    s, rows = c.shape[0], c.mean(1)
    reps = rows[np.random.default_rng([seed, 2, 0]).integers(0, s, size=(n_boot, s))].mean(1)
    return [_row(*args, c.mean(), reps, minimum, "above", s, 0, confidence, f"{c.shape[1]} late checkpoints per run")]


def disagreement_gap(labels, pred_final, pred_late, *, n_boot=1000, confidence=0.95, seed=0):
    pf, pl = np.asarray(pred_final), np.asarray(pred_late)
    s, n = pf.shape
    if len(labels) != n or pl.shape[::2] != (s, n):
        raise ValueError(f"pred_final {pf.shape} and pred_late {pl.shape} do not match {len(labels)} labels")
    statement = "Independent solutions disagree more with each other than late checkpoints with their run's final."
    args = (3, "disagreement_gap", "", statement, "across-seed minus within-run disagreement fraction")
    if s < 2 or pl.shape[1] == 0:
        return [_row(*args, np.nan, None, 0.0, "above", s, n, confidence, "need 2 seeds and late checkpoints")]
    d = (pf[:, None, :] != pf[None, :, :]).reshape(s * s, n)
    within_x = (pl != pf[:, None, :]).mean(1)  # (S, N): a run's late-vs-final disagreement per example
    across = d.mean(1).reshape(s, s)[np.triu_indices(s, 1)].mean()
    within = within_x.mean()
    rng = np.random.default_rng([seed, 3, 0])
    idx = rng.integers(0, s, size=(n_boot, s))
    m = _example_means(rng, np.vstack([d, within_x]), n_boot)
    col = np.arange(n_boot)[:, None]
    pair = m[:s * s].reshape(s, s, n_boot)
    reps = _pair_reps(idx, lambda ia, ib: pair[ia, ib, col]) - m[s * s:][idx, col].mean(1)
    return [_row(*args, across - within, reps, 0.0, "above", s, n, confidence,
                 f"across {across:.4f}, within {within:.4f}")]


def diversity_plane(labels, ref_pred, indep_pred, samples, tolerance=0.02, *, n_boot=1000, confidence=0.95, seed=0):
    labels, ref, ind = np.asarray(labels), np.asarray(ref_pred), np.asarray(indep_pred)
    r, n = ind.shape
    acc_ind = (ind == labels).mean() if r else np.nan
    samples = {method: np.asarray(p) for method, p in samples.items()}
    chosen = {method: p[np.abs((p == labels).mean(1) - acc_ind) <= tolerance] for method, p in samples.items()}
    funcs = np.vstack([ind, *chosen.values()])
    with np.errstate(invalid="ignore", divide="ignore"):
        y = (funcs != ref).mean(1) / (1 - (funcs == labels).mean(1))
        if r:  # one resample (examples, independents) shared by every method
            rng = np.random.default_rng([seed, 4, 0])
            idx = rng.integers(0, r, size=(n_boot, r))
            m = _example_means(rng, np.vstack([funcs == labels, funcs != ref]), n_boot)
            y_boot = m[len(funcs):] / (1 - m[:len(funcs)])
            y_ind_boot = y_boot[:r][idx, np.arange(n_boot)[:, None]].mean(1)
    rows, start = [], r
    for method, preds in chosen.items():
        sl, start = slice(start, start + len(preds)), start + len(preds)
        args = (4, "diversity_plane", method, f"Accuracy-matched {method} samples are less diverse than independent "
                "solutions.", "mean normalised disagreement: independents - matched samples")
        if r == 0 or len(preds) == 0:
            why = ("no independent solutions" if r == 0 else
                   f"no {method} sample within {tolerance:g} of the independents' accuracy {acc_ind:.4f}")
            rows.append(_row(*args, np.nan, None, 0.0, "above", r + 1, n, confidence, why))
            continue
        with np.errstate(invalid="ignore"):
            reps = y_ind_boot - y_boot[sl].mean(0)
        rows.append(_row(*args, y[:r].mean() - y[sl].mean(), reps, 0.0, "above", r + 1, n, confidence,
                         f"{len(preds)} of {len(samples[method])} samples matched (|acc - {acc_ind:.4f}| <= "
                         f"{tolerance:g}); y independents {y[:r].mean():.4f}, matched {y[sl].mean():.4f}"))
    return rows


def _ens_vs_runs(claim, keys, subjects, metrics, statements, labels, s, parts, why, note, n_boot, confidence, seed):
    """Accuracy and NLL rows of an ensemble of all runs against per-run ensembles, > 0 favouring the
    former; parts = ((probs (N, C), logpy (N,)), (probs (S, N, C), logpy (S, N))) or None (`why`)."""
    labels = np.asarray(labels)
    rows = []
    for k in range(2):  # k = 0: 0/1 correct, k = 1: log p_y, both "higher is better"
        args = (claim, keys[k], subjects[k], statements[k], metrics[k])
        if parts is None:
            rows.append(_row(*args, np.nan, None, 0.0, "above", s, len(labels), confidence, why))
            continue
        (ens, ens_l), (runs, runs_l) = parts
        e, x = (ens.argmax(-1) == labels, runs.argmax(-1) == labels) if k == 0 else (ens_l, runs_l)
        e, x = np.asarray(e, np.float64), np.asarray(x, np.float64)
        reps = _gap_reps(np.random.default_rng([seed, claim, k]), e, x, n_boot)
        rows.append(_row(*args, e.mean() - x.mean(), reps, 0.0, "above", s, len(labels), confidence, note))
    return rows


def ensemble_vs_snapshot(labels, final_probs, final_logpy, snap_probs, snap_logpy, *,
                         n_boot=1000, confidence=0.95, seed=0):
    s, k = np.shape(snap_logpy)[:2]
    metrics = ("accuracy(independent ensemble) - mean accuracy(snapshot ensembles)",
               "mean NLL(snapshot ensembles) - NLL(independent ensemble)")
    statements = [f"An ensemble of {s} independent solutions beats a {k}-snapshot ensemble of one run ({x})."
                  for x in ("higher accuracy", "lower NLL")]
    parts = None if s == 0 or k == 0 else (
        (np.mean(final_probs, axis=0, dtype=np.float64), log_mean_exp(final_logpy)),
        (np.mean(snap_probs, axis=1, dtype=np.float64), np.stack([log_mean_exp(x) for x in snap_logpy])))
    return _ens_vs_runs(5, ("snapshot_accuracy", "snapshot_nll"), ("accuracy", "nll"), metrics, statements, labels,
                        s, parts, "no snapshots", f"{k} checkpoints per snapshot ensemble", n_boot, confidence, seed)


def subspace_vs_ensemble(labels, method, probs, logpy, *, n_boot=1000, confidence=0.95, seed=0):
    s, total, n = np.shape(logpy)
    m = total // s if s else 0
    metrics = (f"accuracy({method} + ensemble) - mean accuracy({method} alone)",
               f"mean NLL({method} alone) - NLL({method} + ensemble)")
    statements = [f"{method} + ensemble beats {method} alone with as many members ({x})."
                  for x in ("higher accuracy", "lower NLL")]
    probs, logpy, parts = np.asarray(probs), np.asarray(logpy), None
    if s >= 2 and m:
        parts = ((np.mean(probs[:, :m], axis=(0, 1), dtype=np.float64), log_mean_exp(logpy[:, :m].reshape(-1, n))),
                 (np.mean(probs[:, :s * m], axis=1, dtype=np.float64),
                  np.stack([log_mean_exp(x[:s * m]) for x in logpy])))
    return _ens_vs_runs(6, ("subspace_accuracy", "subspace_nll"), (method, method), metrics, statements, labels,
                        s, parts, f"need 2 runs and at least as many samples per run, got {s} runs x {total}",
                        f"{s * m} members each: first {m} of every run vs first {s * m} of one run",
                        n_boot, confidence, seed)


def barriers(solution_barriers, init_rises, barrier_min=0.05, tolerance=0.05, *, n_boot=1000, confidence=0.95, seed=0):
    specs = (("solution_barrier", solution_barriers, barrier_min, "above", "mean loss barrier between solution pairs",
              f"Straight lines between independent solutions cross a loss barrier (mean > {barrier_min:g})."),
             ("init_monotone", init_rises, tolerance, "below", "mean rise of the loss above its running minimum",
              f"The loss falls monotonically from initialisation to solution (mean rise < {tolerance:g})."))
    rows = []
    for k, (key, values, threshold, direction, metric, statement) in enumerate(specs):
        v, unit = np.asarray(values, np.float64).ravel(), ("pairs", "seeds")[k]
        args = (7, key, "", statement, metric)
        if v.size == 0:
            rows.append(_row(*args, np.nan, None, threshold, direction, np.size(init_rises), 0, confidence,
                             f"no {unit}"))
            continue
        idx = np.random.default_rng([seed, 7, k]).integers(0, v.size, size=(n_boot, v.size))
        rows.append(_row(*args, v.mean(), v[idx].mean(1), threshold, direction, np.size(init_rises), 0, confidence,
                         f"{v.size} {unit}, resampled"))
    return rows


def _set_losses(labels, probs, logpy):
    """Per-example (NLL, Brier) of each single solution (S, N) and of their ensemble (N,)."""
    p = np.asarray(probs, np.float64)
    logpy = np.asarray(logpy, np.float64)
    py = np.take_along_axis(p, np.broadcast_to(labels[None, :, None], p.shape[:2] + (1,)), -1)[..., 0]
    brier = (p * p).sum(-1) - 2 * py + 1
    pm = p.mean(0)
    brier_ens = (pm * pm).sum(-1) - 2 * pm[np.arange(len(labels)), labels] + 1
    return (-logpy, -log_mean_exp(logpy)), (brier, brier_ens)


def shift_advantage(labels, sets, *, n_boot=1000, confidence=0.95, seed=0):
    labels, sevs = np.asarray(labels), [sev for _, sev in sets]
    top, s = max(sevs, default=0), len(next(iter(sets.values()))[1]) if sets else 0
    adv = [dict.fromkeys(sorted(set(sevs)), 0.0) for _ in range(2)]
    single, ens = [0.0, 0.0], [0.0, 0.0]  # per metric, per example: mean loss at the top severity - clean
    for (_, sev), (probs, logpy) in sets.items():
        w = 1.0 / sevs.count(sev)
        sign = w if sev == top else -w if sev == 0 else 0.0
        for k, (sl, el) in enumerate(_set_losses(labels, probs, logpy)):
            adv[k][sev] += w * (sl.mean() - el.mean())
            single[k], ens[k] = single[k] + sign * sl, ens[k] + sign * el
    rows = []
    for k, name in enumerate(("nll", "brier")):
        args = (8, f"shift_{name}", name, f"The ensemble's advantage over single solutions grows with shift "
                f"severity ({name}).", f"{name} advantage at max severity minus clean")
        if 0 not in adv[k] or top == 0 or s == 0:
            rows.append(_row(*args, np.nan, None, 0.0, "above", s, len(labels), confidence,
                             "need the clean set (severity 0) and a shifted severity"))
            continue
        note = "advantage by severity: " + ", ".join(f"{sev}: {v:.4f}" for sev, v in adv[k].items())
        reps = _gap_reps(np.random.default_rng([seed, 8, k]), -ens[k], -single[k], n_boot)
        rows.append(_row(*args, adv[k][top] - adv[k][0], reps, 0.0, "above", s, len(labels), confidence, note))
    return rows


def _barriers(ts, losses):
    """Barrier (landscape.barrier) of every curve along the second-to-last axis of losses (..., T, B)."""
    ts = np.asarray(ts, np.float64)[:, None]
    line = (1 - ts) * losses[..., :1, :] + ts * losses[..., -1:, :]
    return np.max(losses - line, axis=-2)


def connectivity(ts, paths, ratio_max=0.25, *, n_boot=1000, confidence=0.95, seed=0):
    """Claim 9. paths: {path: (P, T, N) per-example test NLL at the points ts of each pair's path}
    for "straight", "curve" and (where aligned) "aligned". Barriers are those of the mean loss over
    the (resampled) examples; pairs and examples are resampled jointly, pairs first."""
    specs = (("curve_barrier", "curve", ratio_max, "below",
              "mean ratio of the curve's to the straight line's test-loss barrier",
              f"A trained curve's barrier is a small fraction of the straight line's (mean ratio < {ratio_max:g})."),
             ("aligned_barrier", "aligned", 0.0, "above", "mean test-loss barrier: straight - after alignment",
              "Permutation alignment lowers the straight line's barrier."))
    straight = np.asarray(paths["straight"], np.float64)
    p, t, n = straight.shape
    rng = np.random.default_rng([seed, 9, 0])
    idx = rng.integers(0, p, size=(n_boot, p)) if p else None
    names = ["straight"] + [path for _, path, *_ in specs if path in paths]
    losses = np.stack([np.asarray(paths[x], np.float64) for x in names])  # (K, P, T, N)
    point = _barriers(ts, losses.mean(-1)[..., None])[..., 0]  # (K, P)
    reps = _barriers(ts, _example_means(rng, losses.reshape(-1, n), n_boot).reshape(len(names), p, t, n_boot))
    col = np.arange(n_boot)[:, None]
    rows = []
    for key, path, threshold, direction, metric, statement in specs:
        args = (9, key, path, statement, metric)
        if path not in names or p == 0:
            rows.append(_row(*args, np.nan, None, threshold, direction, 0, n, confidence,
                             f"no {path} paths" if p else "no pairs"))
            continue
        k = names.index(path)
        with np.errstate(divide="ignore", invalid="ignore"):
            if path == "curve":
                values, boot = point[k] / point[0], reps[k] / reps[0]
            else:
                values, boot = point[0] - point[k], reps[0] - reps[k]
        note = f"{p} pairs; mean test-loss barrier straight {point[0].mean():.4f}, {path} {point[k].mean():.4f}"
        rows.append(_row(*args, values.mean(), boot[idx, col].mean(1), threshold, direction, p, n, confidence,
                         note))
    return rows


def findings_table(rows) -> pa.Table:
    return pa.Table.from_pylist([{name: row[name] for name, _ in COLUMNS} for row in rows], schema=SCHEMA)


def summary_lines(table) -> list:
    """One aligned line per row: claim, verdict, estimate [CI], threshold, key/subject, statement."""
    rows = table.to_pylist()
    cells = [(f"{r['claim']}", r["verdict"], f"{r['estimate']:+.4f}", f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]",
              f"{'>' if r['direction'] == 'above' else '<'} {r['threshold']:g}",
              r["key"] + (f" ({r['subject']})" if r["subject"] and r["subject"] not in r["key"] else ""),
              r["statement"] if len(r["statement"]) <= 72 else r["statement"][:69] + "...") for r in rows]
    widths = [max((len(c[i]) for c in cells), default=0) for i in range(7)]
    return ["  ".join(c[i].rjust(widths[i]) if i in (0, 2, 3) else c[i].ljust(widths[i]) for i in range(7)).rstrip()
            for c in cells]
