"""Datasets as one contract: uint8 NHWC images, int labels, class names, fixed splits.

`prepare_*` build the splits and `save_dataset` writes them to one .npz (no pickles, so
loading runs no code); `load_dataset` reads it back and checks the contract.
"""
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import ArtifactError, atomic_path
from .provenance import sha256_file

SPLITS = ("train", "val", "test")
SPLIT_SEED = 0  # the data split is part of the dataset, shared by every run seed


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    meta: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    def split(self, name: str):
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


def evenly_spaced(n_total: int, k: int) -> np.ndarray:
    """min(k, n_total) distinct indices spread evenly over 0..n_total-1 (deterministic)."""
    k = min(int(k), n_total)
    return np.unique(np.linspace(0, n_total - 1, k).round().astype(np.int64))


def prepare_digits(test_size: int, validation_size: int) -> Dataset:
    """scikit-learn's bundled digits (1,797 8x8 images), stratified into train/val/test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    n = len(digits.target)
    if test_size + validation_size > n - 100:
        raise ValueError(f"dataset.test_size + train.validation_size = {test_size + validation_size} "
                         f"leaves fewer than 100 of the {n} digits for training")
    # 0..16 grey levels -> 0..255 so every dataset shares the /255 input scaling.
    x = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = digits.target.astype(np.int64)
    idx = np.arange(n)
    rest, test = train_test_split(idx, test_size=test_size, stratify=y, random_state=SPLIT_SEED)
    train, val = train_test_split(rest, test_size=validation_size, stratify=y[rest],
                                  random_state=SPLIT_SEED)
    train, val, test = np.sort(train), np.sort(val), np.sort(test)
    return Dataset(x[train], y[train], x[val], y[val], x[test], y[test],
                   [str(c) for c in digits.target_names],
                   meta={"source": "sklearn.datasets.load_digits"})


def prepare_cifar10(path, validation_size: int, scratch_dir, **download_kwargs) -> Dataset:
    """CIFAR-10 from a local tarball/directory, or downloaded when path is None (md5-checked,
    cached; see cifar10_download.download, which takes download_kwargs); last images = validation."""
    from . import cifar10, cifar10_download

    source = cifar10_download.download(**download_kwargs) if path is None else path
    raw = cifar10.load_cifar10(source, scratch_dir)
    n = len(raw["y_train"])
    if not 0 < validation_size < n:
        raise ValueError(f"train.validation_size must be between 1 and {n - 1} for cifar10, got {validation_size}")
    cut = n - validation_size
    meta = {"source": str(path) if path is not None else download_kwargs.get("url", cifar10_download.URL)}
    if Path(source).is_file():
        meta["source_sha256"] = sha256_file(source)
    return Dataset(raw["x_train"][:cut], raw["y_train"][:cut], raw["x_train"][cut:], raw["y_train"][cut:],
                   raw["x_test"], raw["y_test"], list(raw["class_names"]), meta=meta)


def save_dataset(ds: Dataset, path, meta: dict | None = None):
    meta = {**ds.meta, **(meta or {}),
            "sizes": {s: int(len(ds.split(s)[1])) for s in SPLITS}, "input_shape": list(ds.input_shape)}
    arrays = {f"{k}_{s}": v for s in SPLITS for k, v in zip("xy", ds.split(s))}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, class_names=np.array(ds.class_names, dtype=str), meta=np.array(json.dumps(meta)), **arrays)


def load_dataset(path) -> Dataset:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with loaded as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ArtifactError(f"cannot read dataset file {path}: {err}") from err
    missing = [f"{k}_{s}" for s in SPLITS for k in "xy" if f"{k}_{s}" not in arrays]
    missing += [k for k in ("class_names", "meta") if k not in arrays]
    if missing:
        raise ArtifactError(f"dataset file {path} lacks arrays {missing}")
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as err:
        raise ArtifactError(f"dataset file {path}: its 'meta' array is not JSON: {err}") from err
    ds = Dataset(*(arrays[f"{k}_{s}"] for s in SPLITS for k in "xy"),
                 class_names=[str(c) for c in arrays["class_names"]], meta=meta)
    for s in SPLITS:
        x, y = ds.split(s)
        if x.dtype != np.uint8 or x.ndim != 4 or len(x) != len(y) or len(y) == 0:
            raise ArtifactError(f"dataset file {path}: split {s!r} must be non-empty uint8 NHWC images "
                                f"with one label each, got {x.dtype} {x.shape} and {len(y)} labels")
        if y.min() < 0 or y.max() >= ds.num_classes:
            raise ArtifactError(f"dataset file {path}: split {s!r} has labels outside 0..{ds.num_classes - 1}")
    return ds
