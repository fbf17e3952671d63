rule ensemble_metrics:
    input:
        predictions=get_all_predictions,
    output:
        table=f"{TABLES}/ensemble_metrics.parquet",
    log:
        "logs/ensemble_metrics/{dataset}/{model}.log",
    benchmark:
        "benchmarks/ensemble_metrics/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("ensemble_metrics.py"),
        seeds=SEEDS,
        max_subsets=config["ensembles"]["max_subsets"],
        subset_seed=config["ensembles"]["subset_seed"],
        snapshot_max_size=config["ensembles"]["snapshot_max_size"],
        bins=config["ensembles"]["ece_bins"],
    script:
        f"{SCRIPTS}/ensemble_metrics.py"


rule ensemble_by_epoch:
    input:
        predictions=get_all_predictions,
    output:
        table=f"{TABLES}/ensemble_by_epoch.parquet",
    log:
        "logs/ensemble_by_epoch/{dataset}/{model}.log",
    benchmark:
        "benchmarks/ensemble_by_epoch/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("ensemble_by_epoch.py"),
        seeds=SEEDS,
        bins=config["ensembles"]["ece_bins"],
    script:
        f"{SCRIPTS}/ensemble_by_epoch.py"


rule reliability:
    input:
        unpack(get_reliability_inputs),
    output:
        table=f"{TABLES}/reliability.parquet",
    log:
        "logs/reliability/{dataset}/{model}.log",
    benchmark:
        "benchmarks/reliability/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("reliability.py"),
        methods=SUBSPACE_METHODS,
        seeds=SEEDS,
        reference_seed=get_reference_seed(),
        bins=config["ensembles"]["ece_bins"],
    script:
        f"{SCRIPTS}/reliability.py"
