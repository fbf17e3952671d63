# Representation similarity: minibatch linear CKA across seeds and along one trajectory.


rule representations:
    input:
        dataset=DATA,
        checkpoints=get_representation_checkpoints,
    output:
        features=REPRESENTATIONS,
    log:
        "logs/representations/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/representations/{dataset}/{model}/seed{seed}.tsv"
    params:
        code=code_digest("representations", "cka", "landscape_eval", "models", "io"),
        epochs=get_representation_epochs,
        test_points=CKA["test_points"],
        batch_size=CKA["batch_size"],
        intra_op_threads=config["train"]["intra_op_threads"],
        inter_op_threads=config["train"]["inter_op_threads"],
    threads: get_train_threads
    resources:
        mem_mb=get_train_mem_mb,
        runtime=get_train_runtime,
    conda:
        "../envs/training.yaml"
    script:
        f"{SCRIPTS}/representation_features.py"


rule cka_seeds:
    input:
        features=get_all_representations,
    output:
        table=f"{TABLES}/cka_seeds.parquet",
    log:
        "logs/cka_seeds/{dataset}/{model}.log",
    benchmark:
        "benchmarks/cka_seeds/{dataset}/{model}.tsv"
    params:
        code=code_digest("cka", "io"),
        seeds=SEEDS,
        epoch=EPOCHS[-1],
        block_elements=config["similarity"]["block_elements"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/analysis_table.py"


rule cka_trajectory:
    input:
        features=lambda w: REPRESENTATIONS.format(dataset=w.dataset, model=w.model, seed=get_cka_trajectory_seed()),
    output:
        table=f"{TABLES}/cka_trajectory.parquet",
    log:
        "logs/cka_trajectory/{dataset}/{model}.log",
    benchmark:
        "benchmarks/cka_trajectory/{dataset}/{model}.tsv"
    params:
        code=code_digest("cka", "io"),
        seed=get_cka_trajectory_seed(),
        block_elements=config["similarity"]["block_elements"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/analysis_table.py"
