"""deepens.ensembles and deepens.figures on crafted predictions with hand-derived values."""
import itertools
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from deepens import ensembles, io, metrics
from deepens.figures import ensemble_by_epoch, ensemble_size
from deepens.figures.common import save_figure

ROOT = Path(__file__).resolve().parents[1]
LN2 = math.log(2)

# Four test examples, three classes. Probabilities are dyadic so float32 storage is exact.
LABELS = np.array([0, 1, 2, 0])
# Final epoch (2) of seed 10: predicts 0, 1, 1, 1 -> correct, correct, wrong, wrong: accuracy 0.5
A = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.5, 0.25], [0.25, 0.625, 0.125]])
# Final epoch of seed 11: predicts 1, 1, 2, 0 -> wrong, correct, correct, correct: accuracy 0.75
B = np.array([[0.125, 0.625, 0.25], [0.125, 0.75, 0.125], [0.125, 0.125, 0.75], [0.75, 0.125, 0.125]])
# Final epoch of seed 12: one-hot on the label: accuracy 1
C = np.eye(3)[LABELS]
UNIFORM = np.full((4, 3), 1 / 3)
# Mean of A and B (what the ensemble {10, 11} predicts):
#   ex0 [0.3125, 0.4375, 0.25]  -> 1, wrong;  p_y = 0.3125
#   ex1 [0.1875, 0.625, 0.1875] -> 1, right;  p_y = 0.625
#   ex2 [0.1875, 0.3125, 0.5]   -> 2, right;  p_y = 0.5
#   ex3 [0.5, 0.375, 0.125]     -> 0, right;  p_y = 0.5
AB_ACCURACY = 0.75
AB_NLL = -(math.log(0.3125) + math.log(0.625) + math.log(0.5) + math.log(0.5)) / 4
# Brier per example sum p^2 - 2 p_y + 1:
#   ex0 0.09765625 + 0.19140625 + 0.0625 - 0.625 + 1 = 0.7265625
#   ex1 0.03515625 + 0.390625 + 0.03515625 - 1.25 + 1 = 0.2109375
#   ex2 0.03515625 + 0.09765625 + 0.25 - 1 + 1 = 0.3828125
#   ex3 0.25 + 0.140625 + 0.015625 - 1 + 1 = 0.40625
AB_BRIER = (0.7265625 + 0.2109375 + 0.3828125 + 0.40625) / 4


def write_run(path, per_epoch, labels=LABELS, val=None):
    """One run's predictions file: the test split at epochs 0..E (and optionally a val split)."""
    parts = [io.predictions_table("test", e, labels, np.asarray(p)) for e, p in enumerate(per_epoch)]
    # the val split feeds only temperature scaling; by default it repeats the test predictions
    parts += [io.predictions_table("val", e, labels, np.asarray(p if val is None else val))
              for e, p in enumerate(per_epoch)]
    io.write_table(io.pa.concat_tables(parts), path, {})
    return path


@pytest.fixture
def runs(tmp_path):
    """Seeds 10, 11, 12 with epochs 0, 1, 2. Seed 10's epoch 1 equals seed 11's final epoch, so
    its 2-snapshot is the same ensemble as the independent pair {10, 11}. A val split of
    one-hot wrong predictions checks that only the test split is read."""
    wrong = np.eye(3)[(LABELS + 1) % 3]
    paths = [write_run(tmp_path / "s10.parquet", [UNIFORM, B, A], val=wrong),
             write_run(tmp_path / "s11.parquet", [UNIFORM, A, B], val=wrong),
             write_run(tmp_path / "s12.parquet", [UNIFORM, C, C], val=wrong)]
    return paths, [10, 11, 12]


def rows(table, **where):
    df = table.to_pandas()
    for key, value in where.items():
        df = df[df[key] == value]
    return df


# --- subsets -----------------------------------------------------------------------------

def test_subsets_all_combinations_in_lexicographic_order():
    out = ensembles.subsets(5, 2, max_subsets=100, seed=0)
    assert out.dtype == np.int64 and out.shape == (10, 2)
    assert [tuple(r) for r in out] == list(itertools.combinations(range(5), 2))


def test_subsets_exactly_max_is_still_exhaustive():
    out = ensembles.subsets(5, 2, max_subsets=10, seed=3)
    assert [tuple(r) for r in out] == list(itertools.combinations(range(5), 2))


def test_subsets_sampled_are_distinct_sorted_and_seeded():
    out = ensembles.subsets(10, 5, max_subsets=100, seed=7)  # comb(10, 5) = 252 > 100
    assert out.dtype == np.int64 and out.shape == (100, 5)
    assert len({tuple(r) for r in out}) == 100
    assert np.all(np.diff(out, axis=1) > 0) and out.min() >= 0 and out.max() <= 9
    assert [tuple(r) for r in out] == sorted(tuple(r) for r in out)
    np.testing.assert_array_equal(out, ensembles.subsets(10, 5, 100, seed=7))
    assert not np.array_equal(out, ensembles.subsets(10, 5, 100, seed=8))


def test_subsets_just_above_max_still_finds_distinct_rows():
    out = ensembles.subsets(5, 2, max_subsets=9, seed=0)  # 9 of the 10 pairs
    assert len({tuple(r) for r in out}) == 9


def test_subsets_huge_count_is_sampled_not_enumerated():
    start = time.perf_counter()
    out = ensembles.subsets(40, 20, max_subsets=100, seed=0)  # comb(40, 20) ~ 1.4e11
    assert time.perf_counter() - start < 2.0
    assert out.shape == (100, 20) and len({tuple(r) for r in out}) == 100
    assert np.all(np.diff(out, axis=1) > 0)


def test_subsets_rejects_bad_sizes():
    with pytest.raises(ValueError):
        ensembles.subsets(3, 4, 10, 0)
    with pytest.raises(ValueError):
        ensembles.subsets(3, 0, 10, 0)


# --- batched_scores ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_scores_equal_metrics_row_by_row(dtype):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(5, 0.5), size=(6, 200)).astype(dtype)
    probs[0, :3] = np.eye(5)[:3]  # confidence exactly 1 (last bin) and p = 0 (clipped NLL)
    labels = rng.integers(0, 5, size=200)
    got = ensembles.batched_scores(probs, labels)
    for b in range(len(probs)):
        want = metrics.scores(probs[b], labels)
        for name in ("accuracy", "nll", "brier", "ece"):
            assert got[name].shape == (6,)
            assert got[name][b] == pytest.approx(want[name], rel=1e-12, abs=1e-12)


def test_batched_scores_hand_values():
    got = ensembles.batched_scores(((A + B) / 2)[None], LABELS)
    assert got["accuracy"][0] == AB_ACCURACY
    assert got["nll"][0] == pytest.approx(AB_NLL, rel=1e-12)
    assert got["brier"][0] == pytest.approx(AB_BRIER, rel=1e-12)


# --- ensemble_metrics_table ----------------------------------------------------------------

def test_ensemble_metrics_table_schema_and_row_counts(runs):
    table = ensembles.ensemble_metrics_table(*runs)
    assert table.column_names == ["kind", "size", "seed", "members", "accuracy", "nll", "brier", "ece",
                                  "diversity", "temperature", "nll_calibrated", "brier_calibrated", "ece_calibrated"]
    assert [str(t) for t in table.schema.types] == ["string", "int32", "int64", "string"] + ["double"] * 9
    ind = rows(table, kind="independent")
    assert len(ind) == 3 + 3 + 1
    assert ind.groupby("size").size().to_dict() == {1: 3, 2: 3, 3: 1}
    assert set(ind.seed) == {-1}
    snap = rows(table, kind="snapshot")  # 3 runs x sizes 1, 2 (E = 2 epochs after the initial one)
    assert len(snap) == 6
    assert sorted(zip(snap.seed, snap.members)) == [(10, "1,2"), (10, "2"), (11, "1,2"), (11, "2"),
                                                    (12, "1,2"), (12, "2")]


def test_independent_members_strings(runs):
    ind = rows(ensembles.ensemble_metrics_table(*runs), kind="independent")
    assert list(ind.members) == ["10", "11", "12", "10,11", "10,12", "11,12", "10,11,12"]


def test_independent_pair_hand_values(runs):
    pair = rows(ensembles.ensemble_metrics_table(*runs), kind="independent", members="10,11").iloc[0]
    assert pair["size"] == 2
    assert pair.accuracy == AB_ACCURACY
    assert pair.nll == pytest.approx(AB_NLL, rel=1e-12)
    assert pair.brier == pytest.approx(AB_BRIER, rel=1e-12)
    assert pair.ece == pytest.approx(metrics.ece((A + B) / 2, LABELS), rel=1e-12)


def test_single_members_equal_final_checkpoint_scores(runs):
    ind = rows(ensembles.ensemble_metrics_table(*runs), kind="independent", size=1)
    assert list(ind.accuracy) == [0.5, 0.75, 1.0]
    assert list(ind.diversity) == [0.0, 0.0, 0.0]
    assert ind.nll.iloc[2] == pytest.approx(0.0, abs=1e-12)  # one-hot on the label


def test_all_three_seeds_hand_accuracy(runs):
    # (A + B + C) / 3 puts the largest mass on the label for every example.
    trio = rows(ensembles.ensemble_metrics_table(*runs), kind="independent", size=3).iloc[0]
    assert trio.members == "10,11,12" and trio.accuracy == 1.0


def test_snapshot_pair_equals_the_same_independent_ensemble(runs):
    table = ensembles.ensemble_metrics_table(*runs)
    snap = rows(table, kind="snapshot", seed=10, size=2).iloc[0]
    pair = rows(table, kind="independent", members="10,11").iloc[0]
    assert snap.members == "1,2"
    for name in ("accuracy", "nll", "brier", "ece", "diversity"):
        assert snap[name] == pytest.approx(pair[name], rel=1e-12, abs=1e-15)
    # Seed 12's last two checkpoints are identical: no diversity.
    assert rows(table, kind="snapshot", seed=12, size=2).diversity.iloc[0] == 0.0


def test_snapshots_are_the_last_k_checkpoints(tmp_path):
    # Epochs 0..3 = uniform, C, A, B; at most 2 snapshots: {3} and {2, 3}, never epoch 1 or 0.
    path = write_run(tmp_path / "s.parquet", [UNIFORM, C, A, B])
    snap = rows(ensembles.ensemble_metrics_table([path], [5], snapshot_max_size=2), kind="snapshot")
    assert list(snap.members) == ["3", "2,3"] and list(snap["size"]) == [1, 2] and list(snap.seed) == [5, 5]
    assert list(snap.accuracy) == [0.75, AB_ACCURACY]  # B alone; mean of A and B
    assert snap.nll.iloc[1] == pytest.approx(AB_NLL, rel=1e-12)
    assert snap.brier.iloc[1] == pytest.approx(AB_BRIER, rel=1e-12)


def test_diversity_is_jensen_shannon(runs):
    table = ensembles.ensemble_metrics_table(*runs)
    pair = rows(table, kind="independent", members="10,12").iloc[0]

    def entropy(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=-1)
    expected = np.mean(entropy((A + C) / 2) - (entropy(A) + entropy(C)) / 2)
    assert pair.diversity == pytest.approx(expected, rel=1e-12)


def test_diversity_of_disagreeing_one_hot_members_is_ln2(tmp_path):
    # Two one-hot members that differ on every example: H(mean) = ln 2, member entropies 0.
    p, q = np.eye(3)[LABELS], np.eye(3)[(LABELS + 1) % 3]
    paths = [write_run(tmp_path / "a.parquet", [UNIFORM, p]), write_run(tmp_path / "b.parquet", [UNIFORM, q])]
    pair = rows(ensembles.ensemble_metrics_table(paths, [1, 2]), kind="independent", size=2).iloc[0]
    assert pair.diversity == pytest.approx(LN2, rel=1e-12)
    assert pair.nll == pytest.approx(LN2, rel=1e-12)  # p_y = 1/2 everywhere


def test_identical_members_have_zero_diversity(tmp_path):
    paths = [write_run(tmp_path / f"{s}.parquet", [UNIFORM, A]) for s in (1, 2)]
    pair = rows(ensembles.ensemble_metrics_table(paths, [1, 2]), kind="independent", size=2).iloc[0]
    assert pair.diversity == 0.0 and pair.accuracy == 0.5


def test_subset_sampling_and_snapshot_size_limits(runs):
    table = ensembles.ensemble_metrics_table(*runs, max_subsets=2, snapshot_max_size=1)
    ind = rows(table, kind="independent")
    assert ind.groupby("size").size().to_dict() == {1: 2, 2: 2, 3: 1}
    assert len(ind.members.unique()) == 5
    # Size k draws its sample with seed subset_seed + k (sizes get different samples).
    for k in (1, 2):
        want = [",".join(str(10 + i) for i in r) for r in ensembles.subsets(3, k, 2, seed=k)]
        assert list(ind[ind["size"] == k].members) == want
    snap = rows(table, kind="snapshot")
    assert list(snap.members) == ["2", "2", "2"] and list(snap.seed) == [10, 11, 12]


@pytest.mark.parametrize("block", [1, 2, 32])
def test_block_size_does_not_change_results(runs, block):
    want = ensembles.ensemble_metrics_table(*runs, block=32).to_pandas()
    got = ensembles.ensemble_metrics_table(*runs, block=block).to_pandas()
    assert got.drop(columns=["accuracy", "nll", "brier", "ece", "diversity"]).equals(
        want.drop(columns=["accuracy", "nll", "brier", "ece", "diversity"]))
    np.testing.assert_allclose(got[["accuracy", "nll", "brier", "ece", "diversity"]],
                               want[["accuracy", "nll", "brier", "ece", "diversity"]], rtol=1e-12, atol=1e-15)


def test_mismatched_runs_are_rejected(tmp_path, runs):
    other = write_run(tmp_path / "other.parquet", [UNIFORM, A, B], labels=np.array([1, 1, 2, 0]))
    with pytest.raises(io.ArtifactError, match="other epochs, examples or classes"):
        ensembles.ensemble_metrics_table([runs[0][0], other], [10, 99])
    with pytest.raises(ValueError):
        ensembles.ensemble_metrics_table(runs[0], [10, 11])


# --- ensemble_by_epoch_table ---------------------------------------------------------------

def test_ensemble_by_epoch_hand_values(runs):
    df = ensembles.ensemble_by_epoch_table(*runs).to_pandas()
    assert list(df.columns) == ["epoch", "kind", "accuracy", "nll", "brier", "ece", "accuracy_std"]
    assert list(df.epoch) == [0, 0, 1, 1, 2, 2]
    assert list(df.kind) == ["ensemble", "single_mean"] * 3
    final = df[df.epoch == 2].set_index("kind")
    assert final.loc["ensemble", "accuracy"] == 1.0          # see test_all_three_seeds_hand_accuracy
    assert final.loc["single_mean", "accuracy"] == pytest.approx(0.75)  # (0.5 + 0.75 + 1) / 3
    assert final.loc["single_mean", "accuracy_std"] == pytest.approx(math.sqrt(0.125 / 3))
    assert final.loc["ensemble", "accuracy_std"] == 0.0


def test_ensemble_by_epoch_matches_metrics_on_random_runs(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=50)
    probs = rng.dirichlet(np.ones(4), size=(3, 5, 50)).astype(np.float32)  # seeds x epochs x N x C
    paths = [write_run(tmp_path / f"{s}.parquet", probs[s], labels=labels) for s in range(3)]
    df = ensembles.ensemble_by_epoch_table(paths, [0, 1, 2]).to_pandas()
    for e in range(5):
        ens = df[(df.epoch == e) & (df.kind == "ensemble")].iloc[0]
        single = df[(df.epoch == e) & (df.kind == "single_mean")].iloc[0]
        mean_probs = probs[:, e].astype(np.float64).mean(axis=0)
        for name, fn in (("accuracy", metrics.accuracy), ("nll", metrics.nll), ("brier", metrics.brier),
                         ("ece", metrics.ece)):
            assert ens[name] == pytest.approx(fn(mean_probs, labels), rel=1e-12, abs=1e-12)
            singles = [fn(probs[s, e], labels) for s in range(3)]
            assert single[name] == pytest.approx(np.mean(singles), rel=1e-12, abs=1e-12)
        assert single.accuracy_std == pytest.approx(np.std([metrics.accuracy(probs[s, e], labels) for s in range(3)]))


# --- no TensorFlow ------------------------------------------------------------------------

def test_modules_import_without_tensorflow():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "tf_blocker"),
                                                        str(ROOT / "workflow_scripts")])}
    subprocess.run([sys.executable, "-c", "import deepens.ensembles, deepens.figures.ensemble_size"],
                   env=env, check=True)


# --- figures --------------------------------------------------------------------------------

def test_figures_render(runs, tmp_path):
    size = ensembles.ensemble_metrics_table(*runs).to_pandas()
    by_epoch = ensembles.ensemble_by_epoch_table(*runs).to_pandas()
    for name, fig in (("size", ensemble_size.draw(size, "small_cnn", "digits")),
                      ("epoch", ensemble_by_epoch.draw(by_epoch, "small_cnn", "digits"))):
        assert "SmallCNN on digits" in fig._suptitle.get_text()
        paths = [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]
        save_figure(fig, paths)
        for p in paths:
            assert p.stat().st_size > 1000
