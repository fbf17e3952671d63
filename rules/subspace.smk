# The subspace samples' analyses (the samples come from rule evaluate_solution, rules/evaluate.smk).


rule subspace_tsne:
    input:
        unpack(get_tsne_sample_inputs),
    output:
        table=f"{TABLES}/subspace_tsne.parquet",
    log:
        "logs/subspace_tsne/{dataset}/{model}.log",
    benchmark:
        "benchmarks/subspace_tsne/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("subspace_tsne.py"),
        methods=SUBSPACE_METHODS,
        seeds=get_tsne_seeds(),
        test_points=config["tsne"]["test_points"],
        perplexity=config["tsne"]["perplexity"],
        seed=config["tsne"]["seed"],
        max_iter=config["tsne"]["max_iter"],
        split=config["tsne"]["split"],
        pairs=get_tsne_connectivity_pairs(),
    script:
        f"{SCRIPTS}/subspace_tsne.py"


rule subspace_diversity_points:
    input:
        unpack(get_sample_inputs),
    output:
        table=f"{TABLES}/subspace_diversity_points.parquet",
    log:
        "logs/subspace_diversity_points/{dataset}/{model}.log",
    benchmark:
        "benchmarks/subspace_diversity_points/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(2000),
    params:
        code=script_code("subspace_diversity_points.py"),
        methods=SUBSPACE_METHODS,
        seeds=SEEDS,
        reference_seed=get_reference_seed(),
    script:
        f"{SCRIPTS}/subspace_diversity_points.py"


rule section5_ensembles:
    input:
        unpack(get_sample_inputs),
    output:
        table=f"{TABLES}/section5_ensembles.parquet",
    log:
        "logs/section5_ensembles/{dataset}/{model}.log",
    benchmark:
        "benchmarks/section5_ensembles/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("section5_ensembles.py"),
        methods=SUBSPACE_METHODS,
        seeds=SEEDS,
        max_subsets=config["ensembles"]["max_subsets"],
        subset_seed=config["ensembles"]["subset_seed"],
        bins=config["ensembles"]["ece_bins"],
    script:
        f"{SCRIPTS}/section5_ensembles.py"
