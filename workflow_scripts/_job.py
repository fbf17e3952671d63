"""Glue shared by the rule scripts: log redirection and the job's own config slice."""
from deepens.logs import redirect_output
from deepens.provenance import Provenance


def start(snakemake, inputs=None):
    """Open the job's log and return a Provenance holding its wildcards, params and input hashes."""
    redirect_output(snakemake.log[0])
    config = {"rule": snakemake.rule, "wildcards": dict(snakemake.wildcards.items()),
              "params": dict(snakemake.params.items()), "threads": snakemake.threads}
    return Provenance(config, inputs=list(snakemake.input) if inputs is None else inputs)
