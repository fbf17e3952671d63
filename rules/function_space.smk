rule confusion:
    input:
        predictions=get_all_predictions,
    output:
        table=f"{TABLES}/confusion.parquet",
    log:
        "logs/confusion/{dataset}/{model}.log",
    benchmark:
        "benchmarks/confusion/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(2000),
    params:
        code=script_code("confusion.py"),
        seeds=SEEDS,
    script:
        f"{SCRIPTS}/confusion.py"


rule hard_examples:
    input:
        predictions=get_all_predictions,
    output:
        table=f"{TABLES}/hard_examples.parquet",
    log:
        "logs/hard_examples/{dataset}/{model}.log",
    benchmark:
        "benchmarks/hard_examples/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(2000),
    params:
        code=script_code("hard_examples.py"),
        seeds=SEEDS,
    script:
        f"{SCRIPTS}/hard_examples.py"


rule misclassified_overlap:
    input:
        predictions=get_all_predictions,
    output:
        table=f"{TABLES}/misclassified_overlap.parquet",
    log:
        "logs/misclassified_overlap/{dataset}/{model}.log",
    benchmark:
        "benchmarks/misclassified_overlap/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("misclassified_overlap.py"),
        seeds=SEEDS,
    script:
        f"{SCRIPTS}/misclassified_overlap.py"


rule function_space_tsne:
    input:
        predictions=get_tsne_predictions,
    output:
        table=f"{TABLES}/function_space_tsne.parquet",
    log:
        "logs/function_space_tsne/{dataset}/{model}.log",
    benchmark:
        "benchmarks/function_space_tsne/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("function_space_tsne.py"),
        seeds=get_tsne_seeds(),
        test_points=config["tsne"]["test_points"],
        perplexity=config["tsne"]["perplexity"],
        seed=config["tsne"]["seed"],
        max_iter=config["tsne"]["max_iter"],
        split=config["tsne"]["split"],
    script:
        f"{SCRIPTS}/function_space_tsne.py"


rule diversity_accuracy:
    input:
        predictions=get_all_predictions,
    output:
        points=f"{TABLES}/diversity_points.parquet",
        limits=f"{TABLES}/diversity_limits.parquet",
    log:
        "logs/diversity_accuracy/{dataset}/{model}.log",
    benchmark:
        "benchmarks/diversity_accuracy/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(2000),
    params:
        code=script_code("diversity_accuracy.py"),
        seeds=SEEDS,
        reference_seed=get_reference_seed(),
    script:
        f"{SCRIPTS}/diversity_accuracy.py"
