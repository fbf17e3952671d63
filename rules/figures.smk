# Every figure rule runs workflow_scripts/plot.py, which picks the plot by rule name.


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
        code=script_code("plot.py"),
        seeds=SEEDS,
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


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
        code=script_code("plot.py"),
        seed=get_trajectory_seed(),
        colormap=config["figures"]["colormap"],
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


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
        code=script_code("plot.py"),
        epoch=EPOCHS[-1],
        colormap=config["figures"]["colormap"],
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_confusion_final:
    input:
        confusion=f"{TABLES}/confusion.parquet",
        dataset=DATA,
    output:
        figure_outputs("confusion_final"),
    log:
        "logs/plot_confusion_final/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_confusion_final/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        epoch=EPOCHS[-1],
        colormap=config["figures"]["colormap"],
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_confusion_epochs:
    input:
        confusion=f"{TABLES}/confusion.parquet",
        dataset=DATA,
    output:
        figure_outputs("confusion_epochs"),
    log:
        "logs/plot_confusion_epochs/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_confusion_epochs/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        seed=get_trajectory_seed(),
        epochs=get_strip_epochs(),
        colormap=config["figures"]["colormap"],
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_misclassified_overlap:
    input:
        overlap=f"{TABLES}/misclassified_overlap.parquet",
    output:
        figure_outputs("misclassified_overlap"),
    log:
        "logs/plot_misclassified_overlap/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_misclassified_overlap/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        seed=get_trajectory_seed(),
        epoch=EPOCHS[-1],
        colormap=config["figures"]["colormap"],
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_hard_examples:
    input:
        hard=f"{TABLES}/hard_examples.parquet",
        dataset=DATA,
    output:
        figure_outputs("hard_examples"),
    log:
        "logs/plot_hard_examples/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_hard_examples/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        seeds=SEEDS,
        n=config["figures"]["gallery_size"],
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_function_space_tsne:
    input:
        tsne=f"{TABLES}/function_space_tsne.parquet",
    output:
        figure_outputs("function_space_tsne"),
    log:
        "logs/plot_function_space_tsne/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_function_space_tsne/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_ensemble_size:
    input:
        ensembles=f"{TABLES}/ensemble_metrics.parquet",
    output:
        figure_outputs("ensemble_size"),
    log:
        "logs/plot_ensemble_size/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_ensemble_size/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_ensemble_by_epoch:
    input:
        ensembles=f"{TABLES}/ensemble_by_epoch.parquet",
    output:
        figure_outputs("ensemble_by_epoch"),
    log:
        "logs/plot_ensemble_by_epoch/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_ensemble_by_epoch/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_diversity_accuracy:
    input:
        points=get_diversity_point_tables,
        limits=f"{TABLES}/diversity_limits.parquet",
    output:
        figure_outputs("diversity_accuracy"),
    log:
        "logs/plot_diversity_accuracy/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_diversity_accuracy/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_subspace_tsne:
    input:
        tsne=f"{TABLES}/subspace_tsne.parquet",
    output:
        figure_outputs("subspace_tsne"),
    log:
        "logs/plot_subspace_tsne/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_subspace_tsne/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_section5_ensembles:
    input:
        ensembles=f"{TABLES}/section5_ensembles.parquet",
    output:
        figure_outputs("section5_ensembles"),
    log:
        "logs/plot_section5_ensembles/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_section5_ensembles/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_interpolation:
    input:
        curves=f"{TABLES}/interpolation.parquet",
        barriers=f"{TABLES}/interpolation_barriers.parquet",
    output:
        figure_outputs("interpolation"),
    log:
        "logs/plot_interpolation/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_interpolation/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_plane:
    input:
        plane=f"{TABLES}/plane_{{plane}}.parquet",
    output:
        figure_outputs("plane_{plane}", caption="plane"),
    log:
        "logs/plot_plane/{dataset}/{model}/{plane}.log",
    benchmark:
        "benchmarks/plot_plane/{dataset}/{model}/{plane}.tsv"
    params:
        code=script_code("plot.py"),
        colormap=config["figures"]["colormap"],
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_shift:
    input:
        metrics=f"{TABLES}/shift_metrics.parquet",
    output:
        figure_outputs("shift"),
    log:
        "logs/plot_shift/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_shift/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_cka:
    input:
        seeds=f"{TABLES}/cka_seeds.parquet",
        trajectory=f"{TABLES}/cka_trajectory.parquet",
    output:
        figure_outputs("cka"),
    log:
        "logs/plot_cka/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_cka/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        colormap=config["figures"]["colormap"],
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"


rule plot_findings:
    input:
        findings=f"{TABLES}/findings.parquet",
    output:
        figure_outputs("findings"),
    log:
        "logs/plot_findings/{dataset}/{model}.log",
    benchmark:
        "benchmarks/plot_findings/{dataset}/{model}.tsv"
    params:
        code=script_code("plot.py"),
        dpi=config["figures"]["dpi"],
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(2000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/plot.py"
