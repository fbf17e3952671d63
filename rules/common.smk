# Helpers shared by the rules: the validated config, derived lists, path patterns, input functions.
import hashlib
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
    """Point sets of the diversity-accuracy plane: open to more (e.g. subspace samples)."""
    return [f"{TABLES}/diversity_points.parquet".format(**wildcards)]


def get_strip_epochs():
    """Evenly spaced epochs for the confusion strip, always the first and the last."""
    n = min(config["figures"]["confusion_epochs"], len(EPOCHS))
    last = EPOCHS[-1]
    return sorted({round(i * last / max(1, n - 1)) for i in range(n)})


def figure_outputs(name):
    return multiext(f"{FIGURES}/{name}", ".png", ".pdf")


def get_final_outputs():
    tables = expand(f"{TABLES}/{{name}}.parquet", dataset=DATASET, model=MODELS, name=TABLE_NAMES)
    figures = expand(f"{FIGURES}/{{name}}.{{ext}}", dataset=DATASET, model=MODELS, name=FIGURE_NAMES,
                     ext=["png", "pdf"])
    return tables + figures
