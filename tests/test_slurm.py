"""SLURM: the cluster profiles, and a real end-to-end run on a local single-node cluster.

Static checks (always run, no cluster): profiles/slurm and its CI overlay
profiles/slurm-local-ci parse, the overlay changes only site values, every rule of the
workflow is either a GPU (TensorFlow) job or in the per-model analysis group, the memory
ceiling fits the largest training request after a retry, and a dry run with the real
profile plans one grouped SLURM job per model.

End to end (only when CI=true or DEEPENS_SLURM_TEST=1, as root on a Debian machine): a
module fixture runs tools/local-slurm/start.sh (apt-get installs slurm, munge, mariadb;
starts the daemons) and ALWAYS runs tools/local-slurm/stop.sh --purge afterwards, whatever
happened. Then the tiny DAG runs through the slurm executor with
`--profile profiles/slurm --profile profiles/slurm-local-ci`, and sacct, the provenance of
the outputs and a deliberately failing job are checked. A run is watched with squeue: a
job pending for a reason that will never clear (e.g. ReqNodeNotAvail from a GPU request on
the GPU-less node) fails the test within about a minute instead of hanging.

    DEEPENS_SLURM_TEST=1 .venv/bin/python -m pytest -q -s tests/test_slurm.py
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import h5py
import pytest
import yaml
from deepens import io
from deepens.provenance import read_log_record
from workflow_helpers import ROOT, SNAKEMAKE, planned_jobs, write_config

BASE_PROFILE = ROOT / "profiles" / "slurm"
CI_PROFILE = ROOT / "profiles" / "slurm-local-ci"
PROFILE_ARGS = ["--profile", str(BASE_PROFILE), "--profile", str(CI_PROFILE)]
START = ROOT / "tools" / "local-slurm" / "start.sh"
STOP = ROOT / "tools" / "local-slurm" / "stop.sh"
DAEMON_PIDFILES = {"slurmctld": "/run/slurmctld.pid", "slurmd": "/run/slurmd.pid",
                   "slurmdbd": "/run/slurmdbd.pid", "munged": "/run/munge/munged.pid",
                   "mariadbd": "/run/mysqld/mysqld.pid"}
# Rules that are neither GPU jobs nor analysis: one job per dataset upstream of everything
# (a localrule: it runs on the submit host, which has the network and the data), and the
# target rule (a local no-op). Neither is ever submitted.
LOCAL_RULES = {"prepare_dataset", "shift_data", "ood_data", "resolved_config"}  # data made where Snakemake runs
TARGET_RULES = {"all"}
# Values the CI overlay may change (site values); everything else must equal profiles/slurm.
SITE_SET_RESOURCES = {"gpu", "slurm_partition"}
SITE_DEFAULT_RESOURCES = {"slurm_account", "slurm_partition", "mem_mb", "runtime"}
SITE_RESOURCES = {"mem_mb", "group_runtime_max"}
OVERLAY_KEYS = {"jobs", "latency-wait", "default-resources", "resources", "set-resources"}
# squeue reasons that never clear on their own: fail after HOPELESS_AFTER s
HOPELESS_AFTER, BUSY_AFTER = 60, 180
WAITING_REASONS = {"None", "Priority", "Dependency", "BeginTime", "Resources"}
TIMINGS: dict[str, float] = {}


def load(profile: Path) -> dict:
    return yaml.safe_load((profile / "config.yaml").read_text())


def workflow_rules() -> dict[str, str]:
    """{rule name: its source text} of every rule of the workflow (snakemake --list-rules); rules
    made in a loop (the figure registry of rules/figures.smk) have no source text of their own."""
    sources = {}
    for path in [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]:
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^[ \t]*rule (\w+):", text, re.M)]
        for i, (pos, name) in enumerate(starts):
            sources[name] = text[pos:starts[i + 1][0] if i + 1 < len(starts) else len(text)]
    listed = subprocess.run([str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--list-rules"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return {name: sources.get(name, "") for name in listed}


def gpu_rules() -> set[str]:
    """Rules that run TensorFlow (the training environment): they are the GPU jobs."""
    return {name for name, src in workflow_rules().items() if "get_tensorflow_env" in src}


def declared_local_rules() -> set[str]:
    """The rules the workflow declares `localrules:` (they never reach SLURM)."""
    names = set()
    for path in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?[ \t]*\n)+)", path.read_text(), re.M):
            names |= set(re.findall(r"\w+", block))
    return names


def test_local_rules_are_the_data_preparation():
    assert declared_local_rules() == LOCAL_RULES


def analysis_rules() -> set[str]:
    return set(workflow_rules()) - gpu_rules() - LOCAL_RULES - TARGET_RULES


# ---------------------------------------------------------------- static checks ----

def test_profiles_parse_and_base_has_the_workflow_policy():
    base = load(BASE_PROFILE)
    assert base["executor"] == "slurm"
    assert base["retries"] == 1 and base["rerun-incomplete"] is True and base["keep-going"] is True
    assert base["printshellcmds"] is True and base["latency-wait"] >= 30 and base["jobs"] >= 1
    assert "cores" not in base, "--cores caps every rule's threads (and cpus_per_task) on a cluster"
    assert base["set-resource-scopes"] == {"group_slot": "local"}
    assert base["resources"]["group_slot"] == 1 and base["default-resources"]["group_slot"] == 1
    for rule, res in base["set-resources"].items():
        assert res["gpu"] == 1 and res["cpus_per_task"] == "threads", rule
        assert "mem_mb" not in res and "runtime" not in res, \
            f"{rule}: memory and runtime come from the rule's functions in rules/common.smk"
    # every site line says what to change
    for line in (BASE_PROFILE / "config.yaml").read_text().splitlines():
        if re.match(r"\s*(slurm_account|slurm_partition|jobs):", line):
            assert "# SITE" in line, f"site setting without a '# SITE: ...' comment: {line!r}"


def test_ci_overlay_changes_only_site_values():
    base, ci = load(BASE_PROFILE), load(CI_PROFILE)
    extra = set(ci) - OVERLAY_KEYS - {k for k in ci if k.startswith("slurm-")}
    assert not extra, f"the CI overlay must not replace workflow policy keys: {sorted(extra)}"
    assert ci["slurm-init-seconds-before-status-checks"] <= 5
    # set-resources: the same rules and keys; only the GPU count and the partition differ
    assert set(ci["set-resources"]) == set(base["set-resources"])
    for rule, res in base["set-resources"].items():
        assert set(ci["set-resources"][rule]) == set(res), rule
        for key, value in res.items():
            if key not in SITE_SET_RESOURCES:
                assert ci["set-resources"][rule][key] == value, (rule, key)
        assert ci["set-resources"][rule]["gpu"] == 0, "the local test node has no GPUs"
    for section, site in (("default-resources", SITE_DEFAULT_RESOURCES), ("resources", SITE_RESOURCES)):
        assert set(ci[section]) == set(base[section]), section
        for key, value in base[section].items():
            if key not in site:
                assert ci[section][key] == value, (section, key)


def test_every_rule_is_a_gpu_job_or_in_its_models_analysis_groups():
    base = load(BASE_PROFILE)
    assert set(base["set-resources"]) == gpu_rules(), \
        "profiles/slurm set-resources must list exactly the TensorFlow rules (conda: get_tensorflow_env)"
    # the analysis rules carry their group in the workflow (packed under group_runtime_max); a
    # profile `groups:` entry would override it
    assert "groups" not in base
    rules = workflow_rules()
    figures = (ROOT / "rules" / "figures.smk").read_text()
    for rule in analysis_rules():
        source = rules[rule] or (figures if rule.startswith("plot_") else "")
        assert "analysis_group(" in source, f"rule {rule} has no `group: analysis_group()`"
        assert "runtime=analysis_runtime" in source, f"rule {rule} has no `runtime=analysis_runtime`"
    for rule in ("evaluate_checkpoints", "evaluate_solution"):
        assert "evaluation_group()" in rules[rule], rule
    components = base["group-components"]
    assert components["evaluation_{dataset}_{model}_{seed}"] == 2
    assert all(components[f"analysis_{{dataset}}_{{model}}_p{k}"] >= 20 for k in range(10))
    assert base["resources"]["group_runtime_max"] > 0


def test_memory_ceiling_fits_the_largest_training_request_after_retries():
    """Snakemake caps every job's mem_mb at `resources: mem_mb`: it must not undo the retry scaling."""
    # common.smk is Snakemake, not Python: take just the top-level statements we need
    chunks, current = [], []
    for line in (ROOT / "rules" / "common.smk").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#") and not line.startswith(")") \
                and not line.startswith("}") and not line.startswith("]"):
            current = [line]
            chunks.append(current)
        elif current:
            current.append(line)
    keep = [c for c in chunks if re.match(r"(MODEL_MEM_MB\s*=|def get_train_mem_mb\()", c[0])]
    assert len(keep) == 2, "rules/common.smk: MODEL_MEM_MB or get_train_mem_mb not found"
    namespace = {}
    exec(compile("\n".join("\n".join(c) for c in keep), "rules/common.smk", "exec"), namespace)
    base, ci = load(BASE_PROFILE), load(CI_PROFILE)
    attempts = 1 + base["retries"]
    largest = max(namespace["get_train_mem_mb"](SimpleNamespace(dataset=d, model=m), attempts)
                  for d in ("digits", "cifar10") for m in namespace["MODEL_MEM_MB"])
    assert base["resources"]["mem_mb"] >= largest
    tiny = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
    assert ci["resources"]["mem_mb"] >= max(
        namespace["get_train_mem_mb"](SimpleNamespace(dataset="digits", model=m), attempts) for m in tiny["models"])


def planned_groups(dry_run_output: str) -> dict[str, list[int]]:
    """{group job: the runtimes (minutes) of its jobs} of a dry run's group jobs."""
    groups = {}
    for part in re.split(r"(?=\[[^\]]*\] Group job )", dry_run_output)[1:]:
        name = re.match(r"\[[^\]]*\] Group job (\S+) ", part).group(1)
        # the group's jobs are listed indented (their resources at 8 spaces); jobs outside it follow at 4
        groups[name] = [int(m) for m in re.findall(r"^ {8}resources: [^\n]*\bruntime=(\d+)", part, re.M)]
    return groups


def test_dry_run_with_the_real_profile_plans_one_analysis_job_per_model(tmp_path):
    """With the real profile's limit (720 minutes) the digits analyses of a model fit one group;
    each run's two evaluation jobs are one GPU submission."""
    config = write_config(tmp_path, {"models": ["small_cnn", "medium_cnn"], "train": {"intra_op_threads": 2}})
    jobs, out = planned_jobs(tmp_path, config, "--profile", str(BASE_PROFILE), with_output=True)
    assert jobs["train"] == 4
    groups = planned_groups(out)
    assert sorted(groups) == ["analysis_digits_medium_cnn_p0", "analysis_digits_small_cnn_p0"] + sorted(
        f"evaluation_digits_{m}_{s}" for m in ("medium_cnn", "small_cnn") for s in (0, 1)), sorted(groups)
    assert all(len(groups[f"evaluation_digits_{m}_{s}"]) == 2 for m in ("medium_cnn", "small_cnn") for s in (0, 1))
    assert all(sum(runtimes) <= load(BASE_PROFILE)["resources"]["group_runtime_max"] for runtimes in groups.values())


# ------------------------------------------------------------------- end to end ----

def e2e_skip_reason() -> str | None:
    if os.environ.get("CI", "").lower() != "true" and os.environ.get("DEEPENS_SLURM_TEST") != "1":
        return ("SLURM end-to-end test skipped: it runs only in CI (CI=true) or with DEEPENS_SLURM_TEST=1, "
                "because it apt-get installs slurm/munge/mariadb and starts daemons as root")
    if os.environ.get("DEEPENS_SLURM_TEST") == "0":
        return "SLURM end-to-end test skipped: DEEPENS_SLURM_TEST=0"
    if os.geteuid() != 0:
        return "SLURM end-to-end test skipped: it must run as root (it installs packages and starts daemons)"
    if not shutil.which("apt-get"):
        return "SLURM end-to-end test skipped: it needs a Debian/Ubuntu machine with apt-get"
    conf = Path("/etc/slurm/slurm.conf")
    first = conf.read_text().splitlines()[:1] if conf.exists() else []
    if first and not re.search(r"generated by (deepens tools/local-slurm/start.sh|start-local-slurm.sh)", first[0]):
        return "SLURM end-to-end test skipped: /etc/slurm/slurm.conf belongs to a real cluster here"
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def daemon_pids() -> dict[str, int]:
    pids = {}
    for name, pidfile in DAEMON_PIDFILES.items():
        try:
            pids[name] = int(Path(pidfile).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return pids


@pytest.fixture(scope="module")
def cluster():
    reason = e2e_skip_reason()
    if reason:
        print(f"\n[test_slurm] {reason}", file=sys.stderr)
        pytest.skip(reason)
    started = time.monotonic()
    pids = {}
    try:
        try:
            proc = subprocess.run([str(START)], capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired as err:
            pytest.fail(f"tools/local-slurm/start.sh took over 300 s:\n{err.stderr}")
        pids = daemon_pids()
        if proc.returncode != 0:
            pytest.fail(f"tools/local-slurm/start.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        TIMINGS["start.sh"] = time.monotonic() - started
        yield pids
    finally:
        t0 = time.monotonic()
        stop = subprocess.run([str(STOP), "--purge"], capture_output=True, text=True, timeout=180)
        TIMINGS["stop.sh"] = time.monotonic() - t0
        TIMINGS["total (start to stop)"] = time.monotonic() - started
        print("\n[test_slurm] timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items()),
              file=sys.stderr)
        survivors = {name: pid for name, pid in {**pids, **daemon_pids()}.items() if pid_alive(pid)}
        assert stop.returncode == 0 and not survivors, \
            f"daemons left running: {survivors}\n{stop.stdout}\n{stop.stderr}"


def sacct() -> dict[str, dict]:
    """{job id: {name, state, comment, ...}} of every job the accounting DB knows."""
    out = subprocess.run(
        ["sacct", "-X", "--parsable2", "--noheader", "--starttime", "2000-01-01",
         "--format=JobIDRaw,JobName,State,Comment,ReqCPUS,ReqMem,Timelimit"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    jobs = {}
    for line in out.splitlines():
        jid, name, state, comment, cpus, mem, limit = line.split("|")
        jobs[jid] = dict(name=name, state=state.split()[0], comment=comment, cpus=cpus, mem=mem, limit=limit)
    return jobs


def squeue() -> list[tuple[str, str, str]]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %T %r"], capture_output=True, text=True, timeout=30).stdout
    return [tuple(line.split(None, 2)) for line in out.splitlines() if len(line.split(None, 2)) == 3]


def stop_process_group(proc: subprocess.Popen):
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_workflow(workdir: Path, config: Path, *args, label: str, timeout=900):
    """snakemake through the slurm executor with both profiles, watched with squeue.

    Returns (returncode, output, {job id: sacct record} of the jobs this run submitted).
    Fails at once if a job pends for a reason that never clears, or on timeout.
    """
    before = set(sacct())
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), "--cores", "2", *PROFILE_ARGS, *args]
    log = workdir / f"snakemake-{label.replace(' ', '-')}.log"
    t0 = time.monotonic()
    pending_since: dict[str, float] = {}
    problem = None
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=fh, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        while proc.poll() is None:
            time.sleep(2)
            now = time.monotonic()
            queue = squeue()
            for jid, state, reason in queue:
                if state != "PENDING":
                    pending_since.pop(jid, None)
                    continue
                waited = now - pending_since.setdefault(jid, now)
                limit = BUSY_AFTER if reason in WAITING_REASONS else HOPELESS_AFTER
                if waited > limit:
                    problem = f"SLURM job {jid} pending for {waited:.0f} s, reason {reason}"
            if now - t0 > timeout:
                problem = f"snakemake still running after {timeout} s"
            if problem:
                stop_process_group(proc)
                ours = [jid for jid, _, _ in queue]
                if ours:
                    subprocess.run(["scancel", *ours], timeout=30)
                pytest.fail(f"{label}: {problem}\nsqueue:\n" + "\n".join(" ".join(q) for q in queue)
                            + f"\n--- snakemake output (tail):\n{log.read_text()[-4000:]}")
    TIMINGS[label] = time.monotonic() - t0
    # the plugin comments every submission rule_<rule or group>...; other jobs (start.sh's
    # `srun hostname`, whose record may reach the DB late) are not this run's
    jobs = {jid: rec for jid, rec in sacct().items() if jid not in before and rec["comment"].startswith("rule_")}
    return proc.returncode, log.read_text(), jobs


def minutes(limit: str) -> int:
    """sacct's Timelimit ([D-]HH:MM:SS) in minutes."""
    days, _, hms = limit.rpartition("-")
    h, m, sec = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (sec > 0)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def job_of(jobs: dict, comment_prefix: str) -> str:
    hits = [jid for jid, rec in jobs.items() if rec["comment"].startswith(comment_prefix)]
    assert len(hits) == 1, (comment_prefix, jobs)
    return hits[0]


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm")
    # no subspace sampling, landscape, shift or CKA: their TensorFlow jobs get the same
    # set-resources as train/evaluate_checkpoints (checked statically above) and would add minutes
    # (the weight average only: the run's evaluation group then holds both evaluation jobs); the
    # default OOD sets stay (local data jobs, members predicted in evaluate_solution, a table and a
    # figure in the analysis groups)
    config = write_config(workdir, {"subspace": {"methods": ["averaging"]}, "landscape": {"enabled": False},
                                    "shift": {"corruptions": []}, "cka": {"enabled": False}})
    t0 = time.monotonic()
    planned, dry = planned_jobs(workdir, config, *PROFILE_ARGS, with_output=True)
    TIMINGS["dry run"] = time.monotonic() - t0
    rc, out, jobs = run_workflow(workdir, config, label="workflow")
    assert rc == 0, f"snakemake failed ({rc}):\n{out[-6000:]}"
    return SimpleNamespace(workdir=workdir, config=config, planned=planned, groups=planned_groups(dry), jobs=jobs,
                           out=out, tiny=yaml.safe_load(config.read_text()))


def test_every_job_went_through_sbatch(slurm_run):
    jobs, planned, groups = slurm_run.jobs, slurm_run.planned, slurm_run.groups
    cap = load(CI_PROFILE)["resources"]["group_runtime_max"]
    assert jobs, "no SLURM job was recorded by sacct"
    assert {rec["name"] for rec in jobs.values()} == {next(iter(jobs.values()))["name"]}, \
        "one snakemake run = one run uuid as the SLURM job name"
    assert all(rec["state"] == "COMPLETED" for rec in jobs.values()), jobs
    local = TARGET_RULES | LOCAL_RULES
    in_groups = sum(len(runtimes) for runtimes in groups.values())
    single = {rule: n for rule, n in planned.items() if rule not in local and rule != "train"}
    assert sum(single.values()) == in_groups, (single, groups)   # every non-training job is in a group
    assert len(jobs) == planned["train"] + len(groups), (planned, groups, jobs)
    seeds, models = slurm_run.tiny["seeds"], slurm_run.tiny["models"]
    assert sorted(g for g in groups if g.startswith("evaluation_")) == \
        sorted(f"evaluation_digits_{m}_{s}" for m in models for s in seeds)
    analysis = [g for g in groups if g.startswith("analysis_")]
    assert len(analysis) >= 2 * len(models), f"the CI cap of {cap} min should split each model's analyses"
    for name, runtimes in groups.items():
        rec = jobs[job_of(jobs, f"rule_{name}")]
        # sized for running its rules one after another (group_slot): the sum of their runtimes,
        # never more than the partition's cap
        assert minutes(rec["limit"]) == sum(runtimes) <= cap, (name, rec, runtimes)
        if name.startswith("analysis_"):
            assert rec["cpus"] == "1", rec
    for seed in seeds:
        rec = jobs[job_of(jobs, f"rule_train_wildcards_digits_small_cnn_{seed}")]
        assert rec["cpus"] == str(slurm_run.tiny.get("train", {}).get("intra_op_threads", 1)), rec


def test_job_logs_record_the_slurm_job_ids(slurm_run):
    """Each job's execution record (its log; never the artifact's bytes) names its SLURM job."""
    workdir, jobs = slurm_run.workdir, slurm_run.jobs
    logs = workdir / "logs"
    for seed in slurm_run.tiny["seeds"]:
        train = job_of(jobs, f"rule_train_wildcards_digits_small_cnn_{seed}")
        evaluate = job_of(jobs, f"rule_evaluation_digits_small_cnn_{seed}")
        assert read_log_record(logs / f"train/digits/small_cnn/seed{seed}.log")["slurm_job_id"] == train
        assert read_log_record(logs / f"evaluate_checkpoints/digits/small_cnn/seed{seed}.log")["slurm_job_id"] \
            == evaluate
        with h5py.File(workdir / f"results/digits/small_cnn/seed{seed}/checkpoints/epoch001.weights.h5") as f:
            assert "slurm_job_id" not in json.loads(f.attrs["deepens.provenance"])
    analysis = {job_of(jobs, f"rule_{g}") for g in slurm_run.groups if g.startswith("analysis_")}
    table_logs = sorted(p for p in logs.glob("*/digits/small_cnn.log")
                        if (workdir / "results/digits/small_cnn/tables" / f"{p.parent.parent.name}.parquet").exists())
    assert len(table_logs) >= 8
    ids = {p.parent.parent.name: read_log_record(p)["slurm_job_id"] for p in table_logs}
    assert set(ids.values()) <= analysis and len(set(ids.values())) >= 2, ids   # tables from the grouped jobs


def planned_outputs(dry_run_output: str) -> dict[str, list[str]]:
    """{rule: its output paths} of the jobs a dry run lists."""
    outputs: dict[str, list[str]] = {}
    pattern = r"^\s*(?:local)?rule (\w+):\n(?:\s+input: [^\n]*\n)?\s+output: ([^\n]*)"
    for m in re.finditer(pattern, dry_run_output, re.M):
        outputs.setdefault(m.group(1), []).extend(p.strip() for p in m.group(2).split(","))
    return outputs


def test_failing_job_is_reported_and_recovers(slurm_run):
    workdir, config = slurm_run.workdir, slurm_run.config
    base = workdir / "results/digits/small_cnn"
    corrupt = base / "seed0/predictions.parquet"
    metrics = base / "tables/checkpoint_metrics.parquet"
    # --rerun-triggers mtime: only the forced job and what depends on it reruns, even if code
    # or params changed since the first run (e.g. while editing the workflow)
    args = ["--forcerun", "checkpoint_metrics", "--rerun-triggers", "mtime"]
    planned, dry = planned_jobs(workdir, config, *PROFILE_ARGS, *args, with_output=True)
    assert "checkpoint_metrics" in planned and set(planned) - TARGET_RULES <= analysis_rules(), planned
    forced = {workdir / p for rule, paths in planned_outputs(dry).items() if rule not in TARGET_RULES for p in paths}
    assert metrics in forced, forced
    others = {p: sha256(p) for p in sorted((workdir / "results").rglob("*"))
              if p.is_file() and p not in forced and p != corrupt}
    original_metrics = io.read_table(metrics).to_pandas()
    backup = workdir / "predictions.seed0.backup"
    shutil.copy2(corrupt, backup)
    st = corrupt.stat()
    with open(corrupt, "r+b") as fh:
        fh.truncate(st.st_size // 2)
    os.utime(corrupt, ns=(st.st_atime_ns, st.st_mtime_ns))   # same mtime: nothing else is outdated
    assert planned_jobs(workdir, config, *PROFILE_ARGS, *args) == planned

    rc, out, jobs = run_workflow(workdir, config, *args, label="failing run")
    assert rc != 0, out[-4000:]
    retries = load(BASE_PROFILE)["retries"]
    assert len(jobs) == 1 + retries and all(rec["state"] == "FAILED" for rec in jobs.values()), jobs
    assert all(rec["comment"].startswith("rule_analysis_digits_small_cnn_p") for rec in jobs.values()), jobs
    # the retry asked SLURM for more memory (it doubles) and the same time (the groups stay under the cap)
    ordered = [jobs[jid] for jid in sorted(jobs, key=int)]
    runtimes = planned_groups(dry)
    # the group holding checkpoint_metrics (what depends on it may sit in a later group, never run)
    (group,) = [g for g in runtimes if ordered[0]["comment"].startswith(f"rule_{g}")]
    assert [minutes(rec["limit"]) for rec in ordered] == [sum(runtimes[group])] * (1 + retries), ordered
    mem = [int(re.sub(r"\D", "", rec["mem"])) for rec in ordered]
    assert all(b == 2 * a for a, b in zip(mem, mem[1:])), ordered
    rule_log = (workdir / "logs/checkpoint_metrics/digits/small_cnn.log").read_text()
    assert "seed0/predictions.parquet" in rule_log, rule_log[-3000:]
    assert "checkpoint_metrics" in out and "Error" in out
    changed = [str(p) for p, digest in others.items() if not p.exists() or sha256(p) != digest]
    assert not changed, f"a failing job must not touch other outputs: {changed}"

    shutil.copy2(backup, corrupt)
    rc, out, jobs = run_workflow(workdir, config, *args, label="rerun after restore")
    assert rc == 0, out[-6000:]
    # the forced groups (checkpoint_metrics' and its figure's) each run once, and complete
    assert len(jobs) == len(runtimes) and all(rec["state"] == "COMPLETED" for rec in jobs.values()), jobs
    new_id = job_of(jobs, f"rule_{group}")
    assert read_log_record(workdir / "logs/checkpoint_metrics/digits/small_cnn.log")["slurm_job_id"] == new_id
    assert io.read_table(metrics).to_pandas().equals(original_metrics)
    changed = [str(p) for p, digest in others.items() if sha256(p) != digest]
    assert not changed, changed
