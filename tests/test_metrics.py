"""deepens.metrics on crafted predictions whose scores are derived by hand."""
import math

import numpy as np
import pytest
from deepens import metrics


def conf_row(c, num_classes=3):
    """A probability row whose argmax is class 0 with confidence c (c >= 1 / num_classes)."""
    rest = (1.0 - c) / (num_classes - 1)
    return [c] + [rest] * (num_classes - 1)


# Four examples, three classes:
#   p0 = [0.7, 0.2, 0.1], y=0: correct, p_y = 0.7
#   p1 = [0.1, 0.6, 0.3], y=2: wrong,   p_y = 0.3
#   p2 = [0.25, 0.25, 0.5], y=2: correct, p_y = 0.5
#   p3 = [1, 0, 0], y=0: correct, p_y = 1
PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5], [1.0, 0.0, 0.0]])
LABELS = np.array([0, 2, 2, 0])


def test_accuracy_hand_value():
    assert metrics.accuracy(PROBS, LABELS) == pytest.approx(0.75)
    assert metrics.accuracy(PROBS, np.array([1, 1, 1, 1])) == pytest.approx(0.25)


def test_nll_hand_value():
    expected = -(math.log(0.7) + math.log(0.3) + math.log(0.5) + math.log(1.0)) / 4
    assert metrics.nll(PROBS, LABELS) == pytest.approx(expected, rel=1e-12)


def test_nll_has_no_floor():
    """A zero probability of the label is an infinite loss from probabilities alone, and its
    exact value when the network's log-probability is given (no 1e-12 clip at 27.6 nats)."""
    probs, labels = np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([1, 0])
    assert metrics.nll(probs, labels) == math.inf
    assert metrics.nll(probs, labels, np.array([-80.0, math.log(0.5)])) == pytest.approx((80 - math.log(0.5)) / 2)


def test_log_mean_exp_is_stable_and_exact():
    a = np.array([[-1000.0, -1001.0], [-1.0, -np.inf]])
    got = metrics.log_mean_exp(a, axis=1)
    assert got[0] == pytest.approx(-1000 + math.log((1 + math.exp(-1)) / 2))
    assert got[1] == pytest.approx(-1 - math.log(2))
    assert metrics.log_mean_exp(np.full((3, 2), -np.inf), axis=0).tolist() == [-np.inf, -np.inf]


def test_brier_hand_value():
    # sum_c p_c^2 - 2 p_y + 1 per example:
    #   p0: 0.49 + 0.04 + 0.01 - 1.4 + 1 = 0.14
    #   p1: 0.01 + 0.36 + 0.09 - 0.6 + 1 = 0.86
    #   p2: 0.0625 + 0.0625 + 0.25 - 1.0 + 1 = 0.375
    #   p3: 1 - 2 + 1 = 0
    assert metrics.brier(PROBS, LABELS) == pytest.approx((0.14 + 0.86 + 0.375 + 0.0) / 4, rel=1e-12)


def test_brier_equals_squared_distance_to_one_hot():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=20)
    y = rng.integers(0, 5, size=20)
    direct = np.mean(np.sum((p - np.eye(5)[y]) ** 2, axis=1))
    assert metrics.brier(p, y) == pytest.approx(direct, rel=1e-12)


def test_ece_hand_value_with_edges_and_confidence_one():
    # 15 bins (k/15, (k+1)/15]; index = ceil(15 conf) - 1.
    rows = [
        (9 / 15, 0),   # A: conf 0.6 exactly on the 9/15 edge -> bin 8 (8/15, 9/15], correct
        (0.55, 1),     # B: 15 * 0.55 = 8.25 -> bin 8, wrong
        (10 / 15, 1),  # F: conf 2/3 exactly on the 10/15 edge -> bin 9, wrong
        (0.64, 0),     # G: 15 * 0.64 = 9.6 -> bin 9, correct
        (0.7, 0),      # E: 15 * 0.7 = 10.5 -> bin 10, correct
        (1.0, 0),      # C: conf exactly 1 -> last bin 14, correct
        (0.96, 1),     # D: 15 * 0.96 = 14.4 -> bin 14, wrong
    ]
    probs = np.array([conf_row(c) for c, _ in rows])
    labels = np.array([y for _, y in rows])
    # |sum correct - sum conf| per bin:
    bin8 = abs(1 - (0.6 + 0.55))       # 0.15
    bin9 = abs(1 - (2 / 3 + 0.64))     # 0.30667
    bin10 = abs(1 - 0.7)               # 0.3
    bin14 = abs(1 - (1.0 + 0.96))      # 0.96
    expected = (bin8 + bin9 + bin10 + bin14) / 7
    assert expected == pytest.approx(0.2452380952, rel=1e-9)
    assert metrics.ece(probs, labels) == pytest.approx(expected, rel=1e-12)
    # Sanity of the construction: with [lo, hi) bins (floor) A would join G in bin 9 and F
    # would join E in bin 10, giving a clearly different value.
    floor_bins = (0.55 + abs(2 - (0.6 + 0.64)) + abs(1 - (2 / 3 + 0.7)) + bin14) / 7
    assert abs(floor_bins - expected) > 0.1


def test_ece_exact_edges_with_four_bins():
    # bins (0, .25], (.25, .5], (.5, .75], (.75, 1]; 0.5 and 0.75 are exact binary edges.
    probs = np.array([conf_row(c) for c in (0.5, 0.4, 0.75, 0.7)])
    labels = np.array([0, 1, 1, 0])  # 0.5 correct, 0.4 wrong, 0.75 wrong, 0.7 correct
    # bin 1: |1 - (0.5 + 0.4)| = 0.1; bin 2: |1 - (0.75 + 0.7)| = 0.45
    assert metrics.ece(probs, labels, bins=4) == pytest.approx((0.1 + 0.45) / 4, rel=1e-12)


def test_ece_is_zero_for_a_calibrated_bin_not_per_example_gap():
    probs = np.array([[0.5, 0.5], [0.5, 0.5]])
    labels = np.array([0, 1])  # argmax 0: one right, one wrong, mean conf 0.5 = accuracy
    assert metrics.ece(probs, labels) == pytest.approx(0.0, abs=1e-15)


def test_ece_matches_reference_loop():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(4, 0.3), size=500)
    labels = rng.integers(0, 4, size=500)
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, 16)
    ref = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ref += m.mean() * abs((pred[m] == labels[m]).mean() - conf[m].mean())
    assert metrics.ece(probs, labels) == pytest.approx(ref, rel=1e-10)


def test_scores_keys_and_values():
    s = metrics.scores(PROBS, LABELS)
    assert set(s) == {"accuracy", "nll", "brier", "ece"}
    assert s["accuracy"] == pytest.approx(0.75)
    assert s["brier"] == pytest.approx(0.34375)


# --- cosine ---------------------------------------------------------------------------

VECTORS = np.array([[1.0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 3, 4], [-2, 0, 0, 0]])
R = 1 / math.sqrt(2)
COS = np.array([[1, R, 0, -1], [R, 1, 0, -R], [0, 0, 1, 0], [-1, -R, 0, 1]])


def test_cosine_known_vectors():
    assert np.allclose(metrics.cosine_from_blocks([VECTORS]), COS, atol=1e-12)


@pytest.mark.parametrize("cuts", [[1, 2, 3], [2], [3], [1]])
def test_cosine_independent_of_block_split(cuts):
    blocks = np.split(VECTORS, cuts, axis=1)
    assert np.allclose(metrics.cosine_from_blocks(iter(blocks)), COS, atol=1e-12)


def test_cosine_random_vectors_one_column_blocks_and_generator():
    rng = np.random.default_rng(2)
    v = rng.normal(size=(5, 37))
    n = np.linalg.norm(v, axis=1)
    direct = (v @ v.T) / np.outer(n, n)
    whole = metrics.cosine_from_blocks([v])
    single = metrics.cosine_from_blocks(v[:, j:j + 1] for j in range(v.shape[1]))
    uneven = metrics.cosine_from_blocks(np.split(v, [3, 4, 20, 36], axis=1))
    for m in (whole, single, uneven):
        assert m.shape == (5, 5)
        assert np.allclose(m, direct, atol=1e-12)
    assert np.allclose(np.diag(single), 1.0)
    # scale invariance
    assert np.allclose(metrics.cosine_from_blocks([v * np.arange(1, 6)[:, None]]), direct)


# --- disagreement ---------------------------------------------------------------------

LABEL_ROWS = np.array([
    [0, 1, 2, 0, 1, 2],
    [0, 1, 2, 1, 1, 0],  # differs from row 0 at 3, 5
    [1, 1, 2, 1, 0, 0],  # differs from row 0 at 0, 3, 4, 5; from row 1 at 0, 4
])
DIS = np.array([[0, 2 / 6, 4 / 6], [2 / 6, 0, 2 / 6], [4 / 6, 2 / 6, 0]])


def test_disagreement_hand_matrix():
    m = metrics.disagreement_matrix(LABEL_ROWS, 3)
    assert m.shape == (3, 3)
    assert np.allclose(m, DIS, atol=1e-12)


@pytest.mark.parametrize("block", [1, 2, 4, 5, 6, 100])
def test_disagreement_block_size_invariant(block):
    ref = metrics.disagreement_matrix(LABEL_ROWS, 3)
    assert np.array_equal(metrics.disagreement_matrix(LABEL_ROWS, 3, block_examples=block), ref)


def test_disagreement_extra_classes_and_random_properties():
    assert np.allclose(metrics.disagreement_matrix(LABEL_ROWS, 10), DIS)
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=(6, 101))
    m = metrics.disagreement_matrix(labels, 4, block_examples=7)
    direct = (labels[:, None, :] != labels[None, :, :]).mean(-1)
    assert np.allclose(m, direct, atol=1e-12)
    assert np.array_equal(m, m.T)
    assert np.all(np.diag(m) == 0)


# --- pairs table ----------------------------------------------------------------------

def test_pairs_table_long_format():
    seeds = np.array([10, 10, 11, 11])
    epochs = np.array([0, 1, 0, 1])
    matrix = np.arange(16, dtype=float).reshape(4, 4) * 1.5 + 0.25  # not symmetric
    t = metrics.pairs_table({"seed": seeds, "epoch": epochs}, matrix, "cosine")
    assert t.num_rows == 16
    assert t.column_names == ["seed_a", "epoch_a", "seed_b", "epoch_b", "cosine"]
    index = {(s, e): i for i, (s, e) in enumerate(zip(seeds, epochs))}
    d = t.to_pydict()
    seen = set()
    for sa, ea, sb, eb, v in zip(d["seed_a"], d["epoch_a"], d["seed_b"], d["epoch_b"], d["cosine"]):
        i, j = index[(sa, ea)], index[(sb, eb)]
        assert v == matrix[i, j]
        seen.add((i, j))
    assert len(seen) == 16


# --- exactness of the blocked paths (float32 inputs, per-class counting) -------------------

@pytest.mark.parametrize("chunk", [1, 3, 16, 4096])
def test_cosine_of_float32_blocks_matches_float64(chunk):
    """float32 blocks (checkpoints as stored) are converted chunk by chunk: same cosines."""
    rng = np.random.default_rng(4)
    v = rng.normal(size=(6, 50)).astype(np.float32)
    ref = metrics.cosine_from_blocks([v.astype(np.float64)])
    blocks = np.split(v, [7, 8, 30], axis=1)
    got = metrics.cosine_from_blocks(iter(blocks), chunk_columns=chunk)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-14)
    mixed = metrics.cosine_from_blocks([blocks[0], blocks[1].astype(np.float64), blocks[2], blocks[3]], chunk)
    np.testing.assert_allclose(mixed, ref, rtol=0, atol=1e-14)


def test_cosine_float64_blocks_are_used_as_given():
    rng = np.random.default_rng(5)
    v = rng.normal(size=(4, 9))
    gram = v @ v.T
    n = np.sqrt(np.diag(gram))
    assert np.array_equal(metrics.cosine_from_blocks([v]), np.clip(gram / np.outer(n, n), -1, 1))


def _disagreement_reference(labels):
    """Per pair, as the original write-up: 1 - (number of equal predictions) / N."""
    k, n = labels.shape
    out = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            out[i, j] = 1.0 - np.sum(labels[i] == labels[j]) / n
    return out


@pytest.mark.parametrize("classes, block", [(3, 1), (4, 7), (10, 4096), (100, 64)])
def test_disagreement_is_exactly_the_per_pair_count(classes, block):
    rng = np.random.default_rng(classes)
    labels = rng.integers(0, classes, size=(9, 1000))
    labels[3] = labels[0]           # identical rows
    labels[5, :500] = labels[1, :500]
    assert np.array_equal(metrics.disagreement_matrix(labels, classes, block_examples=block),
                          _disagreement_reference(labels))


def test_disagreement_skips_absent_classes_and_accepts_unused_ones():
    labels = np.array([[7, 7, 2, 7], [7, 2, 2, 7]])  # classes 0, 1, 3..6, 8, 9 never predicted
    m = metrics.disagreement_matrix(labels, 10, block_examples=3)
    assert np.array_equal(m, np.array([[0.0, 0.25], [0.25, 0.0]]))
