rule predict:
    input:
        dataset=DATA,
        checkpoints=get_run_checkpoints,
    output:
        predictions=PREDICTIONS,
    log:
        "logs/predict/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/predict/{dataset}/{model}/seed{seed}.tsv"
    params:
        code=code_digest("predict", "models", "io"),
        epochs=EPOCHS,
        batch_size=config["predict"]["batch_size"],
        intra_op_threads=config["train"]["intra_op_threads"],
        inter_op_threads=config["train"]["inter_op_threads"],
    threads: get_train_threads
    resources:
        mem_mb=get_train_mem_mb,
        runtime=get_train_runtime,
    conda:
        "../envs/training.yaml"
    script:
        f"{SCRIPTS}/predict.py"
