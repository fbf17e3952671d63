"""Every figure rule (rules/figures.smk): params.figure names the figure, whose module
deepens.figures.<figure> reads the rule's inputs (`render`) and draws it; the figure is saved as
PNG and PDF, the rule's outputs. The rule's code digest covers this script and that module."""
import importlib
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.figures.common import save_figure  # noqa: E402

_job.start(snakemake, inputs=[])  # noqa: F821
figure = importlib.import_module(f"deepens.figures.{snakemake.params.figure}")  # noqa: F821
save_figure(figure.render(snakemake.input, snakemake.params, snakemake.wildcards),  # noqa: F821
            snakemake.output, snakemake.params.dpi)  # noqa: F821
