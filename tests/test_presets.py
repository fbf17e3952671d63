"""What a config means, through the real workflow: every preset and a minimal user file resolve to
the recipe they promise, and `--config` values on the command line are read by the schema.

Each test runs Snakemake for one target, `results/{dataset}/resolved_config.yaml` (a local rule
without TensorFlow), in a fresh directory holding the project's own `config.yaml`, exactly as a
user's `--configfile` and `--config` are merged over it.
"""
import shutil

import pytest
import yaml
from workflow_helpers import ROOT, snakemake

CONFIGS = ROOT / "configs"


def resolve(tmp_path, dataset, configfile=None, args=()):
    workdir = tmp_path / "wd"
    workdir.mkdir(exist_ok=True)
    shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
    target = f"results/{dataset}/resolved_config.yaml"
    # The target goes first: --configfile and --config take every argument after them.
    proc = snakemake(workdir, configfile or workdir / "config.yaml", target, *args)
    resolved = yaml.safe_load((workdir / target).read_text())
    # The run log says where the resolved config is.
    assert target in proc.stdout + proc.stderr
    return resolved


def test_paper_preset_is_the_authors_recipe(tmp_path):
    cfg = resolve(tmp_path, "cifar10", CONFIGS / "cifar10_paper.yaml")
    assert cfg["dataset"]["name"] == "cifar10"
    assert cfg["models"] == ["small_cnn", "medium_cnn", "resnet20v1"] and cfg["seeds"] == list(range(10))
    train = cfg["train"]
    assert (train["epochs"], train["batch_size"], train["validation_size"]) == (40, 128, 500)
    assert (train["learning_rate"], train["lr_halving_epochs"], train["dropout"]) == (1.6e-3, 10, 0.1)
    # The authors' CNNs: raw pixels, Glorot biases, no augmentation.
    recipe = (train["input_scaling"], train["bias_initializer"], train["augmentation"])
    assert recipe == ("raw", "glorot_uniform", False)
    assert (train["adam_epsilon"], train["mixed_precision"]) == (1e-8, False)  # TF1's Adam, float32
    sub = cfg["subspace"]
    assert (sub["random"]["ensemble_scale"], sub["random"]["plane_scale"]) == (10, 70)
    assert (sub["lowrank"]["ensemble_scale"], sub["lowrank"]["plane_scale"]) == (1, 6)
    assert (sub["ensemble_samples"], sub["plane_samples"]) == (30, 50)
    assert sub["random"]["accept_min_val_accuracy"] is None and sub["recompute_batch_norm"] is True
    assert cfg["tsne"]["test_points"] == 500
    assert cfg["per_model"]["medium_cnn"] == {"subspace": {"random": {"accept_min_val_accuracy": 0.7}}}
    assert cfg["per_model"]["resnet20v1"]["train"] == {"input_scaling": "unit", "bias_initializer": "zeros",
                                                       "augmentation": True}
    assert cfg["findings"]["enabled"] is True
    connectivity = cfg["landscape"]["connectivity"]
    assert (connectivity["enabled"], connectivity["pairs"], connectivity["max_pairs"]) == (True, None, 3)
    assert (connectivity["points"], connectivity["curve_epochs"], connectivity["curve_learning_rate"]) == (21, 20, None)


def test_quick_preset_is_the_paper_recipe_shortened(tmp_path):
    cfg = resolve(tmp_path, "cifar10", CONFIGS / "cifar10_quick.yaml")
    train = cfg["train"]
    assert (train["epochs"], train["batch_size"], train["validation_size"]) == (5, 128, 500)
    recipe = (train["input_scaling"], train["bias_initializer"], train["augmentation"])
    assert recipe == ("raw", "glorot_uniform", False)
    assert cfg["models"] == ["small_cnn"] and cfg["seeds"] == [0, 1, 2]
    assert cfg["subspace"]["random"]["ensemble_scale"] == 10 and cfg["tsne"]["test_points"] == 500


def test_a_minimal_user_cifar10_file_gets_no_digits_settings(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump({"dataset": {"name": "cifar10"}, "models": ["small_cnn"],
                                    "seeds": [0, 1, 2], "train": {"epochs": 10}}))
    cfg = resolve(tmp_path, "cifar10", user)
    assert (cfg["train"]["epochs"], cfg["train"]["batch_size"], cfg["train"]["validation_size"]) == (10, 128, 500)
    assert cfg["subspace"]["lowrank"]["plane_scale"] == 6 and cfg["landscape"]["train_examples"] == 2000
    connectivity = cfg["landscape"]["connectivity"]
    assert (connectivity["max_pairs"], connectivity["points"], connectivity["curve_epochs"]) == (3, 21, 20)


def test_the_default_config_is_the_digits_demo(tmp_path):
    cfg = resolve(tmp_path, "digits")
    assert (cfg["train"]["epochs"], cfg["train"]["batch_size"], cfg["train"]["validation_size"]) == (20, 64, 180)
    assert cfg["subspace"]["random"]["ensemble_scale"] == 5


@pytest.mark.parametrize("args, check", [
    (["--config", "seeds=[0, 1, 2, 3]"], lambda c: c["seeds"] == [0, 1, 2, 3]),
    (["--config", 'train={"epochs": 5}'], lambda c: c["train"]["epochs"] == 5 and c["train"]["batch_size"] == 64),
    (["--config", "train={epochs: 7, augmentation: true}", "figures={dpi: 90}"],
     lambda c: (c["train"]["epochs"], c["train"]["augmentation"], c["figures"]["dpi"]) == (7, True, 90)),
])
def test_command_line_config_values_are_coerced(tmp_path, args, check):
    cfg = resolve(tmp_path, "digits", args=args)
    assert check(cfg), cfg


def test_a_command_line_value_that_does_not_fit_is_named(tmp_path):
    workdir = tmp_path / "wd"
    workdir.mkdir()
    shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
    proc = snakemake(workdir, workdir / "config.yaml", "-n", "--config", "seeds=[0, x]", check=False)
    assert proc.returncode != 0
    assert "'seeds.1'" in proc.stdout + proc.stderr


def test_paper_preset_plans_few_coarse_tensorflow_jobs(tmp_path):
    """The job economy at paper scale (3 models x 10 seeds): after training, at most two TensorFlow
    jobs per run (every checkpoint's evaluation; the solution's samples and shift members), plus
    one landscape job per model (every interpolation line and plane) and one connectivity job per
    pair of seeds (3 pairs per model: alignment, trained curve and the three paths)."""
    from workflow_helpers import planned_jobs

    workdir = tmp_path / "wd"
    workdir.mkdir()
    shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
    jobs = planned_jobs(workdir, CONFIGS / "cifar10_paper.yaml")
    runs, models = 3 * 10, 3
    tensorflow = {"train": runs, "evaluate_checkpoints": runs, "evaluate_solution": runs, "landscape": models,
                  "connectivity": 3 * models}
    assert {rule: jobs.get(rule) for rule in tensorflow} == tensorflow
    per_run = sum(n for rule, n in tensorflow.items() if rule not in ("landscape", "connectivity")) / runs
    assert per_run == 3
    # and nothing else of TensorFlow: every other job is an analysis, a figure or a local job
    tf_rules = {"train", "evaluate_checkpoints", "evaluate_solution", "landscape", "connectivity"}
    rules_text = "\n".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    assert rules_text.count("conda:\n        get_tensorflow_env") + \
        rules_text.count("conda:\n            get_tensorflow_env") == len(tf_rules)
