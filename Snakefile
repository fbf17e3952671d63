# Deep ensembles: a loss-landscape perspective -- the workflow's wiring (see README.md).
from snakemake.utils import min_version

min_version("9.0")


# The digits demo's dataset name only; every other key comes from config.schema.yaml's defaults
# (by dataset), so nothing of the demo reaches an experiment given with --configfile.
configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/similarity.smk"
include: "rules/function_space.smk"
include: "rules/ensembles.smk"
include: "rules/subspace.smk"
include: "rules/landscape.smk"
include: "rules/shift.smk"
include: "rules/ood.smk"
include: "rules/representations.smk"
include: "rules/findings.smk"
include: "rules/figures.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),


onstart:
    print_resolved_config_path()


onsuccess:
    print_findings_summary()
