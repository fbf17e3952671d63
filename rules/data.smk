# Data preparation and the resolved config run where Snakemake runs (on a cluster: the submit
# host), which usually has the network and the storage that compute nodes lack.
localrules:
    resolved_config,
    prepare_dataset,


rule resolved_config:
    output:
        config=RESOLVED_CONFIG,
    log:
        "logs/resolved_config/{dataset}.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        code=script_code("resolved_config.py"),
        config=RESOLVED,
    script:
        f"{SCRIPTS}/resolved_config.py"


rule prepare_dataset:
    input:
        source=get_dataset_source,
    output:
        dataset=DATA,
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(4000),
    params:
        code=script_code("prepare_dataset.py"),
        name=config["dataset"]["name"],
        test_size=config["dataset"]["test_size"],
        validation_size=config["train"]["validation_size"],
        scratch_dir="results/{dataset}/.scratch",
    script:
        f"{SCRIPTS}/prepare_dataset.py"
