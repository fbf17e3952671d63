rule weight_cosine:
    input:
        checkpoints=get_all_checkpoints,
    output:
        table=f"{TABLES}/weight_cosine.parquet",
    log:
        "logs/weight_cosine/{dataset}/{model}.log",
    benchmark:
        "benchmarks/weight_cosine/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("weight_cosine.py"),
        seeds=SEEDS,
        epochs=EPOCHS,
        parameters=config["similarity"]["cosine_parameters"],
        block_elements=config["similarity"]["block_elements"],
    script:
        f"{SCRIPTS}/weight_cosine.py"


rule prediction_disagreement:
    input:
        predictions=get_all_predictions,
    output:
        table=f"{TABLES}/prediction_disagreement.parquet",
    log:
        "logs/prediction_disagreement/{dataset}/{model}.log",
    benchmark:
        "benchmarks/prediction_disagreement/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("prediction_disagreement.py"),
        seeds=SEEDS,
        split=config["similarity"]["disagreement_split"],
    script:
        f"{SCRIPTS}/prediction_disagreement.py"


rule checkpoint_metrics:
    input:
        predictions=get_all_predictions,
    output:
        table=f"{TABLES}/checkpoint_metrics.parquet",
    log:
        "logs/checkpoint_metrics/{dataset}/{model}.log",
    benchmark:
        "benchmarks/checkpoint_metrics/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(2000),
    params:
        code=script_code("checkpoint_metrics.py"),
        seeds=SEEDS,
        bins=config["ensembles"]["ece_bins"],
    script:
        f"{SCRIPTS}/checkpoint_metrics.py"
