"""Config validation: JSON schema (with defaults filled in) plus the cross-key checks a schema cannot say.

Every message names the offending key as a dotted path, so a user knows what to fix
before any job runs.
"""
import copy

import jsonschema
import yaml

DIGITS_SIZE = 1797
# JSON Schema's "integer" accepts integral floats (20.0); the workflow needs real ints.
_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, instance: isinstance(instance, int) and not isinstance(instance, bool))
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _fill_defaults(schema, instance):
    """Fill `default`s of missing object properties, recursively (objects only)."""
    for name, sub in schema.get("properties", {}).items():
        if name not in instance and "default" in sub:
            instance[name] = copy.deepcopy(sub["default"])
        if sub.get("type") == "object" and isinstance(instance.get(name), dict):
            _fill_defaults(sub, instance[name])


def validate_config(config: dict, schema_path) -> dict:
    """Return the config with defaults filled in, or raise ConfigError naming every bad key."""
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    if not isinstance(config, dict):
        raise ConfigError(f"the config must be a mapping of keys, got {type(config).__name__}")
    config = copy.deepcopy(config)
    _fill_defaults(schema, config)
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = []
    for err in errors:
        where = list(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed))
            for key in extra:
                problems.append(f"config key '{_key(where + [key])}' is not a known key "
                                f"(allowed under '{_key(where)}': {', '.join(allowed)})")
        else:
            desc = err.schema.get("description", "").strip().split(".")[0] if isinstance(err.schema, dict) else ""
            problems.append(f"config key '{_key(where)}': {err.message}" + (f" (expected: {desc})" if desc else ""))
    if not problems:
        problems = _cross_checks(config)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return config


def _cross_checks(config) -> list[str]:
    problems = []
    ds, train, fig = config["dataset"], config["train"], config["figures"]
    if ds["name"] == "digits" and ds["test_size"] + train["validation_size"] > DIGITS_SIZE - 100:
        problems.append(f"config keys 'dataset.test_size' + 'train.validation_size' = "
                        f"{ds['test_size'] + train['validation_size']} leave fewer than 100 of the "
                        f"{DIGITS_SIZE} digits for training")
    if ds["name"] == "cifar10" and train["validation_size"] >= 50000:
        problems.append("config key 'train.validation_size' must be below the 50,000 CIFAR-10 training images")
    if ds["name"] != "cifar10" and ds.get("path"):
        problems.append(f"config key 'dataset.path' is only used with dataset.name cifar10, not {ds['name']!r}")
    if fig["trajectory_seed"] is not None and fig["trajectory_seed"] not in config["seeds"]:
        problems.append(f"config key 'figures.trajectory_seed': {fig['trajectory_seed']} is not one of "
                        f"the seeds {config['seeds']}")
    missing = [s for s in config["tsne"]["seeds"] or [] if s not in config["seeds"]]
    if missing:
        problems.append(f"config key 'tsne.seeds': {missing} not among the seeds {config['seeds']}")
    ref = config["diversity"]["reference_seed"]
    if ref is not None and ref not in config["seeds"]:
        problems.append(f"config key 'diversity.reference_seed': {ref} is not one of the seeds {config['seeds']}")
    dropout = config["subspace"]["dropout"]
    for key in ("ensemble_scale", "plane_scale"):
        if dropout[key] >= 1:
            problems.append(f"config key 'subspace.dropout.{key}': {dropout[key]} must be below 1 "
                            f"(it scales the weight-dropout rate)")
    epochs = train["epochs"]
    for name, points in (config["landscape"]["plane"]["planes"] or {}).items():
        key = f"config key 'landscape.plane.planes.{name}'"
        parsed = []
        for point in points:
            seed, _, epoch = point.partition(":")
            parsed.append((int(seed), epochs if epoch == "final" else int(epoch)))
            if int(seed) not in config["seeds"]:
                problems.append(f"{key}: point {point!r} names seed {seed}, not one of the seeds {config['seeds']}")
            if epoch != "final" and int(epoch) > epochs:
                problems.append(f"{key}: point {point!r} names epoch {epoch}, beyond train.epochs = {epochs}")
        if len(set(parsed)) < 3:
            problems.append(f"{key}: the three points {points} must be three different checkpoints")
    cka = config["cka"]
    if cka["trajectory_seed"] is not None and cka["trajectory_seed"] not in config["seeds"]:
        problems.append(f"config key 'cka.trajectory_seed': {cka['trajectory_seed']} is not one of the seeds "
                        f"{config['seeds']}")
    if cka["enabled"] and cka["test_points"] < cka["batch_size"]:
        problems.append(f"config key 'cka.test_points': {cka['test_points']} must be at least cka.batch_size "
                        f"({cka['batch_size']}): CKA is computed over whole minibatches")
    if config["shift"]["cifar10c_path"] and ds["name"] != "cifar10":
        problems.append(f"config key 'shift.cifar10c_path' is only used with dataset.name cifar10, not {ds['name']!r}")
    from matplotlib import colormaps
    if fig["colormap"] not in colormaps:
        problems.append(f"config key 'figures.colormap': {fig['colormap']!r} is not a matplotlib colormap")
    return problems
