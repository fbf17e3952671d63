"""The README stays true to the code: config keys, quick start, figures it shows."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def leaf_keys(node, prefix=""):
    for name, sub in node.get("properties", {}).items():
        if sub.get("type") == "object":
            yield from leaf_keys(sub, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", sub


def test_every_config_key_is_documented_with_its_default():
    schema = yaml.safe_load((ROOT / "config.schema.yaml").read_text())
    cell = r"(?:[^|\\]|\\\|)*"  # a table cell, escaped pipes allowed
    rows = {m.group(1): m.group(2) for m in re.finditer(rf"^\| `([\w.]+)` \|{cell}\| `([^`]*)` \|", README, re.M)}
    keys = dict(leaf_keys(schema))
    assert set(rows) == set(keys), f"README table vs schema: {set(rows) ^ set(keys)}"
    for key, sub in keys.items():
        default = sub["default"]
        shown = yaml.safe_load(rows[key]) if rows[key] not in ("",) else None
        assert shown == default, f"README shows default {rows[key]!r} for {key}, schema has {default!r}"


def test_quick_start_comes_first():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_images_in_readme_exist():
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / path).is_file(), path
