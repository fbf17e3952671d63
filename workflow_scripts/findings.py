"""Rule findings: the paper's claims checked on one model's results (deepens.findings_inputs)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _job import table_job  # noqa: E402
from deepens.findings_inputs import findings_table  # noqa: E402


def build(i, p):
    return findings_table(cosine_table=i.cosine, prediction_paths=list(i.predictions), seeds=p.seeds,
                          late_epochs=p.late_epochs, final_epoch=p.final_epoch, reference_seed=p.reference_seed,
                          sample_paths={m: list(i[f"samples_{m}"]) for m in p.methods},
                          curves=i.get("curves"), shift_final=list(i.get("shift_final", [])) or None,
                          connectivity=list(i.get("connectivity", [])) or None,
                          settings=dict(p.settings))


table_job(snakemake, build)  # noqa: F821
