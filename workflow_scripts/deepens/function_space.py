"""Function space (docs/methods.md): t-SNE of prediction trajectories and the diversity-accuracy plane.

Runs are read one at a time (test split); only what each table needs is kept in memory:
a fixed subset of test points for the t-SNE, the reference run plus the other runs'
final predictions for the diversity plane.
"""
import numpy as np
import pyarrow as pa

from .io import iter_runs

# Exact t-SNE gradients cost O(K^2) time and memory; Barnes-Hut approximates them in O(K log K).
# Measured with scikit-learn 1.9.1 (1000 iterations, 4,500-dimensional rows, one core): exact is
# faster only for the smallest sets (0.36 vs 0.46 s at K = 63), Barnes-Hut from about K = 100 on
# (0.61 vs 0.89 s at 150, 0.99 vs 2.77 s at 400, 1.45 vs 6.18 s at 666).
EXACT_TSNE_MAX_ROWS = 100


# --- t-SNE ---------------------------------------------------------------------------------

def test_subset(n_examples, test_points, seed) -> np.ndarray:
    """The fixed, sorted, seeded subset of test points shared by every checkpoint's vector."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_examples, min(test_points, n_examples), replace=False))


def embed(vectors, perplexity, seed, max_iter, log=print) -> tuple[np.ndarray, float]:
    """2-D t-SNE of K row vectors; perplexity clipped to (K - 1) / 3 (t-SNE needs it below K)."""
    k = len(vectors)
    if k < 2:
        raise ValueError(f"t-SNE needs at least 2 checkpoints, got {k}")
    p_eff = float(min(perplexity, (k - 1) / 3))
    if p_eff < perplexity:
        log(f"perplexity {perplexity} clipped to {p_eff:.4g} for {k} checkpoints")
    # imported here: scikit-learn (with SciPy) takes 0.8 s to import, which every figure and table
    # that only needs this module's other functions would pay
    from sklearn.manifold import TSNE

    method = "exact" if k <= EXACT_TSNE_MAX_ROWS else "barnes_hut"
    tsne = TSNE(n_components=2, perplexity=p_eff, random_state=seed, init="pca",
                max_iter=max_iter, method=method)
    return tsne.fit_transform(np.asarray(vectors, np.float64)), p_eff


def tsne_table(prediction_paths, seeds, test_points=500, perplexity=10.0, seed=0, max_iter=1000, split="test",
               log=print) -> pa.Table:
    """One row per (run, checkpoint): its 2-D t-SNE position (columns seed, epoch, x, y, ...), from
    its predictions on a seeded subset of test_points of the split's examples (test, or val as
    the authors' notebook)."""
    if len(prediction_paths) != len(seeds):
        raise ValueError(f"expected one predictions file per seed ({len(seeds)}), got {len(prediction_paths)}")
    vectors, seed_col, epoch_col, subset = [], [], [], None
    for s, run in zip(seeds, iter_runs(prediction_paths, split)):
        epochs, classes = run.epochs, run.probs.shape[-1]
        if subset is None:
            subset = test_subset(len(run.labels), test_points, seed)
        vectors.append(run.probs[:, subset, :].reshape(len(epochs), -1))
        seed_col.append(np.full(len(epochs), s, np.int64))
        epoch_col.append(np.asarray(epochs, np.int32))
    vectors = np.concatenate(vectors)
    log(f"{len(vectors)} checkpoints x {len(subset)} {split} points x {classes} classes")
    xy, p_eff = embed(vectors, perplexity, seed, max_iter, log)
    k = len(vectors)
    return pa.table({"seed": pa.array(np.concatenate(seed_col)),
                     "epoch": pa.array(np.concatenate(epoch_col)),
                     "x": pa.array(xy[:, 0].astype(np.float64)),
                     "y": pa.array(xy[:, 1].astype(np.float64)),
                     "perplexity": pa.array(np.full(k, p_eff, np.float64)),
                     "test_points": pa.array(np.full(k, len(subset), np.int32))})


# --- diversity-accuracy plane --------------------------------------------------------------

def diversity_points(reference_probs, labels, probs, kind, seeds, epochs, reference_seed=None) -> pa.Table:
    """Accuracy and disagreement with the reference of M functions (probs M x N x C).

    Any point set (other seeds, trajectory checkpoints, subspace samples) goes through here,
    so all point tables share one schema. seeds/epochs: M values each, or scalars.
    """
    probs = np.asarray(probs)
    m, _, c = probs.shape
    ref_pred = np.argmax(reference_probs, axis=-1)
    pred = np.argmax(probs, axis=-1)
    acc = np.mean(pred == labels, axis=1)
    dis = np.mean(pred != ref_pred, axis=1)
    # A perfect function has no errors to disagree on: its normalised value is undefined.
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.where(acc < 1.0, dis / (1.0 - acc), np.nan)
    ref_seed = pa.nulls(m, pa.int64()) if reference_seed is None else np.full(m, reference_seed, np.int64)
    return pa.table({"kind": pa.array([kind] * m, pa.string()),
                     "seed": pa.array(np.broadcast_to(np.asarray(seeds, np.int64), (m,))),
                     "epoch": pa.array(np.broadcast_to(np.asarray(epochs, np.int32), (m,))),
                     "accuracy": pa.array(acc), "disagreement": pa.array(dis),
                     "normalized_disagreement": pa.array(norm),
                     "reference_seed": pa.array(ref_seed, pa.int64()),
                     "reference_accuracy": pa.array(np.full(m, np.mean(ref_pred == labels))),
                     "num_classes": pa.array(np.full(m, c, np.int32))})


def diversity_points_table(prediction_paths, seeds, reference_seed) -> pa.Table:
    """Points around the reference (reference_seed's final solution).

    kind "independent": every other seed's final solution. kind "trajectory": the reference
    run's own checkpoints, excluding epoch 0 (an untrained network, not a solution the paper
    compares) and the final epoch (the reference itself, at zero disagreement).
    """
    seeds = [int(s) for s in seeds]
    if len(prediction_paths) != len(seeds):
        raise ValueError(f"expected one predictions file per seed ({len(seeds)}), got {len(prediction_paths)}")
    if reference_seed is None or int(reference_seed) not in seeds:
        raise ValueError(f"diversity.reference_seed {reference_seed} is not among the seeds {seeds}")
    reference_seed = int(reference_seed)
    ref_index = seeds.index(reference_seed)
    # Reference first, so every other run is reduced to its final predictions as it is read.
    order = [ref_index] + [i for i in range(len(seeds)) if i != ref_index]
    runs = iter_runs([prediction_paths[i] for i in order])
    epochs, labels, probs, _ = next(runs)
    reference = probs[-1]
    along = (epochs != 0) & (epochs != epochs[-1])
    trajectory = diversity_points(reference, labels, probs[along], "trajectory", reference_seed,
                                  epochs[along], reference_seed)
    finals, final_epochs = [], []
    for run in runs:
        finals.append(run.probs[-1])
        final_epochs.append(run.epochs[-1])
    independent = diversity_points(reference, labels, np.reshape(finals, (len(finals),) + reference.shape),
                                   "independent", [seeds[i] for i in order[1:]], final_epochs, reference_seed)
    return pa.concat_tables([independent, trajectory])


def limit_curves(reference_accuracy, num_classes, points=101, start=0.0) -> pa.Table:
    """The plane's two analytic limits (docs/methods.md, as in the authors' code), each divided by (1 - a).

    Both curves equal 1 at chance accuracy a = 1/C and swap order below it (the authors draw
    them from 0.1 = 1/C upwards); `start` allows the same. The correlated curve needs a
    reference better than chance (a_r > 1/C); otherwise it is NaN. Values at a = 1 are NaN.
    """
    a_r, c = float(reference_accuracy), int(num_classes)
    if c < 2:
        raise ValueError(f"num_classes must be at least 2, got {c}")
    a = np.linspace(start, a_r, points)
    uncorrelated = a_r * (1 - a) + a * (1 - a_r) + (1 - a_r) * (1 - a) * (c - 2) / (c - 1)
    denominator = a_r + (a_r - 1) / (c - 1)
    correlated = (a_r - a) / denominator if denominator > 0 else np.full_like(a, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(a < 1.0, 1.0 / (1.0 - a), np.nan)
    return pa.table({"curve": pa.array(["uncorrelated"] * points + ["correlated"] * points, pa.string()),
                     "accuracy": pa.array(np.concatenate([a, a])),
                     "normalized_disagreement": pa.array(np.concatenate([uncorrelated * scale, correlated * scale])),
                     "reference_accuracy": pa.array(np.full(2 * points, a_r))})
