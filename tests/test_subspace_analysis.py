"""deepens.subspace_analysis and deepens.figures on crafted predictions and subspace samples."""
import math

import numpy as np
import pyarrow as pa
import pytest
from deepens import ensembles, io, metrics
from deepens import function_space as fs
from deepens import subspace_analysis as sa
from deepens.figures import diversity_accuracy, section5_ensembles, subspace_tsne
from deepens.figures.common import save_figure

QUIET = dict(log=lambda *_: None)


def write_run(path, labels, probs):
    """Predictions of one run: probs (epochs x N x C) at epochs 0..E, as the predict job writes
    them; the val split (which only temperature scaling reads) holds the same predictions."""
    io.write_table(pa.concat_tables([io.predictions_table(split, e, labels, p) for split in ("test", "val")
                                     for e, p in enumerate(probs)]), path, {})
    return path


def write_samples(path, method, labels, ensemble=None, plane=None, val=None):
    """One (run, method) samples file; each of ensemble/plane/val is (S x N x C) or None; val
    defaults to the ensemble samples (the val split feeds only temperature scaling)."""
    val = ensemble if val is None else val
    parts = []
    for purpose, split, probs in (("ensemble", "test", ensemble), ("plane", "test", plane), ("ensemble", "val", val)):
        if probs is not None:
            probs = np.asarray(probs)
            s = len(probs)
            ids = np.arange(s)
            parts.append(io.samples_table(method, purpose, split, ids, np.linspace(0.1, 1, s), np.full(s, 0.5),
                                          labels, probs))
    io.write_table(pa.concat_tables(parts), path, {})
    return path


def confident(pred, num_classes, c=0.6):
    p = np.full((len(pred), num_classes), (1 - c) / (num_classes - 1), np.float32)
    p[np.arange(len(pred)), pred] = c
    return p


# --- Section 5 ------------------------------------------------------------------------------------
# Four test examples, three classes, labels [0 1 2 0]; dyadic probabilities (exact in float32).
LABELS = np.array([0, 1, 2, 0])
# Final solutions (epoch 1) of seeds 10 and 11.
A = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.5, 0.25], [0.25, 0.625, 0.125]])
B = np.array([[0.125, 0.625, 0.25], [0.125, 0.75, 0.125], [0.125, 0.125, 0.75], [0.75, 0.125, 0.125]])
UNIFORM = np.full((4, 3), 1 / 3)
# Dropout ensemble samples of seed 10 (S10) and seed 11 (S11), two each.
#   S10[0] predicts 0 1 1 2 -> accuracy 1/2; p_y = 1, 1, 1/4, 1/4 -> NLL = 2 ln 4 / 4 = ln 2
#     Brier: 0, 0, (9/16 + 1/16 - 1/2 + 1) = 9/8, 9/8 -> 9/16
#   S11[0] predicts 0 1 2 0 -> accuracy 1;   p_y = 3/4, 3/4, 1, 1 -> NLL = ln(4/3) / 2
#     Brier: (9/16 + 1/16 - 3/2 + 1) = 1/8, 1/8, 0, 0 -> 1/16
S10 = np.array([[[1, 0, 0], [0, 1, 0], [0, 0.75, 0.25], [0.25, 0, 0.75]],
                [[0.25, 0.5, 0.25], [0, 0.5, 0.5], [0, 0.5, 0.5], [0.25, 0, 0.75]]])
S11 = np.array([[[0.75, 0, 0.25], [0.25, 0.75, 0], [0, 0, 1], [1, 0, 0]],
                [[0.5, 0, 0.5], [0.25, 0.25, 0.5], [0, 0.25, 0.75], [1, 0, 0]]])
# Per-seed sample means:
M10 = np.array([[0.625, 0.25, 0.125], [0, 0.75, 0.25], [0, 0.625, 0.375], [0.25, 0, 0.75]])  # 0 1 1 2: acc 1/2
M11 = np.array([[0.625, 0, 0.375], [0.25, 0.5, 0.25], [0, 0.125, 0.875], [1, 0, 0]])  # 0 1 2 0: acc 1
# "dropout + ensemble" at k = 2: (M10 + M11) / 2 =
#   [[5/8 1/8 1/4] [1/8 5/8 1/4] [0 3/8 5/8] [5/8 0 3/8]] -> predicts 0 1 2 0: accuracy 1,
#   p_y = 5/8 everywhere: NLL = ln(8/5); Brier: 25/64 + 1/64 + 4/64 - 5/4 + 1 = 7/32 (ex 0, 1),
#   0 + 9/64 + 25/64 - 5/4 + 1 = 9/32 (ex 2, 3) -> mean 1/4.
ENS_ACCURACY, ENS_NLL, ENS_BRIER = 1.0, math.log(8 / 5), 0.25


@pytest.fixture
def section5_files(tmp_path):
    preds = [write_run(tmp_path / "s10.parquet", LABELS, np.stack([UNIFORM, A])),
             write_run(tmp_path / "s11.parquet", LABELS, np.stack([UNIFORM, B]))]
    # Plane samples and val-split samples that must not enter the (uncalibrated) scores: one-hot wrong.
    wrong = np.eye(3)[(LABELS + 1) % 3][None].repeat(3, axis=0)
    dropout = [write_samples(tmp_path / "s10_dropout.parquet", "dropout", LABELS, S10, plane=wrong,
                             val=wrong[:len(S10)]),
               write_samples(tmp_path / "s11_dropout.parquet", "dropout", LABELS, S11, plane=wrong,
                             val=wrong[:len(S11)])]
    # Weight averaging: one function per seed, here M10 and M11.
    averaging = [write_samples(tmp_path / "s10_avg.parquet", "averaging", LABELS, M10[None]),
                 write_samples(tmp_path / "s11_avg.parquet", "averaging", LABELS, M11[None])]
    return preds, {"dropout": dropout, "averaging": averaging}


def by_kind(table, kind):
    t = table.to_pandas()
    return t[t.kind == kind].set_index("size").sort_index()


def test_section5_hand_values(section5_files):
    preds, samples = section5_files
    t = sa.section5_ensembles_table(preds, samples, [10, 11])
    ens = by_kind(t, "dropout + ensemble")
    assert list(ens.index) == [1, 2] and set(ens.method) == {"dropout"}
    assert ens.loc[2, "accuracy"] == pytest.approx(ENS_ACCURACY)
    assert ens.loc[2, "nll"] == pytest.approx(ENS_NLL, rel=1e-12)
    assert ens.loc[2, "brier"] == pytest.approx(ENS_BRIER, rel=1e-12)
    assert ens.loc[2, "n_combinations"] == 1
    assert ens.loc[2, ["accuracy_min", "accuracy_max"]].tolist() == [1.0, 1.0]
    # k = 1: mean over the two seeds of their own sample means M10 (acc 1/2) and M11 (acc 1).
    assert ens.loc[1, "n_combinations"] == 2
    assert ens.loc[1, ["accuracy", "accuracy_min", "accuracy_max"]].tolist() == pytest.approx([0.75, 0.5, 1.0])
    nll_1 = [metrics.nll(M10, LABELS), metrics.nll(M11, LABELS)]
    assert ens.loc[1, ["nll", "nll_min", "nll_max"]].tolist() == pytest.approx([np.mean(nll_1), min(nll_1),
                                                                                max(nll_1)])
    # Alone, m = 1: the first sample of each seed, averaged over the seeds.
    alone = by_kind(t, "dropout alone")
    assert list(alone.index) == [1, 2] and set(alone.n_combinations) == {2}
    assert alone.loc[1, ["accuracy", "accuracy_min", "accuracy_max"]].tolist() == pytest.approx([0.75, 0.5, 1.0])
    assert alone.loc[1, "nll"] == pytest.approx((math.log(2) + math.log(4 / 3) / 2) / 2, rel=1e-12)
    assert alone.loc[1, "brier"] == pytest.approx((9 / 16 + 1 / 16) / 2, rel=1e-12)
    assert alone.loc[1, ["brier_min", "brier_max"]].tolist() == pytest.approx([1 / 16, 9 / 16])
    # m = 2 is the mean of both samples, i.e. "+ ensemble" at k = 1.
    cols = ["accuracy", "nll", "brier", "ece", "nll_min", "nll_max"]
    assert alone.loc[2, cols].tolist() == pytest.approx(ens.loc[1, cols].tolist(), rel=1e-12)


def test_section5_averaging_and_row_counts(section5_files):
    preds, samples = section5_files
    t = sa.section5_ensembles_table(preds, samples, [10, 11])
    kinds = t["kind"].to_pylist()
    assert kinds == (["independent"] * 2 + ["dropout + ensemble"] * 2 + ["dropout alone"] * 2
                     + ["averaging + ensemble"] * 2 + ["averaging alone"])
    assert t.column_names == ["kind", "method", "size", "n_combinations", "accuracy", "nll", "brier", "ece",
                              "diversity", "accuracy_min", "accuracy_max", "brier_min", "brier_max", "nll_min",
                              "nll_max", "temperature", "nll_calibrated", "brier_calibrated", "ece_calibrated",
                              "dee", "dee_censored"]
    assert t.schema.field("size").type == pa.int32() and t.schema.field("n_combinations").type == pa.int64()
    assert set(by_kind(t, "independent").method) == {"none"}
    # The averaged solutions are M10 and M11, so averaging matches dropout's sample means.
    avg, drop = by_kind(t, "averaging + ensemble"), by_kind(t, "dropout + ensemble")
    cols = ["accuracy", "nll", "brier", "ece"]
    assert np.allclose(avg[cols].to_numpy(), drop[cols].to_numpy(), rtol=1e-12)
    alone = by_kind(t, "averaging alone")
    assert list(alone.index) == [1]
    assert alone.loc[1, cols].tolist() == pytest.approx(avg.loc[1, cols].tolist(), rel=1e-12)


def test_section5_independent_matches_ensembles_table(section5_files):
    preds, samples = section5_files
    t = sa.section5_ensembles_table(preds, samples, [10, 11])
    ind = by_kind(t, "independent")
    ref = ensembles.ensemble_metrics_table(preds, [10, 11]).to_pandas()
    ref = ref[ref.kind == "independent"].groupby("size")
    for s in ("accuracy", "nll", "brier", "ece"):
        assert np.allclose(ind[s].to_numpy(), ref[s].mean().to_numpy(), rtol=1e-12)
    assert ind.n_combinations.tolist() == ref.size().tolist() == [2, 1]
    # The pair {10, 11} of final solutions A, B (hand values in test_ensembles.py): accuracy 3/4.
    assert ind.loc[2, "accuracy"] == pytest.approx(0.75)


def random_probs(rng, shape, sharp=2.0):
    logits = rng.normal(size=shape) * sharp
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def test_section5_sampled_subsets_and_uneven_sample_counts(tmp_path):
    """Five seeds and max_subsets 3: the independent rows follow ensemble_metrics_table's sampled
    subsets; seeds with fewer accepted samples drop out of the longer 'alone' sizes."""
    rng = np.random.default_rng(7)
    n, c, seeds = 30, 4, [1, 2, 3, 4, 5]
    labels = rng.integers(0, c, n)
    preds, paths, counts = [], [], [3, 2, 3, 1, 3]
    for s, m in zip(seeds, counts):
        preds.append(write_run(tmp_path / f"p{s}.parquet", labels, random_probs(rng, (3, n, c)).astype(np.float32)))
        paths.append(write_samples(tmp_path / f"r{s}.parquet", "random", labels,
                                   random_probs(rng, (m, n, c)).astype(np.float32)))
    kwargs = dict(max_subsets=3, subset_seed=4, bins=10)
    t = sa.section5_ensembles_table(preds, {"random": paths}, seeds, **kwargs)
    ind = by_kind(t, "independent")
    ref = ensembles.ensemble_metrics_table(preds, seeds, **kwargs).to_pandas()
    ref = ref[ref.kind == "independent"].groupby("size")
    assert ind.n_combinations.tolist() == ref.size().tolist() == [3, 3, 3, 3, 1]
    for s in ("accuracy", "nll", "brier", "ece"):
        assert np.allclose(ind[s].to_numpy(), ref[s].mean().to_numpy(), rtol=1e-12)
    for s in ("accuracy", "nll", "brier"):
        assert np.allclose(ind[f"{s}_min"].to_numpy(), ref[s].min().to_numpy(), rtol=1e-12)
        assert np.allclose(ind[f"{s}_max"].to_numpy(), ref[s].max().to_numpy(), rtol=1e-12)
    assert by_kind(t, "random + ensemble").n_combinations.tolist() == [3, 3, 3, 3, 1]
    assert by_kind(t, "random alone").n_combinations.tolist() == [5, 4, 3]
    # The full "+ ensemble" of all seeds is the mean of every seed's sample mean.
    mean_of_means = np.mean([io.read_samples(p)["probs"].astype(np.float64).mean(0) for p in paths], axis=0)
    assert by_kind(t, "random + ensemble").loc[5, "nll"] == pytest.approx(metrics.nll(mean_of_means, labels))


def test_section5_rejects_bad_sample_files(section5_files, tmp_path):
    preds, samples = section5_files
    two = [write_samples(tmp_path / f"avg2_{i}.parquet", "averaging", LABELS, np.stack([M10, M11])) for i in (0, 1)]
    with pytest.raises(io.ArtifactError, match="exactly one"):
        sa.section5_ensembles_table(preds, {"averaging": two}, [10, 11])
    plane_only = [write_samples(tmp_path / f"plane_{i}.parquet", "random", LABELS, plane=S10) for i in (0, 1)]
    with pytest.raises(io.ArtifactError, match="no 'ensemble' samples"):
        sa.section5_ensembles_table(preds, {"random": plane_only}, [10, 11])
    other = [write_samples(tmp_path / f"other_{i}.parquet", "random", LABELS[::-1], S10) for i in (0, 1)]
    with pytest.raises(io.ArtifactError, match="other test examples"):
        sa.section5_ensembles_table(preds, {"random": other}, [10, 11])
    with pytest.raises(ValueError, match="one samples file per seed"):
        sa.section5_ensembles_table(preds, {"dropout": samples["dropout"][:1]}, [10, 11])


def test_section5_without_methods_is_independent_only(section5_files):
    preds, _ = section5_files
    t = sa.section5_ensembles_table(preds, {}, [10, 11])
    assert t["kind"].to_pylist() == ["independent", "independent"]


# --- diversity-accuracy plane ---------------------------------------------------------------------
# Five test points, three classes, labels [0 1 2 0 1]. Seed 1 is the reference: its final epoch
# predicts [0 1 2 0 0] (accuracy 4/5).
DIV_LABELS = np.array([0, 1, 2, 0, 1])
REF_PRED = np.array([0, 1, 2, 0, 0])


@pytest.fixture
def diversity_files(tmp_path):
    preds, random, dropout = [], [], []
    for s, final in ((0, [0, 1, 1, 1, 1]), (1, REF_PRED), (2, [0, 1, 2, 0, 1])):
        probs = np.stack([confident(np.full(5, s % 3), 3), confident(np.array(final), 3)])
        preds.append(write_run(tmp_path / f"p{s}.parquet", DIV_LABELS, probs))
        # Plane samples of the reference (seed 1):
        #   random 0: the reference itself             -> disagreement 0,   accuracy 4/5
        #   random 1: flips points 1, 2 ([0 2 0 0 0])  -> disagreement 2/5, accuracy 2/5, normalised 2/3
        #   dropout 0: flips point 4 ([0 1 2 0 1])     -> disagreement 1/5, accuracy 1, normalised NaN
        #   dropout 1: flips points 0, 3 ([1 1 2 1 0]) -> disagreement 2/5, accuracy 2/5, normalised 2/3
        # Other seeds' samples (all class 2) and the reference's ensemble samples (all class 1) must not enter.
        if s == 1:
            r_plane = [REF_PRED, [0, 2, 0, 0, 0]]
            d_plane = [[0, 1, 2, 0, 1], [1, 1, 2, 1, 0]]
        else:
            r_plane = d_plane = [[2] * 5]
        ens = np.stack([confident(np.ones(5, int), 3)])
        random.append(write_samples(tmp_path / f"r{s}.parquet", "random", DIV_LABELS, ens,
                                    plane=np.stack([confident(np.array(p), 3) for p in r_plane])))
        dropout.append(write_samples(tmp_path / f"d{s}.parquet", "dropout", DIV_LABELS, ens,
                                     plane=np.stack([confident(np.array(p), 3) for p in d_plane])))
    return preds, {"dropout": dropout, "random": random}


def test_diversity_hand_values(diversity_files):
    preds, samples = diversity_files
    t = sa.subspace_diversity_points_table(preds, samples, [0, 1, 2], reference_seed=1).to_pandas()
    assert t.kind.tolist() == ["random", "random", "dropout", "dropout"]  # canonical method order
    assert set(t.seed) == {1} and set(t.epoch) == {-1} and set(t.reference_seed) == {1}
    assert t.reference_accuracy.to_numpy() == pytest.approx(np.full(4, 0.8))
    assert t.disagreement.tolist() == pytest.approx([0.0, 0.4, 0.2, 0.4])
    assert t.accuracy.tolist() == pytest.approx([0.8, 0.4, 1.0, 0.4])
    norm = t.normalized_disagreement.to_numpy()
    assert norm[[0, 1, 3]] == pytest.approx([0.0, 2 / 3, 2 / 3]) and np.isnan(norm[2])


def test_diversity_schema_concatenates_with_function_space(diversity_files):
    preds, samples = diversity_files
    sub = sa.subspace_diversity_points_table(preds, samples, [0, 1, 2], reference_seed=1)
    base = fs.diversity_points_table(preds, [0, 1, 2], reference_seed=1)
    assert sub.schema.equals(base.schema)
    both = pa.concat_tables([base, sub]).to_pandas()
    assert set(both.kind) == {"independent", "random", "dropout"}  # epochs 0, 1: no trajectory points
    # Ensemble-purpose points instead: each method's one sample predicts class 1 everywhere (4 of 5 differ).
    ens = sa.subspace_diversity_points_table(preds, samples, [0, 1, 2], 1, purpose="ensemble").to_pandas()
    assert ens.kind.tolist() == ["random", "dropout"] and ens.disagreement.tolist() == pytest.approx([0.8, 0.8])
    empty = sa.subspace_diversity_points_table(preds, {}, [0, 1, 2], 1)
    assert empty.num_rows == 0 and empty.schema.equals(base.schema)
    with pytest.raises(ValueError, match="reference_seed"):
        sa.subspace_diversity_points_table(preds, samples, [0, 1, 2], reference_seed=7)


# --- t-SNE ------------------------------------------------------------------------------------------

def tsne_files(tmp_path, seeds=(3, 5, 8), epochs=4, n=40, c=3, counts=None):
    """Random runs; per run 3 random and 2 dropout plane samples (and ensemble samples, unused)."""
    counts = counts or {"random": 3, "dropout": 2}
    rng = np.random.default_rng(123)
    labels = rng.integers(0, c, n)
    preds, samples = [], {m: [] for m in counts}
    for s in seeds:
        preds.append(write_run(tmp_path / f"p{s}.parquet", labels, random_probs(rng, (epochs + 1, n, c), 1.0)))
        for m, k in counts.items():
            samples[m].append(write_samples(tmp_path / f"{m}{s}.parquet", m, labels, random_probs(rng, (4, n, c)),
                                            plane=random_probs(rng, (k, n, c))))
    return preds, samples


def test_tsne_rows_kinds_and_deterministic(tmp_path):
    preds, samples = tsne_files(tmp_path)
    kwargs = dict(test_points=20, perplexity=5, max_iter=250, **QUIET)
    t = sa.subspace_tsne_table(preds, samples, [3, 5, 8], **kwargs)
    assert t.num_rows == 3 * 5 + 3 * (3 + 2)  # R (E + 1) checkpoints + all plane samples
    assert t.column_names == ["kind", "seed", "epoch", "sample", "seed_b", "x", "y", "perplexity", "test_points"]
    df = t.to_pandas()
    assert df.groupby("kind").size().to_dict() == {"trajectory": 15, "random": 9, "dropout": 6}
    traj = df[df.kind == "trajectory"]
    assert set(zip(traj.seed, traj.epoch)) == {(s, e) for s in (3, 5, 8) for e in range(5)}
    assert set(traj["sample"]) == {-1}
    smp = df[df.kind != "trajectory"]
    assert set(smp.epoch) == {-1}
    expected = [(m, s, i) for m, k in (("random", 3), ("dropout", 2)) for s in (3, 5, 8) for i in range(k)]
    assert sorted(zip(smp.kind, smp.seed, smp["sample"])) == sorted(expected)
    assert set(df.test_points) == {20} and set(df.perplexity) == {5.0}
    assert np.all(np.isfinite(df[["x", "y"]].to_numpy()))
    assert t.equals(sa.subspace_tsne_table(preds, samples, [3, 5, 8], **kwargs))
    ens = sa.subspace_tsne_table(preds, samples, [3, 5, 8], purpose="ensemble", **kwargs)
    assert ens.num_rows == 15 + 3 * (4 + 4)


def test_tsne_adds_the_interior_points_of_connectivity_curves(tmp_path):
    """A curve's interior points (not its ends: those are the two solutions) join the embedding as
    kind "curve path" with both seeds; a file without curve points is an error naming it."""
    preds, samples = tsne_files(tmp_path)
    rng = np.random.default_rng(5)
    labels = io.read_predictions(preds[0]).labels
    path = tmp_path / "paths.parquet"
    io.write_table(pa.concat_tables([io.samples_table("connectivity", name, "test", np.arange(5), np.linspace(0, 1, 5),
                                                      np.full(5, 0.5), labels, random_probs(rng, (5, len(labels), 3)))
                                     for name in ("straight", "curve")]), path, {})
    kwargs = dict(test_points=20, perplexity=5, max_iter=250, **QUIET)
    df = sa.subspace_tsne_table(preds, samples, [3, 5, 8], curves={(3, 8): path}, **kwargs).to_pandas()
    curve = df[df.kind == "curve path"]
    assert sorted(curve["sample"]) == [1, 2, 3] and set(curve.seed) == {3} and set(curve.seed_b) == {8}
    assert set(curve.epoch) == {-1} and set(df[df.kind != "curve path"].seed_b) == {-1}
    assert len(df) == 3 * 5 + 3 * (3 + 2) + 3
    # the val split has no path points: the curves are left out there
    val = sa.subspace_tsne_table(preds, samples, [3, 5, 8], curves={(3, 8): path}, split="val", **kwargs)
    assert "curve path" not in set(val.column("kind").to_pylist())
    io.write_table(io.samples_table("connectivity", "straight", "test", np.arange(2), np.array([0.0, 1.0]),
                                    np.full(2, 0.5), labels, random_probs(rng, (2, len(labels), 3))), path, {})
    with pytest.raises(io.ArtifactError, match="no curve points"):
        sa.subspace_tsne_table(preds, samples, [3, 5, 8], curves={(3, 8): path}, **kwargs)


def test_tsne_without_samples_is_function_space_tsne(tmp_path):
    """Same subset, same vectors, same embedding helper: identical to function_space.tsne_table."""
    preds, _ = tsne_files(tmp_path)
    kwargs = dict(test_points=20, perplexity=5, max_iter=250, seed=2, **QUIET)
    a = sa.subspace_tsne_table(preds, {}, [3, 5, 8], **kwargs)
    b = fs.tsne_table(preds, [3, 5, 8], **kwargs)
    for col in ("x", "y"):
        assert np.array_equal(a[col].to_numpy(), b[col].to_numpy())
    assert a.select(["seed", "epoch"]).equals(b.select(["seed", "epoch"]))


def test_tsne_skips_runs_without_samples_of_the_purpose(tmp_path):
    preds, samples = tsne_files(tmp_path)
    labels = io.read_predictions(preds[0])[1]
    # Weight averaging with only an ensemble sample: nothing of purpose "plane".
    samples["averaging"] = [write_samples(tmp_path / f"avg{i}.parquet", "averaging", labels,
                                          np.full((1, 40, 3), 1 / 3)) for i in range(3)]
    lines = []
    t = sa.subspace_tsne_table(preds, samples, [3, 5, 8], test_points=20, perplexity=5, max_iter=250,
                               log=lines.append)
    assert t.num_rows == 30 and "averaging" not in set(t["kind"].to_pylist())
    assert sum("no 'plane' samples of 'averaging'" in line for line in lines) == 3


# --- figures ----------------------------------------------------------------------------------------

def realistic_files(tmp_path, seeds=(0, 1, 2, 3), epochs=20, n=300, c=10, samples=12):
    """Per seed a smooth path from a near-uniform init to its own ~80 %-accurate solution, and
    per method samples: the solution's logits plus noise of a method-specific size."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, c, n)
    t = 1 - np.exp(-np.arange(epochs + 1) / 5.0)
    noise = {"random": 1.2, "dropout": 0.8, "diagonal": 0.5, "lowrank": 0.3, "averaging": 0.0}
    softmax = lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)  # noqa: E731
    preds, paths = [], {m: [] for m in noise}
    for s in seeds:
        wrong = rng.random(n) < 0.2
        target = np.where(wrong, (labels + rng.integers(1, c, n)) % c, labels)
        solution = 4.0 * np.eye(c)[target] + rng.normal(0, 1.0, (n, c))
        logits = (1 - t)[:, None, None] * rng.normal(0, 0.3, (n, c)) + t[:, None, None] * solution
        preds.append(write_run(tmp_path / f"p{s}.parquet", labels, softmax(logits).astype(np.float32)))
        for m, sd in noise.items():
            k = 1 if m == "averaging" else samples
            ens = softmax(solution + rng.normal(0, sd, (k, n, c)) + (0.3 if m == "averaging" else 0.0))
            plane = softmax(solution + rng.normal(0, 2 * sd + 0.2, (k, n, c)))
            paths[m].append(write_samples(tmp_path / f"{m}{s}.parquet", m, labels, ens, plane=plane))
    return preds, paths, list(seeds)


def assert_saved(fig, directory, name):
    paths = [directory / f"{name}.png", directory / f"{name}.pdf"]
    save_figure(fig, paths, dpi=80)
    for p in paths:
        assert p.stat().st_size > 1000
    return paths


def test_figures_render(tmp_path):
    preds, samples, seeds = realistic_files(tmp_path)
    tsne = sa.subspace_tsne_table(preds, samples, seeds, test_points=150, perplexity=15, max_iter=500, **QUIET)
    assert_saved(subspace_tsne.draw(tsne.to_pandas(), "small_cnn", "digits"), tmp_path, "subspace_tsne")
    table = sa.section5_ensembles_table(preds, samples, seeds)
    assert_saved(section5_ensembles.draw(table.to_pandas(), "small_cnn", "digits"), tmp_path, "section5")
    points = fs.diversity_points_table(preds, seeds, reference_seed=0)
    sub = sa.subspace_diversity_points_table(preds, samples, seeds, reference_seed=0)
    limits = fs.limit_curves(points["reference_accuracy"][0].as_py(), points["num_classes"][0].as_py())
    fig = diversity_accuracy.draw([points.to_pandas(), sub.to_pandas()], limits.to_pandas(),
                                                  "small_cnn", "digits")
    assert_saved(fig, tmp_path, "diversity_subspace")
