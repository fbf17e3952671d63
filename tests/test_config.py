"""The config interface: config.yaml, config.schema.yaml and deepens.config.validate_config.

Unit tests call validate_config directly; the workflow tests run the real Snakefile as a dry
run (`snakemake -n`) in a fresh working directory, so a malformed config must stop the
workflow at parse time with a message naming the offending key, before any job runs.
"""
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from deepens.config import ConfigError, validate_config

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"
CONFIG = ROOT / "config.yaml"
SCHEMA_PATH = ROOT / "config.schema.yaml"


def load_yaml(path):
    with open(path) as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def schema():
    return load_yaml(SCHEMA_PATH)


@pytest.fixture(scope="module")
def default_config():
    return load_yaml(CONFIG)


def deep_merge(base, override):
    """Merge as Snakemake merges --configfile files: mappings recursively, everything else replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def schema_defaults(node, dataset):
    """The config that the schema's defaults alone describe for `dataset` (objects expanded)."""
    if node.get("type") == "object" and "properties" in node:
        filled = copy.deepcopy(node.get("default", {}))
        for name, sub in node["properties"].items():
            if name not in filled:
                filled[name] = schema_defaults(sub, dataset)
        return filled
    return copy.deepcopy(node.get("x-default-by-dataset", {}).get(dataset, node["default"]))


def undocumented_properties(node, path=()):
    """Dotted paths of every schema property, at any depth, lacking a non-empty description or a default."""
    problems = []
    if not isinstance(node, dict):
        return problems
    for name, sub in node.get("properties", {}).items():
        where = ".".join(path + (name,))
        description = sub.get("description") if isinstance(sub, dict) else None
        if not isinstance(description, str) or not description.strip():
            problems.append(f"{where}: no description")
        if not isinstance(sub, dict) or "default" not in sub:
            problems.append(f"{where}: no default")
        problems += undocumented_properties(sub, path + (name,))
    # Properties can also hide under array items or combinators.
    items = node.get("items")
    if isinstance(items, dict):
        problems += undocumented_properties(items, path + ("[]",))
    for keyword in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(node.get(keyword, [])):
            problems += undocumented_properties(sub, path + (f"{keyword}{i}",))
    for name, sub in node.get("$defs", {}).items():
        problems += undocumented_properties(sub, path + (f"$defs.{name}",))
    return problems


def iter_properties(node, path=()):
    for name, sub in node.get("properties", {}).items():
        yield ".".join(path + (name,)), sub
        yield from iter_properties(sub, path + (name,))


# ---------------------------------------------------------------------------------------------
# Unit level
# ---------------------------------------------------------------------------------------------

def test_config_yaml_validates_and_keeps_its_values(default_config):
    validated = validate_config(default_config, SCHEMA_PATH)
    # Values given in config.yaml win over schema defaults.
    assert deep_merge(validated, default_config) == validated
    # Every schema key is present afterwards.
    assert set(validated) == set(load_yaml(SCHEMA_PATH)["properties"])


def test_validate_config_does_not_mutate_its_argument(default_config):
    original = copy.deepcopy(default_config)
    validate_config(default_config, SCHEMA_PATH)
    assert default_config == original


def test_minimal_config_gets_every_schema_default(schema):
    validated = validate_config({"dataset": {"name": "digits"}}, SCHEMA_PATH)
    assert validated == schema_defaults(schema, "digits")
    epochs = schema["properties"]["train"]["properties"]["epochs"]
    assert validated["train"]["epochs"] == epochs["x-default-by-dataset"]["digits"] != epochs["default"]
    assert validated["similarity"]["cosine_parameters"] == "all"
    assert validated["seeds"] == schema["properties"]["seeds"]["default"]
    assert validated["figures"]["trajectory_seed"] is None
    assert validated["dataset"]["path"] is None


def test_empty_config_is_the_schema_defaults(schema):
    # dataset.name defaults to digits, so an empty config is the digits demo, adjustments included.
    assert validate_config({}, SCHEMA_PATH) == schema_defaults(schema, "digits")
    assert validate_config({}, SCHEMA_PATH)["train"]["batch_size"] == 64


def test_digits_adjustments_never_reach_cifar10(schema):
    """The bug of issue 11: a CIFAR-10 file that names only a few keys got the digits settings."""
    user = {"dataset": {"name": "cifar10"}, "models": ["small_cnn"], "seeds": [0, 1], "train": {"epochs": 3}}
    cifar, digits = validate_config(user, SCHEMA_PATH), validate_config({}, SCHEMA_PATH)
    assert cifar["train"]["batch_size"] == 128 and digits["train"]["batch_size"] == 64
    assert cifar["train"]["validation_size"] == 500 and digits["train"]["validation_size"] == 180
    assert cifar["subspace"]["random"]["ensemble_scale"] == 10 and cifar["subspace"]["random"]["plane_scale"] == 70
    assert cifar["subspace"]["lowrank"]["ensemble_scale"] == 1 and cifar["subspace"]["lowrank"]["plane_scale"] == 6
    assert cifar["tsne"]["test_points"] == 500 and cifar["train"]["epochs"] == 3
    # Every key with a digits adjustment takes the plain default for cifar10.
    expected = schema_defaults(schema, "cifar10")
    expected.update(models=["small_cnn"], seeds=[0, 1])
    expected["dataset"]["name"], expected["train"]["epochs"] = "cifar10", 3
    assert cifar == expected


@pytest.mark.parametrize("given, expected", [
    ({"seeds": "[0, 1, 2, 3]"}, {"seeds": [0, 1, 2, 3]}),
    ({"seeds": ["0", "1"]}, {"seeds": [0, 1]}),
    ({"train": {"epochs": "5"}}, {"train": {"epochs": 5}}),
    ({"train": "{epochs: 5, augmentation: true}"}, {"train": {"epochs": 5, "augmentation": True}}),
    ({"train": {"learning_rate": "1e-3", "mixed_precision": "false"}},
     {"train": {"learning_rate": 1e-3, "mixed_precision": False}}),
    ({"subspace": {"random": {"accept_min_val_accuracy": "null"}}},
     {"subspace": {"random": {"accept_min_val_accuracy": None}}}),
    ({"per_model": {"medium_cnn": {"subspace": {"random": {"accept_min_val_accuracy": "0.7"}}}}},
     {"per_model": {"medium_cnn": {"subspace": {"random": {"accept_min_val_accuracy": 0.7}}}}}),
])
def test_strings_from_the_command_line_are_coerced_by_the_schema(given, expected):
    """Snakemake hands --config values over as strings; the schema says what they are."""
    validated = validate_config(given, SCHEMA_PATH)
    assert deep_merge(validated, expected) == validated


@pytest.mark.parametrize("given, key", [
    ({"seeds": "[0, x]"}, "seeds.1"),
    ({"train": {"epochs": "five"}}, "train.epochs"),
    ({"train": {"augmentation": "maybe"}}, "train.augmentation"),
])
def test_strings_that_still_do_not_fit_name_the_key(given, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        validate_config(given, SCHEMA_PATH)


def test_per_model_overrides_are_merged_and_checked(schema):
    from deepens.config import model_config
    cfg = validate_config({"dataset": {"name": "cifar10"}, "models": ["small_cnn", "medium_cnn"],
                           "per_model": {"medium_cnn": {"subspace": {"random": {"accept_min_val_accuracy": 0.7}}}}},
                          SCHEMA_PATH)
    assert model_config(cfg, "medium_cnn")["subspace"]["random"]["accept_min_val_accuracy"] == 0.7
    assert model_config(cfg, "medium_cnn")["subspace"]["random"]["ensemble_scale"] == 10
    assert model_config(cfg, "small_cnn")["subspace"]["random"]["accept_min_val_accuracy"] is None
    for bad, key in [({"medium_cnn": {"train": {"epochs": 3}}}, "per_model.medium_cnn.train.epochs"),
                     ({"medium_cnn": {"train": {"dropout": 1.5}}}, "per_model.medium_cnn.train.dropout"),
                     ({"vgg": {"train": {}}}, "per_model"),
                     ({"medium_cnn": {"predict": {}}}, "per_model.medium_cnn.predict")]:
        with pytest.raises(ConfigError, match=f"'{key}"):
            validate_config({"dataset": {"name": "cifar10"}, "per_model": bad}, SCHEMA_PATH)


def test_every_schema_property_has_description_and_default(schema):
    """README-facing guarantee: every key, at every level, is documented and has a default."""
    assert undocumented_properties(schema) == []


def test_documentation_guard_catches_a_missing_description_or_default(schema):
    broken = copy.deepcopy(schema)
    broken["properties"]["train"]["properties"]["new_key"] = {"type": "integer", "default": 1}
    broken["properties"]["figures"]["properties"]["other"] = {"type": "integer", "description": "x"}
    broken["properties"]["predict"]["properties"]["blank"] = {"type": "integer", "default": 1,
                                                             "description": "   "}
    assert undocumented_properties(broken) == [
        "train.new_key: no description",
        "predict.blank: no description",
        "figures.other: no default",
    ]


def test_every_schema_default_is_valid_for_its_own_key(schema):
    for where, sub in iter_properties(schema):
        for dataset, default in [(None, sub["default"]), *sub.get("x-default-by-dataset", {}).items()]:
            errors = list(jsonschema.Draft202012Validator(sub).iter_errors(default))
            assert not errors, f"default of {where} ({dataset or 'any dataset'}) is invalid: {errors[0].message}"
        assert set(sub.get("x-default-by-dataset", {})) <= set(schema["properties"]["dataset"]["properties"]
                                                                ["name"]["enum"]), where


def test_schema_is_a_valid_draft_2020_12_schema_and_closed(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    for where, sub in [("(top level)", schema), *iter_properties(schema)]:
        if sub.get("type") == "object" and "propertyNames" in sub:
            # a mapping of names the user chooses (per_model, ood.sets): each entry closed
            entry = sub["additionalProperties"]
            assert entry.get("type") == "object" and entry.get("additionalProperties") is False, where
        elif sub.get("type") == "object":
            assert sub.get("additionalProperties") is False, f"{where} accepts unknown keys"
    # per_model: only model names, each a closed mapping of partial sections.
    per_model = schema["properties"]["per_model"]
    assert per_model["propertyNames"]["enum"] == schema["properties"]["models"]["items"]["enum"]
    assert per_model["additionalProperties"]["additionalProperties"] is False


@pytest.mark.parametrize("not_a_mapping", [None, [], "digits", 3])
def test_non_mapping_config_is_rejected(not_a_mapping):
    with pytest.raises(ConfigError, match="mapping"):
        validate_config(not_a_mapping, SCHEMA_PATH)


def test_every_bad_key_is_named_at_once(default_config):
    bad = deep_merge(default_config, {"train": {"epochs": 0, "dropout": 1.5}, "models": ["vgg"]})
    with pytest.raises(ConfigError) as info:
        validate_config(bad, SCHEMA_PATH)
    for key in ("'train.epochs'", "'train.dropout'", "'models.0'"):
        assert key in str(info.value)


# ---------------------------------------------------------------------------------------------
# Malformed configs: (override merged onto config.yaml, dotted key the message must name)
# ---------------------------------------------------------------------------------------------

MALFORMED = [
    pytest.param({"epochz": 3}, "epochz", id="unknown-top-level-key"),
    pytest.param({"train": {"epoch": 5}}, "train.epoch", id="unknown-nested-key"),
    pytest.param({"train": {"epochs": 0}}, "train.epochs", id="epochs-zero"),
    pytest.param({"train": {"epochs": "ten"}}, "train.epochs", id="epochs-wrong-type"),
    pytest.param({"seeds": [0, 1, 1]}, "seeds", id="seeds-duplicate"),
    pytest.param({"seeds": []}, "seeds", id="seeds-empty"),
    pytest.param({"seeds": [0, -1]}, "seeds", id="seeds-negative"),
    pytest.param({"models": ["vgg"]}, "models", id="model-unknown"),
    pytest.param({"dataset": {"name": "mnist"}}, "dataset.name", id="dataset-unknown"),
    pytest.param({"train": {"dropout": 1.0}}, "train.dropout", id="dropout-one"),
    pytest.param({"train": {"learning_rate": 0}}, "train.learning_rate", id="learning-rate-zero"),
    pytest.param({"similarity": {"cosine_parameters": "biases"}}, "similarity.cosine_parameters",
                 id="cosine-parameters-unknown"),
    pytest.param({"train": {"intra_op_threads": 0}}, "train.intra_op_threads", id="intra-op-threads-zero"),
    pytest.param({"figures": {"trajectory_seed": 7}}, "figures.trajectory_seed",
                 id="trajectory-seed-not-a-seed"),
    pytest.param({"figures": {"colormap": "not_a_colormap"}}, "figures.colormap", id="colormap-unknown"),
    pytest.param({"dataset": {"test_size": 1600}}, "dataset.test_size", id="digits-split-too-large"),
    pytest.param({"dataset": {"path": "/data/cifar-10-python.tar.gz"}}, "dataset.path",
                 id="path-with-digits"),
    pytest.param({"dataset": {"name": "cifar10"}, "train": {"validation_size": 50000}},
                 "train.validation_size", id="cifar10-validation-too-large"),
    pytest.param({"train": {"epochs": 20.0}}, "train.epochs", id="epochs-integral-float"),
    pytest.param({"seeds": [0.0, 1]}, "seeds", id="seeds-integral-float"),
    pytest.param({"landscape": {"plane": {"planes": {"p": ["0:0", "7:final", "1:final"]}}}},
                 "landscape.plane.planes.p", id="plane-unknown-seed"),
    pytest.param({"landscape": {"plane": {"planes": {"p": ["0:0", "0:99", "1:final"]}}}},
                 "landscape.plane.planes.p", id="plane-epoch-beyond-training"),
    pytest.param({"landscape": {"plane": {"planes": {"p": ["0:final", "0:20", "1:final"]}}}},
                 "landscape.plane.planes.p", id="plane-same-checkpoint-twice"),
    pytest.param({"landscape": {"plane": {"planes": {"p": ["0:0", "1:last", "1:final"]}}}},
                 "landscape.plane.planes.p.1", id="plane-malformed-point"),
    pytest.param({"landscape": {"interpolation": {"points": 1}}}, "landscape.interpolation.points",
                 id="interpolation-one-point"),
    pytest.param({"landscape": {"connectivity": {"pairs": [[0, 1], [0, 7]]}}}, "landscape.connectivity.pairs.1",
                 id="connectivity-unknown-seed"),
    pytest.param({"landscape": {"connectivity": {"pairs": [[2, 2]]}}}, "landscape.connectivity.pairs.0",
                 id="connectivity-self-pair"),
    pytest.param({"landscape": {"connectivity": {"pairs": [[0, 1], [0, 1]]}}}, "landscape.connectivity.pairs.1",
                 id="connectivity-pair-twice"),
    pytest.param({"landscape": {"connectivity": {"pairs": [[0, 1, 2]]}}}, "landscape.connectivity.pairs.0",
                 id="connectivity-three-seeds"),
    pytest.param({"shift": {"corruptions": ["fog"]}}, "shift.corruptions.0", id="shift-unknown-corruption"),
    pytest.param({"ood": {"sets": {"svhn": {"kind": "file"}}}}, "ood.sets.svhn.path", id="ood-file-without-path"),
    pytest.param({"ood": {"sets": {"noise": {"kind": "uniform_noise", "path": "x.npz"}}}}, "ood.sets.noise.path",
                 id="ood-path-on-generated-set"),
    pytest.param({"ood": {"sets": {"noise": {"kind": "gaussian"}}}}, "ood.sets.noise.kind", id="ood-unknown-kind"),
    pytest.param({"ood": {"sets": {"Bad-Name": {"kind": "uniform_noise"}}}}, "ood.sets", id="ood-bad-set-name"),
    pytest.param({"shift": {"severities": [0, 6]}}, "shift.severities", id="shift-severity-range"),
    pytest.param({"shift": {"cifar10c_path": "/data/CIFAR-10-C"}}, "shift.cifar10c_path", id="cifar10c-with-digits"),
    pytest.param({"cka": {"trajectory_seed": 9}}, "cka.trajectory_seed", id="cka-unknown-seed"),
    pytest.param({"cka": {"test_points": 100, "batch_size": 150}}, "cka.test_points",
                 id="cka-fewer-points-than-a-batch"),
]


@pytest.mark.parametrize("override, key", MALFORMED)
def test_validate_config_names_the_bad_key(default_config, override, key):
    with pytest.raises(ConfigError) as info:
        validate_config(deep_merge(default_config, override), SCHEMA_PATH)
    # Quoted as the messages quote keys: 'train.epochs' or 'seeds.1'.
    assert f"'{key}" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Through the real workflow (dry runs)
# ---------------------------------------------------------------------------------------------

def snakemake_exe():
    local = Path(sys.executable).with_name("snakemake")
    if local.exists():
        return str(local)
    found = shutil.which("snakemake")
    if found is None:
        pytest.skip("snakemake is not installed")
    return found


def dry_run(workdir, *configfiles):
    cmd = [snakemake_exe(), "-n", "--cores", "1", "-s", str(SNAKEFILE), "--directory", str(workdir)]
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=120, env=env)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("override, key", MALFORMED)
def test_workflow_dry_run_rejects_bad_config(tmp_path, override, key):
    workdir = tmp_path / "wd"
    workdir.mkdir()
    bad = tmp_path / "override.yaml"
    bad.write_text(yaml.safe_dump(override))
    # Later --configfile files override earlier ones, as in real use on top of config.yaml.
    rc, output = dry_run(workdir, CONFIG, bad)
    # The banner echoes the command line and paths; only the message itself may name the key.
    message = output.replace(str(tmp_path), "<tmp>")
    assert rc != 0, message
    assert f"'{key}" in message, message
    assert not (workdir / "results").exists()


def test_workflow_dry_run_with_default_config_plans_jobs(tmp_path):
    workdir = tmp_path / "wd"
    workdir.mkdir()
    # The Snakefile's `configfile: "config.yaml"` resolves against the working directory.
    shutil.copy(CONFIG, workdir / "config.yaml")
    rc, output = dry_run(workdir)
    assert rc == 0, output
    assert "train" in output
    resolved = validate_config(load_yaml(CONFIG), SCHEMA_PATH)
    n_seeds = len(resolved["seeds"]) * len(resolved["models"])
    assert any(line.split() == ["train", str(n_seeds)] for line in output.splitlines()), output
    assert not (workdir / "results").exists()
