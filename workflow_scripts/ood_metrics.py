"""Rule ood_metrics: out-of-distribution detection by every member and ensemble, and the entropy
histograms in and out of distribution (deepens.ood_analysis)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens.io import write_table  # noqa: E402
from deepens.ood_analysis import ood_histograms_table, ood_metrics_table  # noqa: E402

prov = _job.start(snakemake)  # noqa: F821
i, p, out = snakemake.input, snakemake.params, snakemake.output  # noqa: F821
paths = {m: list(i[m]) for m in p.members}
table = ood_metrics_table(paths, p.seeds, max_subsets=p.max_subsets, subset_seed=p.subset_seed)
write_table(table, out.table, prov.record())
write_table(ood_histograms_table(paths["final"], p.seeds), out.histograms,
            prov.record(params={"code": p.code, "seeds": p.seeds}, inputs=paths["final"]))
print(f"ood_metrics: {table.num_rows} rows -> {out.table}; histograms -> {out.histograms}")
