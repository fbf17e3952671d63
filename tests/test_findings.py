"""deepens.findings: estimates by hand, verdicts on inputs built to hold / fail, bootstrap rules."""
import math

import numpy as np
import pyarrow as pa
import pytest
from deepens import bootstrap, findings

B = 200  # bootstrap replicates in these tests
BOOT = {"n_boot": B, "seed": 0}
C = 10


def preds_with_acc(rng, labels, acc, classes=C):
    """Predictions correct on a random fraction `acc`, else a uniformly drawn wrong class."""
    wrong = (labels + rng.integers(1, classes, labels.shape)) % classes
    return np.where(rng.random(labels.shape) < acc, labels, wrong)


def member(pred, labels, conf=0.6, classes=C):
    """(probs (N, C) float32, logpy (N,)) of a model putting `conf` on its predicted class."""
    p = np.full(pred.shape + (classes,), (1 - conf) / (classes - 1))
    np.put_along_axis(p, pred[..., None], conf, -1)
    logpy = np.log(np.take_along_axis(p, np.broadcast_to(labels, pred.shape)[..., None], -1)[..., 0])
    return p.astype(np.float32), logpy


def stack(members):
    return np.stack([m[0] for m in members]), np.stack([m[1] for m in members])


def random_probs(rng, shape, labels, classes=3):
    p = rng.dirichlet(np.ones(classes), size=shape)
    logpy = np.log(np.take_along_axis(p, np.broadcast_to(labels, shape)[..., None], -1)[..., 0])
    return p, logpy


def one(rows):
    assert len(rows) == 1
    return rows[0]


def by_key(rows):
    return {r["key"]: r for r in rows}


def lme(a, axis=0):
    return np.log(np.mean(np.exp(a), axis=axis))


# ---------------------------------------------------------------- verdict and helpers

@pytest.mark.parametrize("low, high, threshold, direction, expected", [
    (0.1, 0.2, 0.0, "above", "holds"), (-0.2, -0.1, 0.0, "above", "fails"), (-0.1, 0.1, 0.0, "above", "inconclusive"),
    (0.01, 0.05, 0.1, "below", "holds"), (0.2, 0.3, 0.1, "below", "fails"), (0.05, 0.2, 0.1, "below", "inconclusive"),
    (np.nan, 0.2, 0.0, "above", "inconclusive"), (0.1, np.nan, 0.5, "below", "inconclusive"),
    (0.0, 0.1, 0.0, "above", "inconclusive"), (0.05, 0.1, 0.1, "below", "inconclusive"),
])
def test_verdict(low, high, threshold, direction, expected):
    assert bootstrap.verdict(low, high, threshold, direction) == expected


def test_verdict_rejects_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        bootstrap.verdict(0.0, 1.0, 0.5, "over")


def test_rise_above_running_min():
    assert findings.rise_above_running_min([3.0, 2.0, 2.5, 1.0, 1.2]) == pytest.approx(0.5)
    assert findings.rise_above_running_min([3.0, 2.0, 2.0, 1.0]) == 0.0
    assert findings.rise_above_running_min([1.0, 0.5, 2.0]) == pytest.approx(1.5)
    assert math.isnan(findings.rise_above_running_min([]))


# ---------------------------------------------------------------- claim 1

def cosines(s, rng, scale):
    c = rng.normal(0, scale, (s, s))
    c = (c + c.T) / 2
    np.fill_diagonal(c, 1.0)
    return c


def test_seed_cosine_orthogonal_holds_with_known_estimate():
    c = cosines(6, np.random.default_rng(0), 0.01)
    row = one(findings.seed_cosine(c, **BOOT))
    expected = np.mean([abs(c[i, j]) for i in range(6) for j in range(i + 1, 6)])
    assert row["estimate"] == pytest.approx(expected)
    assert row["verdict"] == "holds" and row["direction"] == "below" and row["threshold"] == 0.1
    assert row["ci_low"] <= row["estimate"] <= row["ci_high"] < 0.1
    assert (row["claim"], row["n_seeds"], row["n_examples"], row["n_boot"]) == (1, 6, 0, B)


def test_seed_cosine_parallel_fails():
    c = np.full((5, 5), 0.9)
    c[0, 1] = c[1, 0] = -0.8  # the absolute value counts
    row = one(findings.seed_cosine(c, **BOOT))
    assert row["estimate"] == pytest.approx((9 * 0.9 + 0.8) / 10)
    assert row["verdict"] == "fails" and row["ci_low"] > 0.1


def test_seed_cosine_one_seed_inconclusive():
    row = one(findings.seed_cosine(np.ones((1, 1)), **BOOT))
    assert row["verdict"] == "inconclusive" and math.isnan(row["estimate"]) and "2 seeds" in row["note"]


def test_seed_cosine_never_pairs_a_seed_with_itself():
    # The diagonal (1.0) would push the upper bound to 1 if copies of one seed were paired.
    c = np.array([[1.0, 0.02, 0.04], [0.02, 1.0, 0.06], [0.04, 0.06, 1.0]])
    row = one(findings.seed_cosine(c, **BOOT))
    assert 0.02 <= row["ci_low"] <= row["ci_high"] <= 0.06
    idx = np.random.default_rng([0, 1, 0]).integers(0, 3, size=(B, 3))
    none_valid = int(np.sum((idx[:, 0] == idx[:, 1]) & (idx[:, 1] == idx[:, 2])))
    assert none_valid > 0 and f"{none_valid} of {B} replicates dropped" in row["note"]


def test_seed_cosine_two_seeds_drops_same_seed_replicates():
    c = np.array([[1.0, 0.03], [0.03, 1.0]])
    seen = set()
    for seed in range(12):
        row = one(findings.seed_cosine(c, n_boot=B, seed=seed))
        idx = np.random.default_rng([seed, 1, 0]).integers(0, 2, size=(B, 2))
        valid = int(np.sum(idx[:, 0] != idx[:, 1]))
        if valid >= B / 2:  # every kept replicate is the one real pair
            assert row["ci_low"] == row["ci_high"] == pytest.approx(0.03)
            assert f"{B - valid} of {B} replicates dropped" in row["note"]
            seen.add("kept")
        else:
            assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
            assert row["verdict"] == "inconclusive" and f"only {valid} of {B}" in row["note"]
            seen.add("too few")
    assert seen == {"kept", "too few"}


def test_seed_cosine_nan_is_inconclusive():
    c = cosines(4, np.random.default_rng(1), 0.01)
    c[0, 2] = c[2, 0] = np.nan
    row = one(findings.seed_cosine(c, **BOOT))
    assert math.isnan(row["estimate"]) and math.isnan(row["ci_low"]) and row["verdict"] == "inconclusive"


def test_seed_cosine_symmetrises_the_matrix():
    c = np.eye(3) + np.triu(np.full((3, 3), 0.02), 1) + np.tril(np.full((3, 3), -0.06), -1)
    row = one(findings.seed_cosine(c, **BOOT))  # a pair counts (|c_ij| + |c_ji|) / 2 = 0.04
    assert row["estimate"] == pytest.approx(0.04)
    assert row["ci_low"] == pytest.approx(0.04) and row["ci_high"] == pytest.approx(0.04)


# ---------------------------------------------------------------- claim 2

def test_trajectory_cosine_holds_fails_and_known_estimate():
    rng = np.random.default_rng(2)
    close = 0.95 + 0.02 * rng.random((5, 4))
    row = one(findings.trajectory_cosine(close, **BOOT))
    assert row["estimate"] == pytest.approx(close.mean()) and row["verdict"] == "holds"
    means = close.mean(1)
    assert means.min() <= row["ci_low"] <= row["estimate"] <= row["ci_high"] <= means.max()
    far = 0.4 + 0.1 * rng.random((5, 4))
    assert one(findings.trajectory_cosine(far, **BOOT))["verdict"] == "fails"
    straddle = np.array([[0.8, 0.85], [0.95, 1.0], [0.85, 0.95]])
    assert one(findings.trajectory_cosine(straddle, **BOOT))["verdict"] == "inconclusive"
    empty = one(findings.trajectory_cosine(np.zeros((3, 0)), **BOOT))
    assert empty["verdict"] == "inconclusive" and "no late" in empty["note"]


@pytest.mark.parametrize("seed, confidence", [(0, 0.95), (3, 0.5)])
def test_percentile_interval_from_the_claims_own_stream(seed, confidence):
    values = np.random.default_rng(20).random((7, 3))
    row = one(findings.trajectory_cosine(values, n_boot=B, confidence=confidence, seed=seed))
    idx = np.random.default_rng([seed, 2, 0]).integers(0, 7, size=(B, 7))
    reps = values.mean(1)[idx].mean(1)
    q = (1 - confidence) / 2
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(np.quantile(reps, [q, 1 - q])))


def test_sub_rows_have_their_own_streams():
    v = np.random.default_rng(21).random(9) * 0.01
    rows = by_key(findings.barriers(v, v, **BOOT))
    ci = {key: (r["ci_low"], r["ci_high"]) for key, r in rows.items()}
    assert rows["solution_barrier"]["estimate"] == rows["init_monotone"]["estimate"]
    assert ci["solution_barrier"] != ci["init_monotone"]
    idx = np.random.default_rng([0, 7, 1]).integers(0, 9, size=(B, 9))
    assert ci["init_monotone"] == pytest.approx(tuple(np.quantile(v[idx].mean(1), [0.025, 0.975])))


# ---------------------------------------------------------------- claim 3

def test_disagreement_gap_known_answer():
    labels = np.array([0, 1, 2, 0])
    pf = np.array([[0, 1, 2, 0], [0, 1, 1, 1], [2, 1, 2, 0]])
    pl = np.array([[[0, 1, 2, 1], [0, 1, 2, 0]], [[0, 1, 1, 1], [1, 1, 1, 1]], [[2, 2, 2, 2], [2, 1, 2, 0]]])
    across = np.mean([np.mean(pf[i] != pf[j]) for i in range(3) for j in range(3) if i != j])
    within = np.mean([np.mean(pl[r, l] != pf[r]) for r in range(3) for l in range(2)])
    row = one(findings.disagreement_gap(labels, pf, pl, **BOOT))
    assert row["estimate"] == pytest.approx(across - within)
    assert f"across {across:.4f}" in row["note"] and f"within {within:.4f}" in row["note"]
    assert (row["claim"], row["n_seeds"], row["n_examples"]) == (3, 3, 4)


def test_disagreement_gap_holds_and_fails():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, C, 500)
    independent = np.stack([preds_with_acc(rng, labels, 0.6) for _ in range(4)])
    stable = np.where(rng.random((4, 3, 500)) < 0.97, independent[:, None], rng.integers(0, C, (4, 3, 500)))
    row = one(findings.disagreement_gap(labels, independent, stable, **BOOT))
    assert row["verdict"] == "holds" and row["ci_low"] <= row["estimate"] <= row["ci_high"]
    same = np.broadcast_to(independent[0], (4, 500))
    wobbly = np.where(rng.random((4, 3, 500)) < 0.7, same[:, None], rng.integers(0, C, (4, 3, 500)))
    row = one(findings.disagreement_gap(labels, same, wobbly, **BOOT))
    assert row["verdict"] == "fails" and row["estimate"] < -0.2
    assert one(findings.disagreement_gap(labels, same[:1], wobbly[:1], **BOOT))["verdict"] == "inconclusive"
    with pytest.raises(ValueError, match="do not match"):
        findings.disagreement_gap(labels[:-1], same, wobbly, **BOOT)


# ---------------------------------------------------------------- claim 4

def plane_inputs(n=4000):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, C, n)
    ref = preds_with_acc(rng, labels, 0.8)
    indep = np.stack([preds_with_acc(rng, labels, 0.8) for _ in range(4)])
    # near: the reference with 2 % of examples redrawn (same accuracy, little disagreement)
    near = np.stack([np.where(rng.random(n) < 0.02, preds_with_acc(rng, labels, 0.8), ref) for _ in range(5)])
    # far: right exactly where the reference is wrong -> disagreement above the independents'
    far = []
    for _ in range(5):
        f = np.where(ref == labels, preds_with_acc(rng, labels, 0.0), labels)
        keep = (ref == labels) & (rng.random(n) < 0.75)  # right on 3/4 of the reference's right ones
        far.append(np.where(keep, labels, f))
    off = np.stack([preds_with_acc(rng, labels, 0.3) for _ in range(3)])
    return labels, ref, indep, {"near": near, "far": np.stack(far), "off": off}


def test_diversity_plane_verdicts_and_known_estimate():
    labels, ref, indep, samples = plane_inputs()
    rows = {r["subject"]: r for r in findings.diversity_plane(labels, ref, indep, samples, tolerance=0.03, **BOOT)}
    assert list(rows) == ["near", "far", "off"]

    def y(f):
        return np.mean(f != ref) / (1 - np.mean(f == labels))
    acc_ind = np.mean([np.mean(f == labels) for f in indep])
    y_ind = np.mean([y(f) for f in indep])
    for name in ("near", "far"):
        matched = [f for f in samples[name] if abs(np.mean(f == labels) - acc_ind) <= 0.03]
        assert len(matched) == 5
        assert rows[name]["estimate"] == pytest.approx(y_ind - np.mean([y(f) for f in matched]))
        assert rows[name]["ci_low"] <= rows[name]["estimate"] <= rows[name]["ci_high"]
        assert "5 of 5 samples matched" in rows[name]["note"]
    assert rows["near"]["verdict"] == "holds"
    assert rows["far"]["verdict"] == "fails"
    assert rows["off"]["verdict"] == "inconclusive" and math.isnan(rows["off"]["estimate"])
    assert "no off sample within" in rows["off"]["note"]
    assert rows["near"]["n_seeds"] == 5 and rows["near"]["n_examples"] == len(labels)


def test_diversity_plane_matching_uses_tolerance():
    labels, ref, indep, samples = plane_inputs(1000)
    acc_ind = np.mean([np.mean(f == labels) for f in indep])
    accs = np.array([np.mean(f == labels) for f in samples["near"]])
    tol = np.sort(np.abs(accs - acc_ind))[2]  # exactly three samples within
    row = one(findings.diversity_plane(labels, ref, indep, {"near": samples["near"]}, tolerance=tol, **BOOT))
    assert "3 of 5 samples matched" in row["note"]


def test_diversity_plane_no_independents_and_method_independence():
    labels, ref, indep, samples = plane_inputs(1000)
    rows = findings.diversity_plane(labels, ref, indep[:0], samples, **BOOT)
    assert all(r["verdict"] == "inconclusive" and "no independent" in r["note"] for r in rows)
    # methods share one resample: dropping a method leaves the others' rows untouched
    both = findings.diversity_plane(labels, ref, indep, samples, tolerance=0.03, **BOOT)
    alone = findings.diversity_plane(labels, ref, indep, {"far": samples["far"]}, tolerance=0.03, **BOOT)
    assert alone[0] == both[1]


# ---------------------------------------------------------------- claim 5

def test_ensemble_vs_snapshot_known_answer():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 6)
    fp, fl = random_probs(rng, (3, 6), labels)
    sp, sl = random_probs(rng, (3, 2, 6), labels)
    rows = by_key(findings.ensemble_vs_snapshot(labels, fp.astype(np.float32), fl, sp.astype(np.float32), sl, **BOOT))
    acc_ind = np.mean(fp.mean(0).argmax(-1) == labels)
    acc_snap = np.mean([np.mean(sp[r].mean(0).argmax(-1) == labels) for r in range(3)])
    nll_ind = -np.mean(lme(fl))
    nll_snap = np.mean([-np.mean(lme(sl[r])) for r in range(3)])
    assert rows["snapshot_accuracy"]["estimate"] == pytest.approx(acc_ind - acc_snap)
    assert rows["snapshot_nll"]["estimate"] == pytest.approx(nll_snap - nll_ind)
    assert rows["snapshot_accuracy"]["subject"] == "accuracy" and rows["snapshot_nll"]["subject"] == "nll"
    assert "3 independent solutions beats a 2-snapshot ensemble of one run" in rows["snapshot_nll"]["statement"]


def test_joint_bootstrap_by_hand():
    # seeds drawn first, then N example indices per replicate; the ensemble of all seeds only reweighted
    rng = np.random.default_rng(13)
    labels = rng.integers(0, 3, 8)
    fp, fl = random_probs(rng, (3, 8), labels)
    sp, sl = random_probs(rng, (3, 2, 8), labels)
    row = by_key(findings.ensemble_vs_snapshot(labels, fp, fl, sp, sl, **BOOT))["snapshot_nll"]
    stream = np.random.default_rng([0, 5, 1])
    idx = stream.integers(0, 3, size=(B, 3))
    draws = stream.integers(0, 8, size=(B, 8))
    w = np.stack([np.bincount(d, minlength=8) for d in draws]) / 8
    ens, runs = w @ lme(fl), w @ np.stack([lme(x) for x in sl]).T  # (B,), (B, S): mean log p_y
    reps = ens - runs[np.arange(B)[:, None], idx].mean(1)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])))


def test_ensemble_vs_snapshot_holds_and_fails():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, C, 600)
    indep = [member(preds_with_acc(rng, labels, 0.7), labels) for _ in range(5)]
    fp, fl = stack(indep)
    copies = (np.stack([np.broadcast_to(p, (5,) + p.shape) for p in fp]),
              np.stack([np.broadcast_to(lp, (5, 600)) for lp in fl]))
    rows = findings.ensemble_vs_snapshot(labels, fp, fl, *copies, **BOOT)
    assert [r["verdict"] for r in rows] == ["holds", "holds"]
    assert all(r["ci_low"] <= r["estimate"] <= r["ci_high"] for r in rows)
    # the other way round: identical finals, snapshots with independent errors
    same = np.broadcast_to(fp[0], fp.shape), np.broadcast_to(fl[0], fl.shape)
    snaps = [stack([member(preds_with_acc(rng, labels, 0.7), labels) for _ in range(5)]) for _ in range(5)]
    rows = findings.ensemble_vs_snapshot(labels, *same, np.stack([s[0] for s in snaps]),
                                         np.stack([s[1] for s in snaps]), **BOOT)
    assert [r["verdict"] for r in rows] == ["fails", "fails"]


def test_ensemble_side_not_resampled_over_seeds_run_side_is():
    # identical examples: resampling them changes nothing, so any spread comes from the seeds
    labels = np.zeros(50, dtype=int)
    right, wrong = member(np.zeros(50, int), labels, 0.9), member(np.ones(50, int), labels, 0.9)
    # resampling the seeds of this ensemble would change it (drawing `wrong` twice flips it), so
    # a zero-width interval shows only the examples are resampled on the ensemble side
    fp, fl = stack([right, right, wrong])
    snap_same = stack([stack([right, right])] * 3)
    row = by_key(findings.ensemble_vs_snapshot(labels, fp, fl, *snap_same, **BOOT))["snapshot_nll"]
    assert row["ci_low"] == pytest.approx(row["estimate"]) and row["ci_high"] == pytest.approx(row["estimate"])
    mixed = [stack([right, right]), stack([wrong, wrong]), stack([right, right])]
    row = by_key(findings.ensemble_vs_snapshot(labels, fp, fl, np.stack([m[0] for m in mixed]),
                                               np.stack([m[1] for m in mixed]), **BOOT))["snapshot_accuracy"]
    assert row["estimate"] == pytest.approx(1 / 3) and row["ci_low"] == pytest.approx(0.0)
    assert row["ci_high"] >= 2 / 3 - 1e-12  # the runs are resampled: 0, 1, 2 or 3 copies of the wrong one


# ---------------------------------------------------------------- claim 6

def test_subspace_vs_ensemble_known_answer():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, 5)
    p, lp = random_probs(rng, (2, 5, 5), labels)  # S = 2, M = 5 -> m = 2, 4 members each
    rows = by_key(findings.subspace_vs_ensemble(labels, "gauss", p, lp, **BOOT))
    plus_p = np.concatenate([p[0, :2], p[1, :2]]).mean(0)
    plus_l = lme(np.concatenate([lp[0, :2], lp[1, :2]]))
    alone_acc = np.mean([np.mean(p[r, :4].mean(0).argmax(-1) == labels) for r in range(2)])
    alone_nll = np.mean([-np.mean(lme(lp[r, :4])) for r in range(2)])
    assert rows["subspace_accuracy"]["estimate"] == pytest.approx(np.mean(plus_p.argmax(-1) == labels) - alone_acc)
    assert rows["subspace_nll"]["estimate"] == pytest.approx(alone_nll + np.mean(plus_l))
    assert {r["subject"] for r in rows.values()} == {"gauss"}
    assert "4 members each" in rows["subspace_nll"]["note"]


def test_subspace_vs_ensemble_holds_fails_inconclusive():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, C, 500)
    s, m = 4, 8
    runs = [member(preds_with_acc(rng, labels, 0.7), labels) for _ in range(s)]
    p = np.stack([np.broadcast_to(r[0], (m,) + r[0].shape) for r in runs])
    lp = np.stack([np.broadcast_to(r[1], (m, 500)) for r in runs])
    rows = findings.subspace_vs_ensemble(labels, "dropout", p, lp, **BOOT)
    assert [r["verdict"] for r in rows] == ["holds", "holds"]
    samples = stack([member(preds_with_acc(rng, labels, 0.7), labels) for _ in range(m)])
    p2 = np.broadcast_to(samples[0], (s,) + samples[0].shape)
    lp2 = np.broadcast_to(samples[1], (s,) + samples[1].shape)
    rows = findings.subspace_vs_ensemble(labels, "dropout", p2, lp2, **BOOT)
    assert [r["verdict"] for r in rows] == ["fails", "fails"]
    for bad in ((p[:1], lp[:1]), (p[:, :3], lp[:, :3])):  # one run; fewer samples than runs
        rows = findings.subspace_vs_ensemble(labels, "dropout", *bad, **BOOT)
        assert all(r["verdict"] == "inconclusive" and "need 2 runs" in r["note"] for r in rows)
        assert all(r["n_seeds"] == len(bad[1]) and r["n_boot"] == 0 for r in rows)


# ---------------------------------------------------------------- claim 7

def test_barriers():
    rows = by_key(findings.barriers([0.3, 0.5, 0.4], [0.0, 0.01, 0.0, 0.02], **BOOT))
    assert rows["solution_barrier"]["estimate"] == pytest.approx(0.4)
    assert rows["solution_barrier"]["verdict"] == "holds"
    assert 0.3 <= rows["solution_barrier"]["ci_low"] <= 0.4 <= rows["solution_barrier"]["ci_high"] <= 0.5
    assert rows["init_monotone"]["estimate"] == pytest.approx(0.0075) and rows["init_monotone"]["verdict"] == "holds"
    assert rows["init_monotone"]["n_seeds"] == 4
    rows = by_key(findings.barriers(np.zeros(6), [0.5, 0.8, 0.6], **BOOT))
    assert rows["solution_barrier"]["verdict"] == "fails" and rows["solution_barrier"]["ci_high"] == 0.0
    assert rows["init_monotone"]["verdict"] == "fails"
    rows = by_key(findings.barriers([], [0.0, 0.1], **BOOT))
    assert rows["solution_barrier"]["verdict"] == "inconclusive" and "no pairs" in rows["solution_barrier"]["note"]
    assert rows["init_monotone"]["verdict"] == "inconclusive"  # 0.0 and 0.1 straddle 0.05


# ---------------------------------------------------------------- claim 8

def test_shift_advantage_known_answer():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 3, 7)
    sets = {(c, sev): random_probs(rng, (3, 7), labels) for c, sev in
            [("clean", 0), ("blur", 1), ("noise", 1), ("blur", 2), ("noise", 2)]}

    def advantage(sev, metric):
        out = []
        for (c, v), (p, lp) in sets.items():
            if v != sev:
                continue
            if metric == "nll":
                single, ens = np.mean(-lp), -np.mean(lme(lp))
            else:
                def brier(q):
                    return np.mean([np.sum(q[n] ** 2) - 2 * q[n, labels[n]] + 1 for n in range(7)])
                single, ens = np.mean([brier(p[s]) for s in range(3)]), brier(p.mean(0))
            out.append(single - ens)
        return np.mean(out)
    rows = by_key(findings.shift_advantage(labels, sets, **BOOT))
    for metric in ("nll", "brier"):
        row = rows[f"shift_{metric}"]
        assert row["subject"] == metric
        assert row["estimate"] == pytest.approx(advantage(2, metric) - advantage(0, metric))
        assert f"1: {advantage(1, metric):.4f}" in row["note"] and "advantage by severity" in row["note"]


def shift_sets(rng, labels, diverse_at):
    """Sets whose 4 members have independent errors at severities in `diverse_at`, identical elsewhere."""
    out = {}
    for c, sev in [("clean", 0), ("blur", 1), ("noise", 1), ("blur", 3), ("noise", 3)]:
        if sev in diverse_at:
            out[(c, sev)] = stack([member(preds_with_acc(rng, labels, 0.6), labels) for _ in range(4)])
        else:
            one_member = member(preds_with_acc(rng, labels, 0.6), labels)
            out[(c, sev)] = stack([one_member] * 4)
    return out


def test_shift_advantage_grows_and_shrinks():
    rng = np.random.default_rng(10)
    labels = rng.integers(0, C, 400)
    rows = findings.shift_advantage(labels, shift_sets(rng, labels, {3}), **BOOT)
    assert [r["verdict"] for r in rows] == ["holds", "holds"]
    assert all(r["ci_low"] <= r["estimate"] <= r["ci_high"] and r["n_seeds"] == 4 for r in rows)
    rows = findings.shift_advantage(labels, shift_sets(rng, labels, {0}), **BOOT)
    assert [r["verdict"] for r in rows] == ["fails", "fails"]
    no_clean = {k: v for k, v in shift_sets(rng, labels, {3}).items() if k[1] != 0}
    rows = findings.shift_advantage(labels, no_clean, **BOOT)
    assert all(r["verdict"] == "inconclusive" and "clean" in r["note"] for r in rows)


def test_nan_log_probability_is_inconclusive():
    rng = np.random.default_rng(11)
    labels = rng.integers(0, C, 100)
    sets = shift_sets(rng, labels, {3})
    p, lp = sets[("blur", 3)]
    lp = lp.copy()
    lp[0, 5] = np.nan
    sets[("blur", 3)] = (p, lp)
    row = by_key(findings.shift_advantage(labels, sets, **BOOT))["shift_nll"]
    assert row["verdict"] == "inconclusive" and math.isnan(row["ci_low"]) and "not finite" in row["note"]


# ---------------------------------------------------------------- reproducibility, chunking, table

def all_rows(seed, n_boot=B):
    rng = np.random.default_rng(12)
    labels = rng.integers(0, C, 300)
    boot = {"n_boot": n_boot, "seed": seed}
    finals = stack([member(preds_with_acc(rng, labels, 0.7), labels) for _ in range(3)])
    snaps = [stack([member(preds_with_acc(rng, labels, 0.7), labels) for _ in range(2)]) for _ in range(3)]
    samples = [stack([member(preds_with_acc(rng, labels, 0.7), labels) for _ in range(6)]) for _ in range(3)]
    preds = finals[0].argmax(-1)
    return (findings.seed_cosine(cosines(8, rng, 0.05), **boot)
            + findings.trajectory_cosine(0.9 + 0.05 * rng.random((8, 4)), **boot)
            + findings.disagreement_gap(labels, preds, np.stack([preds] * 2, 1), **boot)
            + findings.diversity_plane(labels, preds[0], preds[1:], {"g": preds[:1]}, **boot)
            + findings.ensemble_vs_snapshot(labels, *finals, np.stack([s[0] for s in snaps]),
                                            np.stack([s[1] for s in snaps]), **boot)
            + findings.subspace_vs_ensemble(labels, "g", np.stack([s[0] for s in samples]),
                                            np.stack([s[1] for s in samples]), **boot)
            + findings.barriers(rng.random(28), rng.random(8) * 0.1, **boot)
            + findings.shift_advantage(labels, shift_sets(rng, labels, {3}), **boot))


def test_same_seed_bit_identical_other_seed_moves_only_the_interval():
    first, again, other = all_rows(0), all_rows(0), all_rows(1)
    assert findings.findings_table(first).equals(findings.findings_table(again))
    for a, b in zip(first, again):
        assert (a["ci_low"], a["ci_high"]) == (b["ci_low"], b["ci_high"]) or math.isnan(a["ci_low"])
    for a, b in zip(first, other):
        assert a["estimate"] == b["estimate"] or math.isnan(a["estimate"])
    moved = [(a["ci_low"], a["ci_high"]) != (b["ci_low"], b["ci_high"]) for a, b in zip(first, other)
             if math.isfinite(a["ci_low"]) and a["ci_high"] > a["ci_low"]]
    assert len(moved) >= 8 and all(moved)


def test_chunked_example_weights_match_one_chunk(monkeypatch):
    whole = all_rows(0, n_boot=50)
    monkeypatch.setattr(bootstrap, "_CELLS", 1000)  # 300 examples -> 3 replicates per chunk
    assert findings.findings_table(all_rows(0, n_boot=50)).equals(findings.findings_table(whole))


def test_rows_have_the_columns_and_table_schema():
    rows = all_rows(0, n_boot=20)
    names = [name for name, _ in findings.COLUMNS]
    assert all(list(r) == names for r in rows)
    assert sorted({r["claim"] for r in rows}) == list(range(1, 9))
    keys = [(r["key"], r["subject"]) for r in rows]
    assert len(set(keys)) == len(keys)
    table = findings.findings_table(rows)
    assert table.column_names == names and table.num_rows == len(rows)
    assert table.schema.field("claim").type == pa.int32()
    for name in ("estimate", "ci_low", "ci_high", "threshold"):
        assert table.schema.field(name).type == pa.float64()
    for name in ("n_seeds", "n_examples", "n_boot"):
        assert table.schema.field(name).type == pa.int64()
    for name in ("key", "subject", "statement", "metric", "direction", "verdict", "note"):
        assert table.schema.field(name).type == pa.string()
    assert findings.findings_table([]).schema == table.schema


def test_summary_lines():
    rows = findings.barriers([0.3, 0.5, 0.4], [0.0, 0.01], **BOOT) + findings.seed_cosine(np.ones((1, 1)), **BOOT)
    lines = findings.summary_lines(findings.findings_table(rows))
    assert len(lines) == 3
    assert lines[0].startswith("7") and "holds" in lines[0] and "+0.4000" in lines[0] and "> 0.05" in lines[0]
    assert "solution_barrier" in lines[0] and "init_monotone" in lines[1] and "< 0.05" in lines[1]
    assert lines[2].startswith("1") and "inconclusive" in lines[2] and "nan" in lines[2]
    assert len({line.index("] ") for line in lines}) == 1  # aligned columns
    assert len({line.index("[") for line in lines}) == 2  # numbers right-aligned in them
    assert all(len(line) < 200 for line in lines)
