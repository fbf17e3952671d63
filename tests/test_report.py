"""The Snakemake HTML report: every figure with its caption from report/<name>.rst.

Runs on the tiny DAG shared with test_audit.py (one run per session).
"""
import html
import json
import re
import zipfile

import pytest
from workflow_helpers import ROOT, snakemake

CORE_FIGURES = ["training_curves", "trajectory_similarity", "seed_similarity", "function_space_tsne",
                "confusion_final", "confusion_epochs", "misclassified_overlap", "hard_examples", "ensemble_size",
                "ensemble_by_epoch", "diversity_accuracy"]
CAPTIONS = ROOT / "report"
BASE = "results/digits/small_cnn/figures"


def registry_categories() -> dict:
    """{figure: report category} of the figure registry FIGURES in rules/figures.smk, read as text
    (it is Snakemake code): every entry is `"<name>": Figure("<category>", ...`."""
    text = (ROOT / "rules" / "figures.smk").read_text()
    return dict(re.findall(r'^\s*"(\w+)": Figure\(\s*"([^"]+)"', text, re.M))


FIGURES = list(registry_categories())


def plain(text: str) -> str:
    """Visible text: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def phrase(name: str, words=8) -> str:
    """A distinctive phrase of a caption: its opening words, before any Jinja expression."""
    text = (CAPTIONS / f"{name}.rst").read_text()
    return " ".join(re.split(r"\{[{%]", text, maxsplit=1)[0].split()[:words])


def report_results(page: str) -> dict:
    """The report's `var results = {...}` object: path -> name, caption (HTML), labels, ..."""
    start = page.index("var results = ", page.index('<script id="results">')) + len("var results = ")
    return json.JSONDecoder().raw_decode(page, start)[0]


def test_one_caption_per_figure():
    assert set(CORE_FIGURES) <= set(FIGURES)
    assert {p.stem for p in CAPTIONS.glob("*.rst")} - {"workflow"} == set(FIGURES)
    phrases = [phrase(name) for name in FIGURES]
    assert len(set(phrases)) == len(FIGURES), "caption openings must tell the figures apart"
    for name in FIGURES:
        sentences = re.split(r"(?<=[.;])\s", " ".join((CAPTIONS / f"{name}.rst").read_text().split()))
        assert 2 <= len(sentences) <= 12, name


@pytest.fixture(scope="module")
def report(tiny_run):
    workdir, config = tiny_run
    snakemake(workdir, config, "--report", "report.html")
    snakemake(workdir, config, "--report", "report.zip")
    return workdir


def test_html_report_has_every_figure_with_its_caption(report):
    page = (report / "report.html").read_text()
    assert len(page) > 200_000  # the figures are embedded
    results = report_results(page)
    categories = registry_categories()
    assert {f"{BASE}/{name}.png" for name in CORE_FIGURES} <= set(results)
    for name in FIGURES:
        if not (report / f"{BASE}/{name}.png").exists():
            continue  # a figure this config does not make (e.g. no subspace methods)
        entry = results[f"{BASE}/{name}.png"]
        caption = plain(entry["caption"])
        assert phrase(name) in caption, (name, caption)
        assert "{{" not in caption and "{%" not in caption, name  # Jinja rendered
        assert entry["labels"] == {"figure": name, "model": "small_cnn"}
        assert entry["data_uri"].startswith("data:image/png;")
        assert categories[name] in page
    # config values and params reach the captions through Jinja
    assert "seed 0" in plain(results[f"{BASE}/trajectory_similarity.png"]["caption"])
    assert "epochs 0, 1, 2" in plain(results[f"{BASE}/confusion_epochs.png"]["caption"])
    assert "seeds 0, 1 in that order" in plain(results[f"{BASE}/hard_examples.png"]["caption"])
    if re.search(r"^report:", (ROOT / "Snakefile").read_text(), re.M):
        assert "Deep ensembles: a loss-landscape perspective" in page


def test_zip_report_holds_the_report_and_figures(report):
    with zipfile.ZipFile(report / "report.zip") as z:
        names = z.namelist()
        index = next(n for n in names if n.endswith("report.html"))
        page = z.read(index).decode()
    results = report_results(page)
    for name in CORE_FIGURES:
        assert any(n.startswith("report/data/") and n.endswith(f"/{name}.png") for n in names), name
        assert phrase(name) in plain(results[f"{BASE}/{name}.png"]["caption"]), name
    assert index == "report/report.html"
