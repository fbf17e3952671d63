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
    member=r"final|random|dropout|diagonal|lowrank|averaging",
    corruption=r"[a-z_]+",
    plane=r"[a-z0-9_]+",
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


def subspace_settings(method):
    """Only this method's settings, so changing another method's scale reruns nothing of it."""
    sub = config["subspace"]
    settings = {"late_fraction": sub["late_fraction"], "late_epochs": late_epochs(),
                "ensemble_samples": sub["ensemble_samples"], "plane_samples": sub["plane_samples"]}
    if method == "lowrank":
        settings["rank"] = sub["rank"]
    settings.update(sub.get(method, {}))
    return settings


def get_subspace_settings(wildcards):
    return subspace_settings(wildcards.method)


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
    "interpolation": "6. Loss landscape",
    "plane": "6. Loss landscape",
    "shift": "7. Dataset shift",
    "cka": "8. Representations",
}


def figure_outputs(name, caption=None):
    """PNG (in the HTML report, with its caption from report/) and PDF of one figure.

    caption: the report/ caption (and category) when several figures share one, e.g. the planes.
    """
    caption = caption or name
    png = report(f"{FIGURES}/{name}.png", caption=f"../report/{caption}.rst", category=FIGURE_CATEGORIES[caption],
                 subcategory="{model} on {dataset}", labels={"figure": name, "model": "{model}"})
    return [png, f"{FIGURES}/{name}.pdf"]


def get_final_outputs():
    tables = TABLE_NAMES + (SUBSPACE_TABLE_NAMES if SUBSPACE_METHODS else [])
    figures = FIGURE_NAMES + (SUBSPACE_FIGURE_NAMES if SUBSPACE_METHODS else [])
    if LANDSCAPE_ENABLED:
        tables += ["interpolation", "interpolation_barriers"] + [f"plane_{p}" for p in PLANES]
        figures += ["interpolation"] + [f"plane_{p}" for p in PLANES]
    if SHIFT_CORRUPTIONS:
        tables.append("shift_metrics")
        figures.append("shift")
    if CKA_ENABLED:
        tables += ["cka_seeds", "cka_trajectory"]
        figures.append("cka")
    return expand(f"{TABLES}/{{name}}.parquet", dataset=DATASET, model=MODELS, name=tables) + expand(
        f"{FIGURES}/{{name}}.{{ext}}", dataset=DATASET, model=MODELS, name=figures, ext=["png", "pdf"])


# --- loss landscape, dataset shift, representations (issue 7) -----------------------------------
from deepens.landscape import default_planes, interpolation_pairs, parse_point  # noqa: E402

LANDSCAPE = config["landscape"]
LANDSCAPE_ENABLED = LANDSCAPE["enabled"]
PLANES = LANDSCAPE["plane"]["planes"] if LANDSCAPE["plane"]["planes"] is not None else default_planes(SEEDS)
SHIFT = config["shift"]
SHIFT_CORRUPTIONS = SHIFT["corruptions"]
SHIFT_SET = "results/{dataset}/shift/{corruption}.npz"
SHIFT_PREDICTIONS = "results/{dataset}/{model}/seed{seed}/shift/{member}.parquet"
SHIFT_MEMBERS = ["final"] + SUBSPACE_METHODS
CKA = config["cka"]
CKA_ENABLED = CKA["enabled"]
REPRESENTATIONS = "results/{dataset}/{model}/seed{seed}/representations.h5"


def get_interpolation_pairs():
    return [list(p) for p in interpolation_pairs(SEEDS, EPOCHS[-1], LANDSCAPE["interpolation"]["max_pairs"])]


def get_interpolation_checkpoints(wildcards):
    """The checkpoints at both ends of every interpolation line, in (seed, epoch) order."""
    keys = sorted({(p[1], p[2]) for p in get_interpolation_pairs()} | {(p[3], p[4]) for p in get_interpolation_pairs()})
    return [checkpoint_paths(wildcards.dataset, wildcards.model, s)[e] for s, e in keys]


def get_interpolation_keys():
    pairs = get_interpolation_pairs()
    return [list(k) for k in sorted({(p[1], p[2]) for p in pairs} | {(p[3], p[4]) for p in pairs})]


def get_plane_points(wildcards):
    if wildcards.plane not in PLANES:
        raise ValueError(f"unknown plane {wildcards.plane!r}; configured: {sorted(PLANES)}")
    return [list(parse_point(p, EPOCHS[-1])) for p in PLANES[wildcards.plane]]


def get_plane_checkpoints(wildcards):
    return [checkpoint_paths(wildcards.dataset, wildcards.model, s)[e] for s, e in get_plane_points(wildcards)]


def get_shift_source(wildcards):
    """CIFAR-10-C's file of this corruption (and its labels) when configured; else nothing."""
    if SHIFT["cifar10c_path"] and wildcards.dataset == "cifar10":
        root = Path(SHIFT["cifar10c_path"])
        return [str(root / f"{wildcards.corruption}.npy"), str(root / "labels.npy")]
    return []


def get_shift_sets(wildcards):
    return expand(SHIFT_SET, dataset=wildcards.dataset, corruption=SHIFT_CORRUPTIONS)


def get_shift_checkpoints(wildcards):
    """The final checkpoint, plus the late ones for subspace members."""
    paths = checkpoint_paths(wildcards.dataset, wildcards.model, wildcards.seed)
    epochs = [EPOCHS[-1]] if wildcards.member == "final" else late_epochs()
    return [paths[e] for e in epochs]


def get_shift_epochs(wildcards):
    return [EPOCHS[-1]] if wildcards.member == "final" else late_epochs()


def get_shift_subspace_settings(wildcards):
    """The subspace method's settings without the plane-only ones (the shift uses ensemble samples)."""
    if wildcards.member == "final":
        return {}
    settings = subspace_settings(wildcards.member)
    return {k: v for k, v in settings.items() if not k.startswith("plane_")}


def get_shift_samples(wildcards):
    """How many ensemble samples a subspace member averages (None: all); unused by the others."""
    return None if wildcards.member in ("final", "averaging") else SHIFT["samples"]


def get_all_shift_predictions(wildcards):
    """Member-major, then seed order."""
    return expand(SHIFT_PREDICTIONS, dataset=wildcards.dataset, model=wildcards.model, member=SHIFT_MEMBERS, seed=SEEDS)


def get_cka_trajectory_seed():
    return SEEDS[0] if CKA["trajectory_seed"] is None else CKA["trajectory_seed"]


def get_representation_epochs(wildcards):
    """Every epoch for the trajectory seed, the final one for the others."""
    return EPOCHS if int(wildcards.seed) == get_cka_trajectory_seed() else [EPOCHS[-1]]


def get_representation_checkpoints(wildcards):
    paths = checkpoint_paths(wildcards.dataset, wildcards.model, wildcards.seed)
    return [paths[e] for e in get_representation_epochs(wildcards)]


def get_all_representations(wildcards):
    return expand(REPRESENTATIONS, dataset=wildcards.dataset, model=wildcards.model, seed=SEEDS)


def get_eval_runtime(images):
    """Wall-time minutes of a TensorFlow evaluation job that runs `images(wildcards)` forward
    passes: one forward pass costs a third of a training step (EPOCH_SECONDS per 50,000 images)."""

    def runtime(wildcards, attempt):
        seconds = EPOCH_SECONDS[wildcards.model] * images(wildcards) / 150_000
        return int(10 + 3 * seconds / 60) * attempt

    return runtime


def _test_size(wildcards):
    return 10_000 if wildcards.dataset == "cifar10" else config["dataset"]["test_size"]


def interpolation_images(wildcards):
    evaluated = _test_size(wildcards) + LANDSCAPE["train_examples"]
    bn = LANDSCAPE["bn_examples"] if wildcards.model == "resnet20v1" else 0
    return len(get_interpolation_pairs()) * LANDSCAPE["interpolation"]["points"] * (evaluated + bn)


def plane_images(wildcards):
    bn = LANDSCAPE["bn_examples"] if wildcards.model == "resnet20v1" else 0
    return (LANDSCAPE["plane"]["resolution"] ** 2 + 3) * (_test_size(wildcards) + LANDSCAPE["train_examples"] + bn)


def shift_images(wildcards):
    sets = 1 + len(SHIFT_CORRUPTIONS) * len(SHIFT["severities"])
    members = 1 if wildcards.member in ("final", "averaging") else (
        SHIFT["samples"] or config["subspace"]["ensemble_samples"])
    return members * sets * _test_size(wildcards)


def get_resume_dir(wildcards):
    """Where a training job keeps its resumable state: beside, not among, its outputs."""
    return f"results/{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}/.resume"
