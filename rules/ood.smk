# Out-of-distribution detection: image sets from none of the dataset's classes (built where
# Snakemake runs, like the shift sets), every member's predictions on them (rule evaluate_solution)
# and the detection scores.


localrules:
    ood_data,


rule ood_data:
    input:
        dataset=DATA,
        source=get_ood_source,
    output:
        ood_set=OOD_SET,
    log:
        "logs/ood_data/{dataset}/{ood_set}.log",
    benchmark:
        "benchmarks/ood_data/{dataset}/{ood_set}.tsv"
    priority: PRIORITY["ood_data"]
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        code=script_code("ood_data.py"),
        spec=get_ood_spec,
    script:
        f"{SCRIPTS}/ood_data.py"


rule ood_metrics:
    input:
        unpack(get_ood_inputs),
    output:
        table=f"{TABLES}/ood_metrics.parquet",
        histograms=f"{TABLES}/ood_histograms.parquet",
    log:
        "logs/ood_metrics/{dataset}/{model}.log",
    benchmark:
        "benchmarks/ood_metrics/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("ood_metrics.py"),
        members=OOD_MEMBERS,
        seeds=SEEDS,
        max_subsets=config["ensembles"]["max_subsets"],
        subset_seed=config["ensembles"]["subset_seed"],
    script:
        f"{SCRIPTS}/ood_metrics.py"
