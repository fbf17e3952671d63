# The paper's claims, checked on every model's results: estimate, bootstrap interval, verdict.


def get_findings_inputs(wildcards):
    """Named inputs of the findings table: whatever the enabled analyses produce."""
    out = {"cosine": f"{TABLES}/weight_cosine.parquet".format(**wildcards),
           "predictions": get_all_predictions(wildcards)}
    out.update({f"samples_{m}": expand(SAMPLES, dataset=wildcards.dataset, model=wildcards.model, method=m,
                                       seed=SEEDS) for m in SUBSPACE_METHODS})
    if LANDSCAPE_ENABLED:
        out["curves"] = f"{TABLES}/interpolation.parquet".format(**wildcards)
    if SHIFT_MEMBERS:
        out["shift_final"] = expand(SHIFT_PREDICTIONS, dataset=wildcards.dataset, model=wildcards.model,
                                    member="final", seed=SEEDS)
    return out


def get_findings_late_epochs(wildcards):
    return late_epochs(wildcards.model)


rule findings:
    input:
        unpack(get_findings_inputs),
    output:
        table=f"{TABLES}/findings.parquet",
    log:
        "logs/findings/{dataset}/{model}.log",
    benchmark:
        "benchmarks/findings/{dataset}/{model}.tsv"
    params:
        code=script_code("findings.py"),
        seeds=SEEDS,
        methods=SUBSPACE_METHODS,
        late_epochs=get_findings_late_epochs,
        final_epoch=EPOCHS[-1],
        reference_seed=get_reference_seed(),
        settings=config["findings"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(6000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/findings.py"
