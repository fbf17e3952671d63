"""Checkpoints as h5py sees them (no TensorFlow): the variable manifest and model spec a training job
attaches to every Keras 3 .weights.h5, and CheckpointSet, which reads the flat parameter vectors of
many checkpoints block by block."""
import json
from pathlib import Path

import h5py
import numpy as np

from .io import ArtifactError, Closing

# The training job adds attributes to every checkpoint (layers/<layer>/vars/<i> in Keras's
# layout): a manifest naming each variable (path such as "conv1/kernel", whether trainable,
# shape, dtype) and the model spec, so readers need no TensorFlow.
MANIFEST_ATTR = "deepens.variables"
MODEL_ATTR = "deepens.model"  # the model spec (deepens.nets.models.model_spec) a checkpoint belongs to


def read_model_spec(path) -> dict:
    """The model spec a checkpoint was saved with (name, input shape, classes, input scaling, ...)."""
    try:
        with h5py.File(path, "r") as f:
            return json.loads(f.attrs[MODEL_ATTR])
    except KeyError as err:
        raise ArtifactError(f"checkpoint {path} has no '{MODEL_ATTR}' attribute (made by an older version? "
                            f"retrain it)") from err
    except OSError as err:
        raise ArtifactError(f"cannot read checkpoint {path}: {err}") from err


def read_manifest(path) -> list[dict]:
    try:
        with h5py.File(path, "r") as f:
            return json.loads(f.attrs[MANIFEST_ATTR])
    except KeyError as err:
        raise ArtifactError(f"checkpoint {path} has no '{MANIFEST_ATTR}' manifest attribute") from err
    except OSError as err:
        raise ArtifactError(f"cannot read checkpoint {path}: {err}") from err


def select_variables(manifest: list[dict], parameters: str) -> list[dict]:
    """`all`: every trainable variable (weights and biases); `kernels`: kernels only."""
    if parameters == "all":
        chosen = [v for v in manifest if v["trainable"]]
    elif parameters == "kernels":
        chosen = [v for v in manifest if v["trainable"] and v["path"].endswith("kernel")]
    else:
        raise ValueError(f"parameters must be 'all' or 'kernels', got {parameters!r}")
    if not chosen:
        raise ArtifactError(f"no variables selected by parameters={parameters!r}")
    return chosen


class CheckpointSet(Closing):
    """Open h5 checkpoints of one architecture, read variable slices across all of them."""

    def __init__(self, paths, parameters="all"):
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("no checkpoints given")
        self.variables = select_variables(read_manifest(self.paths[0]), parameters)
        self._files = []
        try:
            for p in self.paths:
                f = h5py.File(p, "r")
                self._files.append(f)
                if json.loads(f.attrs.get(MANIFEST_ATTR, "[]")) != read_manifest(self.paths[0]):
                    raise ArtifactError(f"checkpoint {p} has a different architecture than {self.paths[0]}")
        except OSError as err:
            self.close()
            raise ArtifactError(f"cannot read checkpoint {p}: {err}") from err
        except ArtifactError:
            self.close()
            raise

    def close(self):
        for f in self._files:
            f.close()
        self._files = []

    @property
    def n_parameters(self) -> int:
        return int(sum(np.prod(v["shape"]) for v in self.variables))

    def blocks(self, block_elements: int):
        """Yield (K x b) matrices in the stored dtype (float32 checkpoints: float32, so a block
        is half the memory; metrics.cosine_from_blocks accumulates in float64): consecutive
        parameter slices of every checkpoint."""
        k = len(self._files)
        for var in self.variables:
            shape = var["shape"]
            rows = shape[0] if shape else 1
            per_row = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            step = max(1, block_elements // max(1, k * per_row))
            dtype = np.dtype(var.get("dtype", "float64"))  # the manifest's variable dtype, as stored
            for start in range(0, rows, step):
                stop = min(rows, start + step)
                out = np.empty((k, (stop - start) * per_row), dtype=dtype)
                for i, f in enumerate(self._files):
                    try:
                        ds = f[var["h5"]]
                        out[i] = (ds[start:stop] if shape else ds[()]).reshape(-1)
                    except (KeyError, OSError) as err:
                        raise ArtifactError(
                            f"checkpoint {self.paths[i]}: cannot read variable {var['path']} ({var['h5']}): {err}"
                        ) from err
                yield out

    def flat(self, index: int) -> np.ndarray:
        """One checkpoint's selected parameters as a flat float64 vector."""
        return np.concatenate([np.asarray(self._files[index][v["h5"]], np.float64).ravel() for v in self.variables])
