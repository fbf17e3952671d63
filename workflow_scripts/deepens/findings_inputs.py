"""The findings of one (dataset, model): the pipeline's own files read into deepens.findings' claims.

Which data each claim sees (numpy only; one run's predictions in memory at a time, plus the
final and late predicted classes of every run, the final and snapshot probabilities, one
method's samples at a time and the final solutions under shift):
1. the weight cosine of the final checkpoints of every pair of seeds (weight_cosine table);
2. the weight cosine of each run's late checkpoints (the subspace fit's last quarter, final
   excluded) with its final one;
3. predicted test classes of every run's final and late checkpoints;
4. the reference run's final prediction, the other runs' final predictions and the reference
   run's plane samples of every method (the points of the diversity-accuracy plane);
5. every run's final and last-K checkpoints' test probabilities (K = number of seeds, at most
   the number of epochs);
6. every run's ensemble samples of each sampling method (averaging has one: not a claim);
7. the interpolation curves: test-loss barrier of every solution pair, and the largest rise of
   the test loss above its running minimum along every initialisation -> solution line;
8. the final solutions on the clean and every corrupted test set;
9. the test log-probabilities of the label at every point of every connectivity pair's paths.
Claims whose analysis is switched off (no subspace methods, landscape, connectivity or shift) are
left out.
"""
import numpy as np
import pyarrow as pa

from . import findings
from .connectivity import read_path_probs
from .io import ArtifactError, iter_runs, read_samples, read_table
from .landscape import barriers_table
from .shift import VALIDATION, read_shift_predictions


def _cosines(table, seeds, late, final):
    df = read_table(table).to_pandas()
    at_final = df[(df.epoch_a == final) & (df.epoch_b == final)]
    cos_final = at_final.pivot(index="seed_a", columns="seed_b", values="cosine").reindex(
        index=seeds, columns=seeds).to_numpy()
    within = df[(df.seed_a == df.seed_b) & (df.epoch_b == final) & df.epoch_a.isin([e for e in late if e != final])]
    cos_late = within.pivot(index="seed_a", columns="epoch_a", values="cosine").reindex(index=seeds).to_numpy()
    if np.isnan(cos_final).any() or np.isnan(cos_late).any():
        raise ArtifactError(f"weight cosine table {table} lacks pairs of the final or late checkpoints")
    return cos_final, cos_late


def _predictions(paths, late, snapshot_size):
    labels, pred_final, pred_late, final_p, final_lp, snap_p, snap_lp = None, [], [], [], [], [], []
    for run in iter_runs(paths):
        index = {int(e): i for i, e in enumerate(run.epochs)}
        labels = run.labels
        pred = run.probs.argmax(axis=-1)
        pred_final.append(pred[-1])
        pred_late.append(pred[[index[e] for e in late if index[e] != len(run.epochs) - 1]])
        final_p.append(run.probs[-1])
        final_lp.append(run.log_prob_label[-1])
        snap_p.append(run.probs[-snapshot_size:])
        snap_lp.append(run.log_prob_label[-snapshot_size:])
    stack = np.stack
    return labels, stack(pred_final), stack(pred_late), stack(final_p), stack(final_lp), stack(snap_p), stack(snap_lp)


def _ensemble_samples(paths, labels, method):
    runs = [read_samples(p, "test", "ensemble") for p in paths]
    for path, s in zip(paths, runs):
        if s["probs"] is None or not np.array_equal(s["labels"], labels):
            raise ArtifactError(f"samples {path} ({method}) hold no ensemble samples of the run's test examples")
    m = min(len(s["probs"]) for s in runs)  # acceptance may keep fewer samples in some runs
    return np.stack([s["probs"][:m] for s in runs]), np.stack([s["log_prob_label"][:m] for s in runs])


def _init_rises(curves):
    df = curves.to_pandas()
    df = df[(df.kind == "init_to_solution") & (df.split == "test")].sort_values("t")
    return np.array([findings.rise_above_running_min(g.loss.to_numpy()) for _, g in df.groupby("seed_a")])


def _shift_sets(paths):
    runs = [read_shift_predictions(p)[0] for p in paths]
    keys = sorted(k for k in runs[0] if k[0] != VALIDATION)  # the test sets: clean and shifted
    return {k: (np.stack([r[k]["probs"] for r in runs]), np.stack([r[k]["log_prob_label"] for r in runs]))
            for k in keys}, runs[0][keys[0]]["labels"]


def _connectivity(paths, labels):
    """(ts, {path: (P, T, N) per-example test NLL}) of the pairs' path-predictions files."""
    per_path, ts = {}, None
    for path in paths:
        samples = read_path_probs(path)
        for name, s in samples.items():
            if not np.array_equal(s["labels"], labels):
                raise ArtifactError(f"path predictions {path} ({name}) cover other test examples than the runs'")
            if ts is None:
                ts = s["scale"]
            elif not np.array_equal(s["scale"], ts):
                raise ArtifactError(f"path predictions {path} ({name}) are at other values of t than the first pair's")
            per_path.setdefault(name, []).append(-s["log_prob_label"])
    if any(len(v) != len(paths) for v in per_path.values()):
        per_path = {k: v for k, v in per_path.items() if len(v) == len(paths)}  # a path some pairs lack: left out
    return ts, {k: np.stack(v) for k, v in per_path.items()}


def findings_table(*, cosine_table, prediction_paths, seeds, late_epochs, final_epoch, reference_seed,
                   sample_paths: dict, curves=None, shift_final=None, connectivity=None, settings: dict,
                   log=print) -> pa.Table:
    """One row per claim (deepens.findings); settings: the findings section of the config."""
    seeds = [int(s) for s in seeds]
    boot = {"n_boot": settings["bootstrap"], "confidence": settings["confidence"], "seed": settings["seed"]}
    cos_final, cos_late = _cosines(cosine_table, seeds, late_epochs, final_epoch)
    rows = findings.seed_cosine(cos_final, bound=settings["cosine_bound"], **boot)
    rows += findings.trajectory_cosine(cos_late, minimum=settings["trajectory_cosine_min"], **boot)
    snapshot_size = min(len(seeds), int(final_epoch))
    labels, pred_final, pred_late, final_p, final_lp, snap_p, snap_lp = _predictions(
        prediction_paths, late_epochs, snapshot_size)
    rows += findings.disagreement_gap(labels, pred_final, pred_late, **boot)
    ref = seeds.index(int(reference_seed))
    plane = {}
    for method, paths in sample_paths.items():
        s = read_samples(paths[ref], "test", "plane")
        if s["probs"] is not None:
            plane[method] = s["probs"].argmax(axis=-1)
    if plane:
        rows += findings.diversity_plane(labels, pred_final[ref], np.delete(pred_final, ref, axis=0), plane,
                                         tolerance=settings["accuracy_tolerance"], **boot)
    rows += findings.ensemble_vs_snapshot(labels, final_p, final_lp, snap_p, snap_lp, **boot)
    del snap_p, snap_lp
    for method, paths in sample_paths.items():
        if method != "averaging":
            probs, logp = _ensemble_samples(paths, labels, method)
            rows += findings.subspace_vs_ensemble(labels, method, probs, logp, **boot)
            del probs, logp
    if curves is not None:
        table = read_table(curves)
        barriers = barriers_table(table).to_pandas()
        solution = barriers[(barriers.kind == "solution_to_solution") & (barriers.split == "test")].loss_barrier
        rows += findings.barriers(solution.to_numpy(), _init_rises(table), barrier_min=settings["barrier_min"],
                                  tolerance=settings["monotone_tolerance"], **boot)
    if shift_final:
        sets, shift_labels = _shift_sets(shift_final)
        rows += findings.shift_advantage(shift_labels, sets, **boot)
    if connectivity:
        ts, paths = _connectivity(connectivity, labels)
        rows += findings.connectivity(ts, paths, ratio_max=settings["curve_barrier_ratio"], **boot)
    table = findings.findings_table(rows)
    for line in findings.summary_lines(table):
        log(line)
    return table
