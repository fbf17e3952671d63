"""Reruns exact by construction: a rule's `code` param is the digest of its script's import closure
within workflow_scripts/ (deepens.code), so editing a module reruns exactly the rules whose scripts
import it, directly or not, and nothing else."""
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from deepens.code import code_digest, import_closure
from workflow_helpers import ROOT, snakemake

SCRIPTS = ROOT / "workflow_scripts"


# --- the import closure, on a package built here --------------------------------------------------

@pytest.fixture
def package(tmp_path):
    files = {
        "script.py": "import sys\nimport helper\nfrom pkg import a\n",
        "helper.py": "from pkg.b import thing\n",
        "pkg/__init__.py": "",
        "pkg/a.py": ("import numpy as np\nfrom . import c\n\n"
                     "def f():\n    from .lazy import g  # a lazy import counts\n"),
        "pkg/b.py": "from .sub import d\nthing = 1\n",
        "pkg/c.py": "",
        "pkg/lazy.py": "",
        "pkg/sub/__init__.py": "from ..c import *\n",
        "pkg/sub/d.py": "",
        "pkg/unused.py": "import pkg.a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_import_closure_follows_every_kind_of_import(package):
    closure = import_closure(package / "script.py", package)
    assert closure == ("helper", "pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.lazy", "pkg.sub", "pkg.sub.d")
    assert "pkg.unused" not in closure  # nothing imports it


def test_digest_changes_with_a_module_in_the_closure_only(package):
    before = code_digest(package / "script.py", package)
    (package / "pkg/unused.py").write_text("# edited\n")
    assert code_digest(package / "script.py", package) == before
    (package / "pkg/sub/d.py").write_text("# edited\n")
    assert code_digest(package / "script.py", package) != before


# --- the wiring: every rule's digest covers its own script, through the real workflow ----------------

def rule_scripts() -> dict[str, str]:
    """{rule: its script's file name}, from rules/*.smk."""
    out = {}
    for path in sorted((ROOT / "rules").glob("*.smk")):
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^[ \t]*rule (\w+):", text, re.M)]
        for i, (pos, name) in enumerate(starts):
            body = text[pos:starts[i + 1][0] if i + 1 < len(starts) else len(text)]
            script = re.search(r'script:\s*\n\s*f"\{SCRIPTS\}/([\w/]+\.py)"', body)
            if script:
                out[name] = script.group(1)
    return out


def library_modules() -> list[str]:
    """Every module a rule script may import: the package and the scripts' helpers."""
    mods = [p.relative_to(SCRIPTS).as_posix() for p in sorted(SCRIPTS.rglob("*.py"))
            if "__pycache__" not in p.parts]
    scripts = set(rule_scripts().values()) | {"audit.py"}
    return [m for m in mods if m not in scripts]


def module_name(rel: str) -> str:
    return rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def output_rules(workdir, config) -> dict[str, str]:
    """{output path: rule} of the finished run (snakemake --detailed-summary)."""
    out = snakemake(workdir, config, "--detailed-summary").stdout.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("output_file\t"))
    cols = out[start].split("\t")
    rows = [line.split("\t") for line in out[start + 1:] if line.count("\t") == len(cols) - 1]
    return {r[cols.index("output_file")]: r[cols.index("rule")] for r in rows}


def params_changed(workdir, config, rules_of, snakefile) -> set[str]:
    """Rules with an output whose params changed since it was made (the code digest is a param),
    each judged on its own, whatever runs upstream (snakemake --list-changes params, with
    Snakemake's listing bug patched: tests/snakemake_fixed_list_changes.py)."""
    cmd = [sys.executable, str(ROOT / "tests" / "snakemake_fixed_list_changes.py"), "-s", str(snakefile),
           "--directory", str(workdir), "--configfile", str(config), "--cores", "1", "--list-changes", "params"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {rules_of[line.strip()] for line in proc.stdout.splitlines() if line.strip() in rules_of}


def scratch_repo(tmp_path) -> Path:
    """A copy of the workflow (what Snakemake reads) to edit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for part in ("Snakefile", "config.yaml", "config.schema.yaml", "rules", "workflow_scripts", "profiles"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, repo / part)
    return repo


def test_every_rule_digests_its_own_script():
    scripts = rule_scripts()
    assert len(scripts) >= 20
    figures = (ROOT / "rules" / "figures.smk").read_text()
    assert "code=figure_code(name)" in figures and 'f"{SCRIPTS}/plot.py"' in figures
    text = "\n".join(p.read_text() for p in sorted((ROOT / "rules").glob("*.smk")))
    for rule, script in scripts.items():
        body = text[text.index(f"rule {rule}:"):]
        body = body[:body.index("script:")]
        assert f'code=script_code("{script}")' in body, f"rule {rule} must digest its own script {script}"


def test_editing_a_module_reruns_exactly_the_rules_that_import_it(tiny_run, tmp_path):
    """For every library module, in a scratch copy of the workflow: append a comment and ask
    Snakemake, against the finished tiny run, which outputs' params changed. Exactly the rules
    whose script's import closure holds the module must be named (what reads their outputs then
    reruns as well, for its updated input)."""
    workdir, config = tiny_run
    repo = scratch_repo(tmp_path)
    scripts = rule_scripts()
    made = set(output_rules(workdir, config).values())
    closures = {rule: set(import_closure(SCRIPTS / script)) for rule, script in scripts.items() if rule in made}
    # the figure rules (made in a loop over the registry of rules/figures.smk) run plot.py, which
    # imports deepens.figures.<name> by name
    closures.update({rule: set(import_closure(SCRIPTS / "plot.py", modules=(f"deepens.figures.{rule[5:]}",)))
                     for rule in made if rule.startswith("plot_")})
    # the defects the hand-kept lists had: these must now be covered
    assert all("deepens.metrics" in closures[rule] for rule in ("misclassified_overlap", "diversity_accuracy"))
    assert "deepens.io" in closures["train"]
    rules_of = output_rules(workdir, config)
    assert params_changed(workdir, config, rules_of, repo / "Snakefile") == set()
    checked = 0
    for rel in library_modules():
        path = repo / "workflow_scripts" / rel
        original = path.read_text()
        path.write_text(original + "\n# an edit\n")
        try:
            got = params_changed(workdir, config, rules_of, repo / "Snakefile")
        finally:
            path.write_text(original)
        expected = {rule for rule, closure in closures.items() if module_name(rel) in closure}
        assert got == expected, f"editing {rel}: planned {sorted(got)}, expected {sorted(expected)}"
        checked += 1
    assert checked >= 30


def test_a_rule_script_edit_reruns_that_rule_only(tiny_run, tmp_path):
    """Scripts are code too: Snakemake's own code trigger covers a rule's script file."""
    workdir, config = tiny_run
    repo = scratch_repo(tmp_path)
    script = repo / "workflow_scripts" / "hard_examples.py"
    script.write_text(script.read_text() + textwrap.dedent("""
        # an edit
    """))
    out = snakemake(workdir, config, "--list-changes", "code", snakefile=repo / "Snakefile").stdout
    changed = {output_rules(workdir, config).get(line.strip()) for line in out.splitlines()} - {None}
    assert changed == {"hard_examples"}
