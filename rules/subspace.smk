rule subspace_samples:
    input:
        dataset=DATA,
        checkpoints=get_late_checkpoints,
    output:
        samples=SAMPLES,
    log:
        "logs/subspace_samples/{dataset}/{model}/seed{seed}/{method}.log",
    benchmark:
        "benchmarks/subspace_samples/{dataset}/{model}/seed{seed}/{method}.tsv"
    params:
        code=code_digest("subspace", "subspace_sampling", "models", "seeds", "io"),
        settings=get_subspace_settings,
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
        f"{SCRIPTS}/subspace_samples.py"


rule subspace_tsne:
    input:
        predictions=get_tsne_predictions,
        samples=get_tsne_samples,
    output:
        table=f"{TABLES}/subspace_tsne.parquet",
    log:
        "logs/subspace_tsne/{dataset}/{model}.log",
    benchmark:
        "benchmarks/subspace_tsne/{dataset}/{model}.tsv"
    params:
        code=code_digest("subspace_analysis", "function_space", "io"),
        methods=SUBSPACE_METHODS,
        seeds=get_tsne_seeds(),
        test_points=config["tsne"]["test_points"],
        perplexity=config["tsne"]["perplexity"],
        seed=config["tsne"]["seed"],
        max_iter=config["tsne"]["max_iter"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(4000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/prediction_table.py"


rule subspace_diversity_points:
    input:
        predictions=get_all_predictions,
        samples=get_all_samples,
    output:
        table=f"{TABLES}/subspace_diversity_points.parquet",
    log:
        "logs/subspace_diversity_points/{dataset}/{model}.log",
    benchmark:
        "benchmarks/subspace_diversity_points/{dataset}/{model}.tsv"
    params:
        code=code_digest("subspace_analysis", "function_space", "io"),
        methods=SUBSPACE_METHODS,
        seeds=SEEDS,
        reference_seed=get_reference_seed(),
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/prediction_table.py"


rule section5_ensembles:
    input:
        predictions=get_all_predictions,
        samples=get_all_samples,
    output:
        table=f"{TABLES}/section5_ensembles.parquet",
    log:
        "logs/section5_ensembles/{dataset}/{model}.log",
    benchmark:
        "benchmarks/section5_ensembles/{dataset}/{model}.tsv"
    params:
        code=code_digest("subspace_analysis", "ensembles", "metrics", "io"),
        methods=SUBSPACE_METHODS,
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
        f"{SCRIPTS}/prediction_table.py"
