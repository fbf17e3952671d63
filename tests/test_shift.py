"""Dataset shift: shift-set files, per-member prediction tables, the metrics table, and the DAG's
outputs checked against the clean predictions and the subspace samples they must reproduce."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deepens import io, metrics
from deepens.calibration import fit_temperature, log_predictive
from deepens.ensembles import subsets
from deepens.io import ArtifactError
from deepens.shift import CLEAN, VALIDATION, load_shift_set, read_shift_predictions, save_shift_set, shift_table
from deepens.shift_analysis import shift_metrics_table

BASE = "results/digits/small_cnn"


def test_shift_set_round_trip_and_checks(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 5, 4, 4, 1), dtype=np.uint8)
    labels = np.array([0, 1, 2, 1, 0])
    save_shift_set(tmp_path / "s.npz", images, [1, 4], labels, {"corruption": "contrast"})
    s = load_shift_set(tmp_path / "s.npz", labels)
    assert np.array_equal(s["images"], images) and s["severities"].tolist() == [1, 4]
    assert s["meta"]["corruption"] == "contrast"
    with pytest.raises(ArtifactError, match="labels differ"):
        load_shift_set(tmp_path / "s.npz", np.roll(labels, 1))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="bad.npz"):
        load_shift_set(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="severities x N"):
        save_shift_set(tmp_path / "t.npz", images.astype(np.float32), [1, 4], labels, {})


def _member_file(path, probs_by_key, labels, samples=1, val=None):
    """A member's shift file; val = (probs, labels) of its validation rows (random when None)."""
    if val is None:
        rng = np.random.default_rng(len(labels))
        val = (_random_probs(rng, 12, probs_by_key[(CLEAN, 0)].shape[1]), rng.integers(0, 3, 12))
    parts = [shift_table(c, s, labels, p) for (c, s), p in probs_by_key.items()]
    parts.append(shift_table(VALIDATION, 0, val[1], val[0]))
    t = pa.concat_tables(parts)
    io.write_table(t.add_column(0, "samples", pa.array(np.full(t.num_rows, samples, np.int32))), path, {})


def _random_probs(rng, n, c):
    p = rng.random((n, c)).astype(np.float32) ** 4
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def test_metrics_table_against_direct_scores(tmp_path):
    rng = np.random.default_rng(1)
    n, c, seeds = 40, 4, [3, 8, 9]
    labels = rng.integers(0, c, n)
    keys = [(CLEAN, 0), ("contrast", 1), ("contrast", 5)]
    final = {s: {k: _random_probs(rng, n, c) for k in keys} for s in seeds}
    rand = {s: {k: _random_probs(rng, n, c) for k in keys} for s in seeds}
    val_labels = rng.integers(0, c, 30)
    val = {s: _random_probs(rng, 30, c) for s in seeds}
    paths = {"final": [], "random": []}
    for member, data, samples in (("final", final, 1), ("random", rand, 7)):
        for s in seeds:
            path = tmp_path / f"{member}{s}.parquet"
            _member_file(path, data[s], labels, samples, val=(val[s], val_labels))
            paths[member].append(path)
    read, count = read_shift_predictions(paths["random"][0])
    assert count == 7 and sorted(read) == sorted(keys + [(VALIDATION, 0)])
    assert np.array_equal(read[("contrast", 5)]["probs"], rand[3][("contrast", 5)])

    table = shift_metrics_table(paths, seeds, max_subsets=100, subset_seed=0, bins=15).to_pandas()
    for key in keys:
        at = table[(table.corruption == key[0]) & (table.severity == key[1])]
        for s in seeds:
            row = at[(at.kind == "single") & (at.seed == s)].iloc[0]
            expected = metrics.scores(final[s][key], labels)
            for m in ("accuracy", "nll", "brier", "ece"):
                assert row[m] == pytest.approx(expected[m], rel=1e-9, abs=1e-12), (key, s, m)
            # calibrated: the temperature of this seed's validation rows, applied to this test set
            v = val[s].astype(np.float64)
            t = fit_temperature(log_predictive(v[None], val_labels, np.log(v[np.arange(30), val_labels])[None]),
                                val_labels)[0]
            assert row.temperature == pytest.approx(t, rel=1e-12)
            scaled = final[s][key].astype(np.float64) ** (1 / t)
            scaled /= scaled.sum(axis=1, keepdims=True)
            assert row.nll_calibrated == pytest.approx(metrics.nll(scaled, labels), rel=1e-6)
            row = at[(at.kind == "random alone") & (at.seed == s)].iloc[0]
            assert row["size"] == 7 and row.accuracy == metrics.accuracy(rand[s][key], labels)
        # the ensemble of all three seeds (one subset), and the size-2 mean over its three subsets
        full = at[(at.kind == "independent") & (at["size"] == 3)].iloc[0]
        mean = np.mean([final[s][key].astype(np.float64) for s in seeds], axis=0)
        assert full.nll == pytest.approx(metrics.nll(mean, labels), rel=1e-9)
        two = at[(at.kind == "random + ensemble") & (at["size"] == 2)].iloc[0]
        pairs = subsets(3, 2, 100, 2)
        expected = np.mean([metrics.brier(np.mean([rand[seeds[i]][key].astype(np.float64) for i in pair], axis=0),
                                          labels) for pair in pairs])
        assert two.brier == pytest.approx(expected, rel=1e-9) and two.n_combinations == 3


def test_metrics_table_rejects_mismatched_members(tmp_path):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 10)
    _member_file(tmp_path / "a.parquet", {(CLEAN, 0): _random_probs(rng, 10, 3)}, labels)
    _member_file(tmp_path / "b.parquet", {(CLEAN, 0): _random_probs(rng, 10, 3),
                                          ("contrast", 1): _random_probs(rng, 10, 3)}, labels)
    with pytest.raises(ArtifactError, match="b.parquet"):
        shift_metrics_table({"final": [tmp_path / "a.parquet", tmp_path / "b.parquet"]}, [0, 1])
    with pytest.raises(ValueError, match="member 'final'"):
        shift_metrics_table({"random": [tmp_path / "a.parquet"]}, [0])


# --- the DAG's outputs (tiny config: corruptions all six at severities 1, 3, 5; 2 samples) -----

def test_shift_sets_are_the_generated_corruptions(tiny_run):
    from deepens import corruptions
    from deepens.data import load_dataset

    workdir, _ = tiny_run
    ds = load_dataset(workdir / "results/digits/data.npz")
    for name in corruptions.CORRUPTIONS:
        s = load_shift_set(workdir / f"results/digits/shift/{name}.npz", ds.y_test)
        assert s["severities"].tolist() == [1, 3, 5]
        assert np.array_equal(s["images"][1], corruptions.corrupt(ds.x_test, name, 3, 0)), name


def test_clean_shift_rows_equal_the_final_checkpoints(tiny_run):
    workdir, _ = tiny_run
    table = pd.read_parquet(workdir / BASE / "tables/shift_metrics.parquet")
    assert set(table.severity) == {0, 1, 3, 5}
    assert set(table.kind) == {"single", "independent", "snapshot alone", "snapshot + ensemble", "random alone",
                               "random + ensemble", "averaging alone", "averaging + ensemble"}
    clean = table[(table.kind == "single") & (table.severity == 0)]
    for seed in (0, 1):
        epochs, labels, probs, _ = io.read_predictions(workdir / BASE / f"seed{seed}/predictions.parquet")
        row = clean[clean.seed == seed].iloc[0]
        assert row.accuracy == metrics.accuracy(probs[-1], labels)
        assert row.nll == pytest.approx(metrics.nll(probs[-1], labels), rel=1e-6)


def _snapshot_epochs(config_path):
    """rules/common.smk snapshot_epochs(): the last ensembles.snapshot_max_size checkpoints, never epoch 0."""
    import yaml

    with open(config_path) as fh:
        config = yaml.safe_load(fh)
    epochs = list(range(config["train"]["epochs"] + 1))
    size = config.get("ensembles", {}).get("snapshot_max_size", 10)  # config.schema.yaml default
    return epochs[-min(size, len(epochs) - 1):]


def test_snapshot_member_is_the_mean_of_the_last_checkpoints(tiny_run):
    """On the clean test set the snapshot member's softmax is the mean of the last snapshot_max_size
    checkpoints' test predictions (the tiny config: 2 epochs, so epochs 1 and 2)."""
    workdir, config = tiny_run
    snapshot = _snapshot_epochs(config)
    assert snapshot == [1, 2]
    for seed in (0, 1):
        preds, count = read_shift_predictions(workdir / BASE / f"seed{seed}/shift/snapshot.parquet")
        assert count == len(snapshot)
        run = io.read_predictions(workdir / BASE / f"seed{seed}/predictions.parquet")
        rows = [list(run.epochs).index(e) for e in snapshot]
        clean = preds[(CLEAN, 0)]
        np.testing.assert_allclose(clean["probs"], run.probs[rows].astype(np.float64).mean(axis=0), rtol=0, atol=2e-7)
        assert np.array_equal(clean["labels"], run.labels)
        # its validation rows (which temperature scaling is fitted on): the same checkpoints on val
        val = io.read_predictions(workdir / BASE / f"seed{seed}/predictions.parquet", "val")
        np.testing.assert_allclose(preds[(VALIDATION, 0)]["probs"], val.probs[rows].astype(np.float64).mean(axis=0),
                                   rtol=0, atol=2e-7)
        assert np.array_equal(preds[(VALIDATION, 0)]["labels"], val.labels)


@pytest.mark.parametrize("method, samples", [("random", 2), ("averaging", 1)])
def test_subspace_members_reuse_the_subspace_samples(tiny_run, method, samples):
    """The shift job redraws the same weight vectors: on the clean test set its mean softmax equals
    the mean of the first `samples` ensemble samples in the subspace sample table."""
    workdir, _ = tiny_run
    for seed in (0, 1):
        preds, count = read_shift_predictions(workdir / BASE / f"seed{seed}/shift/{method}.parquet")
        assert count == samples
        smp = io.read_samples(workdir / BASE / f"seed{seed}/subspace/{method}.parquet", "test", "ensemble")
        labels, probs = preds[(CLEAN, 0)]["labels"], preds[(CLEAN, 0)]["probs"]
        np.testing.assert_allclose(probs, smp["probs"][:samples].mean(axis=0), rtol=0, atol=2e-7)
        assert np.array_equal(labels, smp["labels"])
