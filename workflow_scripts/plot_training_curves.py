import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens import plots  # noqa: E402
from deepens.io import read_table  # noqa: E402

_job.start(snakemake, inputs=[])  # noqa: F821
w, p = snakemake.wildcards, snakemake.params  # noqa: F821
histories = {s: read_table(h).to_pandas() for s, h in zip(p.seeds, snakemake.input.histories)}  # noqa: F821
fig = plots.training_curves(histories, read_table(snakemake.input.metrics).to_pandas(), w.model, w.dataset)  # noqa: F821
plots.save_figure(fig, snakemake.output, p.dpi)  # noqa: F821
