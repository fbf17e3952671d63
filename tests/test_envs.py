"""The conda environments pin exactly the versions of the pip pins: envs/training-gpu.yaml those of
requirements-gpu.txt, the others those of requirements.txt; and the GPU pins are the CPU pins with
tensorflow[and-cuda] for tensorflow-cpu (same version) plus the CUDA wheels."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GPU_ENV, GPU_LOCK = "training-gpu.yaml", "requirements-gpu.txt"


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def split_pin(spec, where):
    """'Name[extra]==1.2' -> ('name', '1.2', {'extra'}); fails unless pinned with ==."""
    name, sep, version = spec.partition("==")
    assert sep and version.strip(), f"{where}: {spec!r} is not pinned with =="
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*", name)
    assert match, f"{where}: cannot read the package name of {spec!r}"
    extras = {normalize(e) for e in (match.group(2) or "").split(",") if e.strip()}
    return normalize(match.group(1)), version.strip(), extras


def pip_requirements(lock="requirements.txt"):
    """{name: (version, extras)} of a requirements file."""
    pins = {}
    for line in (ROOT / lock).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version, extras = split_pin(line, lock)
            assert name not in pins, f"{lock}: {name} pinned twice"
            pins[name] = (version, extras)
    return pins


def pip_pins(lock="requirements.txt"):
    return {name: version for name, (version, _) in pip_requirements(lock).items()}


def env_requirements(path):
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    out = {}
    for spec in pip:
        name, version, extras = split_pin(spec, path.name)
        out[name] = (version, extras)
    return out


def env_pins(path):
    return {name: version for name, (version, _) in env_requirements(path).items()}


def lock_of(env):
    return GPU_LOCK if env.name == GPU_ENV else "requirements.txt"


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_versions_equal_pip_pins(env):
    lock = lock_of(env)
    pins, pinned = pip_requirements(lock), env_requirements(env)
    assert pinned, f"{env.name} pins nothing"
    for name, requirement in pinned.items():
        assert pins.get(name) == requirement, f"{env.name}: {name} {requirement} but {lock} has {pins.get(name)}"


def test_analysis_env_has_no_tensorflow():
    assert not {"tensorflow", "tensorflow-cpu", "keras"} & set(env_pins(ROOT / "envs" / "analysis.yaml"))


def test_gpu_pins_are_the_cpu_pins_with_gpu_tensorflow_and_cuda_wheels():
    cpu, gpu = pip_requirements(), pip_requirements(GPU_LOCK)
    assert "tensorflow" not in cpu and "tensorflow-cpu" not in gpu
    assert gpu["tensorflow"] == (cpu["tensorflow-cpu"][0], {"and-cuda"})  # the same version, its CUDA wheels
    cuda = {name for name in gpu if name.startswith("nvidia-")}
    assert cuda, f"{GPU_LOCK} pins no CUDA wheels (nvidia-*)"
    shared = set(cpu) - {"tensorflow-cpu"}
    assert set(gpu) - cuda - {"tensorflow"} == shared, f"{GPU_LOCK} vs requirements.txt: {set(gpu) ^ set(cpu)}"
    for name in shared:
        assert gpu[name] == cpu[name], f"{name}: {GPU_LOCK} {gpu[name]} vs requirements.txt {cpu[name]}"
    for name in cuda:
        assert re.fullmatch(r"\d+(\.\d+)+", gpu[name][0]), f"{GPU_LOCK}: {name}=={gpu[name][0]}"


def test_gpu_env_is_the_cpu_training_env_with_gpu_tensorflow_and_cuda_wheels():
    cpu, gpu = env_requirements(ROOT / "envs" / "training.yaml"), env_requirements(ROOT / "envs" / GPU_ENV)
    gpu_lock = pip_requirements(GPU_LOCK)
    cuda = {name for name in gpu_lock if name.startswith("nvidia-")}
    assert {name for name in gpu if name.startswith("nvidia-")} == cuda, f"{GPU_ENV} must pin every CUDA wheel"
    assert gpu["tensorflow"] == (cpu["tensorflow-cpu"][0], {"and-cuda"})
    assert {k: v for k, v in gpu.items() if k not in cuda | {"tensorflow"}} == \
        {k: v for k, v in cpu.items() if k != "tensorflow-cpu"}
    python = [d for d in yaml.safe_load((ROOT / "envs" / GPU_ENV).read_text())["dependencies"] if isinstance(d, str)]
    assert python == [d for d in yaml.safe_load((ROOT / "envs" / "training.yaml").read_text())["dependencies"]
                      if isinstance(d, str)]  # same python and pip


def test_every_env_is_used_by_the_rules():
    """Rules name their env literally (conda: "../envs/x.yaml") or through a function in
    rules/common.smk (the TensorFlow rules choose training.yaml or training-gpu.yaml): every env
    file is named in rules/*.smk, and every literal conda: path is an env file."""
    text = "\n".join(smk.read_text() for smk in sorted((ROOT / "rules").glob("*.smk")))
    envs = {p.name for p in (ROOT / "envs").glob("*.yaml")}
    named = set(re.findall(r'["\']\.\./envs/([\w.-]+\.yaml)["\']', text))
    assert named == envs, f"env files not named in rules/*.smk: {sorted(envs - named)}; " \
                          f"named but missing: {sorted(named - envs)}"
    literal = set(re.findall(r'conda:\s*\n\s*"\.\./envs/([\w.-]+\.yaml)"', text))
    assert literal <= envs


def test_requirements_in_matches_lock():
    pins = pip_pins()
    for line in (ROOT / "requirements.in").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert pins.get(re.sub(r"[-_.]+", "-", name).lower()) == version, line
