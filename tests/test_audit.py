"""The audit: comparison functions on synthetic files, then `make audit`'s script on the tiny DAG.

The integration test runs the tiny DAG once (shared with test_report.py through
the session fixture `tiny_run`, on a copy), audits it (one training run re-derived: a few tens of seconds), then
tampers with a sampled table and checks that the audit fails naming the file and the cell.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deepens import io
from deepens.audit import artifacts, compare, dag, manifest, params, rederive
from deepens.provenance import sha256_file
from workflow_helpers import ROOT, write_config

AUDIT_SCRIPT = ROOT / "workflow_scripts" / "audit.py"
BASE = "results/digits/small_cnn"


# --- shared tiny run (also used by test_report.py) ------------------------------------------

def run_audit(workdir, *configs, args=()):
    cmd = [sys.executable, str(AUDIT_SCRIPT), "--configfile", *map(str, configs), *args]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


# --- comparison: h5 ----------------------------------------------------------------------------

def write_h5(path, *, provenance="{}", epoch=1, bump=None):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 1, 4)).astype(np.float32)
    bias = np.zeros(4, np.float32)
    if bump is not None:
        kernel[bump] += np.float32(1e-6)
    with h5py.File(path, "w") as f:
        f.attrs["deepens.provenance"] = provenance
        f.attrs["deepens.variables"] = json.dumps([{"path": "conv1/kernel"}])
        f.attrs["epoch"] = epoch
        g = f.create_group("layers/conv2d/vars")
        g.attrs["name"] = "conv1"
        g.create_dataset("0", data=kernel)
        g.create_dataset("1", data=bias)
        f.create_dataset("optimizer/vars/0", data=np.int64(7))
    return path


def test_h5_identical_and_provenance_ignored(tmp_path):
    a = write_h5(tmp_path / "a.weights.h5", provenance=json.dumps({"wall_seconds": 1.0}))
    b = write_h5(tmp_path / "b.weights.h5", provenance=json.dumps({"wall_seconds": 2.5}))
    assert sha256_file(a) != sha256_file(b)
    assert compare.compare_h5(a, b) is None
    assert compare.compare_files(a, b) is None


def test_h5_one_element_changed_names_dataset_and_index(tmp_path):
    a = write_h5(tmp_path / "a.weights.h5")
    b = write_h5(tmp_path / "b.weights.h5", bump=(0, 1, 0, 3))
    diff = compare.compare_files(a, b)
    assert diff.startswith("dataset layers/conv2d/vars/0 index (0, 1, 0, 3): ")
    assert "(1 of 36 elements differ)" in diff


def test_h5_attribute_and_structure_differences(tmp_path):
    a = write_h5(tmp_path / "a.weights.h5")
    b = write_h5(tmp_path / "b.weights.h5", epoch=2)
    assert compare.compare_h5(a, b) == "attribute 'epoch' of /: 1 vs 2"
    with h5py.File(b, "a") as f:
        f.attrs["epoch"] = 1
        f.create_dataset("extra", data=[1])
    assert compare.compare_h5(a, b) == "object extra: only in the re-derived file"


# --- comparison: Parquet -----------------------------------------------------------------------

def cosine_table(bump_row=None, n=36):
    cos = np.linspace(0, 1, n)
    if bump_row is not None:
        cos[bump_row] -= 0.01
    return pa.table({"seed_a": pa.array(np.zeros(n, np.int32)), "epoch_a": pa.array(np.arange(n, dtype=np.int32)),
                     "cosine": pa.array(cos)})


def test_parquet_identical_and_provenance_ignored(tmp_path):
    io.write_table(cosine_table(), tmp_path / "a.parquet", {"started_utc": "then", "wall_seconds": 1.0})
    io.write_table(cosine_table(), tmp_path / "b.parquet", {"started_utc": "now", "wall_seconds": 9.0})
    assert sha256_file(tmp_path / "a.parquet") != sha256_file(tmp_path / "b.parquet")
    assert compare.compare_files(tmp_path / "a.parquet", tmp_path / "b.parquet") is None


def test_parquet_one_value_changed_names_column_and_row(tmp_path):
    io.write_table(cosine_table(), tmp_path / "a.parquet", {})
    io.write_table(cosine_table(bump_row=17), tmp_path / "b.parquet", {})
    a = cosine_table()["cosine"][17].as_py()
    diff = compare.compare_files(tmp_path / "a.parquet", tmp_path / "b.parquet")
    assert diff == f"column 'cosine' row 17: {np.float64(a)} vs {np.float64(a - 0.01)} (1 of 36 rows differ)"


def test_parquet_schema_rows_and_metadata(tmp_path):
    t = cosine_table()
    io.write_table(t, tmp_path / "a.parquet", {})
    io.write_table(t.set_column(2, "cosine", t["cosine"].cast(pa.float32())), tmp_path / "b.parquet", {})
    assert compare.compare_parquet(tmp_path / "a.parquet", tmp_path / "b.parquet") == \
        "schema: column 'cosine' double vs float"
    io.write_table(t.slice(0, 35), tmp_path / "c.parquet", {})
    assert compare.compare_parquet(tmp_path / "a.parquet", tmp_path / "c.parquet") == "rows: 36 vs 35"
    io.write_table(t.replace_schema_metadata({"other": "x"}), tmp_path / "d.parquet", {})
    assert "metadata 'other'" in compare.compare_parquet(tmp_path / "a.parquet", tmp_path / "d.parquet")


def test_parquet_nan_compares_by_bits_and_strings_by_value(tmp_path):
    def table(x, split):
        return pa.table({"x": pa.array(x), "split": pa.array(split).dictionary_encode()})
    io.write_table(table([np.nan, 0.0], ["test", "val"]), tmp_path / "a.parquet", {})
    io.write_table(table([np.nan, 0.0], ["test", "val"]), tmp_path / "b.parquet", {"other": 1})
    assert compare.compare_parquet(tmp_path / "a.parquet", tmp_path / "b.parquet") is None
    io.write_table(table([np.nan, -0.0], ["test", "val"]), tmp_path / "c.parquet", {})
    assert compare.compare_parquet(tmp_path / "a.parquet", tmp_path / "c.parquet").startswith("column 'x' row 1: ")
    io.write_table(table([np.nan, 0.0], ["test", "test"]), tmp_path / "d.parquet", {})
    assert compare.compare_parquet(tmp_path / "a.parquet", tmp_path / "d.parquet") == \
        "column 'split' row 1: 'val' vs 'test' (1 of 2 rows differ)"


def test_history_columns_are_all_compared(tmp_path):
    """The history holds no wall-clock column any more (training's timing log does): every column
    is compared, as in any table."""
    def history(loss=0.5):
        return pa.table({"epoch": pa.array([1], pa.int32()), "loss": [loss]})
    io.write_table(history(), tmp_path / "history.parquet", {})
    (tmp_path / "new").mkdir()
    io.write_table(history(), tmp_path / "new" / "history.parquet", {})
    assert compare.compare_files(tmp_path / "history.parquet", tmp_path / "new" / "history.parquet") is None
    io.write_table(history(loss=0.25), tmp_path / "new" / "history.parquet", {})
    assert compare.compare_files(tmp_path / "history.parquet", tmp_path / "new" / "history.parquet") \
        == "column 'loss' row 0: 0.5 vs 0.25 (1 of 1 rows differ)"


# --- comparison: npz and bytes -------------------------------------------------------------------

def write_npz(path, provenance, test_size=3, bump=False):
    x = np.arange(2 * 8 * 8, dtype=np.uint8).reshape(2, 8, 8, 1)
    if bump:
        x[1, 2, 3, 0] += 1
    meta = {"source": "sklearn", "sizes": {"test": test_size}, "provenance": provenance}
    np.savez(path, x_test=x, y_test=np.array([0, 1]), class_names=np.array(["0", "1"]),
             meta=np.array(json.dumps(meta)))
    return path


def test_npz_identical_and_provenance_ignored(tmp_path):
    a = write_npz(tmp_path / "a.npz", {"wall_seconds": 1})
    b = write_npz(tmp_path / "b.npz", {"wall_seconds": 2, "host": "elsewhere"})
    assert compare.compare_files(a, b) is None
    assert artifacts.read_artifact_provenance(b) == {"wall_seconds": 2, "host": "elsewhere"}


def test_npz_array_element_and_meta_key_differences(tmp_path):
    a = write_npz(tmp_path / "a.npz", {})
    b = write_npz(tmp_path / "b.npz", {}, bump=True)
    assert compare.compare_files(a, b) == "array 'x_test' index (1, 2, 3, 0): 83 vs 84 (1 of 128 elements differ)"
    c = write_npz(tmp_path / "c.npz", {}, test_size=4)
    assert compare.compare_files(a, c) == "array 'meta' (JSON) key sizes.test: 3 vs 4"


def test_bytes_first_difference_and_sizes(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG....abc")
    (tmp_path / "b.png").write_bytes(b"\x89PNG....abc")
    assert compare.compare_files(tmp_path / "a.png", tmp_path / "b.png") is None
    (tmp_path / "b.png").write_bytes(b"\x89PNG..!.abc")
    assert compare.compare_files(tmp_path / "a.png", tmp_path / "b.png") == "byte 6: 0x2e vs 0x21 (sizes 11 vs 11)"
    (tmp_path / "b.png").write_bytes(b"\x89PNG....abcd")
    assert compare.compare_bytes(tmp_path / "a.png", tmp_path / "b.png") == \
        "size: 11 vs 12 bytes (identical up to byte 11)"


def test_arrays_compare_bitwise():
    assert compare.compare_arrays(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), "x") is None
    assert compare.compare_arrays(np.array([0.0]), np.array([-0.0]), "x") == "x index (0,): 0.0 vs -0.0 " \
                                                                            "(1 of 1 elements differ)"
    assert compare.compare_arrays(np.zeros(2, np.float32), np.zeros(2), "x") == "x dtype: float32 vs float64"


# --- params, kinds, lineage, the sample ----------------------------------------------------------

def prov(params, code="abc", wildcards=None):
    return {"config": {"rule": "r", "wildcards": wildcards or {"seed": "0"}, "params": {"code": code, **params}},
            "packages": {"numpy": "2.4.6"}, "code": {"workflow_sha256": "w1"}}


def test_compare_params_config_vs_code():
    a = prov({"train": {"epochs": 2, "dropout": 0.1}})
    assert params.compare_params(a, prov({"train": {"epochs": 2, "dropout": 0.1}})) == (None, None)
    assert params.compare_params(a, prov({"train": {"epochs": 3, "dropout": 0.1}})) == \
        ("config", "params.train.epochs: 2 vs 3")
    kind, detail = params.compare_params(a, prov({"train": {"epochs": 2, "dropout": 0.1}}, code="def"))
    assert kind == "code" and "'abc' vs 'def'" in detail
    # a config difference wins over a code difference
    assert params.compare_params(a, prov({"train": {"epochs": 2}}, code="def"))[0] == "config"
    assert params.compare_params(None, a) == (None, None)


def test_assess_reports_config_differs_even_for_identical_content(tmp_path):
    (tmp_path / "orig").mkdir(), (tmp_path / "new").mkdir()
    rel = f"{BASE}/tables/t.parquet"
    for root, p in (("orig", prov({"perplexity": 10})), ("new", prov({"perplexity": 3}))):
        (tmp_path / root / rel).parent.mkdir(parents=True)
        io.write_table(cosine_table(), tmp_path / root / rel, p)
    job = dag.Job("t", "logs/t.log", [rel])
    row = rederive.assess(rel, "table", job, "sampled", {"seconds": 1.0}, tmp_path / "orig", tmp_path / "new", "ok")
    assert row["status"] == "config differs"
    assert row["difference"] == "params.perplexity: 10 vs 3; content identical"
    io.write_table(cosine_table(bump_row=2), tmp_path / "new" / rel, prov({"perplexity": 10}, code="xyz"))
    row = rederive.assess(rel, "table", job, "sampled", {"seconds": 1.0}, tmp_path / "orig", tmp_path / "new", "ok")
    assert row["status"] == "code differs" and row["difference"].startswith("column 'cosine' row 2: ")
    io.write_table(cosine_table(), tmp_path / "new" / rel, prov({"perplexity": 10}, code="xyz"))
    row = rederive.assess(rel, "table", job, "sampled", {"seconds": 1.0}, tmp_path / "orig", tmp_path / "new", "ok")
    assert row["status"] == "identical" and "params.code" in row["notes"]
    (tmp_path / "new" / rel).unlink()
    row = rederive.assess(rel, "table", job, "sampled", {"seconds": 1.0, "error": "boom"}, tmp_path / "orig",
                       tmp_path / "new", "ok")
    assert row["status"] == "failed" and row["difference"] == "boom"


@pytest.mark.parametrize("path, kind", [
    ("results/digits/data.npz", "dataset"),
    ("results/digits/small_cnn/seed0/checkpoints/epoch003.weights.h5", "checkpoint"),
    ("results/digits/small_cnn/seed0/history.parquet", "history"),
    ("results/digits/small_cnn/seed0/predictions.parquet", "predictions"),
    ("results/digits/small_cnn/tables/weight_cosine.parquet", "table"),
    ("results/digits/small_cnn/seed1/subspace/random.parquet", "samples"),
    ("results/digits/shift/contrast.npz", "shift_set"),
    ("results/digits/small_cnn/seed1/shift/final.parquet", "shift_predictions"),
    ("results/digits/ood/uniform_noise.npz", "ood_set"),
    ("results/digits/small_cnn/seed1/ood/random.parquet", "ood_predictions"),
    ("results/digits/small_cnn/connectivity/0-1/curve.weights.h5", "connectivity"),
    ("results/digits/small_cnn/connectivity/0-1/predictions.parquet", "connectivity"),
    ("results/digits/small_cnn/connectivity/0-1/paths.parquet", "connectivity"),
    ("results/digits/small_cnn/seed0/representations.h5", "representations"),
    ("results/digits/small_cnn/figures/ensemble_size.pdf", "figure"),
    ("results/digits/small_cnn/figures/ensemble_size.png", "figure"),
    ("results/digits/notes.txt", "other"),
])
def test_artifact_kind(path, kind):
    assert artifacts.artifact_kind(path) == kind


def test_iter_artifacts_skips_hidden_and_audit_folder(tmp_path):
    for rel in ["results/a/x.parquet", "results/a/.x.parquet.tmp", "results/a/seed0/.resume/e.h5",
                "results/audit/manifest.parquet", "results/audited/y.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    listed = artifacts.iter_artifacts(tmp_path, skip=["results/audit"])
    assert listed == ["results/a/x.parquet", "results/audited/y.png"]


def test_lineage_check():
    hashes = {"results/d/data.npz": "aa"}
    assert manifest.lineage_check({"inputs_sha256": {"results/d/data.npz": "aa"}}, hashes) == "ok"
    assert manifest.lineage_check({"inputs_sha256": {"results/d/data.npz": "bb"}}, hashes) == \
        "input changed: results/d/data.npz"
    assert manifest.lineage_check({"inputs_sha256": {"results/d/other.npz": "bb"}}, hashes) == \
        "input missing: results/d/other.npz"
    assert manifest.lineage_check({"inputs_sha256": {"/data/cifar.tar.gz": "cc"}}, hashes) is None
    assert manifest.lineage_check(None, hashes) is None


def fake_summary(seeds=(0, 1, 2)):
    """A --detailed-summary table of a small DAG, as Snakemake prints it."""
    b = BASE
    rows = [("results/digits/data.npz", "prepare_dataset", "logs/prepare_dataset/digits.log", "")]
    for s in seeds:
        log = f"logs/train/digits/small_cnn/seed{s}.log"
        rows += [(f"{b}/seed{s}/checkpoints/epoch{e:03d}.weights.h5", "train", log, "results/digits/data.npz")
                 for e in range(3)]
        rows.append((f"{b}/seed{s}/history.parquet", "train", log, "results/digits/data.npz"))
        rows.append((f"{b}/seed{s}/predictions.parquet", "predict", f"logs/predict/digits/small_cnn/seed{s}.log",
                     ",".join(["results/digits/data.npz"] + [f"{b}/seed{s}/checkpoints/epoch{e:03d}.weights.h5"
                                                             for e in range(3)])))
    preds = ",".join(f"{b}/seed{s}/predictions.parquet" for s in seeds)
    for t in ("confusion", "hard_examples", "ensemble_metrics"):
        rows.append((f"{b}/tables/{t}.parquet", t, f"logs/{t}/digits/small_cnn.log", preds))
    rows.append((f"{b}/tables/diversity_points.parquet", "diversity_accuracy", "logs/div.log", preds))
    rows.append((f"{b}/tables/diversity_limits.parquet", "diversity_accuracy", "logs/div.log", preds))
    for f in ("ensemble_size", "hard_examples"):
        for ext in ("png", "pdf"):
            rows.append((f"{b}/figures/{f}.{ext}", f"plot_{f}", f"logs/plot_{f}.log", f"{b}/tables/{f}.parquet"))
    lines = ["Building DAG of jobs...", "output_file\tdate\trule\tlog-file(s)\tinput-file(s)\tshellcmd\tstatus\tplan"]
    lines += [f"{p}\tThu Nov 26 07:48:56 2026\t{r}\t{log}\t{i}\t-\tok\tno update" for p, r, log, i in rows]
    return "\n".join(lines) + "\n"


def test_detailed_summary_jobs_and_seeded_sample():
    summary = dag.parse_detailed_summary(fake_summary())
    assert summary["results/digits/data.npz"].inputs == ()
    jobs = dag.group_jobs(summary)
    train = jobs[("train", "logs/train/digits/small_cnn/seed1.log")]
    assert len(train.outputs) == 4 and train.inputs == ("results/digits/data.npz",)
    assert len(jobs[("diversity_accuracy", "logs/div.log")].outputs) == 2
    present = {p: artifacts.artifact_kind(p) for p in summary}

    sample = rederive.choose_sample(jobs, present, n=3, seed=0)
    assert sample == rederive.choose_sample(jobs, present, n=3, seed=0)  # seeded
    roles = [role for _, role in sample]
    assert roles[:3] == ["training run", "run predictions", "dataset"] and roles.count("sampled") == 3
    run_dir = sample[0][0].outputs[0].rsplit("/", 2)[0]
    assert sample[1][0].outputs == [f"{run_dir}/predictions.parquet"]
    assert all(o.split("/")[3] in ("tables", "figures") for j, r in sample if r == "sampled" for o in j.outputs)
    runs = {rederive.choose_sample(jobs, present, n=0, seed=s)[0][0].log for s in range(10)}
    assert len(runs) > 1  # the seed picks the run
    # asking for more than there is takes everything; missing outputs are not eligible
    assert len(rederive.choose_sample(jobs, present, n=99, seed=0)) == 3 + 6
    del present[f"{BASE}/figures/ensemble_size.pdf"]
    assert all(j.rule != "plot_ensemble_size" for j, _ in rederive.choose_sample(jobs, present, n=99, seed=0))
    with pytest.raises(ValueError, match="not an existing output"):
        rederive.choose_sample(jobs, present, n=0, seed=0, include=["results/x.parquet"])


# --- integration: make audit's script on the tiny DAG ------------------------------------------

TAMPERED = f"{BASE}/tables/confusion.parquet"


@pytest.fixture(scope="module")
def tiny(tiny_run, tmp_path_factory):
    """A copy of the session's tiny run: this module tampers with files."""
    workdir = tmp_path_factory.mktemp("tiny_audited")
    shutil.copytree(tiny_run[0], workdir, symlinks=True, dirs_exist_ok=True)
    return workdir, write_config(workdir)


def sha256_tree(workdir):
    out = {}
    for dirpath, dirnames, filenames in os.walk(workdir / "results"):
        rel = os.path.relpath(dirpath, workdir)
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and os.path.join(rel, d) != "results/audit"]
        for name in filenames:
            if not name.startswith("."):
                path = os.path.join(dirpath, name)
                out[os.path.join(rel, name)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def test_audit_passes_then_catches_a_tampered_table(tiny):
    workdir, config = tiny
    # the connectivity job too: alignment, curve training and paths re-derived bit for bit
    args = ["--sample", "2", "--seed", "1", "--jobs", "2", "--include", TAMPERED,
            f"{BASE}/connectivity/0-1/paths.parquet"]
    proc = run_audit(workdir, config, args=args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "AUDIT PASSED" in out

    manifest = pq.read_table(workdir / "results/audit/manifest.parquet").to_pandas()
    assert dict(zip(manifest.path, manifest.sha256)) == sha256_tree(workdir)
    assert (workdir / "results/audit/manifest.tsv").read_text().count("\n") == len(manifest) + 1
    assert (manifest.kind == manifest.path.map(artifacts.artifact_kind)).all()
    kinds = manifest.groupby("kind").size().to_dict()
    assert {k: kinds[k] for k in ("dataset", "checkpoint", "history", "predictions")} == \
        {"dataset": 1, "checkpoint": 6, "history": 2, "predictions": 2}
    assert kinds["table"] >= 11 and kinds["figure"] >= 22 and kinds["config"] == 1 and "other" not in kinds
    assert kinds["connectivity"] == 4  # the pair's paths, path predictions, alignment and curve
    figures = manifest[manifest.kind == "figure"]
    assert figures.provenance.isna().all() and figures.dag_rule.str.startswith("plot_").all()
    made = manifest[~manifest.kind.isin(["figure", "config"])]
    assert made.provenance.notna().all() and (made.lineage.isin(["ok"]) | (made.kind == "dataset")).all()
    ckpt = manifest[manifest.path == f"{BASE}/seed1/checkpoints/epoch002.weights.h5"].iloc[0]
    assert ckpt.rule == "train" and json.loads(ckpt.wildcards) == {"dataset": "digits", "model": "small_cnn",
                                                                   "seed": "1"}
    assert json.loads(ckpt.provenance)["config"]["params"]["train"]["epochs"] == 2

    report = pq.read_table(workdir / "results/audit/audit.parquet").to_pandas()
    assert (report.status == "identical").all(), report[["path", "status", "difference"]]
    run = report[report.role == "training run"]
    assert sorted(run.kind) == ["checkpoint"] * 3 + ["history"]
    seed_dir = run.path.iloc[0].split("/checkpoints/")[0]
    # the run's evaluation job writes its predictions and its CKA features: both re-derived
    assert sorted(report[report.role == "run predictions"].path) == [f"{seed_dir}/predictions.parquet",
                                                                     f"{seed_dir}/representations.h5"]
    assert report[report.role == "dataset"].path.tolist() == ["results/digits/data.npz"]
    requested = report[report.role == "requested"]
    assert sorted(requested.path) == sorted([TAMPERED] + [f"{BASE}/connectivity/0-1/{f}" for f in (
        "paths.parquet", "predictions.parquet", "alignment.parquet", "curve.weights.h5")])
    # two sampled jobs (a job may write several of the files)
    sampled = report[report.role == "sampled"]
    assert sampled.groupby(["rule", "job_seconds"]).ngroups == 2
    assert not (workdir / "results/audit/scratch").exists()  # nothing differed: scratch removed

    # tamper: one count changed, the file still a valid table with its provenance
    original = workdir / TAMPERED
    backup = workdir / "confusion.backup"
    shutil.copy2(original, backup)
    try:
        table = pq.read_table(original)
        counts = table["count"].to_numpy().copy()
        row = int(np.flatnonzero(counts)[3])
        counts[row] += 1
        table = table.set_column(table.schema.get_field_index("count"), table.schema.field("count"),
                                 pa.array(counts, table.schema.field("count").type))
        pq.write_table(table, original, compression="zstd")
        assert io.read_provenance(original)  # provenance kept

        proc = run_audit(workdir, config, args=args)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "AUDIT FAILED" in out
        expected = f"column 'count' row {row}: {counts[row]} vs {counts[row] - 1} (1 of {len(counts)} rows differ)"
        assert f"DIFFERS: {TAMPERED}: {expected}" in out
        report = pq.read_table(workdir / "results/audit/audit.parquet").to_pandas().set_index("path")
        assert report.loc[TAMPERED, "status"] == "differs" and report.loc[TAMPERED, "difference"] == expected
        others = report.drop(index=TAMPERED)
        # figures drawn from the tampered table (if sampled) rightly differ from the originals too
        downstream = others.rule.str.startswith("plot_confusion")
        assert (others[~downstream].status == "identical").all(), others[["status", "difference"]]
        # the differing job's re-derived files are kept for inspection
        assert list((workdir / "results/audit/scratch").glob(f"*-confusion/{TAMPERED}"))
    finally:
        shutil.copy2(backup, original)
        backup.unlink()
        shutil.rmtree(workdir / "results/audit", ignore_errors=True)


def test_rederivation_with_another_config_reports_config_differs(tiny, tmp_path):
    """One cheap job re-derived with a changed t-SNE perplexity: 'config differs', not a silent difference."""
    workdir, config = tiny
    runner = dag.SnakemakeRunner(ROOT / "Snakefile", [config], executable=dag.default_snakemake())
    jobs = dag.group_jobs(dag.dag_summary(runner, workdir))
    job = next(j for j in jobs.values() if j.rule == "function_space_tsne")
    other = write_config(tmp_path, {"tsne": {"perplexity": 3}}, name="other.yaml")
    other_runner = dag.SnakemakeRunner(ROOT / "Snakefile", [other], executable=dag.default_snakemake())
    result = rederive.rederive(job, workdir, tmp_path / "scratch", other_runner)
    assert result["ok"], result
    [path] = job.outputs
    row = rederive.assess(path, "table", job, "sampled", result, workdir, tmp_path / "scratch", "ok")
    assert row["status"] == "config differs"
    # (with 6 checkpoints both perplexities clip to the same value, so the content may well agree)
    assert row["difference"].startswith("params.perplexity: 10 vs 3; content")
