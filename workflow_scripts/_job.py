"""Glue shared by the rule scripts: log redirection, the job's provenance, one-table jobs."""
from deepens.io import write_table
from deepens.logs import redirect_output
from deepens.provenance import Provenance


def start(snakemake, inputs=None):
    """Open the job's log, print its execution record there and return its Provenance (wildcards,
    params and input hashes, embedded in every artifact it writes)."""
    redirect_output(snakemake.log[0])
    config = {"rule": snakemake.rule, "wildcards": dict(snakemake.wildcards.items()),
              "params": dict(snakemake.params.items())}
    prov = Provenance(config, inputs=list(snakemake.input) if inputs is None else inputs, threads=snakemake.threads)
    prov.log_volatile()
    return prov


def table_job(snakemake, build):
    """A rule whose one output `table` is build(snakemake.input, snakemake.params) (a pyarrow table)."""
    prov = start(snakemake)
    table = build(snakemake.input, snakemake.params)
    write_table(table, snakemake.output.table, prov.record())
    print(f"{snakemake.rule}: {table.num_rows} rows -> {snakemake.output.table}")


def sample_inputs(i, p) -> dict:
    """method -> every seed's samples file, from a rule's named inputs (one per method in p.methods)."""
    return {m: list(i[m]) for m in p.methods}
