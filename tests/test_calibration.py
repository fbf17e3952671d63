"""Temperature scaling, the deep-ensemble equivalent and reliability diagrams (deepens.calibration,
deepens.reliability), with known answers."""
import math

import numpy as np
import pyarrow as pa
import pytest
from deepens import calibration, ensembles, io, metrics, reliability


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def draw_labels(rng, probs):
    return (probs.cumsum(axis=-1) > rng.random((len(probs), 1))).argmax(axis=-1)


@pytest.mark.parametrize("true_t", [0.4, 1.0, 2.5])
def test_fit_recovers_the_temperature_that_generated_the_labels(true_t):
    """Labels drawn from softmax(z / T0): the network's softmax(z) is miscalibrated by exactly T0,
    and the fitted temperature finds it (to the sampling noise of 20,000 examples)."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (20_000, 10))
    labels = draw_labels(rng, softmax(z / true_t))
    p = softmax(z)
    log_p = calibration.log_predictive(p[None], labels, np.log(p[np.arange(len(labels)), labels])[None])
    t = calibration.fit_temperature(log_p, labels)
    assert t.shape == (1,) and t[0] == pytest.approx(true_t, rel=0.04)


def test_fitted_temperature_minimises_the_nll_and_rows_are_independent():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 2, (500, 5))
    labels = draw_labels(rng, softmax(base))
    # three networks whose logits are the labels' logits times 0.5, 1 and 3
    log_p = np.log(softmax(base[None] * np.array([0.5, 1.0, 3.0])[:, None, None]))
    t = calibration.fit_temperature(log_p, labels)
    assert np.all((0.2 < t) & (t < 10)) and t[0] < t[1] < t[2]
    best = calibration.scaled_nll(log_p, labels, t)
    for factor in (0.98, 1.02, 0.5, 2.0):
        assert np.all(calibration.scaled_nll(log_p, labels, t * factor) > best)
    # fitting each row alone gives the same temperature
    for b in range(3):
        assert calibration.fit_temperature(log_p[b:b + 1], labels)[0] == pytest.approx(t[b], rel=1e-5)


def test_scaling_a_softmax_is_scaling_its_logits():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 4, (200, 7))
    for t in (0.3, 1.0, 4.0):
        got = calibration.scaled_log_probs(np.log(softmax(z)), t)
        np.testing.assert_allclose(got, np.log(softmax(z / t)), rtol=1e-12, atol=1e-12)


def test_underflowed_label_probability_keeps_its_exact_log_prob():
    """A label whose stored float32 probability underflowed to 0 enters with its exact log-prob:
    the calibrated NLL stays finite and follows the log-prob, no floor."""
    probs = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    labels = np.array([1, 0])
    logp = np.array([-200.0, math.log(0.5)])
    log_p = calibration.log_predictive(probs[None], labels, logp[None])
    assert log_p[0, 0, 1] == -200.0 and log_p[0, 0, 0] == 0.0 and log_p[0, 1, 0] == pytest.approx(math.log(0.5))
    nll = calibration.scaled_nll(log_p, labels, np.array([2.0]))
    # at T = 2: example 0 has log p_y = -100 - log(1 + e^-100), example 1 log 0.5
    assert nll[0] == pytest.approx((100 + math.log(1 + math.exp(-100)) + math.log(2)) / 2, rel=1e-12)


def test_calibrated_scores_fit_on_val_and_score_on_test():
    rng = np.random.default_rng(3)
    z_val, z_test = rng.normal(0, 3, (2000, 4)), rng.normal(0, 3, (2000, 4))
    y_val, y_test = draw_labels(rng, softmax(z_val / 2.0)), draw_labels(rng, softmax(z_test / 2.0))

    def part(z, y):
        p = softmax(z)
        return p[None], y, np.log(p[np.arange(len(y)), y])[None]

    got = calibration.calibrated_scores(part(z_val, y_val), part(z_test, y_test), bins=10)
    assert set(got) == set(calibration.CALIBRATED)
    t = got["temperature"][0]
    assert t == pytest.approx(calibration.fit_temperature(calibration.log_predictive(*part(z_val, y_val)), y_val)[0])
    scaled = softmax(z_test / t)
    assert got["nll_calibrated"][0] == pytest.approx(metrics.nll(scaled, y_test), rel=1e-9)
    assert got["brier_calibrated"][0] == pytest.approx(metrics.brier(scaled, y_test), rel=1e-9)
    assert got["ece_calibrated"][0] == pytest.approx(metrics.ece(scaled, y_test, 10), rel=1e-9)
    # the miscalibration was real: scaling helps on the held-out test set
    assert got["nll_calibrated"][0] < metrics.nll(softmax(z_test), y_test)


@pytest.mark.parametrize("value, expected", [
    (0.75, (2.5, False)),      # halfway between sizes 2 (0.8) and 3 (0.7)
    (0.9, (1.5, False)),
    (0.8, (2.0, False)),
    (1.2, (1.0, False)),       # worse than one network
    (0.6, (4.0, True)),        # better than every ensemble: censored at the largest size
])
def test_deep_ensemble_equivalent_on_a_constructed_curve(value, expected):
    assert calibration.deep_ensemble_equivalent([1, 2, 3, 4], [1.0, 0.8, 0.7, 0.65], value) == \
        pytest.approx(expected)


def test_deep_ensemble_equivalent_takes_the_first_crossing():
    """A noisy curve that dips below the value, rises and falls again: the smallest l counts."""
    assert calibration.deep_ensemble_equivalent([3, 1, 2, 4], [0.68, 1.0, 0.7, 0.6], 0.72) == \
        pytest.approx((1 + 0.28 / 0.3, False))


def test_reliability_bins_by_hand():
    probs = np.array([[0.95, 0.05], [0.9, 0.1], [0.4, 0.6], [0.55, 0.45]])
    labels = np.array([0, 1, 1, 1])
    r = calibration.reliability(probs, labels, bins=2)
    # bin 0 (0, 0.5]: nothing (max prob >= 0.5); bin 1 (0.5, 1]: all four
    assert r["count"].tolist() == [0, 4]
    assert math.isnan(r["confidence"][0]) and math.isnan(r["accuracy"][0])
    assert r["confidence"][1] == pytest.approx((0.95 + 0.9 + 0.6 + 0.55) / 4)
    assert r["accuracy"][1] == pytest.approx(2 / 4)
    # their weighted gaps are the ECE
    gap = np.nansum(r["count"] * np.abs(r["accuracy"] - r["confidence"])) / 4
    assert gap == pytest.approx(metrics.ece(probs, labels, 2))


def write_run(path, labels, per_epoch, val_labels, val_per_epoch):
    parts = [io.predictions_table("test", e, labels, p) for e, p in enumerate(per_epoch)]
    parts += [io.predictions_table("val", e, val_labels, p) for e, p in enumerate(val_per_epoch)]
    io.write_table(pa.concat_tables(parts), path, {})
    return path


@pytest.fixture
def overconfident_runs(tmp_path):
    """Three runs whose logits are twice what the labels follow (T0 = 2), val and test."""
    rng = np.random.default_rng(4)
    paths, finals = [], []
    y_test, y_val = None, None
    z_test, z_val = rng.normal(0, 2, (1500, 5)), rng.normal(0, 2, (1500, 5))
    y_test, y_val = draw_labels(rng, softmax(z_test)), draw_labels(rng, softmax(z_val))
    for s in range(3):
        noise_t, noise_v = rng.normal(0, 0.3, z_test.shape), rng.normal(0, 0.3, z_val.shape)
        test = [np.full(z_test.shape, 0.2), softmax(2 * (z_test + noise_t))]
        val = [np.full(z_val.shape, 0.2), softmax(2 * (z_val + noise_v))]
        paths.append(write_run(tmp_path / f"s{s}.parquet", y_test, test, y_val, val))
        finals.append((test[-1], val[-1]))
    return paths, finals, y_test, y_val


def test_ensemble_table_calibrates_every_ensemble_on_its_val_split(overconfident_runs):
    paths, finals, y_test, y_val = overconfident_runs
    t = ensembles.ensemble_metrics_table(paths, [0, 1, 2]).to_pandas()
    single = t[(t.kind == "independent") & (t["size"] == 1)].set_index("members")
    for s, (test, val) in enumerate(finals):
        row = single.loc[str(s)]
        expected = calibration.fit_temperature(np.log(val.astype(np.float32).astype(np.float64))[None], y_val)[0]
        assert row.temperature == pytest.approx(expected, rel=1e-4)
        assert row.temperature > 1.5  # overconfident by about 2
        assert row.nll_calibrated < row.nll and row.ece_calibrated < row.ece
    both = t[(t.kind == "independent") & (t["size"] == 3)].iloc[0]
    ens_val = np.mean([v.astype(np.float32) for _, v in finals], axis=0, dtype=np.float64)
    expected = calibration.fit_temperature(np.log(ens_val)[None], y_val)[0]
    assert both.temperature == pytest.approx(expected, rel=1e-4)
    # snapshot rows too (size 1 = the final checkpoint: its temperature equals the single run's)
    snap = t[(t.kind == "snapshot") & (t["size"] == 1)].set_index("seed")
    assert snap.loc[1].temperature == pytest.approx(single.loc["1"].temperature, rel=1e-9)


def test_reliability_table_raw_and_calibrated(overconfident_runs, tmp_path):
    paths, finals, y_test, _ = overconfident_runs
    table = reliability.reliability_table(paths, [0, 1, 2], 1, {}, bins=10).to_pandas()
    assert sorted(set(zip(table.kind, table.calibrated))) == [("ensemble", False), ("ensemble", True),
                                                             ("single", False), ("single", True)]
    raw = table[(table.kind == "single") & ~table.calibrated]
    assert raw["count"].sum() == len(y_test) and (raw.temperature == 1.0).all()
    assert raw.ece.iloc[0] == pytest.approx(metrics.ece(finals[1][0].astype(np.float32), y_test, 10), rel=1e-6)
    cal = table[(table.kind == "single") & table.calibrated]
    assert cal.temperature.iloc[0] > 1.5 and cal.ece.iloc[0] < raw.ece.iloc[0]
    with pytest.raises(ValueError, match="reference seed 7"):
        reliability.reliability_table(paths, [0, 1, 2], 7, {})
