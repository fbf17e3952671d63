# The TensorFlow evaluation of a run, in two coarse jobs that each load the run's checkpoints
# once (a TensorFlow start costs seconds, and on a cluster a GPU submission): every file they
# write is one product, so the analysis jobs downstream stay one per table.


rule evaluate_checkpoints:
    input:
        dataset=DATA,
        checkpoints=get_run_checkpoints,
    output:
        **({"representations": REPRESENTATIONS} if CKA_ENABLED else {}),
        predictions=PREDICTIONS,
    log:
        "logs/evaluate_checkpoints/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/evaluate_checkpoints/{dataset}/{model}/seed{seed}.tsv"
    priority: PRIORITY["evaluate_checkpoints"]
    group:
        evaluation_group()
    conda:
        get_tensorflow_env
    threads: get_train_threads
    resources:
        mem_mb=get_train_mem_mb,
        runtime=get_eval_runtime("evaluate_checkpoints", checkpoint_images),
    params:
        code=script_code("evaluate_checkpoints.py"),
        device=get_tensorflow_device,
        epochs=EPOCHS,
        batch_size=config["predict"]["batch_size"],
        representations=get_representation_settings,
        intra_op_threads=get_intra_op_threads,
        inter_op_threads=get_inter_op_threads,
    script:
        f"{SCRIPTS}/evaluate_checkpoints.py"


if SOLUTION_OUTPUTS:

    rule evaluate_solution:
        input:
            dataset=DATA,
            checkpoints=get_solution_checkpoints,
            shift_sets=get_shift_sets,
            ood_sets=get_ood_sets,
        output:
            **SOLUTION_OUTPUTS,
        log:
            "logs/evaluate_solution/{dataset}/{model}/seed{seed}.log",
        benchmark:
            "benchmarks/evaluate_solution/{dataset}/{model}/seed{seed}.tsv"
        priority: PRIORITY["evaluate_solution"]
        group:
            evaluation_group()
        conda:
            get_tensorflow_env
        threads: get_train_threads
        resources:
            mem_mb=get_train_mem_mb,
            runtime=get_eval_runtime("evaluate_solution", solution_images),
        params:
            code=script_code("evaluate_solution.py"),
            device=get_tensorflow_device,
            settings=get_solution_settings,
            batch_size=config["predict"]["batch_size"],
            intra_op_threads=get_intra_op_threads,
            inter_op_threads=get_inter_op_threads,
        script:
            f"{SCRIPTS}/evaluate_solution.py"
