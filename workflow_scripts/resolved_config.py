"""Rule resolved_config: the run's fully resolved config (defaults and every merged file applied)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from deepens.config import write_resolved_config  # noqa: E402
from deepens.logs import redirect_output  # noqa: E402

redirect_output(snakemake.log[0])  # noqa: F821
write_resolved_config(dict(snakemake.params.config), snakemake.output.config)  # noqa: F821
print(f"resolved config -> {snakemake.output.config}")  # noqa: F821
