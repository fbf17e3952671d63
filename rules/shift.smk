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
    params:
        code=code_digest("corruptions", "shift", "data", "seeds", "io"),
        severities=SHIFT["severities"],
        seed=SHIFT["seed"],
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: (4000 if wildcards.dataset == "cifar10" else 500) * 2 ** (attempt - 1),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/shift_data.py"


rule shift_predictions:
    input:
        dataset=DATA,
        checkpoints=get_shift_checkpoints,
        shift_sets=get_shift_sets,
    output:
        predictions=SHIFT_PREDICTIONS,
    log:
        "logs/shift_predictions/{dataset}/{model}/seed{seed}/{member}.log",
    benchmark:
        "benchmarks/shift_predictions/{dataset}/{model}/seed{seed}/{member}.tsv"
    params:
        code=code_digest("shift", "subspace", "subspace_sampling", "predict", "models", "seeds", "io"),
        corruptions=SHIFT_CORRUPTIONS,
        epochs=get_shift_epochs,
        settings=get_shift_subspace_settings,
        samples=get_shift_samples,
        batch_size=config["predict"]["batch_size"],
        intra_op_threads=config["train"]["intra_op_threads"],
        inter_op_threads=config["train"]["inter_op_threads"],
    threads: get_train_threads
    resources:
        mem_mb=get_train_mem_mb,
        runtime=get_eval_runtime(shift_images),
    conda:
        "../envs/training.yaml"
    script:
        f"{SCRIPTS}/shift_predictions.py"


rule shift_metrics:
    input:
        shift=get_all_shift_predictions,
    output:
        table=f"{TABLES}/shift_metrics.parquet",
    log:
        "logs/shift_metrics/{dataset}/{model}.log",
    benchmark:
        "benchmarks/shift_metrics/{dataset}/{model}.tsv"
    params:
        code=code_digest("shift_analysis", "shift", "subspace_analysis", "ensembles", "io"),
        members=SHIFT_MEMBERS,
        seeds=SEEDS,
        max_subsets=config["ensembles"]["max_subsets"],
        subset_seed=config["ensembles"]["subset_seed"],
        bins=config["ensembles"]["ece_bins"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(4000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/analysis_table.py"
