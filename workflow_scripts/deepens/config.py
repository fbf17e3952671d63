"""Config resolution: coercion, defaults by dataset, JSON-schema validation, cross-key checks.

`validate_config` turns what Snakemake hands over (config.yaml, every --configfile and --config,
merged) into the resolved config every rule reads:

1. Coercion: Snakemake parses `--config key=value` values as YAML *strings* (`seeds=[0, 1]` gives
   ['0', '1']); where the schema expects an integer, number, boolean, null, list or mapping, a
   string that spells one is read as it (YAML syntax). Anything else stays as given and the
   schema reports it.
2. Defaults: a key left out takes its schema `default` (the authors' CIFAR-10 recipe) or, when
   the key has `x-default-by-dataset` with an entry for the configured dataset, that one (the
   digits demo's adjustments). So the demo's settings never reach a CIFAR-10 run, whatever files
   are merged: config.yaml holds only the dataset name.
3. Validation and the cross-key checks a schema cannot say. Every message names the offending
   key as a dotted path, so a user knows what to fix before any job runs.

`model_config(config, model)` is the config one model runs with: the experiment's, with that
model's `per_model` overrides (train and subspace sections) merged over it.
"""
import copy

import jsonschema
import yaml

DIGITS_SIZE = 1797
DATASET_DEFAULTS = "x-default-by-dataset"
PER_MODEL_FIXED = (("train", "epochs"), ("train", "validation_size"), ("subspace", "methods"))
# JSON Schema's "integer" accepts integral floats (20.0); the workflow needs real ints.
_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, instance: isinstance(instance, int) and not isinstance(instance, bool))
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)
_CHECKS = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
           "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
           "boolean": lambda v: isinstance(v, bool), "null": lambda v: v is None,
           "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
           "string": lambda v: isinstance(v, str)}


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def load_schema(schema_path) -> dict:
    with open(schema_path) as fh:
        return yaml.safe_load(fh)


def _deref(root, node):
    """The schema node a local `$ref` ("#/properties/train") points to; other nodes as they are."""
    if isinstance(node, dict) and "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return target
    return node


def coerce(root, node, value):
    """`value` with strings read as the scalars, lists or mappings the schema node asks for."""
    node = _deref(root, node)
    if not isinstance(node, dict):
        return value
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if isinstance(value, str) and types and "string" not in types:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        if isinstance(parsed, str) and "number" in types:  # YAML 1.1 reads "1e-3" as a string
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        if any(_CHECKS[t](parsed) for t in types if t in _CHECKS):
            value = parsed
    elif isinstance(value, str) and "null" in types and value in ("null", "~"):
        value = None
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [coerce(root, node["items"], v) for v in value]
    if isinstance(value, dict):
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        return {k: coerce(root, props[k] if k in props else extra, v) if (k in props or isinstance(extra, dict))
                else v for k, v in value.items()}
    return value


def _fill_defaults(schema, instance, dataset):
    """Fill missing object properties with their defaults (by dataset where given), recursively."""
    for name, sub in schema.get("properties", {}).items():
        if name not in instance and "default" in sub:
            instance[name] = copy.deepcopy(sub.get(DATASET_DEFAULTS, {}).get(dataset, sub["default"]))
        if sub.get("type") == "object" and isinstance(instance.get(name), dict):
            _fill_defaults(sub, instance[name], dataset)


def _ordered(schema, instance):
    """The config with keys in the schema's order (readable resolved configs), recursively."""
    if not isinstance(instance, dict) or "properties" not in schema:
        return instance
    props = schema["properties"]
    keys = [k for k in props if k in instance] + [k for k in instance if k not in props]
    return {k: _ordered(props.get(k, {}), instance[k]) for k in keys}


def defaults(schema, dataset) -> dict:
    """The config an experiment on `dataset` gets from the schema alone."""
    out = {"dataset": {"name": dataset}}
    _fill_defaults(schema, out, dataset)
    return out


def _problems(errors) -> list[str]:
    problems = []
    for err in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        where = list(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - set(allowed)):
                problems.append(f"config key '{_key(where + [key])}' is not a known key "
                                f"(allowed under '{_key(where)}': {', '.join(allowed)})")
        else:
            desc = err.schema.get("description", "").strip().split(".")[0] if isinstance(err.schema, dict) else ""
            problems.append(f"config key '{_key(where)}': {err.message}" + (f" (expected: {desc})" if desc else ""))
    return problems


def validate_config(config: dict, schema_path) -> dict:
    """Return the resolved config (coerced, defaults filled in), or raise ConfigError naming every bad key."""
    schema = load_schema(schema_path)
    if not isinstance(config, dict):
        raise ConfigError(f"the config must be a mapping of keys, got {type(config).__name__}")
    config = coerce(schema, schema, copy.deepcopy(config))
    dataset = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    name = dataset.get("name", schema["properties"]["dataset"]["properties"]["name"]["default"])
    _fill_defaults(schema, config, name if isinstance(name, str) else None)
    problems = _problems(_Validator(schema).iter_errors(config))
    if not problems:
        problems = _cross_checks(config)
        for model in config.get("per_model", {}):
            problems += _per_model_checks(config, model)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return _ordered(schema, config)


def merge(base: dict, override: dict) -> dict:
    """Mappings merged recursively, anything else replaced (as Snakemake merges config files)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out


def model_config(config: dict, model: str) -> dict:
    """The resolved config of one model: its per_model overrides merged over the experiment's."""
    return merge(config, config.get("per_model", {}).get(model, {}))


def _per_model_checks(config, model) -> list[str]:
    where = f"per_model.{model}"
    override = config["per_model"][model]
    problems = [f"config key '{where}.{section}.{key}' cannot differ per model: it is the experiment's "
                f"(set {section}.{key})" for section, key in PER_MODEL_FIXED if key in override.get(section, {})]
    return problems or [p.replace("config key '", f"config key '{where}.", 1) if "config key '" in p
                        else f"{where}: {p}" for p in _cross_checks(model_config(config, model))]


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
        for i, point in enumerate(points):
            if point == "origin":
                parsed.append(point)
                if i != 0:
                    problems.append(f"{key}: 'origin' must be the first point (the plane's origin), got {points}")
                continue
            seed, _, epoch = point.partition(":")
            parsed.append((int(seed), epochs if epoch == "final" else int(epoch)))
            if int(seed) not in config["seeds"]:
                problems.append(f"{key}: point {point!r} names seed {seed}, not one of the seeds {config['seeds']}")
            if epoch != "final" and int(epoch) > epochs:
                problems.append(f"{key}: point {point!r} names epoch {epoch}, beyond train.epochs = {epochs}")
        if len(set(parsed)) < 3:
            problems.append(f"{key}: the three points {points} must be three different checkpoints")
    seen = set()
    for i, pair in enumerate(config["landscape"]["connectivity"]["pairs"] or []):
        key = f"config key 'landscape.connectivity.pairs.{i}'"
        unknown = [s for s in pair if s not in config["seeds"]]
        if unknown:
            problems.append(f"{key}: {pair} names seed {unknown[0]}, not one of the seeds {config['seeds']}")
        elif pair[0] == pair[1]:
            problems.append(f"{key}: {pair} connects a solution with itself")
        elif tuple(pair) in seen:
            problems.append(f"{key}: {pair} is listed twice")
        seen.add(tuple(pair))
    cka = config["cka"]
    if cka["trajectory_seed"] is not None and cka["trajectory_seed"] not in config["seeds"]:
        problems.append(f"config key 'cka.trajectory_seed': {cka['trajectory_seed']} is not one of the seeds "
                        f"{config['seeds']}")
    if cka["enabled"] and cka["test_points"] < cka["batch_size"]:
        problems.append(f"config key 'cka.test_points': {cka['test_points']} must be at least cka.batch_size "
                        f"({cka['batch_size']}): CKA is computed over whole minibatches")
    for name, spec in config["ood"]["sets"].items():
        if (spec["kind"] == "file") != bool(spec.get("path")):
            problems.append(f"config key 'ood.sets.{name}.path': "
                            + ("a file set needs the path of its .npz or .mat file" if spec["kind"] == "file"
                               else f"only sets of kind file read a path, not {spec['kind']!r}"))
    if config["shift"]["cifar10c_path"] and ds["name"] != "cifar10":
        problems.append(f"config key 'shift.cifar10c_path' is only used with dataset.name cifar10, not {ds['name']!r}")
    from matplotlib import colormaps
    if fig["colormap"] not in colormaps:
        problems.append(f"config key 'figures.colormap': {fig['colormap']!r} is not a matplotlib colormap")
    return problems


def write_resolved_config(config: dict, path):
    """The resolved config as YAML (atomically), with a header saying what it is."""
    from .io import atomic_path

    header = ("# The fully resolved config of this run: config.yaml, every --configfile and --config merged,\n"
              "# defaults filled in from config.schema.yaml (by dataset where the schema says so).\n"
              "# Pass it back with --configfile to rerun exactly this experiment.\n")
    with atomic_path(path) as tmp:
        tmp.write_text(header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=100))
