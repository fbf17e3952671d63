# The loss landscape between solutions: one TensorFlow job per model evaluates every interpolation
# line and every plane (one file each), then numpy tables and figures read them.


rule landscape:
    input:
        dataset=DATA,
        checkpoints=get_landscape_checkpoints,
    output:
        interpolation=f"{TABLES}/interpolation.parquet",
        planes=[f"{TABLES}/plane_{plane}.parquet" for plane in PLANES],
    log:
        "logs/landscape/{dataset}/{model}.log",
    benchmark:
        "benchmarks/landscape/{dataset}/{model}.tsv"
    priority: PRIORITY["landscape"]
    conda:
        get_tensorflow_env
    threads: get_train_threads
    resources:
        mem_mb=get_train_mem_mb,
        runtime=get_eval_runtime("landscape", landscape_images),
    params:
        code=script_code("landscape.py"),
        device=get_tensorflow_device,
        checkpoints=get_landscape_keys(),
        pairs=get_interpolation_pairs(),
        points=LANDSCAPE["interpolation"]["points"],
        planes=get_planes(),
        resolution=LANDSCAPE["plane"]["resolution"],
        margin=LANDSCAPE["plane"]["margin"],
        train_examples=LANDSCAPE["train_examples"],
        bn_examples=LANDSCAPE["bn_examples"],
        batch_size=config["predict"]["batch_size"],
        intra_op_threads=get_intra_op_threads,
        inter_op_threads=get_inter_op_threads,
    script:
        f"{SCRIPTS}/landscape.py"


rule interpolation_barriers:
    input:
        curves=f"{TABLES}/interpolation.parquet",
    output:
        table=f"{TABLES}/interpolation_barriers.parquet",
    log:
        "logs/interpolation_barriers/{dataset}/{model}.log",
    benchmark:
        "benchmarks/interpolation_barriers/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(1000),
    params:
        code=script_code("interpolation_barriers.py"),
    script:
        f"{SCRIPTS}/interpolation_barriers.py"
