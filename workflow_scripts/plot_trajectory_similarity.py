import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens import plots  # noqa: E402
from deepens.io import read_table  # noqa: E402

_job.start(snakemake, inputs=[])  # noqa: F821
w, p, i = snakemake.wildcards, snakemake.params, snakemake.input  # noqa: F821
fig = plots.trajectory_similarity(read_table(i.cosine).to_pandas(), read_table(i.disagreement).to_pandas(),
                                  p.seed, w.model, w.dataset, p.colormap)
plots.save_figure(fig, snakemake.output, p.dpi)  # noqa: F821
