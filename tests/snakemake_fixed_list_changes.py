"""`snakemake` with --list-changes params fixed for this test suite.

Snakemake 9.27's ParamsChange iterates over its files even when nothing changed (its `|` keeps
the files of an empty change), so `--list-changes params` lists every output. Patched here: only
the files of a real change. Usage: python tests/snakemake_fixed_list_changes.py <snakemake args>
"""
import sys

from snakemake.persistence import ParamsChange

ParamsChange.__iter__ = lambda self: iter(self.files if self else ())

from snakemake.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
