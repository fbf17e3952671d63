"""Permutation alignment of two networks by weight matching (numpy and scipy; no TensorFlow).

Hidden units can be permuted without changing the function a network computes: reorder the
output channels of a layer, and the input channels of every layer that reads them, the same way.
Weight matching (Ainsworth, Hayase & Srinivasa 2023, "Git Re-Basin", Algorithm 1) picks, for
network B, the permutations that make its weights closest to network A's, i.e. that maximise
sum_v <a_v, pi(b_v)> over the variables v: coordinate descent over the permutation groups, each
step a linear assignment problem (scipy.optimize.linear_sum_assignment) with the other groups fixed.

Conventions:

- Parameters are dicts {variable path -> array}, the paths Keras gives ("conv1/kernel",
  "s1b1a_bn/gamma"), as in the checkpoint manifests (deepens.weights).
- A *permutation group* is a set of units that must be permuted together: the output channels
  of a layer and everything that is indexed by them downstream. A PermutationSpec lists, for each
  variable, the shape it is viewed as for permuting (`view_shape`) and one group name or None per
  axis of that view (`axes`). The view equals the variable's shape except for the dense layer after
  a channels-last Flatten, whose rows (h * W + w) * C + c are viewed as (H * W, C).
- A permutation `perm` of a group takes unit perm[i] of the network to position i on every axis
  of that group: np.take(w, perm, axis). invert(perms) undoes it.
- Group names: the CNNs (small_cnn, medium_cnn) have "conv1".."convN", the output channels of
  conv i. ResNet20v1 has one group per stage's residual stream, "stage1".."stage3" (the stem's or
  the stage's 1x1 projection's output and every block's second convolution), and one group per
  block's inner convolution, "s1b1a".."s3b3a". Batch-norm variables follow their layer's outputs.
"""

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

# The depth of each CNN of deepens.nets.models (convolutions conv1..convN); their widths come from
# the variables' shapes.
CNN_DEPTHS = {"small_cnn": 3, "medium_cnn": 4}
SUPPORTED_MODELS = (*CNN_DEPTHS, "resnet20v1")

# Batch-norm variables in Keras's order; the moving statistics are not trainable, and a spec may be
# built from a list of trainable variables only (their shape is then the size of their group).
_BN_TRAINABLE = ("gamma", "beta")
_BN_STATISTICS = ("moving_mean", "moving_variance")

# A step of coordinate descent keeps a new permutation only if it raises the objective by more than
# this fraction (so ties and round-off cannot make it cycle).
_REL_TOL = 1e-12


class ViewAxes(NamedTuple):
    """How one variable is permuted: reshaped to `view_shape`, one group name (or None) per axis."""

    view_shape: tuple[int, ...]
    axes: tuple[str | None, ...]


class PermutationSpec(Mapping):
    """The permutation symmetry of one network: {variable path -> ViewAxes}.

    Also: `model_name`; `shapes` {path -> the variable's own shape}; `groups` {group name -> size};
    `group_axes` {group name -> ((path, view axis), ...)}, the variable axes each group permutes.
    """

    def __init__(self, model_name: str, shapes: dict, views: dict):
        self.model_name = model_name
        self.shapes = dict(shapes)
        self._views = dict(views)
        self.groups, touched = {}, {}
        for path, (view_shape, axes) in self._views.items():
            for axis, group in enumerate(axes):
                if group is not None:
                    self.groups.setdefault(group, view_shape[axis])
                    touched.setdefault(group, []).append((path, axis))
        self.group_axes = {g: tuple(t) for g, t in touched.items()}

    def __getitem__(self, path) -> ViewAxes:
        return self._views[path]

    def __iter__(self):
        return iter(self._views)

    def __len__(self):
        return len(self._views)

    def __repr__(self):
        return f"PermutationSpec({self.model_name!r}, {len(self)} variables, groups {self.groups})"


# --- the specs -------------------------------------------------------------------------------


def _cnn_template(depth: int):
    """{path -> axes} of _cnn in deepens.nets.models, and the dense layer read through Flatten.

    conv -> dropout -> maxpool -> ReLU all act per channel, so conv i's output channels are one group
    up to the next convolution's input axis (and, for the last, the Flatten)."""
    template, previous = {}, None
    for i in range(1, depth + 1):
        group = f"conv{i}"
        template[f"conv{i}/kernel"] = (None, None, previous, group)  # (3, 3, in, out)
        template[f"conv{i}/bias"] = (group,)
        previous = group
    template["logits/kernel"] = (None, previous, None)  # viewed as (H * W, C, classes)
    template["logits/bias"] = (None,)
    return template, {"logits/kernel": previous}, set()


def _resnet20_template():
    """{path -> axes} of resnet20v1 in deepens.nets.models.

    A block computes relu(x + bn(conv_b(relu(bn(conv_a(x)))))), x through a 1x1 projection where the
    stage changes width; so the residual stream of a stage (the stem or projection output and every
    block's conv_b output) is one group, and each conv_a output is its own."""
    template, optional = {}, set()

    def conv_bn(name, inputs, outputs):
        template[f"{name}_conv/kernel"] = (None, None, inputs, outputs)  # (3, 3, in, out), no bias
        for v in _BN_TRAINABLE + _BN_STATISTICS:
            template[f"{name}_bn/{v}"] = (outputs,)
        optional.update(f"{name}_bn/{v}" for v in _BN_STATISTICS)

    conv_bn("stem", None, "stage1")
    stream = "stage1"
    for stage in (1, 2, 3):
        for block in (1, 2, 3):
            name, out = f"s{stage}b{block}", f"stage{stage}"
            conv_bn(f"{name}a", stream, f"{name}a")
            conv_bn(f"{name}b", f"{name}a", out)
            if stage > 1 and block == 1:  # stride 2 and twice the width: a 1x1 projection of x
                template[f"{name}_proj/kernel"] = (None, None, stream, out)
                template[f"{name}_proj/bias"] = (out,)
            stream = out
    template["logits/kernel"] = (stream, None)  # after global average pooling: (channels, classes)
    template["logits/bias"] = (None,)
    return template, {}, optional


def permutation_spec(model_name: str, variables: list[dict]) -> PermutationSpec:
    """The PermutationSpec of a network of deepens.nets.models, from its checkpoint manifest entries.

    `variables` need "path" and "shape"; trainable and non-trainable entries are both accepted, and
    the batch-norm moving statistics may be left out (a list of trainable variables): the spec then
    still knows them. ValueError for an unsupported model, a variable the spec does not know, a
    variable of the spec that is missing, or shapes that do not fit together.
    """
    if model_name in CNN_DEPTHS:
        template, flattened, optional = _cnn_template(CNN_DEPTHS[model_name])
    elif model_name == "resnet20v1":
        template, flattened, optional = _resnet20_template()
    else:
        raise ValueError(f"no permutation spec for model {model_name!r}; supported: {list(SUPPORTED_MODELS)}")

    shapes = {}
    for v in variables:
        path = v["path"]
        if path not in template:
            raise ValueError(f"variable {path!r} is not part of the {model_name} permutation spec")
        if path in shapes:
            raise ValueError(f"variable {path!r} is listed twice")
        shapes[path] = tuple(int(d) for d in v["shape"])
    missing = [p for p in template if p not in shapes and p not in optional]
    if missing:
        raise ValueError(
            f"variable {missing[0]!r} of the {model_name} permutation spec is missing ({len(missing)} missing in all)"
        )

    # Group sizes from the first variable that has the group on an axis; every other must agree.
    sizes = {}

    def check_axes(path, view_shape, axes):
        if len(view_shape) != len(axes):
            raise ValueError(f"variable {path!r} of {model_name} has shape {shapes[path]}, expected {len(axes)} axes")
        for axis, group in enumerate(axes):
            if group is not None and sizes.setdefault(group, view_shape[axis]) != view_shape[axis]:
                raise ValueError(
                    f"variable {path!r} of {model_name} has shape {shapes[path]}: axis {axis} has "
                    f"{view_shape[axis]} units, but group {group!r} has {sizes[group]}"
                )

    views = {}
    for path, shape in shapes.items():
        if path not in flattened:
            check_axes(path, shape, template[path])
    for path, shape in shapes.items():
        if path in flattened:  # rows (h * W + w) * C + c of a channels-last Flatten -> (H * W, C, classes)
            channels = sizes[flattened[path]]
            if len(shape) != 2 or shape[0] % channels:
                raise ValueError(
                    f"variable {path!r} of {model_name} has shape {shape}; expected (H * W * "
                    f"{channels}, classes) after the Flatten of {channels} channels"
                )
            views[path] = ViewAxes((shape[0] // channels, channels, shape[1]), template[path])
            check_axes(path, views[path].view_shape, template[path])
        else:
            views[path] = ViewAxes(shape, template[path])
    for path in template:  # absent moving statistics: one value per unit of their group
        if path not in shapes:
            (group,) = template[path]
            shapes[path] = (sizes[group],)
            views[path] = ViewAxes(shapes[path], template[path])
    return PermutationSpec(model_name, shapes, views)


# --- permutations ----------------------------------------------------------------------------


def identity_permutation(spec: PermutationSpec) -> dict[str, np.ndarray]:
    """{group -> arange(size)}: the permutations that change nothing."""
    return {g: np.arange(n, dtype=np.int64) for g, n in spec.groups.items()}


def invert(perms: dict) -> dict[str, np.ndarray]:
    """The inverse permutations: apply_permutation with invert(p) undoes apply_permutation with p."""
    return {g: np.argsort(np.asarray(p), kind="stable").astype(np.int64) for g, p in perms.items()}


def _check_perms(spec, perms):
    for group, size in spec.groups.items():
        if group not in perms:
            raise ValueError(f"no permutation for group {group!r}")
        p = np.asarray(perms[group])
        if p.shape != (size,) or not np.array_equal(np.sort(p), np.arange(size)):
            raise ValueError(f"the permutation of group {group!r} is not a permutation of {size} units")


def _check_params(spec, params, name="params"):
    for path, w in params.items():
        if path not in spec:
            raise ValueError(f"variable {path!r} of {name} is not part of the {spec.model_name} permutation spec")
        if tuple(np.shape(w)) != spec.shapes[path]:
            raise ValueError(
                f"variable {path!r} of {name} has shape {tuple(np.shape(w))}, the spec says {spec.shapes[path]}"
            )


def _permute(w, view, perms, except_axis=None):
    """w (already in its view shape) permuted on every grouped axis but `except_axis`."""
    for axis, group in enumerate(view.axes):
        if group is not None and axis != except_axis:
            w = np.take(w, perms[group], axis=axis)
    return w


def apply_permutation(spec: PermutationSpec, perms: dict, params: dict) -> dict:
    """A new dict of params with every variable permuted on each of its grouped axes.

    Pure indexing: exact, dtypes kept. ValueError for a variable the spec does not know.
    """
    _check_params(spec, params)
    _check_perms(spec, perms)
    out = {}
    for path, w in params.items():
        w = np.asarray(w)
        view = spec[path]
        out[path] = np.array(_permute(w.reshape(view.view_shape), view, perms).reshape(w.shape), copy=True)
    return out


def objective(spec: PermutationSpec, params_a: dict, params_b: dict) -> float:
    """sum_v <a_v, b_v> over the variables in both dicts, in float64: what weight matching maximises."""
    _check_params(spec, params_a, "params_a")
    _check_params(spec, params_b, "params_b")
    return float(
        sum(
            np.vdot(np.asarray(params_a[p], np.float64), np.asarray(params_b[p], np.float64))
            for p in spec
            if p in params_a and p in params_b
        )
    )


def weight_matching(
    spec: PermutationSpec, params_a: dict, params_b: dict, seed: int, max_iter: int = 100
) -> dict[str, np.ndarray]:
    """{group -> perm}: the permutations of B that bring it closest to A (Git Re-Basin, Algorithm 1).

    Only variables in both dicts count (pass the trainable ones). Each pass visits the groups in an
    order drawn from np.random.default_rng(seed); for group p it solves
    max_P <C, P>, C[i, j] = sum over the axes of p of <A's slice i, B's slice j>, B permuted on its
    other axes by the current permutations, and keeps the answer only if it improves <C, P>. Stops
    after a pass without change, or after max_iter passes. Deterministic for a seed.
    """
    _check_params(spec, params_a, "params_a")
    _check_params(spec, params_b, "params_b")
    used = [p for p in spec if p in params_a and p in params_b]
    a = {p: np.asarray(params_a[p], np.float64).reshape(spec[p].view_shape) for p in used}
    b = {p: np.asarray(params_b[p], np.float64).reshape(spec[p].view_shape) for p in used}
    # A's slices along each axis of a group, as rows: fixed for the whole descent
    terms = {
        g: [
            (p, axis, np.moveaxis(a[p], axis, 0).reshape(spec.groups[g], -1))
            for p, axis in spec.group_axes[g]
            if p in a
        ]
        for g in spec.groups
    }

    perms = identity_permutation(spec)
    names = list(spec.groups)
    rng = np.random.default_rng(seed)
    for _ in range(max_iter):
        changed = False
        for k in rng.permutation(len(names)):
            group = names[k]
            n = spec.groups[group]
            cost = np.zeros((n, n))
            for p, axis, rows in terms[group]:
                other = _permute(b[p], spec[p], perms, except_axis=axis)
                cost += rows @ np.moveaxis(other, axis, 0).reshape(n, -1).T
            _, cols = linear_sum_assignment(cost, maximize=True)
            old, new = cost[np.arange(n), perms[group]].sum(), cost[np.arange(n), cols].sum()
            if new - old > _REL_TOL * max(abs(old), abs(new)):
                perms[group] = cols.astype(np.int64)
                changed = True
        if not changed:
            break
    return perms


def align_flat(
    model_name: str, variables: list[dict], flat_a, flat_b, seed: int, max_iter: int = 100
) -> tuple[np.ndarray, dict]:
    """(flat_b aligned to flat_a, perms) for flat trainable parameter vectors in manifest order.

    `variables` are the manifest entries the vectors hold, in order (weights.select_variables(manifest,
    "all"), as CheckpointSet.flat reads them); the result is float64 in the same order.
    """
    spec = permutation_spec(model_name, variables)
    sizes = [int(np.prod(v["shape"])) for v in variables]
    flat_a, flat_b = np.asarray(flat_a, np.float64), np.asarray(flat_b, np.float64)
    for name, flat in (("flat_a", flat_a), ("flat_b", flat_b)):
        if flat.shape != (sum(sizes),):
            raise ValueError(f"{name} has shape {flat.shape}; the variables hold {sum(sizes)} parameters")

    def split(flat):
        bounds = np.cumsum([0, *sizes])
        return {
            v["path"]: flat[lo:hi].reshape(spec.shapes[v["path"]])
            for v, lo, hi in zip(variables, bounds[:-1], bounds[1:])
        }

    params_b = split(flat_b)
    perms = weight_matching(spec, split(flat_a), params_b, seed, max_iter)
    aligned = apply_permutation(spec, perms, params_b)
    return np.concatenate([aligned[v["path"]].ravel() for v in variables]), perms
