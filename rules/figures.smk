rule plot_training_curves:
    input:
        histories=get_all_histories,
        metrics=f"{TABLES}/checkpoint_metrics.parquet",
    output:
        figure_outputs("training_curves"),
    log:
        "logs/plot_training_curves/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_training_curves/{dataset}/{model}.tsv"
    params:
        code=code_digest("plots", "io"),
        seeds=SEEDS,
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot_training_curves.py"


rule plot_trajectory_similarity:
    input:
        cosine=f"{TABLES}/weight_cosine.parquet",
        disagreement=f"{TABLES}/prediction_disagreement.parquet",
    output:
        figure_outputs("trajectory_similarity"),
    log:
        "logs/plot_trajectory_similarity/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_trajectory_similarity/{dataset}/{model}.tsv"
    params:
        code=code_digest("plots", "io"),
        seed=get_trajectory_seed(),
        dpi=config["figures"]["dpi"],
        colormap=config["figures"]["colormap"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot_trajectory_similarity.py"


rule plot_seed_similarity:
    input:
        cosine=f"{TABLES}/weight_cosine.parquet",
        disagreement=f"{TABLES}/prediction_disagreement.parquet",
    output:
        figure_outputs("seed_similarity"),
    log:
        "logs/plot_seed_similarity/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_seed_similarity/{dataset}/{model}.tsv"
    params:
        code=code_digest("plots", "io"),
        epoch=EPOCHS[-1],
        dpi=config["figures"]["dpi"],
        colormap=config["figures"]["colormap"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot_seed_similarity.py"
