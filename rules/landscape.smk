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


# Mode connectivity: one TensorFlow job per pair of solutions (alignment, curve training, the three
# paths), then one numpy job per model for the tables.


rule connectivity:
    input:
        dataset=DATA,
        checkpoints=get_connectivity_checkpoints,
    output:
        **CONNECTIVITY_FILES,
    log:
        "logs/connectivity/{dataset}/{model}/{pair}.log",
    benchmark:
        "benchmarks/connectivity/{dataset}/{model}/{pair}.tsv"
    priority: PRIORITY["connectivity"]
    conda:
        get_tensorflow_env
    threads: get_train_threads
    resources:
        mem_mb=get_train_mem_mb,
        runtime=get_connectivity_runtime,
    params:
        code=script_code("connectivity.py"),
        device=get_tensorflow_device,
        pair=get_connectivity_pair,
        alignment=get_alignment_settings(),
        curve=get_curve_settings,
        points=CONNECTIVITY_SETTINGS["points"],
        train_examples=LANDSCAPE["train_examples"],
        bn_examples=LANDSCAPE["bn_examples"],
        batch_size=config["predict"]["batch_size"],
        intra_op_threads=get_intra_op_threads,
        inter_op_threads=get_inter_op_threads,
    script:
        f"{SCRIPTS}/connectivity.py"


rule connectivity_metrics:
    input:
        paths=lambda w: get_connectivity_outputs(w, "paths"),
        predictions=lambda w: get_connectivity_outputs(w, "predictions"),
        reference=lambda w: PREDICTIONS.format(dataset=w.dataset, model=w.model, seed=get_reference_seed()),
    output:
        points=f"{TABLES}/connectivity.parquet",
        barriers=f"{TABLES}/connectivity_barriers.parquet",
        diversity_points=f"{TABLES}/connectivity_diversity_points.parquet",
    log:
        "logs/connectivity_metrics/{dataset}/{model}.log",
    benchmark:
        "benchmarks/connectivity_metrics/{dataset}/{model}.tsv"
    group:
        analysis_group()
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        runtime=analysis_runtime,
        mem_mb=analysis_mem_mb(2000),
    params:
        code=script_code("connectivity_metrics.py"),
        pairs=[list(p) for p in CONNECTIVITY_PAIRS],
        reference_seed=get_reference_seed(),
    script:
        f"{SCRIPTS}/connectivity_metrics.py"
