"""Robustness under dataset shift: the shift sets and the shift-predictions contract (numpy only).

A shift set is one corruption at severities 1..5 (deepens.corruptions, or CIFAR-10-C files), saved
by `save_shift_set` as an .npz: `images` (severities x N x H x W x C uint8), `severities`, `labels`
(N) and JSON `meta` (corruption, source, provenance). Severity 0 is the clean test set.

Members of a run, each averaging the softmax of one or more weight vectors (written by the run's
evaluate_solution job, deepens.nets.subspace_sampling):
- "final": the final checkpoint;
- "snapshot": the ensemble of the run's last checkpoints (ensembles.snapshot_max_size of them);
- a subspace method: the mean softmax of its first `samples` ENSEMBLE samples -- the very weight
  vectors of the run's subspace sample table -- i.e. that run's subspace ensemble;
- "averaging": the weight average of the late checkpoints.
Output: one long table per (run, member), keys (corruption, severity, example) -- corruption
"clean" is the clean test set, "validation" the validation split (which temperature scaling is
fitted on) -- the label, the
member's log-probability of the label (log-mean-exp over its weight vectors), `member_entropy`
(the mean over its weight vectors of their predictive entropy, for the Jensen-Shannon diversity)
and float32 probabilities prob_0..prob_{C-1}; `samples` says how many weight vectors were averaged.
"""
import json
import zipfile

import numpy as np
import pyarrow as pa

from .io import ArtifactError, atomic_path, log_probs_of, predictions_table, probabilities, read_table

CLEAN = "clean"
VALIDATION = "validation"  # a member's predictions on the validation split, for temperature scaling


def save_shift_set(path, images, severities, labels, meta: dict):
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 5 or images.shape[0] != len(severities) \
            or images.shape[1] != len(labels):
        raise ValueError(f"a shift set is (severities x N x H x W x C) uint8 with one label per image; got "
                         f"{images.dtype} {images.shape}, {len(severities)} severities, {len(labels)} labels")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, images=images, severities=np.asarray(severities, np.int64),
                 labels=np.asarray(labels, np.int64), meta=np.array(json.dumps(meta, sort_keys=True, default=str)))


def load_shift_set(path, y_test=None) -> dict:
    """{'images', 'severities', 'labels', 'meta'}; checks the labels against y_test when given."""
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("images", "severities", "labels", "meta")}
        out["meta"] = json.loads(str(out["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise ArtifactError(f"cannot read shift set {path}: {err}") from err
    if out["images"].dtype != np.uint8 or out["images"].ndim != 5 or out["images"].shape[:2] != (
            len(out["severities"]), len(out["labels"])):
        raise ArtifactError(f"shift set {path}: expected (severities x N x H x W x C) uint8 images, got "
                            f"{out['images'].dtype} {out['images'].shape}")
    if y_test is not None and not np.array_equal(out["labels"], y_test):
        raise ArtifactError(f"shift set {path} is not a corruption of this dataset's test set (labels differ)")
    return out


def entropy(probs) -> np.ndarray:
    """Shannon entropy (nats, 0 log 0 = 0) of every row of (..., C) probabilities, float64."""
    p = np.asarray(probs, np.float64)
    return -np.einsum("...c,...c->...", p, np.log(np.where(p > 0, p, 1.0)))


def shift_table(corruption, severity, labels, probs, log_prob_label=None, member_entropy=None) -> pa.Table:
    """One (corruption, severity) of a member; member_entropy None: the entropy of probs (one vector)."""
    t = predictions_table("test", 0, labels, probs, log_prob_label).drop(["split", "epoch"])
    n = len(labels)
    ent = entropy(probs) if member_entropy is None else np.asarray(member_entropy, np.float64)
    return (t.add_column(0, "severity", pa.array(np.full(n, severity, np.int32)))
             .add_column(0, "corruption", pa.array([corruption] * n, pa.string()))
             .append_column("member_entropy", pa.array(ent)))


class ShiftMember:
    """One member under shift: predictions of its weight vectors accumulated over the clean test
    set and every shift set (probabilities averaged, label log-probabilities log-mean-exp'd,
    entropies averaged), and over every out-of-distribution set (deepens.ood: images without
    labels; probabilities and entropies only)."""

    def __init__(self, name, x_test, y_test, shift_sets: dict, ood_sets: dict | None = None, val=None):
        """val: (x_val, y_val), the validation split, stored as corruption VALIDATION (severity 0)
        for temperature scaling."""
        self.name, self.labels, self.count = name, np.asarray(y_test), 0
        self.inputs = [(CLEAN, 0, x_test, self.labels)]
        self.inputs += [(c, int(sev), s["images"][i], self.labels) for c, s in shift_sets.items()
                        for i, sev in enumerate(s["severities"])]
        if val is not None:
            self.inputs.append((VALIDATION, 0, val[0], np.asarray(val[1])))
        self.ood = list((ood_sets or {}).items())
        self._sums = [0.0 for _ in self.inputs]
        self._logp = [np.full(len(y), -np.inf) for *_, y in self.inputs]
        self._entropy = [np.zeros(len(y)) for *_, y in self.inputs]
        self._ood_sums = [0.0 for _ in self.ood]
        self._ood_entropy = [np.zeros(len(x)) for _, x in self.ood]

    def add(self, predict, clean=None):
        """Add the weight vector the model holds: predict(images, labels) -> (probs, log p_y);
        `clean` = its (probs, log p_y) on the clean test set when already computed."""
        for i, (name, _, x, labels) in enumerate(self.inputs):
            probs, logp = clean if (name == CLEAN and clean is not None) else predict(x, labels)
            self._sums[i] = self._sums[i] + probs
            self._logp[i] = np.logaddexp(self._logp[i], logp)
            self._entropy[i] += entropy(probs)
        for i, (_, x) in enumerate(self.ood):
            probs, _ = predict(x, np.zeros(len(x), np.int64))  # no labels: the label term is unused
            self._ood_sums[i] = self._ood_sums[i] + probs
            self._ood_entropy[i] += entropy(probs)
        self.count += 1

    def clean_accuracy(self) -> float:
        return float(np.mean(self._sums[0].argmax(axis=1) == self.labels))

    def table(self) -> pa.Table:
        if not self.count:
            raise ValueError(f"shift member {self.name}: no weight vectors were added")
        parts = [shift_table(name, sev, labels, (self._sums[i] / self.count).astype(np.float32),
                             self._logp[i] - np.log(self.count), self._entropy[i] / self.count)
                 for i, (name, sev, _, labels) in enumerate(self.inputs)]
        table = pa.concat_tables(parts)
        return table.add_column(0, "samples", pa.array(np.full(table.num_rows, self.count, np.int32)))

    def ood_table(self) -> pa.Table:
        """The member on the clean test set (set "in_distribution") and every OOD set: keys
        (set, example), float32 probabilities, member_entropy; `samples` as in table()."""
        from .ood import IN_DISTRIBUTION, ood_table

        if not self.count:
            raise ValueError(f"shift member {self.name}: no weight vectors were added")
        sets = [(IN_DISTRIBUTION, self._sums[0], self._entropy[0])]
        sets += [(name, s, e) for (name, _), s, e in zip(self.ood, self._ood_sums, self._ood_entropy)]
        return ood_table([(name, (s / self.count).astype(np.float32), e / self.count) for name, s, e in sets],
                         self.count)


def read_shift_predictions(path):
    """({(corruption, severity): {labels, probs N x C, log_prob_label, member_entropy}}, sample count)."""
    t = read_table(path)
    if t.num_rows == 0:
        raise ArtifactError(f"shift predictions {path} hold no rows")
    if "member_entropy" not in t.column_names:
        raise ArtifactError(f"shift predictions {path} have no 'member_entropy' column (made by an older version? "
                            f"rerun it)")
    t = t.sort_by([("corruption", "ascending"), ("severity", "ascending"), ("example", "ascending")])
    corruption = np.asarray(t["corruption"].to_pylist(), object)
    severity, labels = t["severity"].to_numpy(), t["label"].to_numpy()
    probs, logp = probabilities(t), log_probs_of(t, f"shift predictions {path}")
    ent = t["member_entropy"].to_numpy()
    out = {}
    keys = np.char.add(corruption.astype(str), "/" + severity.astype(str))
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    for start, count in zip(first, counts):
        part = slice(start, start + count)
        out[(corruption[start], int(severity[start]))] = {"labels": labels[part], "probs": probs[part],
                                                          "log_prob_label": logp[part], "member_entropy": ent[part]}
    return out, int(t["samples"][0].as_py())
