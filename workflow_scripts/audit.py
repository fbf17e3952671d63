"""`make audit`: list every artifact under results/ and re-derive a seeded sample of them.

    .venv/bin/python workflow_scripts/audit.py --configfile config.yaml [--sample 5 --seed 0]

See docs/audit.md; the code is in deepens/audit.py. Exit status 0 only if every re-derived
artifact is bit-identical to the original and every recorded input hash still matches.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deepens.audit import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
