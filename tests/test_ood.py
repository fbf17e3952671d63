"""Out-of-distribution detection (deepens.ood, deepens.ood_analysis): the sets, the detection
metrics against hand values and scikit-learn, and the tables."""
import numpy as np
import pytest
from deepens import io, ood, ood_analysis
from scipy.io import savemat
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def test_auroc_hand_value():
    # pairs (out > in): out 0.9 beats all 3; out 0.5 beats 0.1 and 0.2, ties 0.5 (half); out 0.15 beats 0.1
    # = (3 + 2.5 + 1) / (3 * 3)
    assert ood.auroc([0.1, 0.2, 0.5], [0.9, 0.5, 0.15]) == pytest.approx(6.5 / 9)
    assert ood.auroc([0, 0], [1, 1]) == 1.0 and ood.auroc([1, 1], [0, 0]) == 0.0
    assert ood.auroc([1, 1], [1, 1]) == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detection_metrics_match_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(seed)
    inside, outside = rng.normal(0, 1, 400).round(1), rng.normal(0.7, 1.2, 250).round(1)
    y, s = np.r_[np.zeros(400), np.ones(250)], np.r_[inside, outside]
    assert ood.auroc(inside, outside) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert ood.aupr(inside, outside) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s)
    assert ood.fpr_at_tpr(inside, outside) == pytest.approx(fpr[np.argmax(tpr >= 0.95)], abs=1e-12)


def test_fpr95_hand_value():
    # 20 OOD scores 1..20, TPR >= 0.95 first at threshold 2 (19 of 20); in-distribution 0..9 + [2.5]:
    # scores >= 2 among them: 2..9 and 2.5 = 9 of 11
    assert ood.fpr_at_tpr(list(range(10)) + [2.5], list(range(1, 21))) == pytest.approx(9 / 11)


def test_scores_mutual_information_is_zero_for_one_weight_vector():
    p = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    s = ood.scores(p, ood.entropy(p))
    np.testing.assert_allclose(s["mutual_information"], 0.0, atol=1e-15)
    assert s["entropy"][1] == pytest.approx(np.log(3))
    assert s["max_prob"].tolist() == pytest.approx([0.3, 2 / 3])


def test_generated_sets_are_seeded_and_keep_the_image_shape():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 5, 5, 3), dtype=np.uint8)
    noise = ood.generate("uniform_noise", x, 9, 3)
    assert noise.shape == (9, 5, 5, 3) and noise.dtype == np.uint8
    np.testing.assert_array_equal(noise, ood.generate("uniform_noise", x, 9, 3))
    assert not np.array_equal(noise, ood.generate("uniform_noise", x, 9, 4))
    shuffled = ood.generate("shuffled_pixels", x, 8, 1)
    for i in range(8):  # each image keeps its pixels (colour triples), not their places
        source = x[i % 6].reshape(-1, 3)
        assert sorted(map(tuple, shuffled[i].reshape(-1, 3))) == sorted(map(tuple, source))
    assert np.mean(shuffled[:6] != x) > 0.5
    with pytest.raises(ValueError, match="unknown generated OOD kind"):
        ood.generate("file", x, 2, 0)


def test_file_sets_npz_and_svhn_mat(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (7, 4, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "set.npz", images=images)
    np.testing.assert_array_equal(ood.load_file(tmp_path / "set.npz", (4, 4, 3)), images)
    np.testing.assert_array_equal(ood.load_file(tmp_path / "set.npz", (4, 4, 3), size=3), images[:3])
    savemat(tmp_path / "test_32x32.mat", {"X": np.moveaxis(images, 0, -1), "y": np.ones((7, 1))})
    np.testing.assert_array_equal(ood.load_file(tmp_path / "test_32x32.mat", (4, 4, 3)), images)
    with pytest.raises(io.ArtifactError, match=r"set.npz: images are uint8 \(4, 4, 3\), the dataset's are uint8 "
                                               r"\(8, 8, 1\)"):
        ood.load_file(tmp_path / "set.npz", (8, 8, 1))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(io.ArtifactError, match="cannot read OOD file .*bad.npz"):
        ood.load_file(tmp_path / "bad.npz", (4, 4, 3))


def write_member(path, sets, samples=1):
    """One member's OOD file: sets = {name: (probs, member_entropy)} with in_distribution first."""
    table = ood.ood_table([(n, np.asarray(p, np.float32), e) for n, (p, e) in sets.items()], samples)
    io.write_table(table, path, {})
    return path


def test_metrics_table_against_direct_computation(tmp_path):
    """Two seeds, one member kind besides final: the single-solution rows are each seed's own
    detection averaged; the 2-ensemble's probabilities are the seeds' mean."""
    rng = np.random.default_rng(5)
    n_in, n_out, c = 60, 40, 4

    def probs(n, sharp):
        z = rng.normal(0, sharp, (n, c))
        return np.exp(z) / np.exp(z).sum(-1, keepdims=True)

    finals, members = {}, {}
    for s in (0, 1):
        p_in, p_out = probs(n_in, 3.0), probs(n_out, 0.5)
        finals[s] = (p_in, p_out)
        write_member(tmp_path / f"final{s}.parquet", {"in_distribution": (p_in, ood.entropy(p_in)),
                                                      "noise": (p_out, ood.entropy(p_out))})
        q_in, q_out = probs(n_in, 3.0), probs(n_out, 0.5)
        members[s] = write_member(tmp_path / f"random{s}.parquet",
                                  {"in_distribution": (q_in, ood.entropy(q_in) + 0.01),
                                   "noise": (q_out, ood.entropy(q_out) - 0.02)}, samples=3)
    paths = {"final": [tmp_path / f"final{s}.parquet" for s in (0, 1)], "random": list(members.values())}
    t = ood_analysis.ood_metrics_table(paths, [0, 1]).to_pandas()
    assert set(t["set"]) == {"noise"}
    single = t[(t.kind == "independent") & (t["size"] == 1)].iloc[0]
    f32 = {s: tuple(np.asarray(p, np.float32).astype(np.float64) for p in finals[s]) for s in (0, 1)}
    expected = np.mean([ood.auroc(ood.entropy(f32[s][0]), ood.entropy(f32[s][1])) for s in (0, 1)])
    assert single.auroc_entropy == pytest.approx(expected, rel=1e-12)
    assert single.auroc_mutual_information == 0.5 and single.n_combinations == 2
    pair = t[(t.kind == "independent") & (t["size"] == 2)].iloc[0]
    ens_in, ens_out = (np.mean([f32[s][k] for s in (0, 1)], axis=0) for k in (0, 1))
    assert pair.aupr_max_prob == pytest.approx(ood.aupr(1 - ens_in.max(-1), 1 - ens_out.max(-1)), rel=1e-12)
    mi_out = ood.entropy(ens_out) - np.mean([ood.entropy(f32[s][1]) for s in (0, 1)], axis=0)
    # (the stored member entropies come from the float64 probabilities, the recomputation from float32)
    assert pair.diversity_out == pytest.approx(mi_out.mean(), rel=1e-6)
    alone = t[t.kind == "random alone"].iloc[0]
    assert alone["size"] == 3 and alone.n_combinations == 2
    assert sorted(t.kind.unique()) == ["independent", "random + ensemble", "random alone"]
    hist = ood_analysis.ood_histograms_table(paths["final"], [0, 1]).to_pandas()
    counts = hist.groupby(["kind", "side"])["count"].sum().to_dict()
    assert counts == {("ensemble", "in"): n_in, ("ensemble", "out"): n_out, ("single", "in"): n_in,
                      ("single", "out"): n_out}


def test_metrics_table_rejects_mismatched_files(tmp_path):
    p = np.full((5, 3), 1 / 3)
    a = write_member(tmp_path / "a.parquet", {"in_distribution": (p, ood.entropy(p)), "noise": (p, ood.entropy(p))})
    b = write_member(tmp_path / "b.parquet", {"in_distribution": (p, ood.entropy(p)), "other": (p, ood.entropy(p))})
    with pytest.raises(io.ArtifactError, match="other sets"):
        ood_analysis.ood_metrics_table({"final": [a, b]}, [0, 1])
    with pytest.raises(ValueError, match="member 'final'"):
        ood_analysis.ood_metrics_table({"random": [a, a]}, [0, 1])
