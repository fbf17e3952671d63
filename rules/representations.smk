# Representation similarity: minibatch linear CKA across seeds and along one trajectory (the
# features come from rule evaluate_checkpoints, rules/evaluate.smk).


rule cka_seeds:
    input:
        features=get_all_representations,
    output:
        table=f"{TABLES}/cka_seeds.parquet",
    log:
        "logs/cka_seeds/{dataset}/{model}.log",
    benchmark:
        "benchmarks/cka_seeds/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(2000),
    params:
        code=script_code("cka_seeds.py"),
        seeds=SEEDS,
        epoch=EPOCHS[-1],
        block_elements=config["similarity"]["block_elements"],
    script:
        f"{SCRIPTS}/cka_seeds.py"


rule cka_trajectory:
    input:
        features=get_trajectory_representations,
    output:
        table=f"{TABLES}/cka_trajectory.parquet",
    log:
        "logs/cka_trajectory/{dataset}/{model}.log",
    benchmark:
        "benchmarks/cka_trajectory/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(2000),
    params:
        code=script_code("cka_trajectory.py"),
        seed=get_cka_trajectory_seed(),
        block_elements=config["similarity"]["block_elements"],
    script:
        f"{SCRIPTS}/cka_trajectory.py"
