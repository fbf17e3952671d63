"""The conda environments pin exactly the versions of the pip pins (requirements.txt)."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def pip_pins():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirements.txt: {line!r} is not pinned with =="
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def env_pins(path):
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    return dict((re.sub(r"[-_.]+", "-", n).lower(), v) for n, _, v in (p.partition("==") for p in pip))


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_versions_equal_pip_pins(env):
    pins, pinned = pip_pins(), env_pins(env)
    assert pinned, f"{env.name} pins nothing"
    for name, version in pinned.items():
        assert version, f"{env.name}: {name} is not pinned with =="
        assert pins.get(name) == version, f"{env.name}: {name}=={version} but requirements.txt has {pins.get(name)}"


def test_analysis_env_has_no_tensorflow():
    assert not {"tensorflow", "tensorflow-cpu", "keras"} & set(env_pins(ROOT / "envs" / "analysis.yaml"))


def test_every_rule_uses_an_env_from_envs():
    used = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        used |= set(re.findall(r'conda:\s*\n\s*"\.\./envs/(\w+\.yaml)"', smk.read_text()))
    assert used == {p.name for p in (ROOT / "envs").glob("*.yaml")}


def test_requirements_in_matches_lock():
    pins = pip_pins()
    for line in (ROOT / "requirements.in").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert pins.get(re.sub(r"[-_.]+", "-", name).lower()) == version, line
