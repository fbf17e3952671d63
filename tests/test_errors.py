"""deepens.errors and deepens.figures on crafted predictions whose answers are derived by hand."""
import numpy as np
import pyarrow as pa
import pytest
from deepens import errors, io
from deepens.figures import confusion_epochs, confusion_final, hard_examples, misclassified_overlap
from deepens.figures.common import save_figure

# Five test examples, three classes, three seeds, epochs 0..2.
LABELS = np.array([0, 1, 2, 0, 1])
SEEDS = [10, 20, 30]
# Argmax of every (seed, epoch, example); comments list the misclassified examples.
PREDICTED = {
    10: [[1, 1, 1, 1, 1],    # {0, 2, 3}
         [0, 1, 0, 0, 2],    # {2, 4}
         [0, 1, 2, 0, 2]],   # {4}
    20: [[0, 1, 2, 0, 1],    # {}
         [2, 1, 2, 0, 1],    # {0}
         [2, 1, 2, 1, 1]],   # {0, 3}
    30: [[0, 1, 2, 0, 1],    # {}
         [0, 0, 2, 0, 2],    # {1, 4}
         [1, 1, 2, 2, 0]],   # {0, 3, 4}
}
# Each seed puts mass a on its argmax on top of a uniform (1 - a) / 3:
#   seed 10: argmax 0.6, others 0.2; seed 20: 0.8 / 0.1; seed 30: 0.4 / 0.3.
MASS = {10: 0.4, 20: 0.7, 30: 0.1}


def probs_of(predicted, a, c=3):
    return np.full((len(predicted), c), (1 - a) / c) + a * np.eye(c)[predicted]


def write_run(path, labels, probs_per_epoch):
    tables = [io.predictions_table("test", e, labels, p) for e, p in enumerate(probs_per_epoch)]
    io.write_table(pa.concat_tables(tables), path, {})
    return path


@pytest.fixture
def runs(tmp_path):
    return [write_run(tmp_path / f"seed{s}.parquet", LABELS, [probs_of(np.array(p), MASS[s]) for p in PREDICTED[s]])
            for s in SEEDS]


# --- confusion ---------------------------------------------------------------------------

def test_confusion_counts_equal_hand_matrices(runs):
    t = errors.confusion_table(runs, SEEDS).to_pandas()
    assert len(t) == 3 * 3 * 3 * 3  # S * (E+1) * C * C, zeros included

    def matrix(seed, epoch):
        one = t[(t.seed == seed) & (t.epoch == epoch)].sort_values(["label", "predicted"])
        return one["count"].to_numpy().reshape(3, 3)

    # rows = true class, columns = predicted
    np.testing.assert_array_equal(matrix(10, 0), [[0, 2, 0], [0, 2, 0], [0, 1, 0]])
    np.testing.assert_array_equal(matrix(10, 1), [[2, 0, 0], [0, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(matrix(30, 2), [[0, 1, 1], [1, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(matrix(20, 0), np.diag([2, 2, 1]))
    sums = t.groupby(["seed", "epoch", "label"])["count"].sum().unstack("label").to_numpy()
    np.testing.assert_array_equal(sums, np.tile([2, 2, 1], (9, 1)))  # class sizes of LABELS


def test_confusion_schema(runs):
    schema = errors.confusion_table(runs, SEEDS).schema
    assert [(f.name, str(f.type)) for f in schema] == [
        ("seed", "int64"), ("epoch", "int32"), ("label", "int32"), ("predicted", "int32"), ("count", "int64")]


def test_confusion_counts_keep_epochs_apart():
    predicted = np.array([[0, 0], [1, 1]])
    counts = errors.confusion_counts(predicted, np.array([0, 1]), 2)
    np.testing.assert_array_equal(counts, [[[1, 0], [1, 0]], [[0, 1], [0, 1]]])


def test_mismatched_runs_are_rejected(tmp_path, runs):
    other = write_run(tmp_path / "other.parquet", LABELS[::-1], [probs_of(np.array(p), 0.5) for p in PREDICTED[10]])
    with pytest.raises(io.ArtifactError, match="other epochs, examples or classes"):
        errors.confusion_table([runs[0], other], [1, 2])
    with pytest.raises(ValueError, match="one predictions file per seed"):
        errors.hard_examples_table(runs, [1, 2])
    with pytest.raises(ValueError, match="distinct"):
        errors.misclassified_overlap_table(runs[:2], [1, 1])


# --- hard examples -----------------------------------------------------------------------

def test_hard_examples_by_hand(runs):
    t = errors.hard_examples_table(runs, SEEDS)
    assert t.column_names == ["example", "label", "n_models", "n_misclassified", "fraction_misclassified",
                              "mean_true_probability", "predicted_seed_10", "predicted_seed_20", "predicted_seed_30"]
    assert str(t.schema.field("predicted_seed_20").type) == "int32"
    assert str(t.schema.field("mean_true_probability").type) == "double"
    d = t.to_pandas()
    np.testing.assert_array_equal(d.example, range(5))
    np.testing.assert_array_equal(d.label, LABELS)
    np.testing.assert_array_equal(d.n_models, 3)
    # final epoch, misclassified by: ex0 {20, 30}, ex1 {}, ex2 {}, ex3 {20, 30}, ex4 {10, 30}
    np.testing.assert_array_equal(d.n_misclassified, [2, 0, 0, 2, 2])
    np.testing.assert_allclose(d.fraction_misclassified, [2 / 3, 0, 0, 2 / 3, 2 / 3])
    np.testing.assert_array_equal(d.predicted_seed_10, [0, 1, 2, 0, 2])
    np.testing.assert_array_equal(d.predicted_seed_20, [2, 1, 2, 1, 1])
    np.testing.assert_array_equal(d.predicted_seed_30, [1, 1, 2, 2, 0])
    # p_label per seed (10, 20, 30): correct -> 0.6 / 0.8 / 0.4, wrong -> 0.2 / 0.1 / 0.3
    expected = [(0.6 + 0.1 + 0.3) / 3, (0.6 + 0.8 + 0.4) / 3, (0.6 + 0.8 + 0.4) / 3,
                (0.6 + 0.1 + 0.3) / 3, (0.2 + 0.8 + 0.3) / 3]
    np.testing.assert_allclose(d.mean_true_probability, expected, rtol=1e-6)


def test_predicted_columns_follow_given_seed_order(runs):
    t = errors.hard_examples_table(runs[::-1], SEEDS[::-1])
    assert t.column_names[-3:] == ["predicted_seed_30", "predicted_seed_20", "predicted_seed_10"]
    np.testing.assert_array_equal(t["predicted_seed_30"].to_numpy(), [1, 1, 2, 2, 0])


def test_hardest_order(runs):
    d = errors.hard_examples_table(runs, SEEDS).to_pandas()
    # 2 wrong: ex0 and ex3 (mean p 1/3, tie -> index), then ex4 (1.3/3); then ex1, ex2 tie on 0.6
    assert hard_examples.hardest(d, 10).example.tolist() == [0, 3, 4, 1, 2]
    assert hard_examples.hardest(d, 2).example.tolist() == [0, 3]


# --- misclassified overlap ---------------------------------------------------------------

def test_overlap_by_hand(runs):
    t = errors.misclassified_overlap_table(runs, SEEDS, block_examples=2).to_pandas()
    assert list(t.columns) == ["seed_a", "epoch_a", "seed_b", "epoch_b", "n_a", "n_b", "n_both", "jaccard"]
    assert len(t) == 9 * 9
    pair = t.set_index(["seed_a", "epoch_a", "seed_b", "epoch_b"])

    def row(sa, ea, sb, eb):
        r = pair.loc[(sa, ea, sb, eb)]
        return int(r.n_a), int(r.n_b), int(r.n_both), float(r.jaccard)

    assert row(10, 0, 10, 1) == (3, 2, 1, pytest.approx(1 / 4))  # {0,2,3} & {2,4}
    assert row(10, 1, 10, 2) == (2, 1, 1, pytest.approx(1 / 2))  # {2,4} & {4}
    assert row(10, 2, 30, 2) == (1, 3, 1, pytest.approx(1 / 3))  # {4} & {0,3,4}
    assert row(20, 2, 30, 2) == (2, 3, 2, pytest.approx(2 / 3))  # {0,3} & {0,3,4}
    assert row(10, 0, 30, 2) == (3, 3, 2, pytest.approx(1 / 2))  # {0,2,3} & {0,3,4}
    assert row(30, 1, 20, 2) == (2, 2, 0, 0.0)                   # disjoint
    assert row(20, 0, 10, 0) == (0, 3, 0, 0.0)                   # empty vs non-empty
    assert row(20, 0, 30, 0) == (0, 0, 0, 1.0)                   # both empty
    assert (t[(t.seed_a == t.seed_b) & (t.epoch_a == t.epoch_b)].jaccard == 1.0).all()
    square = t.jaccard.to_numpy().reshape(9, 9)
    np.testing.assert_array_equal(square, square.T)


def test_overlap_schema(runs):
    schema = errors.misclassified_overlap_table(runs, SEEDS).schema
    types = {f.name: str(f.type) for f in schema}
    assert types == {"seed_a": "int64", "epoch_a": "int32", "seed_b": "int64", "epoch_b": "int32",
                     "n_a": "int64", "n_b": "int64", "n_both": "int64", "jaccard": "double"}


def test_blocked_overlap_equals_naive_sets(tmp_path):
    rng = np.random.default_rng(3)
    n, c, seeds, n_epochs = 1001, 4, [0, 5, 7], 4
    labels = rng.integers(0, c, n)
    paths, wrong_sets = [], []
    for s in seeds:
        probs = [rng.dirichlet(np.ones(c), n) for _ in range(n_epochs)]
        paths.append(write_run(tmp_path / f"r{s}.parquet", labels, probs))
        wrong_sets += [set(np.flatnonzero(p.astype(np.float32).argmax(1) != labels)) for p in probs]
    t = errors.misclassified_overlap_table(paths, seeds, block_examples=97).to_pandas()
    expect_both = [len(a & b) for a in wrong_sets for b in wrong_sets]
    expect_j = [len(a & b) / len(a | b) if a | b else 1.0 for a in wrong_sets for b in wrong_sets]
    np.testing.assert_array_equal(t.n_both, expect_both)
    np.testing.assert_array_equal(t.n_a, [len(a) for a in wrong_sets for _ in wrong_sets])
    np.testing.assert_allclose(t.jaccard, expect_j, rtol=1e-12)
    np.testing.assert_array_equal(t.seed_a, np.repeat(seeds, n_epochs * len(seeds) * n_epochs))


def test_intersection_counts_block_size_does_not_matter():
    x = np.random.default_rng(0).random((6, 50)) < 0.3
    one = errors.intersection_counts(x, block_examples=1_000)
    np.testing.assert_array_equal(one, x.astype(int) @ x.T.astype(int))
    np.testing.assert_array_equal(errors.intersection_counts(x, block_examples=7), one)


# --- figures -----------------------------------------------------------------------------

def saved(fig, base):
    paths = [base.with_suffix(".png"), base.with_suffix(".pdf")]
    save_figure(fig, paths)
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"


def test_figures_render(runs, tmp_path):
    confusion = errors.confusion_table(runs, SEEDS).to_pandas()
    overlap = errors.misclassified_overlap_table(runs, SEEDS).to_pandas()
    names = ["cat", "dog", "bird"]
    saved(confusion_final.draw(confusion, 2, names, "small_cnn", "digits", "viridis"), tmp_path / "final")
    saved(confusion_epochs.draw(confusion, 10, [0, 1, 2], names, "small_cnn", "digits", "magma"),
          tmp_path / "epochs")
    saved(misclassified_overlap.draw(overlap, 20, 2, "small_cnn", "digits", "viridis"), tmp_path / "overlap")


def test_confusion_figures_reject_missing_epochs(runs):
    confusion = errors.confusion_table(runs, SEEDS).to_pandas()
    with pytest.raises(ValueError, match="epoch"):
        confusion_epochs.draw(confusion, 10, [0, 7], ["a", "b", "c"], "m", "d", "viridis")
    with pytest.raises(ValueError, match="epoch 9"):
        confusion_final.draw(confusion, 9, ["a", "b", "c"], "m", "d", "viridis")


@pytest.mark.parametrize("shape, names", [((8, 8, 1), ["0", "1", "2"]), ((32, 32, 3), ["airplane", "cat", "truck"])])
@pytest.mark.parametrize("n", [3, 50])
def test_gallery_renders(runs, tmp_path, shape, names, n):
    hard = errors.hard_examples_table(runs, SEEDS).to_pandas()
    images = np.random.default_rng(0).integers(0, 256, (5, *shape), dtype=np.uint8)
    fig = hard_examples.draw(hard, images, names, SEEDS, n, "small_cnn", "digits")
    assert len([ax for ax in fig.axes if ax.images]) == min(n, 5)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    true = "0" if shape[-1] == 1 else "0 airplane"
    assert titles[0] == f"#0 true {true}\n0 2 1\nwrong 2/3"  # hardest first: example 0
    saved(fig, tmp_path / f"gallery{shape[-1]}_{n}")


def test_gallery_of_no_examples(runs, tmp_path):
    hard = errors.hard_examples_table(runs, SEEDS).to_pandas()
    images = np.zeros((5, 8, 8, 1), np.uint8)
    saved(hard_examples.draw(hard, images, ["0", "1", "2"], SEEDS, 0, "m", "d"), tmp_path / "none")
