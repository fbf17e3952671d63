"""One script for every figure rule: the rule's name picks a function that reads its
inputs and returns a matplotlib figure, saved as PNG and PDF (the rule's outputs)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _job  # noqa: E402
from deepens import plots  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.io import read_table  # noqa: E402


def frame(path):
    return read_table(path).to_pandas()


def training_curves(i, p, w):
    histories = {s: frame(h) for s, h in zip(p.seeds, i.histories)}
    return plots.training_curves(histories, frame(i.metrics), w.model, w.dataset)


def trajectory_similarity(i, p, w):
    return plots.trajectory_similarity(frame(i.cosine), frame(i.disagreement), p.seed, w.model, w.dataset, p.colormap)


def seed_similarity(i, p, w):
    return plots.seed_similarity(frame(i.cosine), frame(i.disagreement), p.epoch, w.model, w.dataset, p.colormap)


def confusion_final(i, p, w):
    from deepens import plots_errors
    names = load_dataset(i.dataset).class_names
    return plots_errors.confusion_final(frame(i.confusion), p.epoch, names, w.model, w.dataset, p.colormap)


def confusion_epochs(i, p, w):
    from deepens import plots_errors
    names = load_dataset(i.dataset).class_names
    return plots_errors.confusion_epochs(frame(i.confusion), p.seed, p.epochs, names, w.model, w.dataset, p.colormap)


def misclassified_overlap(i, p, w):
    from deepens import plots_errors
    return plots_errors.misclassified_overlap(frame(i.overlap), p.seed, p.epoch, w.model, w.dataset, p.colormap)


def hard_examples(i, p, w):
    from deepens import plots_errors
    ds = load_dataset(i.dataset)
    return plots_errors.hard_examples_gallery(frame(i.hard), ds.x_test, ds.class_names, p.seeds, p.n,
                                              w.model, w.dataset)


def function_space_tsne(i, p, w):
    from deepens import plots_function_space
    return plots_function_space.tsne_trajectories(frame(i.tsne), w.model, w.dataset)


def diversity_accuracy(i, p, w):
    from deepens import plots_function_space
    return plots_function_space.diversity_accuracy([frame(t) for t in i.points], frame(i.limits), w.model, w.dataset)


def ensemble_size(i, p, w):
    from deepens import plots_ensembles
    return plots_ensembles.ensemble_size(frame(i.ensembles), w.model, w.dataset)


def ensemble_by_epoch(i, p, w):
    from deepens import plots_ensembles
    return plots_ensembles.ensemble_by_epoch(frame(i.ensembles), w.model, w.dataset)


def subspace_tsne(i, p, w):
    from deepens import plots_subspace
    return plots_subspace.subspace_tsne(frame(i.tsne), w.model, w.dataset)


def section5_ensembles(i, p, w):
    from deepens import plots_subspace
    return plots_subspace.section5_ensembles(frame(i.ensembles), w.model, w.dataset)


def interpolation(i, p, w):
    from deepens import plots_landscape
    return plots_landscape.interpolation(frame(i.curves), frame(i.barriers), w.model, w.dataset)


def plane(i, p, w):
    from deepens import plots_landscape
    return plots_landscape.plane(frame(i.plane), w.plane, w.model, w.dataset, p.colormap)


def shift(i, p, w):
    from deepens import plots_landscape
    return plots_landscape.shift(frame(i.metrics), w.model, w.dataset)


def cka(i, p, w):
    from deepens import plots_landscape
    return plots_landscape.cka(frame(i.seeds), frame(i.trajectory), w.model, w.dataset, p.colormap)


def findings(i, p, w):
    from deepens import plots_findings
    return plots_findings.findings(frame(i.findings), w.model, w.dataset)


_job.start(snakemake, inputs=[])  # noqa: F821
figure = globals()[snakemake.rule.removeprefix("plot_")](snakemake.input, snakemake.params, snakemake.wildcards)  # noqa: F821
plots.save_figure(figure, snakemake.output, snakemake.params.dpi)  # noqa: F821
