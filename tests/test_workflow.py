"""Integration: the real DAG on the tiny config (2 seeds x 2 epochs of SmallCNN on digits).

One run in a temporary directory feeds every test here; each reads the outputs back and
checks them against each other and against what the config asked for.
"""
import hashlib
import json
import re
import shutil
import tarfile

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
from deepens import io, metrics, weights
from deepens.data import load_dataset
from deepens.provenance import read_log_record
from workflow_helpers import ROOT, planned_jobs, snakemake, write_config

SEEDS, EPOCHS, MODEL = [0, 1], [0, 1, 2], "small_cnn"
BASE = "results/digits/small_cnn"
TABLE_RULES = ["weight_cosine", "prediction_disagreement", "checkpoint_metrics", "confusion", "hard_examples",
               "misclassified_overlap", "function_space_tsne", "diversity_accuracy", "ensemble_metrics",
               "ensemble_by_epoch", "subspace_tsne", "subspace_diversity_points", "section5_ensembles",
               "interpolation_barriers", "shift_metrics", "cka_seeds", "cka_trajectory", "findings", "reliability",
               "ood_metrics", "connectivity_metrics"]
PLANES = ["init_two_solutions", "radial"]  # the tiny config's default planes (two seeds)
FIGURES = ["training_curves", "trajectory_similarity", "seed_similarity", "confusion_final", "confusion_epochs",
           "misclassified_overlap", "hard_examples", "function_space_tsne", "ensemble_size", "ensemble_by_epoch",
           "diversity_accuracy", "subspace_tsne", "section5_ensembles", "interpolation", "shift", "cka", "findings",
           "reliability", "ood", "connectivity", *[f"plane_{p}" for p in PLANES]]
METHODS = ["random", "averaging"]  # the tiny config's subspace methods
MEMBERS = ["final", "snapshot", *METHODS]  # what the shift is evaluated for
CORRUPTIONS = 6
FINDINGS_RULES = ["findings", "plot_findings"]  # read predictions, samples, interpolation and shift
RELIABILITY = ["reliability", "plot_reliability"]  # reads the predictions and the reference seed's samples
SUBSPACE_DOWNSTREAM = ["subspace_tsne", "subspace_diversity_points", "section5_ensembles", "plot_subspace_tsne",
                       "plot_section5_ensembles", "plot_diversity_accuracy", *FINDINGS_RULES, *RELIABILITY]
PLOT_RULES = sorted({f"plot_{'plane' if f.startswith('plane_') else f}" for f in FIGURES})
ANALYSIS_RULES = TABLE_RULES + PLOT_RULES
SHIFT_DOWNSTREAM = ["shift_metrics", "plot_shift", *FINDINGS_RULES]
OOD_DOWNSTREAM = ["ood_metrics", "plot_ood"]
SOLUTION_DOWNSTREAM = SUBSPACE_DOWNSTREAM + SHIFT_DOWNSTREAM + OOD_DOWNSTREAM  # what reads evaluate_solution
OOD_SETS = ["uniform_noise", "shuffled_pixels"]  # the default OOD sets
CKA_RULES = ["cka_seeds", "cka_trajectory", "plot_cka"]
# what reads the connectivity job's files: its tables, the t-SNE and diversity plane it joins, the findings
CONNECTIVITY_TABLE = ["connectivity_metrics", "plot_connectivity", "plot_diversity_accuracy"]
CONNECTIVITY_DOWNSTREAM = [*CONNECTIVITY_TABLE, "subspace_tsne", "plot_subspace_tsne", *FINDINGS_RULES]
# a changed config rewrites the resolved config (a local job of milliseconds)
CONFIG_CHANGED = {"resolved_config": 1}


def rule_counts(rules) -> dict:
    """{rule: jobs} of the analysis rules `rules` (plot_plane runs once per plane)."""
    return {r: len(PLANES) if r == "plot_plane" else 1 for r in rules}


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run


def test_dataset_contract(run):
    ds = load_dataset(run[0] / "results/digits/data.npz")
    assert (len(ds.y_test), len(ds.y_val), len(ds.y_train)) == (300, 100, 1797 - 400)
    assert ds.x_train.dtype == np.uint8 and ds.input_shape == (8, 8, 1)
    assert ds.class_names == [str(i) for i in range(10)]


def test_checkpoints_and_history(run):
    workdir = run[0]
    for seed in SEEDS:
        for epoch in EPOCHS:
            path = workdir / f"{BASE}/seed{seed}/checkpoints/epoch{epoch:03d}.weights.h5"
            with h5py.File(path) as f:
                assert f.attrs["epoch"] == epoch
                prov = json.loads(f.attrs["deepens.provenance"])
                # the optimizer's state stays in the resume state: a published checkpoint holds the model only
                assert set(f) == {"layers", "vars"} and weights.read_manifest(path)
            assert prov["config"]["wildcards"] == {"dataset": "digits", "model": MODEL, "seed": str(seed)}
            assert prov["config"]["params"]["train"]["epochs"] == 2
            assert not {"host", "started_utc", "wall_seconds", "slurm_job_id", "platform"} & set(prov)
        history = io.read_table(workdir / f"{BASE}/seed{seed}/history.parquet").to_pandas()
        assert history.epoch.tolist() == [1, 2]
        assert list(history) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
        assert np.isfinite(history[["loss", "val_loss"]].to_numpy()).all()
        log = (workdir / f"logs/train/digits/{MODEL}/seed{seed}.log").read_text()
        assert "epoch 1/2" in log and "epoch 2/2" in log and "val_acc" in log and "ETA" in log
        # wall-clock facts are logged, never embedded: the execution record and the epoch times
        record = read_log_record(workdir / f"logs/train/digits/{MODEL}/seed{seed}.log")
        assert record["wildcards"]["seed"] == str(seed) and record["started_utc"] and "host" in record
        timing = (workdir / f"logs/train/digits/{MODEL}/seed{seed}.timing.tsv").read_text().splitlines()
        assert timing[0] == "epoch\tseconds" and [t.split("\t")[0] for t in timing[1:]] == ["1", "2"]
        assert all(float(t.split("\t")[1]) > 0 for t in timing[1:])
    # different seeds start from different initialisations
    a, b = (weights.CheckpointSet([workdir / f"{BASE}/seed{s}/checkpoints/epoch000.weights.h5"]) for s in SEEDS)
    assert not np.array_equal(a.flat(0), b.flat(0))
    a.close(), b.close()


def test_predictions(run):
    workdir = run[0]
    ds = load_dataset(workdir / "results/digits/data.npz")
    for seed in SEEDS:
        path = workdir / f"{BASE}/seed{seed}/predictions.parquet"
        table = io.read_table(path)
        assert table.num_rows == len(EPOCHS) * (300 + 100)
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
        epochs, labels, probs, logp = io.read_predictions(path, "test")
        assert epochs.tolist() == EPOCHS and probs.shape == (3, 300, 10) and probs.dtype == np.float32
        # log p_y comes from the network's log-softmax: exact, and consistent with the softmax
        assert logp.shape == (3, 300) and logp.dtype == np.float64 and (logp <= 0).all()
        np.testing.assert_allclose(np.exp(logp), np.take_along_axis(probs, labels[None, :, None], -1)[..., 0],
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(labels, ds.y_test)
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
        prov = io.read_provenance(path)
        assert prov["config"]["wildcards"]["seed"] == str(seed)
        assert {"inputs_sha256", "code", "packages"} <= set(prov)
        assert len(prov["inputs_sha256"]) == 1 + len(EPOCHS)  # dataset + checkpoints
        assert prov["code"]["digest"] == prov["config"]["params"]["code"] and "numpy" in prov["packages"]


def test_similarity_tables_agree_with_inputs(run):
    workdir = run[0]
    k = len(SEEDS) * len(EPOCHS)
    cos = io.read_table(workdir / f"{BASE}/tables/weight_cosine.parquet").to_pandas()
    dis = io.read_table(workdir / f"{BASE}/tables/prediction_disagreement.parquet").to_pandas()
    assert len(cos) == len(dis) == k * k
    for table, value, diag in ((cos, "cosine", 1.0), (dis, "disagreement", 0.0)):
        same = table[(table.seed_a == table.seed_b) & (table.epoch_a == table.epoch_b)]
        np.testing.assert_allclose(same[value], diag, atol=1e-12)
        square = table.pivot_table(index=["seed_a", "epoch_a"], columns=["seed_b", "epoch_b"], values=value)
        np.testing.assert_allclose(square.to_numpy(), square.to_numpy().T)
    # one cosine and one disagreement recomputed directly from the files
    a = weights.CheckpointSet([workdir / f"{BASE}/seed0/checkpoints/epoch002.weights.h5",
                          workdir / f"{BASE}/seed1/checkpoints/epoch001.weights.h5"])
    u, v = a.flat(0), a.flat(1)
    a.close()
    row = cos[(cos.seed_a == 0) & (cos.epoch_a == 2) & (cos.seed_b == 1) & (cos.epoch_b == 1)]
    assert row.cosine.item() == pytest.approx(u @ v / np.linalg.norm(u) / np.linalg.norm(v), rel=1e-12)
    p0 = io.read_predictions(workdir / f"{BASE}/seed0/predictions.parquet")[2][2].argmax(-1)
    p1 = io.read_predictions(workdir / f"{BASE}/seed1/predictions.parquet")[2][2].argmax(-1)
    row = dis[(dis.seed_a == 0) & (dis.epoch_a == 2) & (dis.seed_b == 1) & (dis.epoch_b == 2)]
    assert row.disagreement.item() == pytest.approx(np.mean(p0 != p1))


def test_checkpoint_metrics_match_predictions(run):
    workdir = run[0]
    table = io.read_table(workdir / f"{BASE}/tables/checkpoint_metrics.parquet").to_pandas()
    assert len(table) == len(SEEDS) * len(EPOCHS) * 2
    _, labels, probs, logp = io.read_predictions(workdir / f"{BASE}/seed1/predictions.parquet", "val")
    row = table[(table.seed == 1) & (table.split == "val") & (table.epoch == 2)].iloc[0]
    assert row.accuracy == pytest.approx(metrics.accuracy(probs[2], labels))
    assert row.nll == pytest.approx(metrics.nll(probs[2], labels, logp[2]), rel=1e-12)
    assert row.nll == pytest.approx(metrics.nll(probs[2], labels), rel=1e-5)


def test_figures_written(run):
    for name in FIGURES:
        png = (run[0] / f"{BASE}/figures/{name}.png").read_bytes()
        pdf = (run[0] / f"{BASE}/figures/{name}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        assert pdf.startswith(b"%PDF") and len(pdf) > 5_000


def test_nothing_changed_plans_no_jobs(run):
    assert planned_jobs(*run) == {}


def test_added_seed_plans_only_that_seed_and_dependents(run):
    workdir, _ = run
    config = write_config(workdir, {"seeds": [0, 1, 2]}, name="three_seeds.yaml")
    jobs, out = planned_jobs(workdir, config, with_output=True)
    # seed 2 joins the interpolation lines, the CKA across seeds and a new three-solutions plane, so
    # the model's landscape job reruns (a dry run lists every plane's figure: it cannot know that the
    # existing planes' tables come out byte-identical); the trajectory CKA (seed 0) stays
    # the connectivity pair (the first two seeds) and its tables stay
    assert jobs == {"train": 1, "evaluate_checkpoints": 1, "evaluate_solution": 1, "landscape": 1,
                    **{r: 1 for r in ANALYSIS_RULES if r not in ("cka_trajectory", "connectivity_metrics",
                                                                 "plot_connectivity")},
                    "plot_plane": len(PLANES) + 1, **CONFIG_CHANGED, "all": 1}
    assert "seed=2" in out and "seed=0" not in out and "seed=1" not in out
    assert "plane=three_solutions" in out


def test_figure_setting_plans_only_figures(run):
    workdir, _ = run
    config = write_config(workdir, {"figures": {"dpi": 90, "colormap": "magma"}}, name="figures.yaml")
    jobs = planned_jobs(workdir, config)
    assert jobs == {**rule_counts(PLOT_RULES), **CONFIG_CHANGED, "all": 1}


def test_prediction_setting_does_not_retrain(run):
    workdir, _ = run
    config = write_config(workdir, {"predict": {"batch_size": 64}}, name="predict.yaml")
    jobs = planned_jobs(workdir, config)
    # the forward-pass batch size serves both evaluation jobs, the landscape and the connectivity; the
    # weight cosine (checkpoints only) stays
    assert jobs == {"evaluate_checkpoints": 2, "evaluate_solution": 2, "landscape": 1, "connectivity": 1,
                    **rule_counts(r for r in ANALYSIS_RULES if r != "weight_cosine"),
                    **CONFIG_CHANGED, "all": 1}


def test_analysis_jobs_never_import_tensorflow(run, tmp_path):
    """Rerun every analysis and figure job with TensorFlow made unimportable."""
    workdir = tmp_path / "copy"
    shutil.copytree(run[0], workdir, symlinks=True)
    config = write_config(workdir)
    snakemake(workdir, config, "--forcerun", *ANALYSIS_RULES,
              env={"PYTHONPATH": str(ROOT / "tests" / "tf_blocker")})
    # the corrupted test sets too (their dependents are TensorFlow jobs: stop at them)
    snakemake(workdir, config, "--forcerun", "shift_data", "--until", "shift_data",
              env={"PYTHONPATH": str(ROOT / "tests" / "tf_blocker")})
    # and the blocker really blocks: a training job under it fails
    proc = snakemake(workdir, config, "--forcerun", "train", "--until", "train", check=False,
                     env={"PYTHONPATH": str(ROOT / "tests" / "tf_blocker")})
    assert proc.returncode != 0
    assert "must not import TensorFlow" in (workdir / f"logs/train/digits/{MODEL}/seed0.log").read_text()


def test_same_config_gives_bit_identical_results(run, tmp_path):
    """A second run from scratch: identical weights, predictions and tables."""
    snakemake(tmp_path, write_config(tmp_path))
    for seed in SEEDS:
        for epoch in EPOCHS:
            rel = f"{BASE}/seed{seed}/checkpoints/epoch{epoch:03d}.weights.h5"
            with h5py.File(run[0] / rel) as a, h5py.File(tmp_path / rel) as b:
                names = []
                a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                assert names
                for n in names:
                    assert a[n].dtype == b[n].dtype
                    assert np.array_equal(a[n][()], b[n][()]), f"{rel}:{n} differs"
    for rel in [f"{BASE}/seed{s}/predictions.parquet" for s in SEEDS] + \
               [f"{BASE}/tables/{t}.parquet" for t in ("weight_cosine", "prediction_disagreement",
                                                        "checkpoint_metrics", "interpolation",
                                                        "interpolation_barriers", "shift_metrics", "cka_seeds",
                                                        "cka_trajectory", *[f"plane_{p}" for p in PLANES])]:
        assert io.read_table(run[0] / rel).equals(io.read_table(tmp_path / rel)), rel


def sha256_tree(root, under="results"):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / under).rglob("*")) if p.is_file() and not p.name.startswith(".")}


def test_retraining_a_deleted_run_reproduces_its_files_and_reruns_nothing(run, tmp_path):
    """Same content, same bytes: a run retrained with identical settings writes byte-identical
    checkpoints and history, so nothing downstream of them plans to run."""
    workdir = tmp_path / "copy"
    shutil.copytree(run[0], workdir, symlinks=True)
    config = write_config(workdir)
    before = sha256_tree(workdir)
    seed_dir = workdir / f"{BASE}/seed1"
    shutil.rmtree(seed_dir / "checkpoints")
    (seed_dir / "history.parquet").unlink()
    target = f"{BASE}/seed1/history.parquet"  # Snakemake remakes a deleted intermediate when asked for it
    assert planned_jobs(workdir, config, target) == {"train": 1}
    snakemake(workdir, config, target)
    assert sha256_tree(workdir) == before
    assert planned_jobs(workdir, config) == {}


@pytest.mark.parametrize("override, changed", [
    ({"subspace": {"random": {"plane_scale": 3.0}}}, ["subspace/random.parquet"]),
    ({"subspace": {"methods": METHODS + ["diagonal"]}}, []),
], ids=["one-method-scale", "added-method"])
def test_rerun_evaluation_changes_only_what_it_must(run, tmp_path, override, changed):
    """The incrementality contract of the coarse evaluation job: a change to one method reruns the
    run's evaluate_solution (every method), which rewrites the other products byte for byte, so
    afterwards only the analyses whose inputs' contents changed are planned."""
    workdir = tmp_path / "copy"
    shutil.copytree(run[0], workdir, symlinks=True)
    config = write_config(workdir, override, name="override.yaml")
    before = sha256_tree(workdir)
    snakemake(workdir, config, "--until", "evaluate_solution")
    after = sha256_tree(workdir)
    assert sorted(p for p in before if after.get(p) != before[p]) == \
        sorted(f"{BASE}/seed{s}/{c}" for s in SEEDS for c in changed)
    new = sorted(set(after) - set(before))
    assert new == (sorted(f"{BASE}/seed{s}/{k}/diagonal.parquet" for s in SEEDS for k in ("ood", "shift", "subspace"))
                   if "methods" in override["subspace"] else [])
    jobs = planned_jobs(workdir, config)
    # what reads the changed or new files, and nothing else (shift_metrics reads only the shift
    # members, which a plane scale leaves alone)
    expected = rule_counts(SUBSPACE_DOWNSTREAM) | CONFIG_CHANGED | {"all": 1}
    if "methods" in override["subspace"]:
        expected |= rule_counts(SHIFT_DOWNSTREAM + OOD_DOWNSTREAM)
    assert jobs == expected


def test_rerun_landscape_changes_only_what_it_must(run, tmp_path):
    """One landscape job per model evaluates every interpolation line and plane; each table records
    only what it depends on, so a changed interpolation rewrites that table alone (the planes' come
    out byte-identical) and afterwards only what reads it is planned."""
    workdir = tmp_path / "copy"
    shutil.copytree(run[0], workdir, symlinks=True)
    config = write_config(workdir, {"landscape": {"interpolation": {"points": 3}}}, name="override.yaml")
    before = sha256_tree(workdir)
    snakemake(workdir, config, "--until", "landscape")
    after = sha256_tree(workdir)
    assert sorted(p for p in before if after.get(p) != before[p]) == [f"{BASE}/tables/interpolation.parquet"]
    assert planned_jobs(workdir, config) == {**rule_counts(["interpolation_barriers", "plot_interpolation",
                                                            *FINDINGS_RULES]), **CONFIG_CHANGED, "all": 1}


def test_added_ood_set_reruns_only_its_jobs(run, tmp_path):
    """A new OOD set: its data job, the runs' evaluate_solution (which rewrites every other product
    byte for byte: only the OOD files change) and then only the OOD table and figure."""
    workdir = tmp_path / "copy"
    shutil.copytree(run[0], workdir, symlinks=True)
    sets = {name: {"kind": name} for name in OOD_SETS} | {"noise2": {"kind": "uniform_noise", "seed": 2}}
    config = write_config(workdir, {"ood": {"sets": sets}}, name="override.yaml")
    jobs = planned_jobs(workdir, config)
    assert jobs == {"ood_data": 1, "evaluate_solution": 2, **CONFIG_CHANGED, "all": 1,
                    **rule_counts(SOLUTION_DOWNSTREAM)}
    before = sha256_tree(workdir)
    snakemake(workdir, config, "--until", "evaluate_solution")
    after = sha256_tree(workdir)
    assert sorted(p for p in before if after.get(p) != before[p]) == \
        sorted(f"{BASE}/seed{s}/ood/{m}.parquet" for s in SEEDS for m in ["final", "snapshot", *METHODS])
    assert sorted(set(after) - set(before)) == ["results/digits/ood/noise2.npz"]
    assert planned_jobs(workdir, config) == {**rule_counts(OOD_DOWNSTREAM), **CONFIG_CHANGED, "all": 1}
    t = io.read_table(workdir / f"{BASE}/tables/ood_metrics.parquet").to_pandas()
    assert set(t["set"]) == set(OOD_SETS)  # the table of the old sets, until ood_metrics reruns
    snakemake(workdir, config, "--until", "ood_metrics")
    t = io.read_table(workdir / f"{BASE}/tables/ood_metrics.parquet").to_pandas()
    assert set(t["set"]) == {*OOD_SETS, "noise2"}
    # even after two epochs the ensemble of both seeds tells noise from digits by its entropy (far
    # above chance, 0.5), and one network's mutual information is exactly uninformative
    both = t[(t.kind == "independent") & (t["size"] == 2) & (t["set"] == "noise2")].iloc[0]
    single = t[(t.kind == "independent") & (t["size"] == 1) & (t["set"] == "noise2")].iloc[0]
    assert both.auroc_entropy > 0.75 and single.auroc_mutual_information == 0.5


def test_rerun_connectivity_changes_only_what_it_must(run, tmp_path):
    """A changed curve retrains the pair's curve: the job rewrites the alignment byte for byte (its
    provenance names only its own settings), and afterwards only what reads the changed files runs."""
    workdir = tmp_path / "copy"
    shutil.copytree(run[0], workdir, symlinks=True)
    config = write_config(workdir, {"landscape": {"connectivity": {"curve_epochs": 1}}}, name="override.yaml")
    assert planned_jobs(workdir, config) == {"connectivity": 1, **rule_counts(CONNECTIVITY_DOWNSTREAM),
                                             **CONFIG_CHANGED, "all": 1}
    before = sha256_tree(workdir)
    snakemake(workdir, config, "--until", "connectivity")
    after = sha256_tree(workdir)
    assert sorted(p for p in before if after.get(p) != before[p]) == \
        sorted(f"{BASE}/connectivity/0-1/{f}" for f in ("curve.weights.h5", "paths.parquet", "predictions.parquet"))
    assert planned_jobs(workdir, config) == {**rule_counts(CONNECTIVITY_DOWNSTREAM), **CONFIG_CHANGED, "all": 1}


def test_cifar10_tarball_through_the_dag(tmp_path):
    """A small tarball in the official format: prepared safely, trained with augmentation, analysed."""
    from test_cifar10 import make_release

    release = make_release(tmp_path / "release")
    config = write_config(tmp_path, {"dataset": {"name": "cifar10", "path": str(release["tar"])},
                                     "train": {"epochs": 1, "validation_size": 5, "augmentation": True},
                                     # 3 test images: too few for one CKA minibatch (n >= 4)
                                     "cka": {"enabled": False}})
    snakemake(tmp_path, config)
    ds = load_dataset(tmp_path / "results/cifar10/data.npz")
    assert ds.input_shape == (32, 32, 3) and ds.class_names[0] == "airplane"
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (10, 5, 3)
    # validation = the last training images, as the authors
    np.testing.assert_array_equal(ds.y_val, np.concatenate([release["labels"][f"data_batch_{i}"] for i in (4, 5)])[-5:])
    cos = io.read_table(tmp_path / "results/cifar10/small_cnn/tables/weight_cosine.parquet")
    assert cos.num_rows == (2 * 2) ** 2
    # the tarball is an input: replacing it reruns the data preparation and all downstream
    (release["dir"] / "data_batch_5").write_bytes((release["dir"] / "data_batch_4").read_bytes())
    release["tar"].unlink()
    with tarfile.open(release["tar"], "w:gz") as tar:
        tar.add(release["dir"], arcname="cifar-10-batches-py")
    jobs = planned_jobs(tmp_path, config)
    assert jobs.get("prepare_dataset") == 1 and jobs.get("train") == 2
    snakemake(tmp_path, config, "--until", "prepare_dataset")
    np.testing.assert_array_equal(load_dataset(tmp_path / "results/cifar10/data.npz").y_val,
                                  np.concatenate([release["labels"]["data_batch_4"]] * 2)[-5:])


def test_library_edits_rerun_only_the_rules_that_use_them(run, tmp_path):
    """Editing prediction code reruns predictions and what reads them, never training; editing the
    figures' shared code reruns every figure, one figure's module only that figure."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for part in ("Snakefile", "config.yaml", "config.schema.yaml", "rules", "workflow_scripts", "profiles"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, repo / part)
    workdir, config = run

    def planned_after_editing(rel):
        path = repo / "workflow_scripts/deepens" / rel
        original = path.read_text()
        path.write_text(original + "\n# an edit\n")
        try:
            out = snakemake(workdir, config, "-n", snakefile=repo / "Snakefile").stdout
        finally:
            path.write_text(original)
        return dict(re.findall(r"^(\w+)\s+(\d+)\s*$", out.split("Job stats:")[1].split("total")[0], re.M))

    planned = planned_after_editing("nets/predict.py")
    assert planned.get("evaluate_checkpoints") == "2" and "train" not in planned and "weight_cosine" not in planned
    assert "evaluate_solution" not in planned and "landscape" not in planned
    # figures/common.py holds what every figure shares, so every figure reruns, and nothing else
    assert set(planned_after_editing("figures/common.py")) == {*PLOT_RULES, "all"}
    # one figure's module: only that figure (once per plane for the planes)
    assert planned_after_editing("figures/plane.py") == {"plot_plane": str(len(PLANES)), "all": "1"}
    assert planned_after_editing("figures/hard_examples.py") == {"plot_hard_examples": "1", "all": "1"}


# A dry run cannot know which products of a rerun evaluation job will come out byte-identical,
# so it lists everything downstream of the job; test_rerun_evaluation_changes_only_what_it_must
# checks what actually changes.
PREDICTIONS_DOWNSTREAM = [r for r in ANALYSIS_RULES if r not in ("weight_cosine", "interpolation_barriers",
                                                                  "plot_interpolation", "plot_plane",
                                                                  "shift_metrics", "plot_shift", "ood_metrics",
                                                                  "plot_ood")]
SHIFT_TABLE = ["shift_metrics", "plot_shift"]
LANDSCAPE_DOWNSTREAM = ["interpolation_barriers", "plot_interpolation", "plot_plane", *FINDINGS_RULES]


@pytest.mark.parametrize("override, rules", [
    ({"ensembles": {"max_subsets": 1}}, ["ensemble_metrics", "plot_ensemble_size", "section5_ensembles",
                                         "plot_section5_ensembles", *SHIFT_TABLE, *OOD_DOWNSTREAM]),
    ({"ensembles": {"ece_bins": 10}}, ["checkpoint_metrics", "plot_training_curves", "ensemble_metrics",
                                       "ensemble_by_epoch", "plot_ensemble_size", "plot_ensemble_by_epoch",
                                       "section5_ensembles", "plot_section5_ensembles", *SHIFT_TABLE,
                                       *RELIABILITY]),
    ({"tsne": {"perplexity": 3}}, ["function_space_tsne", "plot_function_space_tsne", "subspace_tsne",
                                   "plot_subspace_tsne"]),
    ({"diversity": {"reference_seed": 1}}, ["diversity_accuracy", "subspace_diversity_points",
                                            "plot_diversity_accuracy", *FINDINGS_RULES, *RELIABILITY,
                                            "connectivity_metrics", "plot_connectivity"]),
    ({"similarity": {"cosine_parameters": "kernels"}}, ["weight_cosine", "plot_trajectory_similarity",
                                                        "plot_seed_similarity", *FINDINGS_RULES]),
    ({"figures": {"gallery_size": 4}}, ["plot_hard_examples"]),
    ({"subspace": {"random": {"plane_scale": 3.0}}}, {"evaluate_solution": 2,
                                                      **rule_counts(SOLUTION_DOWNSTREAM)}),
    ({"subspace": {"methods": METHODS + ["diagonal"]}}, {"evaluate_solution": 2,
                                                         **rule_counts(SOLUTION_DOWNSTREAM)}),
    ({"landscape": {"plane": {"resolution": 3}}}, {"landscape": 1, **rule_counts(LANDSCAPE_DOWNSTREAM)}),
    ({"landscape": {"interpolation": {"points": 3}}}, {"landscape": 1, **rule_counts(LANDSCAPE_DOWNSTREAM)}),
    ({"shift": {"severities": [2]}}, {"shift_data": CORRUPTIONS, "evaluate_solution": 2,
                                      **rule_counts(SOLUTION_DOWNSTREAM)}),
    ({"shift": {"samples": 1}}, {"evaluate_solution": 2, **rule_counts(SOLUTION_DOWNSTREAM)}),
    ({"landscape": {"connectivity": {"points": 3}}}, {"connectivity": 1, **rule_counts(CONNECTIVITY_DOWNSTREAM)}),
    ({"landscape": {"connectivity": {"max_pairs": 0}}}, {"subspace_tsne": 1, "plot_subspace_tsne": 1,
                                                         "plot_diversity_accuracy": 1, **rule_counts(FINDINGS_RULES)}),
    ({"findings": {"curve_barrier_ratio": 0.5}}, FINDINGS_RULES),
    ({"cka": {"batch_size": 40}}, {"evaluate_checkpoints": 2, **rule_counts(PREDICTIONS_DOWNSTREAM)}),
], ids=["ensemble-subsets", "ece-bins", "tsne", "diversity-reference", "cosine-parameters", "gallery",
        "one-method-scale", "added-method", "plane-resolution", "interpolation-points", "shift-severities",
        "shift-samples", "connectivity-points", "connectivity-off", "curve-ratio", "cka-batch"])
def test_analysis_setting_reruns_only_that_analysis(run, override, rules):
    workdir, _ = run
    expected = rules if isinstance(rules, dict) else {r: 1 for r in rules}
    jobs, out = planned_jobs(workdir, write_config(workdir, override, name="override.yaml"), with_output=True)
    assert jobs == {**expected, **CONFIG_CHANGED, "all": 1}


def test_function_space_and_ensemble_tables(run):
    workdir = run[0]
    t = lambda name: io.read_table(workdir / f"{BASE}/tables/{name}.parquet").to_pandas()  # noqa: E731
    k = len(SEEDS) * len(EPOCHS)
    assert len(t("confusion")) == k * 10 * 10
    conf = t("confusion")
    assert conf.groupby(["seed", "epoch"])["count"].sum().eq(300).all()
    hard = t("hard_examples")
    assert len(hard) == 300 and hard.n_misclassified.between(0, len(SEEDS)).all()
    assert len(t("misclassified_overlap")) == k * k
    tsne = t("function_space_tsne")
    assert len(tsne) == k and set(tsne.seed) == set(SEEDS)
    ens = t("ensemble_metrics")
    assert set(ens.kind) == {"independent", "snapshot"}
    ind = ens[ens.kind == "independent"]
    assert sorted(ind["size"]) == [1, 1, 2]
    # the ensemble of both seeds equals the mean of their final softmax, recomputed here
    _, labels, p0, l0 = io.read_predictions(workdir / f"{BASE}/seed0/predictions.parquet")
    _, _, p1, l1 = io.read_predictions(workdir / f"{BASE}/seed1/predictions.parquet")
    both = ind[ind["size"] == 2].iloc[0]
    assert both.accuracy == pytest.approx(metrics.accuracy((p0[-1] + p1[-1]) / 2, labels))
    assert both.nll == pytest.approx(metrics.nll((p0[-1] + p1[-1]) / 2, labels), rel=1e-6)
    # ... and its NLL is the log-mean-exp of the members' exact log-probabilities
    assert both.nll == pytest.approx(-np.mean(np.logaddexp(l0[-1], l1[-1]) - np.log(2)), rel=1e-12)
    by_epoch = t("ensemble_by_epoch")
    assert len(by_epoch) == 2 * len(EPOCHS)
    points = t("diversity_points")
    other = points[points.kind == "independent"].iloc[0]
    assert other.disagreement == pytest.approx(np.mean(p0[-1].argmax(-1) != p1[-1].argmax(-1)))
    assert len(t("diversity_limits")) > 0


@pytest.mark.parametrize("victim, failing", [
    (f"{BASE}/seed0/checkpoints/epoch001.weights.h5", ["evaluate_checkpoints", "weight_cosine"]),
    (f"{BASE}/seed1/predictions.parquet", ["prediction_disagreement"]),
    ("results/digits/data.npz", ["train"]),
], ids=["checkpoint", "predictions", "dataset"])
def test_corrupt_file_fails_naming_it_and_leaves_other_outputs(run, tmp_path, victim, failing):
    workdir = tmp_path / "copy"
    shutil.copytree(run[0], workdir, symlinks=True)
    config = write_config(workdir)
    path = workdir / victim
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = {p: p.read_bytes() for p in (workdir / "results").rglob("*") if p.is_file() and p != path}
    # Snakemake notices the changed file by its checksum and reruns what reads it
    jobs = planned_jobs(workdir, config)
    assert all(jobs.get(rule) for rule in failing), jobs
    proc = snakemake(workdir, config, "--keep-going", check=False)
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in (workdir / "logs").rglob("*.log"))
    assert f"{victim}" in logs and ("cannot" in logs or "truncated" in logs.lower())
    # Jobs that do not read the damaged part may rerun and succeed; nothing is left half-written.
    for p, content in before.items():
        if p.exists() and p.read_bytes() != content:
            if p.suffix == ".parquet":
                io.read_table(p)
            elif p.name.endswith(".weights.h5"):
                weights.read_manifest(p)
    assert not [p for p in (workdir / "results").rglob(".*") if p.is_file()], "temporary files left behind"


def test_subspace_samples_and_section5(run):
    workdir = run[0]
    for seed in SEEDS:
        rand = io.read_samples(workdir / f"{BASE}/seed{seed}/subspace/random.parquet", "test", "ensemble")
        assert rand["probs"].shape == (3, 300, 10) and rand["method"] == "random"
        plane = io.read_samples(workdir / f"{BASE}/seed{seed}/subspace/random.parquet", "val", "plane")
        assert len(plane["sample"]) == 4
        avg = io.read_samples(workdir / f"{BASE}/seed{seed}/subspace/averaging.parquet", "test", "ensemble")
        assert avg["probs"].shape[0] == 1
    s5 = io.read_table(workdir / f"{BASE}/tables/section5_ensembles.parquet").to_pandas()
    assert {"independent", "random + ensemble", "random alone", "averaging + ensemble"} <= set(s5.kind)
    pts = io.read_table(workdir / f"{BASE}/tables/subspace_diversity_points.parquet").to_pandas()
    assert set(pts.kind) <= set(METHODS) and (pts.seed == SEEDS[0]).all()
