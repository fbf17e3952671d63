"""Representation similarity through the DAG: the feature files and the CKA tables."""
import numpy as np
import pandas as pd
import pytest
from deepens import cka, cka_features

BASE = "results/digits/small_cnn"
SMALL_CNN_LAYERS = ["relu1", "relu2", "pool3", "logits"]


@pytest.mark.parametrize("name, expected", [
    ("small_cnn", SMALL_CNN_LAYERS),
    ("medium_cnn", ["relu1", "relu2", "relu3", "pool4", "logits"]),
    ("resnet20v1", ["stem_relu", *[f"s{s}b{b}_out" for s in (1, 2, 3) for b in (1, 2, 3)], "pool", "logits"]),
])
def test_representation_layers_are_block_outputs(name, expected):
    from deepens.nets.models import build_model
    from deepens.nets.representations import representation_layers

    model = build_model(name, (32, 32, 3), 10, seed=0)
    assert representation_layers(model) == expected


def test_feature_files(tiny_run):
    workdir, _ = tiny_run
    # seed 0 is the trajectory seed (every epoch); seed 1 keeps its final epoch only
    for seed, epochs in ((0, [0, 1, 2]), (1, [2])):
        with cka_features.FeatureFile(workdir / BASE / f"seed{seed}/representations.h5") as f:
            assert f.layers == SMALL_CNN_LAYERS and list(f.epochs) == epochs
            assert f.batch_size == 50 and f.n_examples == 200  # tiny config: 4 whole batches
            assert f.n_features == 4 * 50 * 49 // 2


def test_cka_tables(tiny_run):
    workdir, _ = tiny_run
    seeds = pd.read_parquet(workdir / BASE / "tables/cka_seeds.parquet")
    n = len(SMALL_CNN_LAYERS) * 2
    assert len(seeds) == n * n and set(seeds.epoch_a) == {2}
    same = seeds[(seeds.seed_a == seeds.seed_b) & (seeds.layer_a == seeds.layer_b)]
    np.testing.assert_allclose(same.cka, 1.0, atol=1e-6)
    m = seeds.pivot_table(index=["seed_a", "layer_a"], columns=["seed_b", "layer_b"], values="cka")
    np.testing.assert_allclose(m.to_numpy(), m.to_numpy().T, atol=1e-12)
    across = seeds[(seeds.seed_a != seeds.seed_b) & (seeds.layer_a == seeds.layer_b)]
    assert (across.cka < 0.999).all() and (across.cka > 0).all()
    traj = pd.read_parquet(workdir / BASE / "tables/cka_trajectory.parquet")
    assert set(traj.seed_a) == {0} and (traj.layer_a == traj.layer_b).all()
    assert len(traj) == len(SMALL_CNN_LAYERS) * 3 * 3
    np.testing.assert_allclose(traj[traj.epoch_a == traj.epoch_b].cka, 1.0, atol=1e-6)


def test_cka_value_recomputed_from_activations(tiny_run):
    """One table value against the reference estimator on activations computed here, independently
    of the representations job (its own Keras probe, test subset and minibatches)."""
    import keras
    from deepens.data import load_dataset
    from deepens.nets.models import build_model

    workdir, _ = tiny_run
    ds = load_dataset(workdir / "results/digits/data.npz")
    idx = np.unique(np.linspace(0, len(ds.y_test) - 1, 200).round().astype(int))
    x = ds.x_test[idx].astype(np.float32) / 255.0
    acts = []
    for seed in (0, 1):
        model = build_model("small_cnn", ds.input_shape, ds.num_classes, seed=0)
        model.load_weights(workdir / BASE / f"seed{seed}/checkpoints/epoch002.weights.h5")
        probe = keras.Model(model.input, model.get_layer("relu2").output)
        acts.append([probe(x[b:b + 50], training=False).numpy() for b in range(0, 200, 50)])
    expected = cka.cka_minibatch(acts[0], acts[1])
    seeds = pd.read_parquet(workdir / BASE / "tables/cka_seeds.parquet")
    got = seeds[(seeds.seed_a == 0) & (seeds.seed_b == 1) & (seeds.layer_a == "relu2") & (seeds.layer_b == "relu2")]
    assert got.cka.iloc[0] == pytest.approx(expected, abs=2e-5)
