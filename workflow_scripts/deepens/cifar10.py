"""Safe loading of the official CIFAR-10 python release (cifar-10-python.tar.gz).

The release is a set of Python 2 pickles. Plain pickle.load on a file we did not write
can run arbitrary code, so we unpickle with an allow-list of the few globals the
official files use, extract the tarball with tarfile's "data" filter, and validate
every array before use. keras.datasets.cifar10.load_data is never used because it
unpickles without limits.

With path=None the tarball is downloaded with the standard library only (urllib,
hashlib): this runs in the analysis environment, which has neither TensorFlow nor Keras.
The download is md5-checked, written atomically into a cache directory (see
`default_cache_dir`) and then read by exactly the same safe reader as a local tarball.
"""
from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np

try:  # numpy >= 2 moved the implementation to numpy._core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

TARBALL = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
NUM_CLASSES = 10
ROW_LEN = 3 * 32 * 32
MAX_TAR_BYTES = 1 << 30  # the real release unpacks to ~180 MB; refuse tar bombs

# Everything an official batch pickle references: Python 2 wrote numpy.core.*,
# re-pickled files under numpy 2 write numpy._core.*. Nothing else is callable.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class DatasetFileError(ValueError):
    """A dataset file is missing, corrupt, or not in the official CIFAR-10 format."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file, encoding="bytes")  # Python 2 str -> bytes, as released
        self._path = path

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DatasetFileError(
                f"{self._path}: refused pickle global {module}.{name}; an official "
                "CIFAR-10 batch only references numpy arrays and dtypes") from None


def _unpickle(path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            obj = _RestrictedUnpickler(fh, path).load()
    except DatasetFileError:
        raise
    except FileNotFoundError:
        raise DatasetFileError(f"{path}: file is missing; expected a CIFAR-10 batch file") from None
    except Exception as exc:  # truncated/corrupt pickles raise many different types
        raise DatasetFileError(
            f"{path}: not a readable CIFAR-10 pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise DatasetFileError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def load_batch(path) -> dict:
    """Unpickle and validate one data batch (data_batch_N or test_batch); keys stay bytes."""
    batch = _unpickle(path)
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8
            and data.ndim == 2 and data.shape[1] == ROW_LEN):
        got = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
               else type(data).__name__)
        raise DatasetFileError(f"{path}: b'data' must be a uint8 array of shape "
                               f"(N, {ROW_LEN}), got {got}")
    if not (isinstance(labels, list)
            and all(type(v) is int and 0 <= v < NUM_CLASSES for v in labels)):
        raise DatasetFileError(f"{path}: b'labels' must be a list of ints in 0..{NUM_CLASSES - 1}")
    if len(labels) != len(data):
        raise DatasetFileError(f"{path}: {len(labels)} labels for {len(data)} images")
    return batch


def load_meta(path) -> list[str]:
    """Class names from batches.meta, decoded to str."""
    names = _unpickle(path).get(b"label_names")
    if not (isinstance(names, list) and len(names) == NUM_CLASSES
            and all(isinstance(n, bytes) for n in names)):
        raise DatasetFileError(f"{path}: b'label_names' must be a list of {NUM_CLASSES} byte strings")
    try:
        return [n.decode("ascii") for n in names]
    except UnicodeDecodeError:
        raise DatasetFileError(f"{path}: b'label_names' must be ASCII") from None


def _check_members(tar_path, tar: tarfile.TarFile) -> None:
    """Allow only plain files/dirs under cifar-10-batches-py/; refuse everything else by name."""
    total = 0
    for m in tar.getmembers():
        parts = Path(m.name).parts
        if (m.name.startswith(("/", "\\")) or ".." in parts
                or not parts or parts[0] != BATCHES_DIR):
            raise DatasetFileError(f"{tar_path}: refused member {m.name!r}; expected only "
                                   f"relative paths under {BATCHES_DIR}/")
        if not (m.isfile() or m.isdir()):
            raise DatasetFileError(f"{tar_path}: refused member {m.name!r}; expected only "
                                   "regular files and directories (no links or devices)")
        total += m.size
        if total > MAX_TAR_BYTES:
            raise DatasetFileError(f"{tar_path}: members exceed {MAX_TAR_BYTES} bytes; "
                                   "not the CIFAR-10 release")


def safe_extract(tar_path, dest_dir) -> Path:
    """Extract the release into dest_dir/cifar-10-batches-py, atomically; reuse it if present."""
    tar_path, dest_dir = Path(tar_path), Path(dest_dir)
    final = dest_dir / BATCHES_DIR
    if final.is_dir():  # only ever created by the rename below, so it is complete
        return final
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Unpack beside the final name (same filesystem) so the rename is atomic: a killed
    # run leaves only a hidden .extract-* directory, never a half cifar-10-batches-py.
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir))
    try:
        try:
            with tarfile.open(tar_path, "r:*") as tar:
                _check_members(tar_path, tar)
                tar.extractall(tmp, filter="data")  # second line of defence
        except DatasetFileError:
            raise
        except tarfile.FilterError as exc:
            raise DatasetFileError(f"{tar_path}: refused member {exc.tarinfo.name!r} ({exc})") from exc
        except FileNotFoundError:
            raise DatasetFileError(f"{tar_path}: file is missing; expected {TARBALL}") from None
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DatasetFileError(f"{tar_path}: not a readable tar archive ({exc}); "
                                   f"expected {TARBALL}") from exc
        if not (tmp / BATCHES_DIR).is_dir():
            raise DatasetFileError(f"{tar_path}: no {BATCHES_DIR}/ directory inside; expected {TARBALL}")
        try:
            os.replace(tmp / BATCHES_DIR, final)
        except OSError:
            if not final.is_dir():  # else a concurrent run finished first: use its copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def find_batches_dir(path, scratch_dir=None) -> Path:
    """Locate cifar-10-batches-py given the tarball, that directory, or its parent.

    A tarball is extracted into scratch_dir. Missing batch files are reported later,
    by name, when they are loaded.
    """
    path = Path(path)
    if path.is_file():
        if scratch_dir is None:
            raise DatasetFileError(f"{path}: a tarball needs a scratch_dir to extract into")
        return safe_extract(path, scratch_dir)
    if not path.is_dir():
        raise DatasetFileError(f"{path}: does not exist; expected {TARBALL}, the "
                               f"{BATCHES_DIR}/ directory, or its parent directory")
    return path / BATCHES_DIR if (path / BATCHES_DIR).is_dir() else path


def _images(batches) -> tuple[np.ndarray, np.ndarray]:
    data = np.concatenate([b[b"data"] for b in batches])
    labels = np.concatenate([np.asarray(b[b"labels"], dtype=np.int64) for b in batches])
    # Rows are channel-first (1024 R, 1024 G, 1024 B, each 32x32 row-major): go to NHWC.
    x = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return x, labels


def load_cifar10(path, scratch_dir) -> dict:
    """Load CIFAR-10 from a local tarball or directory (a downloaded tarball is read the same way:
    cifar10_download). A tarball is extracted into a fresh temporary directory under scratch_dir
    and removed after loading, so a replaced tarball is never shadowed by an old extraction.
    """
    if Path(path).is_file():
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".extract-", dir=scratch_dir) as tmp:
            return _load_dir(find_batches_dir(path, tmp))
    return _load_dir(find_batches_dir(path, scratch_dir))


def _load_dir(root: Path) -> dict:
    names = (*TRAIN_FILES, TEST_FILE, META_FILE)
    missing = [str(root / n) for n in names if not (root / n).is_file()]
    if missing:  # check all first so one message lists every absent file
        raise DatasetFileError(f"missing {', '.join(missing)}; a CIFAR-10 directory "
                               f"must hold {', '.join(names)}")
    x_train, y_train = _images([load_batch(root / n) for n in TRAIN_FILES])
    x_test, y_test = _images([load_batch(root / TEST_FILE)])
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "class_names": load_meta(root / META_FILE)}
