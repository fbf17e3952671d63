# Helpers shared by the rules: the resolved config, derived lists, path patterns, input functions.
import math
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))
from deepens.code import code_digest as _code_digest  # noqa: E402
from deepens.config import ConfigError, model_config, validate_config  # noqa: E402
from deepens.connectivity import connectivity_pairs, pair_name  # noqa: E402
from deepens.landscape import default_planes, interpolation_pairs, parse_point  # noqa: E402
from deepens.subspace import METHODS  # noqa: E402

try:
    RESOLVED = validate_config(config, Path(workflow.basedir) / "config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.update(RESOLVED)

DATASET = config["dataset"]["name"]
MODELS = config["models"]
SEEDS = config["seeds"]
EPOCHS = list(range(config["train"]["epochs"] + 1))
SCRIPTS = "../workflow_scripts"
SCRIPTS_DIR = Path(workflow.basedir) / "workflow_scripts"
MODEL_CONFIG = {m: model_config(config, m) for m in MODELS}  # per_model overrides merged in


def script_code(name):
    """Digest of a rule script's import closure within workflow_scripts/ (deepens.code), passed
    as the `code` param: editing a module reruns exactly the rules whose scripts import it."""
    return _code_digest(SCRIPTS_DIR / name)


def figure_code(name):
    """The code digest of the plot_<name> rules: plot.py and the figure's own module deepens.figures.<name>
    (which plot.py imports by name), with their import closures."""
    return _code_digest(SCRIPTS_DIR / "plot.py", modules=(f"deepens.figures.{name}",))


wildcard_constraints:
    dataset=r"digits|cifar10",
    method="|".join(METHODS),
    member="|".join(("final", "snapshot") + METHODS),
    corruption=r"[a-z_]+",
    plane=r"[a-z0-9_]+",
    ood_set=r"[a-z0-9_]+",
    model=r"[a-z0-9_]+",
    seed=r"\d+",
    pair=r"\d+-\d+",


# --- one path scheme; scripts never build paths ------------------------------------------------
RESOLVED_CONFIG = "results/{dataset}/resolved_config.yaml"
DATA = "results/{dataset}/data.npz"
RUN = "results/{dataset}/{model}/seed{seed}"
CHECKPOINT = f"{RUN}/checkpoints/epoch{{epoch}}.weights.h5"  # epoch003
HISTORY = f"{RUN}/history.parquet"
PREDICTIONS = f"{RUN}/predictions.parquet"
REPRESENTATIONS = f"{RUN}/representations.h5"
SAMPLES = f"{RUN}/subspace/{{method}}.parquet"
SHIFT_PREDICTIONS = f"{RUN}/shift/{{member}}.parquet"
SHIFT_SET = "results/{dataset}/shift/{corruption}.npz"
OOD_PREDICTIONS = f"{RUN}/ood/{{member}}.parquet"
OOD_SET = "results/{dataset}/ood/{ood_set}.npz"
CONNECTIVITY = "results/{dataset}/{model}/connectivity/{pair}"
TABLES = "results/{dataset}/{model}/tables"
FIGURES_DIR = "results/{dataset}/{model}/figures"


def get_resume_dir(wildcards):
    """Where a training job keeps its resumable state: beside, not among, its outputs."""
    return f"{RUN}/.resume".format(**wildcards)


# --- what the config asks for ------------------------------------------------------------------
SUBSPACE_METHODS = [m for m in METHODS if m in config["subspace"]["methods"]]
LANDSCAPE = config["landscape"]
LANDSCAPE_ENABLED = LANDSCAPE["enabled"]
PLANES = LANDSCAPE["plane"]["planes"] if LANDSCAPE["plane"]["planes"] is not None else default_planes(SEEDS)
CONNECTIVITY_SETTINGS = LANDSCAPE["connectivity"]
try:
    CONNECTIVITY_PAIRS = (
        connectivity_pairs(SEEDS, CONNECTIVITY_SETTINGS["pairs"], CONNECTIVITY_SETTINGS["max_pairs"])
        if LANDSCAPE_ENABLED and CONNECTIVITY_SETTINGS["enabled"]
        else []
    )
except ValueError as err:
    raise WorkflowError(str(err)) from None
CONNECTIVITY_ENABLED = bool(CONNECTIVITY_PAIRS)
SHIFT = config["shift"]
SHIFT_CORRUPTIONS = SHIFT["corruptions"]
OOD_SETS = config["ood"]["sets"]
# the members of a run evaluated under shift and on the OOD sets: its final solution, its snapshot
# ensemble and each subspace method's ensemble
MEMBERS = (["final", "snapshot"] + SUBSPACE_METHODS) if (SHIFT_CORRUPTIONS or OOD_SETS) else []
SHIFT_MEMBERS = MEMBERS if SHIFT_CORRUPTIONS else []
OOD_MEMBERS = MEMBERS if OOD_SETS else []
CKA = config["cka"]
CKA_ENABLED = CKA["enabled"]
FINDINGS_ENABLED = config["findings"]["enabled"]

TABLE_NAMES = [
    "weight_cosine",
    "prediction_disagreement",
    "checkpoint_metrics",
    "confusion",
    "hard_examples",
    "misclassified_overlap",
    "function_space_tsne",
    "ensemble_metrics",
    "ensemble_by_epoch",
    "diversity_points",
    "diversity_limits",
    "reliability",
]
SUBSPACE_TABLE_NAMES = ["subspace_tsne", "subspace_diversity_points", "section5_ensembles"]


def train_settings(model):
    return MODEL_CONFIG[model]["train"]


def get_train_settings(wildcards):
    """The model's training settings (per_model overrides merged), as train_run's arguments."""
    return {k: v for k, v in train_settings(wildcards.model).items() if k != "validation_size"}


def get_train_threads(wildcards):
    return train_settings(wildcards.model)["intra_op_threads"]


def get_intra_op_threads(wildcards):
    return train_settings(wildcards.model)["intra_op_threads"]


def get_inter_op_threads(wildcards):
    return train_settings(wildcards.model)["inter_op_threads"]


def run_checkpoints():
    """The checkpoints of one run, {dataset}/{model}/{seed} left as wildcards."""
    return [CHECKPOINT.replace("{epoch}", f"{e:03d}") for e in EPOCHS]


def checkpoint_paths(dataset, model, seed):
    return [p.format(dataset=dataset, model=model, seed=seed) for p in run_checkpoints()]


def get_run_checkpoints(wildcards):
    return checkpoint_paths(wildcards.dataset, wildcards.model, wildcards.seed)


def get_all_checkpoints(wildcards):
    return [p for s in SEEDS for p in checkpoint_paths(wildcards.dataset, wildcards.model, s)]


def get_all_predictions(wildcards):
    return expand(PREDICTIONS, dataset=wildcards.dataset, model=wildcards.model, seed=SEEDS)


def get_all_histories(wildcards):
    return expand(HISTORY, dataset=wildcards.dataset, model=wildcards.model, seed=SEEDS)


def get_dataset_source(wildcards):
    path = config["dataset"]["path"]
    return [path] if path else []


# --- where TensorFlow runs -----------------------------------------------------------------------
def get_tensorflow_device(wildcards, resources):
    """'gpu' when the job asks for a GPU (profiles/slurm: set-resources gpu: 1), else 'cpu'.

    A params function of `resources`, so Snakemake does not count it as a params change."""
    gpus = resources.get("gpu", 0) or 0
    return "gpu" if int(gpus) > 0 or "gpu" in str(resources.get("gres", "")) else "cpu"


def get_tensorflow_env(wildcards, params):
    """The conda env of a TensorFlow job (--sdm conda): TensorFlow with its CUDA wheels on a GPU."""
    return "../envs/training-gpu.yaml" if params.device == "gpu" else "../envs/training.yaml"


# --- the per-run evaluation jobs ---------------------------------------------------------------
def get_cka_trajectory_seed():
    return SEEDS[0] if CKA["trajectory_seed"] is None else CKA["trajectory_seed"]


def representation_epochs(seed):
    """Every epoch for the trajectory seed, the final one for the others."""
    return EPOCHS if int(seed) == get_cka_trajectory_seed() else [EPOCHS[-1]]


def get_representation_settings(wildcards):
    if not CKA_ENABLED:
        return None
    return {
        "epochs": representation_epochs(wildcards.seed),
        "test_points": CKA["test_points"],
        "batch_size": CKA["batch_size"],
    }


def late_epochs(model):
    """The last late_fraction of the checkpoints (never epoch 0; at least two when possible)."""
    fraction = MODEL_CONFIG[model]["subspace"]["late_fraction"]
    n = max(math.ceil(EPOCHS[-1] * fraction - 1e-9), min(2, EPOCHS[-1]))
    return EPOCHS[-n:]


def snapshot_epochs():
    """The checkpoints of the snapshot ensemble under shift: the last snapshot_max_size (epoch 0 never)."""
    return EPOCHS[-min(config["ensembles"]["snapshot_max_size"], len(EPOCHS) - 1) :]


def solution_epochs(model):
    return sorted({EPOCHS[-1], *late_epochs(model), *(snapshot_epochs() if MEMBERS else [])})


def get_solution_checkpoints(wildcards):
    paths = checkpoint_paths(wildcards.dataset, wildcards.model, wildcards.seed)
    return [paths[e] for e in solution_epochs(wildcards.model)]


def subspace_settings(model, method):
    """One method's settings for one model (only its own: the other methods' do not reach it)."""
    sub = MODEL_CONFIG[model]["subspace"]
    settings = {"ensemble_samples": sub["ensemble_samples"], "plane_samples": sub["plane_samples"]}
    settings.update(sub.get(method, {}))
    return settings


def get_solution_settings(wildcards):
    """Everything the evaluate_solution job's results depend on besides its inputs."""
    sub = MODEL_CONFIG[wildcards.model]["subspace"]
    return {
        "epochs": solution_epochs(wildcards.model),
        "final_epoch": EPOCHS[-1],
        "late_epochs": late_epochs(wildcards.model),
        "rank": sub["rank"],
        "recompute_batch_norm": sub["recompute_batch_norm"],
        "bn_examples": sub["bn_examples"],
        "methods": {m: subspace_settings(wildcards.model, m) for m in SUBSPACE_METHODS},
        "shift": (
            {
                "corruptions": SHIFT_CORRUPTIONS,
                "members": SHIFT_MEMBERS,
                "samples": SHIFT["samples"],
                "snapshot_epochs": snapshot_epochs(),
            }
            if SHIFT_MEMBERS
            else None
        ),
        "ood": (
            {
                "sets": list(OOD_SETS),
                "members": OOD_MEMBERS,
                "samples": SHIFT["samples"],
                "snapshot_epochs": snapshot_epochs(),
            }
            if OOD_MEMBERS
            else None
        ),
    }


SOLUTION_OUTPUTS = {f"samples_{m}": SAMPLES.replace("{method}", m) for m in SUBSPACE_METHODS}
SOLUTION_OUTPUTS.update({f"shift_{m}": SHIFT_PREDICTIONS.replace("{member}", m) for m in SHIFT_MEMBERS})
SOLUTION_OUTPUTS.update({f"ood_{m}": OOD_PREDICTIONS.replace("{member}", m) for m in OOD_MEMBERS})


def get_shift_sets(wildcards):
    return expand(SHIFT_SET, dataset=wildcards.dataset, corruption=SHIFT_CORRUPTIONS)


def get_ood_sets(wildcards):
    return expand(OOD_SET, dataset=wildcards.dataset, ood_set=list(OOD_SETS))


def get_ood_spec(wildcards):
    """The OOD set's config entry, with its size and seed resolved (default: the test set's size, seed 0)."""
    spec = OOD_SETS[wildcards.ood_set]
    return {**spec, "size": spec.get("size") or _test_size(wildcards), "seed": spec.get("seed", 0)}


def get_ood_source(wildcards):
    """The local file of an OOD set of kind file; else nothing."""
    spec = OOD_SETS[wildcards.ood_set]
    return [spec["path"]] if spec["kind"] == "file" else []


def get_ood_inputs(wildcards):
    """Named inputs of the OOD table: per member, its file of every seed."""
    return {
        m: expand(OOD_PREDICTIONS, dataset=wildcards.dataset, model=wildcards.model, member=m, seed=SEEDS)
        for m in OOD_MEMBERS
    }


def get_shift_source(wildcards):
    """CIFAR-10-C's file of this corruption (and its labels) when configured; else nothing."""
    if SHIFT["cifar10c_path"] and wildcards.dataset == "cifar10":
        root = Path(SHIFT["cifar10c_path"])
        return [str(root / f"{wildcards.corruption}.npy"), str(root / "labels.npy")]
    return []


def get_sample_inputs(wildcards):
    """Named inputs of the subspace tables: every run's predictions and, per method, its samples."""
    out = {"predictions": get_all_predictions(wildcards)}
    out.update(
        {
            m: expand(SAMPLES, dataset=wildcards.dataset, model=wildcards.model, method=m, seed=SEEDS)
            for m in SUBSPACE_METHODS
        }
    )
    return out


def get_reliability_inputs(wildcards):
    """Named inputs of the reliability table: every run's predictions and, per method, the
    reference seed's samples."""
    out = {"predictions": get_all_predictions(wildcards)}
    seed = get_reference_seed()
    out.update(
        {
            m: expand(SAMPLES, dataset=wildcards.dataset, model=wildcards.model, method=m, seed=seed)
            for m in SUBSPACE_METHODS
        }
    )
    return out


def get_tsne_sample_inputs(wildcards):
    """Named inputs of the subspace t-SNE: the t-SNE seeds' predictions and samples, and the path
    predictions of the connectivity pairs among those seeds (their curves join the t-SNE)."""
    out = {"predictions": get_tsne_predictions(wildcards)}
    out.update(
        {
            m: expand(SAMPLES, dataset=wildcards.dataset, model=wildcards.model, method=m, seed=get_tsne_seeds())
            for m in SUBSPACE_METHODS
        }
    )
    out["paths"] = get_connectivity_outputs(wildcards, "predictions", get_tsne_connectivity_pairs())
    return out


def get_tsne_connectivity_pairs():
    seeds = set(get_tsne_seeds())
    return [list(p) for p in CONNECTIVITY_PAIRS if set(p) <= seeds]


def get_shift_inputs(wildcards):
    """Named inputs of the shift table: per member, its file of every seed."""
    return {
        m: expand(SHIFT_PREDICTIONS, dataset=wildcards.dataset, model=wildcards.model, member=m, seed=SEEDS)
        for m in SHIFT_MEMBERS
    }


def get_all_representations(wildcards):
    return expand(REPRESENTATIONS, dataset=wildcards.dataset, model=wildcards.model, seed=SEEDS)


def get_trajectory_representations(wildcards):
    return REPRESENTATIONS.format(dataset=wildcards.dataset, model=wildcards.model, seed=get_cka_trajectory_seed())


# --- seeds and subsets the analyses single out ----------------------------------------------------
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
    if CONNECTIVITY_ENABLED:
        tables.append(f"{TABLES}/connectivity_diversity_points.parquet")
    return [t.format(**wildcards) for t in tables]


def get_strip_epochs():
    """Evenly spaced epochs for the confusion strip, always the first and the last."""
    n = min(config["figures"]["confusion_epochs"], len(EPOCHS))
    last = EPOCHS[-1]
    return sorted({round(i * last / max(1, n - 1)) for i in range(n)})


# --- the findings ------------------------------------------------------------------------------
def get_findings_inputs(wildcards):
    """Named inputs of the findings table: whatever the enabled analyses produce."""
    out = {
        "cosine": f"{TABLES}/weight_cosine.parquet".format(**wildcards),
        "predictions": get_all_predictions(wildcards),
    }
    out.update(
        {
            f"samples_{m}": expand(SAMPLES, dataset=wildcards.dataset, model=wildcards.model, method=m, seed=SEEDS)
            for m in SUBSPACE_METHODS
        }
    )
    if LANDSCAPE_ENABLED:
        out["curves"] = f"{TABLES}/interpolation.parquet".format(**wildcards)
    if CONNECTIVITY_ENABLED:
        out["connectivity"] = get_connectivity_outputs(wildcards, "predictions")
    if SHIFT_MEMBERS:
        out["shift_final"] = expand(
            SHIFT_PREDICTIONS, dataset=wildcards.dataset, model=wildcards.model, member="final", seed=SEEDS
        )
    return out


def get_findings_late_epochs(wildcards):
    return late_epochs(wildcards.model)


# --- the loss landscape ------------------------------------------------------------------------
def get_interpolation_pairs():
    return [list(p) for p in interpolation_pairs(SEEDS, EPOCHS[-1], LANDSCAPE["interpolation"]["max_pairs"])]


def get_interpolation_keys():
    pairs = get_interpolation_pairs()
    return [list(k) for k in sorted({(p[1], p[2]) for p in pairs} | {(p[3], p[4]) for p in pairs})]


def get_planes():
    """{plane: its three points}, each [seed, epoch] or None for the origin of weight space."""
    return {
        name: [None if p is None else list(p) for p in (parse_point(x, EPOCHS[-1]) for x in spec)]
        for name, spec in PLANES.items()
    }


def get_landscape_keys():
    """Every checkpoint the landscape job reads, as sorted [seed, epoch]: the interpolation lines'
    ends and the planes' points."""
    keys = {tuple(k) for k in get_interpolation_keys()}
    keys |= {tuple(p) for points in get_planes().values() for p in points if p is not None}
    return [list(k) for k in sorted(keys)]


def get_landscape_checkpoints(wildcards):
    """The checkpoints of get_landscape_keys(), in that order."""
    return [checkpoint_paths(wildcards.dataset, wildcards.model, s)[e] for s, e in get_landscape_keys()]


# --- mode connectivity ---------------------------------------------------------------------------
CONNECTIVITY_FILES = {
    "paths": f"{CONNECTIVITY}/paths.parquet",
    "predictions": f"{CONNECTIVITY}/predictions.parquet",
    "alignment": f"{CONNECTIVITY}/alignment.parquet",
    "curve": f"{CONNECTIVITY}/curve.weights.h5",
}


def get_connectivity_outputs(wildcards, kind, pairs=None):
    """One file `kind` (CONNECTIVITY_FILES) of every pair (or of `pairs`), in pair order."""
    pairs = CONNECTIVITY_PAIRS if pairs is None else pairs
    return [
        CONNECTIVITY_FILES[kind].format(dataset=wildcards.dataset, model=wildcards.model, pair=pair_name(*p))
        for p in pairs
    ]


def get_connectivity_pair(wildcards):
    a, b = (int(x) for x in wildcards.pair.split("-"))
    return [a, b]


def get_connectivity_checkpoints(wildcards):
    """The final checkpoints of the pair's two seeds (a first)."""
    return [checkpoint_paths(wildcards.dataset, wildcards.model, s)[-1] for s in get_connectivity_pair(wildcards)]


def get_curve_settings(wildcards):
    """How the pair's curve is trained: connectivity's settings and the model's training recipe."""
    train = train_settings(wildcards.model)
    rate = CONNECTIVITY_SETTINGS["curve_learning_rate"]
    return {
        "epochs": CONNECTIVITY_SETTINGS["curve_epochs"],
        "learning_rate": train["learning_rate"] if rate is None else rate,
        "lr_halving_epochs": train["lr_halving_epochs"],
        "batch_size": train["batch_size"],
        "adam_epsilon": train["adam_epsilon"],
        "augmentation": train["augmentation"],
    }


def get_alignment_settings():
    return {"seed": CONNECTIVITY_SETTINGS["alignment_seed"], "max_iter": CONNECTIVITY_SETTINGS["alignment_max_iter"]}


def get_connectivity_runtime(wildcards, attempt):
    """Wall-time minutes of one pair: curve epochs at the training's cost per epoch, and the forward
    passes of three paths (as get_eval_runtime counts them), longer on each retry."""
    per_point = _test_size(wildcards) + LANDSCAPE["train_examples"] + _bn_images(wildcards, LANDSCAPE["bn_examples"])
    images = 3 * CONNECTIVITY_SETTINGS["points"] * per_point
    seconds = epoch_seconds("connectivity", wildcards.model) * (
        DATASET_SCALE[wildcards.dataset] * (CONNECTIVITY_SETTINGS["curve_epochs"] + 2) + images / 150_000
    )
    return int(10 + 3 * seconds / 60) * attempt


# --- scheduling ------------------------------------------------------------------------------------
# The TensorFlow jobs are the long ones and gate most of the DAG, so among ready jobs Snakemake
# starts them first (longest path first: a run's training, then its solution's samples, then the
# landscape and the checkpoints' evaluation), and before them the data they need (Snakemake does
# not pass a priority on to a job's inputs); the short analysis jobs fill the gaps (priority 0).
# Measured on `make run` (2 cores): without this the shifted test sets were made between figures and
# the evaluate_solution jobs started at 45 s of 83.
PRIORITY = {
    "shift_data": 5,
    "ood_data": 5,
    "train": 4,
    "evaluate_solution": 3,
    "landscape": 2,
    "connectivity": 2,
    "evaluate_checkpoints": 1,
}


# --- cluster requests ---------------------------------------------------------------------------
# Cluster requests scale with the model and the dataset. Seconds per epoch measured on
# one CPU core (bare Keras fit, 50,000 CIFAR-10 images; digits is ~40x smaller); a GPU is
# far faster, so these are generous upper bounds for a wall-time limit.
EPOCH_SECONDS = {"small_cnn": 5, "medium_cnn": 40, "resnet20v1": 65}
# On a GPU (measured: MediumCNN 0.6 s, ResNet20v1 1.4 s per CIFAR-10 epoch on an H100, without
# the pipeline's per-epoch overheads; docs/benchmarks_gpu.md), with room for slower GPUs and
# TensorFlow's deterministic kernels.
GPU_EPOCH_SECONDS = {"small_cnn": 2, "medium_cnn": 4, "resnet20v1": 8}
DATASET_SCALE = {"digits": 0.025, "cifar10": 1.0}
MODEL_MEM_MB = {"small_cnn": 2000, "medium_cnn": 4000, "resnet20v1": 4000}


def rule_on_gpu(rule):
    """Whether the profile gives `rule` a GPU (set-resources: <rule>: gpu: N), known at parse time."""
    gpu = (workflow.resource_settings.overwrite_resources or {}).get(rule, {}).get("gpu")
    value = getattr(gpu, "value", gpu)
    return value is not None and int(value) > 0


def epoch_seconds(rule, model):
    return (GPU_EPOCH_SECONDS if rule_on_gpu(rule) else EPOCH_SECONDS)[model]


def get_train_mem_mb(wildcards, attempt):
    """Memory for training/prediction: model and dataset size; doubles on each retry."""
    data_mb = 1000 if wildcards.dataset == "cifar10" else 100
    return (MODEL_MEM_MB[wildcards.model] + data_mb) * 2 ** (attempt - 1)


def analysis_mem_mb(base_mb):
    """Memory of an analysis job: base_mb, doubled on each retry."""

    def mem_mb(wildcards, attempt):
        return base_mb * 2 ** (attempt - 1)

    return mem_mb


def get_shift_data_mem_mb(wildcards, attempt):
    return (4000 if wildcards.dataset == "cifar10" else 500) * 2 ** (attempt - 1)


def get_train_runtime(wildcards, attempt):
    """Wall-time minutes: epochs x per-epoch cost (CPU or GPU, as the profile places the job) x a
    safety factor, longer on each retry."""
    seconds = epoch_seconds("train", wildcards.model) * DATASET_SCALE[wildcards.dataset] * (len(EPOCHS) + 2)
    return int(10 + 3 * seconds / 60) * attempt


def get_eval_runtime(rule, images):
    """Wall-time minutes of the TensorFlow evaluation rule `rule`, which runs `images(wildcards)`
    forward passes: one forward pass costs a third of a training step (epoch_seconds per 50,000
    images)."""

    def runtime(wildcards, attempt):
        seconds = epoch_seconds(rule, wildcards.model) * images(wildcards) / 150_000
        return int(10 + 3 * seconds / 60) * attempt

    return runtime


def _test_size(wildcards):
    return 10_000 if wildcards.dataset == "cifar10" else config["dataset"]["test_size"]


def _val_size(wildcards):
    return config["train"]["validation_size"]


def _bn_images(wildcards, examples):
    return examples if wildcards.model == "resnet20v1" else 0


def checkpoint_images(wildcards):
    reps = len(representation_epochs(wildcards.seed)) * CKA["test_points"] if CKA_ENABLED else 0
    return len(EPOCHS) * (_test_size(wildcards) + _val_size(wildcards)) + reps


def solution_images(wildcards):
    """Forward passes of evaluate_solution: samples on val and test (with batch-norm re-estimation),
    every member on every shift set and every OOD set (at most the test set's size unless set)."""
    sub = MODEL_CONFIG[wildcards.model]["subspace"]
    per_sample = _test_size(wildcards) + _val_size(wildcards) + _bn_images(wildcards, sub["bn_examples"])
    tries = sub["random"]["accept_tries"] if sub["random"]["accept_min_val_accuracy"] is not None else 1
    samples = sum(
        (sub["ensemble_samples"] * (tries if m == "random" else 1) + sub["plane_samples"]) if m != "averaging" else 1
        for m in SUBSPACE_METHODS
    )
    sets = len(SHIFT_CORRUPTIONS) * len(SHIFT["severities"])
    shift_members = (
        1
        + len(snapshot_epochs())
        + sum(1 if m == "averaging" else (SHIFT["samples"] or sub["ensemble_samples"]) for m in SUBSPACE_METHODS)
    )
    ood = sum(spec.get("size") or _test_size(wildcards) for spec in OOD_SETS.values()) if OOD_MEMBERS else 0
    shift = sets * _test_size(wildcards) if SHIFT_MEMBERS else 0
    return samples * per_sample + shift_members * (shift + ood)


def landscape_images(wildcards):
    """Forward passes of the landscape job: every point of every interpolation line and of every
    plane's grid (with its three anchors), on the test set and the training subset (with batch-norm
    re-estimation)."""
    per_point = _test_size(wildcards) + LANDSCAPE["train_examples"] + _bn_images(wildcards, LANDSCAPE["bn_examples"])
    lines = len(get_interpolation_pairs()) * LANDSCAPE["interpolation"]["points"]
    grids = len(PLANES) * (LANDSCAPE["plane"]["resolution"] ** 2 + 3)
    return (lines + grids) * per_point


# --- SLURM groups ----------------------------------------------------------------------------------
# On a cluster the small analysis jobs of a model run together as few SLURM jobs (profiles/slurm).
# A group job asks for the SUM of its jobs' runtimes (they run one after another), so the jobs are
# packed, in dependency order (tables before the figures that read them: no group waits on a
# later one), into consecutive groups of at most the profile's `group_runtime_max` minutes
# (`resources:`, a per-submission limit; none locally: one group per model). Groups are ignored
# when Snakemake runs the jobs itself.
ANALYSIS_MINUTES = {"digits": 5, "cifar10": 30}  # generous wall minutes of one analysis job
_max = workflow.global_resources.get("group_runtime_max")
GROUP_RUNTIME_MAX = int(_max.value) if _max is not None and _max.value is not None else None


def analysis_runtime(wildcards, attempt):
    """Wall minutes of one analysis or figure job (the same on a retry: the groups stay within the
    limit; a retry is for memory, which doubles)."""
    return ANALYSIS_MINUTES[wildcards.dataset]


class GroupPacker:
    """Hands out group indices as the analysis rules are defined (rules/*.smk are included in
    dependency order: tables, then the figures that read them): consecutive rules share a group
    until it would exceed `limit` minutes (a rule bigger than the limit gets a group of its own)."""

    def __init__(self, minutes, limit):
        self.minutes, self.limit, self.index, self.load = minutes, limit, 0, 0

    def add(self, jobs=1):
        need = jobs * self.minutes
        if self.limit is not None and self.load and self.load + need > self.limit:
            self.index, self.load = self.index + 1, 0
        self.load += need
        return self.index


ANALYSIS_GROUPS = GroupPacker(ANALYSIS_MINUTES[DATASET], GROUP_RUNTIME_MAX)


def analysis_group(jobs=1):
    """The SLURM group of the analysis rule being defined, which has `jobs` jobs per model --
    analysis_{dataset}_{model}_p<k>."""
    return f"analysis_{{dataset}}_{{model}}_p{ANALYSIS_GROUPS.add(jobs)}"


def evaluation_group():
    """evaluation_{dataset}_{model}_{seed}: a run's two evaluation jobs as one GPU submission, when
    both together fit group_runtime_max for every model, also on a retry (their runtimes double);
    else no group (two submissions per run)."""
    if GROUP_RUNTIME_MAX is not None:
        for model in MODELS:
            w = SimpleNamespace(dataset=DATASET, model=model, seed=str(get_cka_trajectory_seed()))
            minutes = get_eval_runtime("evaluate_checkpoints", checkpoint_images)(w, 2)
            if SOLUTION_OUTPUTS:
                minutes += get_eval_runtime("evaluate_solution", solution_images)(w, 2)
            if minutes > GROUP_RUNTIME_MAX:
                return None
    return "evaluation_{dataset}_{model}_{seed}"


# --- the targets ----------------------------------------------------------------------------
def get_final_outputs():
    """Every table and figure of every model (figures: the registry in rules/figures.smk)."""
    tables = TABLE_NAMES + (SUBSPACE_TABLE_NAMES if SUBSPACE_METHODS else [])
    if LANDSCAPE_ENABLED:
        tables += ["interpolation", "interpolation_barriers"] + [f"plane_{p}" for p in PLANES]
    if CONNECTIVITY_ENABLED:
        tables += ["connectivity", "connectivity_barriers", "connectivity_diversity_points"]
    if SHIFT_CORRUPTIONS:
        tables.append("shift_metrics")
    if OOD_MEMBERS:
        tables += ["ood_metrics", "ood_histograms"]
    if CKA_ENABLED:
        tables += ["cka_seeds", "cka_trajectory"]
    if FINDINGS_ENABLED:
        tables.append("findings")
    figures = [stem for name, fig in FIGURES.items() if fig.enabled for stem in figure_stems(name)]
    return (
        [RESOLVED_CONFIG.format(dataset=DATASET)]
        + expand(f"{TABLES}/{{name}}.parquet", dataset=DATASET, model=MODELS, name=tables)
        + expand(f"{FIGURES_DIR}/{{name}}.{{ext}}", dataset=DATASET, model=MODELS, name=figures, ext=["png", "pdf"])
    )


def findings_tables():
    """Every model's findings table of this run (printed when the run ends)."""
    return expand(f"{TABLES}/findings.parquet", dataset=DATASET, model=MODELS) if FINDINGS_ENABLED else []


def print_resolved_config_path():
    print(f"resolved config of this run: {RESOLVED_CONFIG.format(dataset=DATASET)}", file=sys.stderr)


def print_findings_summary():
    """At the end of a run: every model's findings (the paper's claims checked), when written."""
    paths = [p for p in findings_tables() if Path(p).exists()]
    if not paths:
        return
    from deepens.findings import summary_lines
    from deepens.io import ArtifactError, read_table

    for path in paths:
        try:
            lines = summary_lines(read_table(path))
        except ArtifactError as err:
            print(f"findings: {err}", file=sys.stderr)
            continue
        print(f"\nFindings ({path}):\n" + "\n".join(lines), file=sys.stderr)
