# The paper's claims, checked on every model's results: estimate, bootstrap interval, verdict.


rule findings:
    input:
        unpack(get_findings_inputs),
    output:
        table=f"{TABLES}/findings.parquet",
    log:
        "logs/findings/{dataset}/{model}.log",
    benchmark:
        "benchmarks/findings/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(6000),
    params:
        code=script_code("findings.py"),
        seeds=SEEDS,
        methods=SUBSPACE_METHODS,
        late_epochs=get_findings_late_epochs,
        final_epoch=EPOCHS[-1],
        reference_seed=get_reference_seed(),
        settings=config["findings"],
    script:
        f"{SCRIPTS}/findings.py"
