# The figure registry: one entry per figure drives its rule (plot_<name>), its report entry
# (caption report/<caption>.rst, category) and the final targets. A figure's code is
# workflow_scripts/deepens/figures/<name>.py (draw and render), run by workflow_scripts/plot.py;
# the rule's code digest covers that module, so editing one figure reruns only that figure.
import os
from collections import namedtuple

Figure = namedtuple("Figure", "category inputs params enabled wildcard caption", defaults=(True, None, None))


def table(name):
    return f"{TABLES}/{name}.parquet"


COLORMAP = {"colormap": config["figures"]["colormap"]}
# fmt: off
FIGURES = {
    "training_curves": Figure("1. Training", {"histories": get_all_histories, "metrics": table("checkpoint_metrics")},
                              {"seeds": SEEDS}),
    "trajectory_similarity": Figure("2. Weight and function space", {"cosine": table("weight_cosine"),
                                    "disagreement": table("prediction_disagreement")},
                                    {"seed": get_trajectory_seed(), **COLORMAP}),
    "seed_similarity": Figure("2. Weight and function space", {"cosine": table("weight_cosine"),
                              "disagreement": table("prediction_disagreement")}, {"epoch": EPOCHS[-1], **COLORMAP}),
    "function_space_tsne": Figure("2. Weight and function space", {"tsne": table("function_space_tsne")}, {}),
    "confusion_final": Figure("3. Errors and hard examples", {"confusion": table("confusion"), "dataset": DATA},
                              {"epoch": EPOCHS[-1], **COLORMAP}),
    "confusion_epochs": Figure("3. Errors and hard examples", {"confusion": table("confusion"), "dataset": DATA},
                               {"seed": get_trajectory_seed(), "epochs": get_strip_epochs(), **COLORMAP}),
    "misclassified_overlap": Figure("3. Errors and hard examples", {"overlap": table("misclassified_overlap")},
                                    {"seed": get_trajectory_seed(), "epoch": EPOCHS[-1], **COLORMAP}),
    "hard_examples": Figure("3. Errors and hard examples", {"hard": table("hard_examples"), "dataset": DATA},
                            {"seeds": SEEDS, "n": config["figures"]["gallery_size"]}),
    "ensemble_size": Figure("4. Ensembles", {"ensembles": table("ensemble_metrics")}, {}),
    "ensemble_by_epoch": Figure("4. Ensembles", {"ensembles": table("ensemble_by_epoch")}, {}),
    "reliability": Figure("4. Ensembles", {"reliability": table("reliability")}, {"seeds": SEEDS}),
    "diversity_accuracy": Figure("4. Ensembles", {"points": get_diversity_point_tables,
                                 "limits": table("diversity_limits")}, {}),
    "subspace_tsne": Figure("5. Subspace sampling", {"tsne": table("subspace_tsne")}, {}, bool(SUBSPACE_METHODS)),
    "section5_ensembles": Figure("5. Subspace sampling", {"ensembles": table("section5_ensembles")}, {},
                                 bool(SUBSPACE_METHODS)),
    "interpolation": Figure("6. Loss landscape", {"curves": table("interpolation"),
                            "barriers": table("interpolation_barriers")}, {}, LANDSCAPE_ENABLED),
    "plane": Figure("6. Loss landscape", {"plane": table("plane_{plane}")}, COLORMAP, LANDSCAPE_ENABLED, "plane"),
    "connectivity": Figure("6. Loss landscape", {"points": table("connectivity"),
                           "barriers": table("connectivity_barriers")}, {}, CONNECTIVITY_ENABLED),
    "shift": Figure("7. Dataset shift", {"metrics": table("shift_metrics")}, {}, bool(SHIFT_CORRUPTIONS)),
    "ood": Figure("7. Dataset shift", {"metrics": table("ood_metrics"), "histograms": table("ood_histograms")}, {},
                  bool(OOD_MEMBERS)),
    "cka": Figure("8. Representations", {"seeds": table("cka_seeds"), "trajectory": table("cka_trajectory")},
                  COLORMAP, CKA_ENABLED),
    "findings": Figure("0. Findings", {"findings": table("findings")}, {}, FINDINGS_ENABLED),
}
# fmt: on
def figure_stems(name):
    """The output names of a figure: one per plane for the planes."""
    if FIGURES[name].wildcard == "plane":
        return [f"plane_{p}" for p in PLANES]
    return [name]


def figure_outputs(name):
    """PNG (in the HTML report, captioned by report/<caption>.rst) and PDF of one figure."""
    fig = FIGURES[name]
    stem = f"{name}_{{{fig.wildcard}}}" if fig.wildcard else name
    caption = fig.caption or name
    png = report(
        f"{FIGURES_DIR}/{stem}.png",
        caption=f"../report/{caption}.rst",
        category=fig.category,
        subcategory="{model} on {dataset}",
        labels={"figure": stem, "model": "{model}"},
    )
    return [png, f"{FIGURES_DIR}/{stem}.pdf"]


def figure_log(name, kind):
    """logs/plot_<name>/{dataset}/{model}[/{plane}].log, or the benchmark's .tsv."""
    parts = [kind, f"plot_{name}", "{dataset}", "{model}"]
    if FIGURES[name].wildcard:
        parts.append(f"{{{FIGURES[name].wildcard}}}")
    return os.path.join(*parts) + (".log" if kind == "logs" else ".tsv")


for name, fig in FIGURES.items():
    if not fig.enabled:
        continue

    rule:
        name:
            f"plot_{name}"
        input:
            **fig.inputs,
        output:
            figure_outputs(name),
        log:
            figure_log(name, "logs"),
        benchmark:
            figure_log(name, "benchmarks")
        group:
            analysis_group(len(PLANES) if fig.wildcard == "plane" else 1)
        conda:
            "../envs/analysis.yaml"
        threads: 1
        resources:
            runtime=analysis_runtime,
            mem_mb=analysis_mem_mb(2000),
        params:
            **fig.params,
            code=figure_code(name),
            figure=name,
            dpi=config["figures"]["dpi"],
        script:
            f"{SCRIPTS}/plot.py"
