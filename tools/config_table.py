"""Rewrite (or, with --check, verify) the README's configuration table from config.schema.yaml."""
import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))
from deepens.config_docs import replace_table  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--check", action="store_true", help="fail if the README's table is out of date")
args = parser.parse_args()
readme = ROOT / "README.md"
text = readme.read_text()
new = replace_table(text, yaml.safe_load((ROOT / "config.schema.yaml").read_text()))
if args.check:
    sys.exit(0 if new == text else "README.md's config table is out of date: run python tools/config_table.py")
readme.write_text(new)
print("README.md config table updated")
