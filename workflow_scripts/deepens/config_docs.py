"""The README's configuration table, generated from config.schema.yaml (one row per leaf key).

`python tools/config_table.py` rewrites the table between the README's markers; the test suite
checks the README holds exactly what this module generates, so the table cannot drift.
"""
import re

import yaml

BEGIN, END = "<!-- config-table:begin -->", "<!-- config-table:end -->"
DATASET_DEFAULTS = "x-default-by-dataset"


def leaf_keys(node, prefix=""):
    """(dotted key, schema node) of every leaf setting, in schema order (per_model is one leaf)."""
    for name, sub in node.get("properties", {}).items():
        if sub.get("type") == "object" and "properties" in sub:
            yield from leaf_keys(sub, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", sub


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _value(value) -> str:
    return "`" + yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip() + "`"


def _type(node) -> str:
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if "enum" in node:
        base = " | ".join(map(str, node["enum"]))
    elif "array" in types:
        items = node.get("items", {})
        base = "list of " + (_type(items) if "enum" in items else {"integer": "integers", "number": "numbers",
                                                                    "array": "lists"}.get(items.get("type"), "strings"))
    else:
        base = "/".join("mapping" if t == "object" else t for t in types if t != "null")
    return base + ("/null" if "null" in types else "")


def _meaning(node) -> str:
    return _escape(" ".join(str(node.get("description", "")).split()))


def table(schema: dict) -> str:
    """The Markdown table: key, type, default, the digits demo's value where it differs, meaning."""
    lines = ["| key | type | default | digits demo | meaning |", "|---|---|---|---|---|"]
    for key, node in leaf_keys(schema):
        digits = node.get(DATASET_DEFAULTS, {})
        shown = _value(digits["digits"]) if "digits" in digits else ""
        lines.append(f"| `{key}` | {_escape(_type(node))} | {_value(node['default'])} | {shown} | {_meaning(node)} |")
    return "\n".join(lines)


def replace_table(readme: str, schema: dict) -> str:
    """The README text with the generated table between the markers."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"the README has no {BEGIN} ... {END} markers")
    return pattern.sub(lambda _: f"{BEGIN}\n{table(schema)}\n{END}", readme)
