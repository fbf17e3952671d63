"""The README stays true to the code: config keys, quick start, figures it shows."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_config_table_is_generated_from_the_schema():
    from deepens.config_docs import BEGIN, END, leaf_keys, replace_table
    schema = yaml.safe_load((ROOT / "config.schema.yaml").read_text())
    assert replace_table(README, schema) == README, "run python tools/config_table.py"
    # And the generated table really holds every key with its default (the generator could be wrong).
    section = README.split(BEGIN)[1].split(END)[0]
    cell = r"(?:[^|\\]|\\\|)*"  # a table cell, escaped pipes allowed
    rows = {m.group(1): (m.group(2), m.group(3)) for m in
            re.finditer(rf"^\| `([\w.]+)` \|{cell}\| `([^`]*)` \| (?:`([^`]*)`)? \|", section, re.M)}
    keys = dict(leaf_keys(schema))
    assert set(rows) == set(keys), f"README table vs schema: {set(rows) ^ set(keys)}"
    for key, sub in keys.items():
        default, digits = rows[key]
        assert yaml.safe_load(default) == sub["default"], key
        assert (yaml.safe_load(digits) if digits else None) == sub.get("x-default-by-dataset", {}).get("digits"), key
    assert rows["train.batch_size"] == ("128", "64")


def test_quick_start_comes_first():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_images_in_readme_exist():
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / path).is_file(), path


def test_recipe_table_names_real_config_keys():
    """The README's table of the authors' choices names config keys that exist."""
    from deepens.config_docs import leaf_keys
    schema = yaml.safe_load((ROOT / "config.schema.yaml").read_text())
    section = README.split("### The authors' recipe, and what still differs")[1].split("What still differs")[0]
    keys = dict(leaf_keys(schema))
    named = re.findall(r"`((?:train|subspace|similarity|tsne|shift)\.[\w.]+)`", section)
    assert len(named) >= 8
    for key in named:
        assert key in keys or any(k.startswith(key + ".") for k in keys), key
