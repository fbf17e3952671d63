"""CIFAR-10-C (Hendrycks & Dietterich 2019) read from its release files: <corruption>.npy (50,000 images,
severities 1-5 in blocks of 10,000) and labels.npy, checked against this dataset's test set."""
from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from .corruptions import SEVERITIES
from .io import ArtifactError

# File stems of the published CIFAR-10-C release (the official functions' __name__s).
CIFAR10C_NAMES = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate",
)


CIFAR10C_SHAPE = (32, 32, 3)



def _open_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ArtifactError(f"CIFAR-10-C file {path} is missing (expected the official release's .npy files)")
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as err:
        raise ArtifactError(f"cannot read CIFAR-10-C file {path}: {err}") from err
    if not isinstance(arr, np.ndarray):
        raise ArtifactError(f"CIFAR-10-C file {path} is not a single .npy array")
    return arr


def load_cifar10c(directory, name: str, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `n_test` images of each severity of ``{directory}/{name}.npy`` and their labels.

    The release stores 5 severity blocks one after another (rows 0..9999 severity 1, ...,
    shape (50000, 32, 32, 3) uint8) and ``labels.npy`` (50000,). Any (5 * M, 32, 32, 3) file
    is accepted. Returns images uint8 (5, n_test, 32, 32, 3) and labels int64 (5, n_test).
    Raises ArtifactError naming the file when it is missing or malformed.
    """
    if name not in CIFAR10C_NAMES:
        raise ValueError(f"unknown CIFAR-10-C corruption {name!r}; expected one of {CIFAR10C_NAMES}")
    if isinstance(n_test, bool) or not isinstance(n_test, numbers.Integral) or n_test < 1:
        raise ValueError(f"n_test must be a positive integer, got {n_test!r}")
    directory = Path(directory)
    path, labels_path = directory / f"{name}.npy", directory / "labels.npy"
    images = _open_npy(path)
    if (images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != CIFAR10C_SHAPE
            or images.shape[0] == 0 or images.shape[0] % len(SEVERITIES)):
        raise ArtifactError(f"CIFAR-10-C file {path}: expected uint8 images of shape (5 * M, 32, 32, 3), "
                            f"severity-major (official: (50000, 32, 32, 3)); got {images.dtype} {images.shape}")
    per = images.shape[0] // len(SEVERITIES)
    if n_test > per:
        raise ArtifactError(f"CIFAR-10-C file {path} holds {per} images per severity, fewer than the "
                            f"{n_test} test images asked for")
    labels = _open_npy(labels_path)
    if labels.ndim != 1 or labels.shape[0] != images.shape[0] or not np.issubdtype(labels.dtype, np.integer):
        raise ArtifactError(f"CIFAR-10-C file {labels_path}: expected {images.shape[0]} integer labels "
                            f"(one per row of {path.name}), got {labels.dtype} {labels.shape}")
    blocks = [slice(k * per, k * per + int(n_test)) for k in range(len(SEVERITIES))]
    return (np.stack([np.asarray(images[b]) for b in blocks]),
            np.stack([np.asarray(labels[b], dtype=np.int64) for b in blocks]))


def check_cifar10c_labels(labels: np.ndarray, y_test: np.ndarray) -> None:
    """Raise ArtifactError unless every severity's CIFAR-10-C labels equal the CIFAR-10 test labels."""
    labels, y_test = np.asarray(labels), np.asarray(y_test)
    if labels.ndim != 2 or y_test.ndim != 1 or labels.shape[1] != y_test.shape[0]:
        raise ArtifactError(f"CIFAR-10-C labels of shape {labels.shape} do not match {y_test.shape[0]} "
                            f"CIFAR-10 test labels (expected (severities, {y_test.shape[0]}))")
    for k, row in enumerate(labels):
        wrong = int(np.count_nonzero(row != y_test))
        if wrong:
            raise ArtifactError(f"CIFAR-10-C labels of severity {k + 1} differ from the CIFAR-10 test labels at "
                                f"{wrong} of {len(y_test)} positions: the CIFAR-10-C files are not aligned "
                                f"with this test set")
