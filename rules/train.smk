rule train:
    input:
        dataset=DATA,
    output:
        checkpoints=run_checkpoints(),
        history=HISTORY,
    log:
        "logs/train/{dataset}/{model}/seed{seed}.log",
        timing="logs/train/{dataset}/{model}/seed{seed}.timing.tsv",
    benchmark:
        "benchmarks/train/{dataset}/{model}/seed{seed}.tsv"
    priority: PRIORITY["train"]
    conda:
        get_tensorflow_env
    threads: get_train_threads
    resources:
        mem_mb=get_train_mem_mb,
        runtime=get_train_runtime,
    params:
        code=script_code("train.py"),
        device=get_tensorflow_device,
        train=get_train_settings,
        resume_dir=get_resume_dir,
    script:
        f"{SCRIPTS}/train.py"
