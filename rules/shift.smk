# Robustness under dataset shift: corrupted test sets, every member's predictions on them, scores.


# The corrupted test sets are built where Snakemake runs, like the dataset itself: CIFAR-10-C
# usually sits on the submit host's storage, and generating six corruptions takes seconds.
localrules:
    shift_data,


rule shift_data:
    input:
        dataset=DATA,
        source=get_shift_source,
    output:
        shift_set=SHIFT_SET,
    log:
        "logs/shift_data/{dataset}/{corruption}.log",
    benchmark:
        "benchmarks/shift_data/{dataset}/{corruption}.tsv"
    priority: PRIORITY["shift_data"]
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=get_shift_data_mem_mb,
    params:
        code=script_code("shift_data.py"),
        severities=SHIFT["severities"],
        seed=SHIFT["seed"],
    script:
        f"{SCRIPTS}/shift_data.py"


rule shift_metrics:
    input:
        unpack(get_shift_inputs),
    output:
        table=f"{TABLES}/shift_metrics.parquet",
    log:
        "logs/shift_metrics/{dataset}/{model}.log",
    benchmark:
        "benchmarks/shift_metrics/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("shift_metrics.py"),
        members=SHIFT_MEMBERS,
        seeds=SEEDS,
        max_subsets=config["ensembles"]["max_subsets"],
        subset_seed=config["ensembles"]["subset_seed"],
        bins=config["ensembles"]["ece_bins"],
    script:
        f"{SCRIPTS}/shift_metrics.py"
