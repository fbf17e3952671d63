"""deepens.data: the digits splits and the .npz dataset contract."""
import json

import numpy as np
import pytest
from deepens import data
from deepens.io import ArtifactError

TEST, VAL = 450, 180


@pytest.fixture(scope="module")
def digits():
    return data.prepare_digits(TEST, VAL)


def test_digits_sizes(digits):
    assert len(digits.y_test) == TEST
    assert len(digits.y_val) == VAL
    assert len(digits.y_train) == 1797 - TEST - VAL
    for name in data.SPLITS:
        x, y = digits.split(name)
        assert len(x) == len(y)
    assert digits.num_classes == 10
    assert digits.class_names == [str(i) for i in range(10)]


def test_digits_splits_are_disjoint_and_cover_everything(digits):
    from sklearn.datasets import load_digits
    raw = load_digits()
    x_all = np.rint(raw.images * (255.0 / 16.0)).astype(np.uint8)
    keys = {}
    for i, img in enumerate(x_all):
        keys.setdefault(img.tobytes() + bytes([raw.target[i]]), []).append(i)
    used = []
    for name in data.SPLITS:
        x, y = digits.split(name)
        for img, label in zip(x[..., 0], y):
            used.append(img.tobytes() + bytes([label]))
    # every split image/label pair is a real digit, and the multiset of pairs is the whole dataset
    assert sorted(used) == sorted(k for k, idx in keys.items() for _ in idx)


def test_digits_stratified(digits):
    y_all = np.concatenate([digits.y_train, digits.y_val, digits.y_test])
    overall = np.bincount(y_all, minlength=10) / len(y_all)
    for name, size in (("test", TEST), ("val", VAL)):
        counts = np.bincount(digits.split(name)[1], minlength=10)
        assert np.all(np.abs(counts - overall * size) <= 1), (name, counts, overall * size)


def test_digits_format(digits):
    for name in data.SPLITS:
        x, y = digits.split(name)
        assert x.dtype == np.uint8
        assert x.ndim == 4 and x.shape[1:] == (8, 8, 1)
        assert x.min() == 0 and x.max() == 255
        assert y.min() >= 0 and y.max() <= 9
    assert digits.input_shape == (8, 8, 1)
    # 16 grey levels map to 0..255 by x * 255 / 16 rounded: only those 17 values occur
    allowed = set(np.rint(np.arange(17) * 255 / 16).astype(int))
    assert set(np.unique(digits.x_train).tolist()) <= allowed


def test_digits_deterministic(digits):
    again = data.prepare_digits(TEST, VAL)
    for name in data.SPLITS:
        for a, b in zip(digits.split(name), again.split(name)):
            assert np.array_equal(a, b)


def test_digits_split_sizes_change_with_arguments():
    ds = data.prepare_digits(300, 100)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (1397, 100, 300)


def test_digits_too_large_sizes():
    with pytest.raises(ValueError, match="fewer than 100"):
        data.prepare_digits(1600, 100)
    with pytest.raises(ValueError):
        data.prepare_digits(1000, 698)  # leaves 99
    ds = data.prepare_digits(1000, 697)  # leaves exactly 100
    assert len(ds.y_train) == 100


def test_split_name_checked(digits):
    with pytest.raises(ValueError):
        digits.split("validation")


# --- save / load ----------------------------------------------------------------------

def test_save_load_round_trip(digits, tmp_path):
    path = tmp_path / "d" / "digits.npz"
    data.save_dataset(digits, path, meta={"config": {"test_size": TEST}})
    assert [p.name for p in path.parent.iterdir()] == ["digits.npz"]
    back = data.load_dataset(path)
    for name in data.SPLITS:
        for a, b in zip(digits.split(name), back.split(name)):
            assert a.dtype == b.dtype
            assert np.array_equal(a, b)
    assert back.class_names == digits.class_names
    assert back.meta == {"source": "sklearn.datasets.load_digits", "config": {"test_size": TEST},
                         "sizes": {"train": 1797 - TEST - VAL, "val": VAL, "test": TEST},
                         "input_shape": [8, 8, 1]}


@pytest.fixture
def saved(digits, tmp_path):
    path = tmp_path / "digits.npz"
    data.save_dataset(digits, path)
    return path


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.0])
def test_load_truncated(saved, tmp_path, keep):
    bad = tmp_path / "truncated.npz"
    raw = saved.read_bytes()
    bad.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(ArtifactError, match="truncated.npz"):
        data.load_dataset(bad)


def test_load_missing_file(tmp_path):
    with pytest.raises(ArtifactError, match="nothere.npz"):
        data.load_dataset(tmp_path / "nothere.npz")


def _arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_load_lacking_array(saved, tmp_path):
    arrays = _arrays(saved)
    del arrays["x_val"]
    bad = tmp_path / "lacking.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ArtifactError, match=r"lacking\.npz.*x_val"):
        data.load_dataset(bad)


def test_load_rejects_bad_contents(saved, tmp_path):
    arrays = _arrays(saved)
    wrong_dtype = dict(arrays, x_test=arrays["x_test"].astype(np.float32))
    bad_labels = dict(arrays, y_train=np.where(arrays["y_train"] == 3, 10, arrays["y_train"]))
    for name, arr in (("dtype.npz", wrong_dtype), ("labels.npz", bad_labels)):
        np.savez(tmp_path / name, **arr)
        with pytest.raises(ArtifactError, match=name):
            data.load_dataset(tmp_path / name)


def test_load_npy_instead_of_npz(tmp_path):
    bad = tmp_path / "array.npy"
    np.save(bad, np.zeros(3))
    with pytest.raises(ArtifactError, match="array.npy"):
        data.load_dataset(bad)


def test_load_malformed_meta(saved, tmp_path):
    arrays = dict(_arrays(saved), meta=np.array("{not json"))
    bad = tmp_path / "meta.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ArtifactError, match="meta.npz"):
        data.load_dataset(bad)


def test_saved_file_needs_no_pickle(saved):
    with np.load(saved, allow_pickle=False) as z:
        assert json.loads(str(z["meta"]))["sizes"]["test"] == TEST
        assert z["class_names"].dtype.kind == "U"
