# Helpers shared by the rules: the validated config, derived lists, path patterns, input functions.
import hashlib
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))
from deepens.config import ConfigError, validate_config  # noqa: E402

try:
    config.update(validate_config(config, Path(workflow.basedir) / "config.schema.yaml"))
except ConfigError as err:
    raise WorkflowError(str(err)) from None

DATASET = config["dataset"]["name"]
MODELS = config["models"]
SEEDS = config["seeds"]
EPOCHS = list(range(config["train"]["epochs"] + 1))
SCRIPTS = "../workflow_scripts"
LIBRARY = Path(workflow.basedir) / "workflow_scripts" / "deepens"


def code_digest(*modules):
    """Hash of the library modules a rule's results depend on, passed as a param so that
    editing them reruns exactly the rules that use them (Snakemake tracks only the script)."""
    h = hashlib.sha256()
    for name in sorted(set(modules)):
        h.update(name.encode() + b"\0" + (LIBRARY / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


wildcard_constraints:
    dataset=r"digits|cifar10",
    method=r"random|dropout|diagonal|lowrank|averaging",
    model=r"[a-z0-9_]+",
    seed=r"\d+",


# One path scheme; scripts never build paths.
DATA = "results/{dataset}/data.npz"
CHECKPOINT = "results/{dataset}/{model}/seed{seed}/checkpoints/epoch{epoch}.weights.h5"  # epoch003
HISTORY = "results/{dataset}/{model}/seed{seed}/history.parquet"
PREDICTIONS = "results/{dataset}/{model}/seed{seed}/predictions.parquet"
TABLES = "results/{dataset}/{model}/tables"
FIGURES = "results/{dataset}/{model}/figures"
FIGURE_NAMES = ["training_curves", "trajectory_similarity", "seed_similarity", "confusion_final",
                "confusion_epochs", "misclassified_overlap", "hard_examples", "function_space_tsne",
                "ensemble_size", "ensemble_by_epoch", "diversity_accuracy"]
TABLE_NAMES = ["weight_cosine", "prediction_disagreement", "checkpoint_metrics", "confusion", "hard_examples",
               "misclassified_overlap", "function_space_tsne", "ensemble_metrics", "ensemble_by_epoch",
               "diversity_points", "diversity_limits"]


def run_checkpoints():
    """The checkpoints of one run, {dataset}/{model}/{seed} left as wildcards."""
    return [CHECKPOINT.replace("{epoch}", f"{e:03d}") for e in EPOCHS]


SUBSPACE_METHODS = config["subspace"]["methods"]
SAMPLES = "results/{dataset}/{model}/seed{seed}/subspace/{method}.parquet"
SUBSPACE_TABLE_NAMES = ["subspace_tsne", "subspace_diversity_points", "section5_ensembles"]
SUBSPACE_FIGURE_NAMES = ["subspace_tsne", "section5_ensembles"]


def late_epochs():
    """The last late_fraction of the checkpoints (never epoch 0; at least two when possible)."""
    n = max(math.ceil(EPOCHS[-1] * config["subspace"]["late_fraction"]), min(2, EPOCHS[-1]))
    return EPOCHS[-n:]


def get_late_checkpoints(wildcards):
    paths = checkpoint_paths(wildcards.dataset, wildcards.model, wildcards.seed)
    return [paths[e] for e in late_epochs()]


def get_subspace_settings(wildcards):
    """Only this method's settings, so changing another method's scale reruns nothing here."""
    sub = config["subspace"]
    settings = {"late_fraction": sub["late_fraction"], "late_epochs": late_epochs(),
                "ensemble_samples": sub["ensemble_samples"], "plane_samples": sub["plane_samples"]}
    if wildcards.method == "lowrank":
        settings["rank"] = sub["rank"]
    settings.update(sub.get(wildcards.method, {}))
    return settings


def get_all_samples(wildcards):
    """Sample files of every configured method, method-major then seed."""
    return expand(SAMPLES, dataset=wildcards.dataset, model=wildcards.model, method=SUBSPACE_METHODS, seed=SEEDS)


def get_tsne_samples(wildcards):
    return expand(SAMPLES, dataset=wildcards.dataset, model=wildcards.model, method=SUBSPACE_METHODS,
                  seed=get_tsne_seeds())


def checkpoint_paths(dataset, model, seed):
    return [p.format(dataset=dataset, model=model, seed=seed) for p in run_checkpoints()]


def get_dataset_source(wildcards):
    path = config["dataset"]["path"]
    return [path] if path else []


def get_run_checkpoints(wildcards):
    return checkpoint_paths(wildcards.dataset, wildcards.model, wildcards.seed)


def get_all_checkpoints(wildcards):
    return [p for s in SEEDS for p in checkpoint_paths(wildcards.dataset, wildcards.model, s)]


def get_all_predictions(wildcards):
    return expand(PREDICTIONS, dataset=wildcards.dataset, model=wildcards.model, seed=SEEDS)


def get_all_histories(wildcards):
    return expand(HISTORY, dataset=wildcards.dataset, model=wildcards.model, seed=SEEDS)


def get_train_threads(wildcards):
    return config["train"]["intra_op_threads"]


# Cluster requests scale with the model and the dataset. Seconds per epoch measured on
# one CPU core (bare Keras fit, 50,000 CIFAR-10 images; digits is ~40x smaller); a GPU is
# far faster, so these are generous upper bounds for a wall-time limit.
EPOCH_SECONDS = {"small_cnn": 5, "medium_cnn": 40, "resnet20v1": 65}
DATASET_SCALE = {"digits": 0.025, "cifar10": 1.0}
MODEL_MEM_MB = {"small_cnn": 2000, "medium_cnn": 4000, "resnet20v1": 4000}


def get_train_mem_mb(wildcards, attempt):
    """Memory for training/prediction: model and dataset size; doubles on each retry."""
    data_mb = 1000 if wildcards.dataset == "cifar10" else 100
    return (MODEL_MEM_MB[wildcards.model] + data_mb) * 2 ** (attempt - 1)


def analysis_mem_mb(base_mb):
    """Memory of an analysis job: base_mb, doubled on each retry."""

    def mem_mb(wildcards, attempt):
        return base_mb * 2 ** (attempt - 1)

    return mem_mb


def get_train_runtime(wildcards, attempt):
    """Wall-time minutes: epochs x per-epoch cost x safety factor, longer on each retry."""
    seconds = EPOCH_SECONDS[wildcards.model] * DATASET_SCALE[wildcards.dataset] * (len(EPOCHS) + 2)
    return int(10 + 3 * seconds / 60) * attempt


def get_trajectory_seed():
    seed = config["figures"]["trajectory_seed"]
    return SEEDS[0] if seed is None else seed


def get_reference_seed():
    seed = config["diversity"]["reference_seed"]
    return SEEDS[0] if seed is None else seed


def get_tsne_seeds():
    return config["tsne"]["seeds"] or SEEDS


def get_tsne_predictions(wildcards):
    return expand(PREDICTIONS, dataset=wildcards.dataset, model=wildcards.model, seed=get_tsne_seeds())


def get_diversity_point_tables(wildcards):
    """Point sets of the diversity-accuracy plane: independent solutions and the reference's
    trajectory, plus the reference's subspace samples when subspace methods are configured."""
    tables = [f"{TABLES}/diversity_points.parquet"]
    if SUBSPACE_METHODS:
        tables.append(f"{TABLES}/subspace_diversity_points.parquet")
    return [t.format(**wildcards) for t in tables]


def get_strip_epochs():
    """Evenly spaced epochs for the confusion strip, always the first and the last."""
    n = min(config["figures"]["confusion_epochs"], len(EPOCHS))
    last = EPOCHS[-1]
    return sorted({round(i * last / max(1, n - 1)) for i in range(n)})


FIGURE_CATEGORIES = {
    "training_curves": "1. Training",
    "trajectory_similarity": "2. Weight and function space",
    "seed_similarity": "2. Weight and function space",
    "function_space_tsne": "2. Weight and function space",
    "confusion_final": "3. Errors and hard examples",
    "confusion_epochs": "3. Errors and hard examples",
    "misclassified_overlap": "3. Errors and hard examples",
    "hard_examples": "3. Errors and hard examples",
    "ensemble_size": "4. Ensembles",
    "ensemble_by_epoch": "4. Ensembles",
    "diversity_accuracy": "4. Ensembles",
    "subspace_tsne": "5. Subspace sampling",
    "section5_ensembles": "5. Subspace sampling",
}


def figure_outputs(name):
    """PNG (in the HTML report, with its caption from report/) and PDF of one figure."""
    png = report(f"{FIGURES}/{name}.png", caption=f"../report/{name}.rst", category=FIGURE_CATEGORIES[name],
                 subcategory="{model} on {dataset}", labels={"figure": name, "model": "{model}"})
    return [png, f"{FIGURES}/{name}.pdf"]


def get_final_outputs():
    tables = TABLE_NAMES + (SUBSPACE_TABLE_NAMES if SUBSPACE_METHODS else [])
    figures = FIGURE_NAMES + (SUBSPACE_FIGURE_NAMES if SUBSPACE_METHODS else [])
    return expand(f"{TABLES}/{{name}}.parquet", dataset=DATASET, model=MODELS, name=tables) + expand(
        f"{FIGURES}/{{name}}.{{ext}}", dataset=DATASET, model=MODELS, name=figures, ext=["png", "pdf"])


def get_resume_dir(wildcards):
    """Where a training job keeps its resumable state: beside, not among, its outputs."""
    return f"results/{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}/.resume"
