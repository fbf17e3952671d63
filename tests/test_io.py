"""deepens.io: atomic writes, Parquet tables with provenance, predictions, h5 checkpoints."""
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pytest
from deepens import io, metrics, weights

# --- atomic_path ----------------------------------------------------------------------

def test_atomic_path_failure_leaves_nothing(tmp_path):
    final = tmp_path / "sub" / "out.bin"
    seen = {}
    with pytest.raises(RuntimeError, match="boom"):
        with io.atomic_path(final) as tmp:
            seen["tmp"] = tmp
            assert tmp.parent == final.parent and tmp != final
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert not final.exists()
    assert not seen["tmp"].exists()
    assert list(final.parent.iterdir()) == []


def test_atomic_path_failure_keeps_previous_file(tmp_path):
    final = tmp_path / "out.txt"
    final.write_text("old")
    with pytest.raises(KeyError):
        with io.atomic_path(final) as tmp:
            tmp.write_text("new but broken")
            raise KeyError("x")
    assert final.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_success_replaces(tmp_path):
    final = tmp_path / "out.txt"
    final.write_text("old")
    with io.atomic_path(final, suffix=".tmp.weights.h5") as tmp:
        assert tmp.name.endswith(".tmp.weights.h5")
        tmp.write_text("new")
        assert final.read_text() == "old"  # not visible before the block ends
    assert final.read_text() == "new"
    assert not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_result_honours_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with io.atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
        with open(tmp_path / "plain.txt", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    mode = (tmp_path / "out.txt").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o644


# --- tables and provenance ------------------------------------------------------------

def test_write_table_provenance_round_trip(tmp_path):
    path = tmp_path / "t" / "table.parquet"
    table = pa.table({"a": [1, 2, 3], "b": [0.5, 1.5, -2.0]}).replace_schema_metadata({"keep": "me"})
    prov = {"rule": "x", "config": {"seed": 3, "lr": 1.6e-3}, "inputs": ["p", "q"], "path": Path("/a/b")}
    io.write_table(table, path, prov)
    back = io.read_table(path)
    assert back.select(["a", "b"]).equals(table.select(["a", "b"]))
    assert back.schema.metadata[b"keep"] == b"me"
    assert io.read_provenance(path) == {"rule": "x", "config": {"seed": 3, "lr": 1.6e-3},
                                        "inputs": ["p", "q"], "path": "/a/b"}
    assert [p.name for p in path.parent.iterdir()] == ["table.parquet"]
    assert io.read_table(path, columns=["b"], filters=[("a", ">", 1)]).to_pydict() == {"b": [1.5, -2.0]}


def test_read_provenance_without_key_is_empty(tmp_path):
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")
    assert io.read_provenance(tmp_path / "plain.parquet") == {}


def _bad_parquet(tmp_path, kind):
    good = tmp_path / "good.parquet"
    io.write_table(pa.table({"a": np.arange(1000)}), good, {"x": 1})
    bad = tmp_path / f"{kind}.parquet"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if kind == "truncated" else b"not a parquet file at all" * 4)
    return bad


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty", "missing"])
@pytest.mark.parametrize("reader", [io.read_table, io.read_provenance])
def test_bad_parquet_raises_artifact_error(tmp_path, kind, reader):
    if kind == "empty":
        bad = tmp_path / "empty.parquet"
        bad.write_bytes(b"")
    elif kind == "missing":
        bad = tmp_path / "missing.parquet"
    else:
        bad = _bad_parquet(tmp_path, kind)
    with pytest.raises(io.ArtifactError, match=bad.name):
        reader(bad)


# --- predictions ----------------------------------------------------------------------

def _onehot_probs(pred, c=3):
    return np.eye(c)[pred] * 0.7 + 0.1  # rows sum to 1, argmax = pred


def test_read_predictions_reshapes_regardless_of_row_order(tmp_path):
    labels = np.array([2, 0, 1, 1])
    rng = np.random.default_rng(0)
    probs = {e: rng.dirichlet(np.ones(3), size=4) for e in (0, 1, 2)}
    parts = [io.predictions_table("test", e, labels, probs[e]) for e in (2, 0, 1)]
    parts.insert(1, io.predictions_table("val", 0, [0, 1], _onehot_probs([0, 1])))
    table = pa.concat_tables(parts)
    table = table.take(rng.permutation(table.num_rows))
    path = tmp_path / "pred.parquet"
    io.write_table(table, path, {})

    epochs, y, p, logp = io.read_predictions(path, "test")
    assert epochs.tolist() == [0, 1, 2]
    # log p_y follows its rows (derived from the probabilities when a writer gives none)
    assert logp.shape == (3, 4) and np.allclose(logp, np.log(np.take_along_axis(p, y[None, :, None], -1)[..., 0]))
    assert y.tolist() == labels.tolist()
    assert p.shape == (3, 4, 3) and p.dtype == np.float32
    for e in (0, 1, 2):
        assert np.allclose(p[e], probs[e].astype(np.float32))

    epochs, y, p, _ = io.read_predictions(path, "val")
    assert epochs.tolist() == [0] and y.tolist() == [0, 1]
    assert np.allclose(p[0], _onehot_probs([0, 1]))


def test_read_predictions_missing_split(tmp_path):
    path = tmp_path / "pred.parquet"
    io.write_table(io.predictions_table("test", 0, [0, 1], _onehot_probs([0, 1])), path, {})
    with pytest.raises(io.ArtifactError, match="pred.parquet"):
        io.read_predictions(path, "val")


def test_probabilities_orders_columns_numerically():
    t = pa.table({f"prob_{k}": [float(k)] for k in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9)})
    assert io.probabilities(t).tolist() == [[float(k) for k in range(11)]]
    with pytest.raises(io.ArtifactError):
        io.probabilities(pa.table({"label": [1]}))


def test_read_predictions_rejects_ragged_grid(tmp_path):
    a = io.predictions_table("test", 0, [0, 1, 2], _onehot_probs([0, 1, 2]))
    b = io.predictions_table("test", 1, [0, 1, 2, 0, 1], _onehot_probs([0, 1, 2, 0, 1]))
    path = tmp_path / "ragged.parquet"
    io.write_table(pa.concat_tables([a, b]), path, {})
    with pytest.raises(io.ArtifactError, match="ragged.parquet"):
        io.read_predictions(path, "test")


# --- checkpoints ----------------------------------------------------------------------

# (h5 name, variable path, trainable, shape)
LAYOUT = [
    ("layers/conv2d/vars/0", "conv1/kernel", True, (3, 2, 2)),
    ("layers/conv2d/vars/1", "conv1/bias", True, (2,)),
    ("layers/batch_normalization/vars/0", "bn/gamma", True, (2,)),
    ("layers/batch_normalization/vars/1", "bn/moving_mean", False, (2,)),
    ("layers/frozen/vars/0", "frozen/kernel", False, (2, 2)),
    ("layers/scale/vars/0", "scale/alpha", True, ()),
    ("layers/dense/vars/0", "logits/kernel", True, (4, 3)),
    ("layers/dense/vars/1", "logits/bias", True, (3,)),
]


def _manifest(layout=LAYOUT):
    return [{"h5": h, "path": p, "trainable": t, "shape": list(s), "dtype": "float32"} for h, p, t, s in layout]


def _write_checkpoint(path, seed, manifest=None, layout=LAYOUT):
    rng = np.random.default_rng(seed)
    values = {}
    with h5py.File(path, "w") as f:
        for h, p, _, shape in layout:
            values[p] = rng.normal(size=shape).astype(np.float32)
            f.create_dataset(h, data=values[p])
        if manifest is not False:
            f.attrs[weights.MANIFEST_ATTR] = json.dumps(manifest if manifest is not None else _manifest(layout))
    return values


@pytest.fixture
def checkpoints(tmp_path):
    paths, values = [], []
    for i in range(3):
        p = tmp_path / f"epoch{i}.weights.h5"
        values.append(_write_checkpoint(p, i))
        paths.append(p)
    return paths, values


def test_read_manifest(checkpoints):
    paths, _ = checkpoints
    assert weights.read_manifest(paths[0]) == _manifest()


def test_select_variables():
    m = _manifest()
    assert [v["path"] for v in weights.select_variables(m, "all")] == [
        "conv1/kernel", "conv1/bias", "bn/gamma", "scale/alpha", "logits/kernel", "logits/bias"]
    assert [v["path"] for v in weights.select_variables(m, "kernels")] == ["conv1/kernel", "logits/kernel"]
    with pytest.raises(ValueError):
        weights.select_variables(m, "biases")
    with pytest.raises(io.ArtifactError):
        weights.select_variables([v for v in m if not v["trainable"] or "kernel" not in v["path"]], "kernels")


@pytest.mark.parametrize("parameters", ["all", "kernels"])
def test_checkpoint_set_flat_and_blocks(checkpoints, parameters):
    paths, values = checkpoints
    names = [v["path"] for v in weights.select_variables(_manifest(), parameters)]
    expected = np.stack([np.concatenate([vals[n].astype(np.float64).ravel() for n in names]) for vals in values])
    with weights.CheckpointSet(paths, parameters) as cs:
        assert cs.n_parameters == expected.shape[1]
        for i in range(3):
            assert np.array_equal(cs.flat(i), expected[i])
        for block_elements in (1, 7, 13, 10**6):
            blocks = list(cs.blocks(block_elements))
            assert all(b.shape[0] == 3 and b.dtype == np.float32 for b in blocks)  # as stored
            assert np.array_equal(np.concatenate(blocks, axis=1), expected)
        assert len(list(cs.blocks(1))) > len(list(cs.blocks(10**6)))
        cos = metrics.cosine_from_blocks(cs.blocks(5))
    n = np.linalg.norm(expected, axis=1)
    assert np.allclose(cos, expected @ expected.T / np.outer(n, n))


def test_checkpoint_set_different_manifest(checkpoints, tmp_path):
    paths, _ = checkpoints
    other = tmp_path / "other.weights.h5"
    layout = LAYOUT[:-1] + [("layers/dense/vars/1", "logits/bias", True, (4,))]
    _write_checkpoint(other, 9, layout=layout)
    with pytest.raises(io.ArtifactError, match="other.weights.h5"):
        weights.CheckpointSet([paths[0], other, paths[1]])


def test_checkpoint_without_manifest(checkpoints, tmp_path):
    paths, _ = checkpoints
    bare = tmp_path / "bare.weights.h5"
    _write_checkpoint(bare, 1, manifest=False)
    with pytest.raises(io.ArtifactError, match="bare.weights.h5"):
        weights.CheckpointSet([bare])
    with pytest.raises(io.ArtifactError, match="bare.weights.h5"):
        weights.CheckpointSet([paths[0], bare])


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
@pytest.mark.parametrize("position", [0, 1])
def test_corrupt_checkpoint(checkpoints, tmp_path, kind, position):
    paths, _ = checkpoints
    bad = tmp_path / f"{kind}.weights.h5"
    data = paths[2].read_bytes()
    bad.write_bytes(b"\x00garbage" * 64 if kind == "garbage" else data[: len(data) // 2])
    order = [bad, paths[0]] if position == 0 else [paths[0], bad]
    with pytest.raises(io.ArtifactError, match=bad.name):
        with weights.CheckpointSet(order) as cs:
            list(cs.blocks(100))


def test_checkpoint_missing_dataset_in_blocks(checkpoints, tmp_path):
    paths, _ = checkpoints
    holey = tmp_path / "holey.weights.h5"
    _write_checkpoint(holey, 4, manifest=_manifest(), layout=LAYOUT[:-1])  # logits/bias absent
    with weights.CheckpointSet([paths[0], holey]) as cs:
        with pytest.raises(io.ArtifactError, match="holey.weights.h5"):
            list(cs.blocks(100))
