# Data preparation runs where Snakemake runs (on a cluster: the submit host), which usually
# has the network and the storage that compute nodes lack.
localrules:
    prepare_dataset,


rule prepare_dataset:
    input:
        source=get_dataset_source,
    output:
        dataset=DATA,
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "benchmarks/prepare_dataset/{dataset}.tsv"
    params:
        code=code_digest("data", "cifar10", "io"),
        name=config["dataset"]["name"],
        test_size=config["dataset"]["test_size"],
        validation_size=config["train"]["validation_size"],
        scratch_dir="results/{dataset}/.scratch",
    threads: 1
    resources:
        mem_mb=analysis_mem_mb(4000),
    conda:
        "../envs/analysis.yaml"
    script:
        f"{SCRIPTS}/prepare_dataset.py"
