"""The documentation site builds from the repository, strictly, and has its key pages.

The build (``mkdocs build --strict``: a broken link, a missing page or a docstring
that mkdocstrings cannot parse is an error) takes about 10 s of CPU, more on a loaded
machine, so it is ``slow``; ``.ci/run`` runs it as its own step. The hooks' pieces
(module discovery, preset figures) are tested in the default pass. Everything here
needs the ``docs`` extra (``pip install -e ".[docs]"``) and is skipped without it.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytest.importorskip(
    "mkdocs", reason='the docs site needs the docs extra: pip install -e ".[docs]"'
)


def _hooks():
    spec = importlib.util.spec_from_file_location(
        "collapse_jax_docs_hooks", ROOT / "docs" / "_hooks" / "site.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_pages_cover_every_public_module_found_on_disk():
    modules = _hooks().public_modules()
    assert modules[0] == "collapse_jax"
    for name in ("collapse_jax.sweep", "collapse_jax.families", "collapse_jax.theory"):
        assert name in modules
    # Every public module file has a page, found without a hand-kept list.
    on_disk = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "collapse_jax").rglob("*.py")
        if not any(part.startswith("_") for part in p.relative_to(ROOT).parts)
    }
    assert on_disk <= set(modules)
    # Private modules and __main__ have none.
    assert not [m for m in modules if any(p.startswith("_") for p in m.split("."))]


def test_each_preset_figure_goes_to_the_preset_that_names_it():
    registry = {"gmm": None, "gmm-large": None, "monitor": None}
    figures = ["gmm-l2.png", "gmm-large-l2.png", "gmm-large-samples.png", "other.png"]
    owners = _hooks().figure_owners(registry, figures)
    assert owners == {
        "gmm": ["gmm-l2.png"],
        "gmm-large": ["gmm-large-l2.png", "gmm-large-samples.png"],
        "monitor": [],
    }


def test_presets_page_lists_every_preset_its_values_and_figures(tmp_path):
    fork = SimpleNamespace(
        experiment="gaussian",
        description="A fork's preset.",
        values={"sample_size": [10, 100], "sampler": "samples"},
        full={"num_chains": 4096},
        source="SH-5",
    )
    (tmp_path / "fork-preset-w2_sq.png").write_bytes(b"")
    page = _hooks().presets_page({"fork-preset": fork}, tmp_path)
    assert "## `fork-preset`" in page
    assert "collapse-jax reproduce fork-preset" in page
    assert "| `sample_size` | `[10, 100]` |  |" in page
    assert "| `num_chains` |  | `4096` |" in page
    assert "![fork-preset: fork-preset-w2_sq.png]" in page
    assert "docs/figures/presets/fork-preset-w2_sq.png" in page


def test_the_registry_presets_all_reach_the_page():
    from collapse_jax.experiments import presets

    page = _hooks().presets_page()
    for name in presets():
        assert f"## `{name}`" in page
    # The README's preset figures are on the page too.
    assert "docs/figures/presets/gaussian-drift-log_var.png" in page


def test_license_is_the_apache_2_text_pyproject_names():
    text = (ROOT / "LICENSE").read_text()
    assert re.match(r"\s*Apache License\s+Version 2.0, January 2004\n", text)
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "Copyright 2026 collapse_jax developers" in text
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return out


def _page(site: pathlib.Path, path: str) -> str:
    file = site / path / "index.html"
    assert file.is_file(), f"{path} is not on the site"
    return file.read_text(encoding="utf-8")


@pytest.mark.slow  # ~10 s of CPU for the build (30-40 s on a loaded 2-core machine)
def test_site_builds_strictly_with_its_key_pages(site):
    # Home: the README, with its links rewritten to the site's pages.
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Set-up: two commands" in home
    assert 'href="docs/theory/"' in home and 'href="proofs/"' in home
    # The API reference, generated from the docstrings.
    api = _page(site, "api/collapse_jax")
    assert 'id="collapse_jax.run_chains"' in api
    assert "Run <code>num_chains</code> independent generation chains" in api
    chain = _page(site, "api/collapse_jax.sweep")
    assert 'id="collapse_jax.sweep.sweep"' in chain
    # Sphinx roles in docstrings read as code, not as ":func:", and :math: as maths.
    assert ":func:" not in api and ":class:" not in api
    multivariate = _page(site, "api/collapse_jax.theory.multivariate")
    assert ":math:" not in multivariate and 'class="arithmatex"' in multivariate
    # The theory reference and a proof, linked from each other.
    theory = _page(site, "docs/theory")
    assert "GC-3" in theory and "../../proofs/gc-3-log-variance/" in theory
    proof = _page(site, "proofs/gc-3-log-variance")
    assert 'class="arithmatex"' in proof  # the maths is typeset, not raw $...$
    _page(site, "docs/precision")
    # A preset with its figure, which is on the site.
    presets = _page(site, "presets")
    assert "gaussian-drift" in presets
    figure = "docs/figures/presets/gaussian-drift-log_var.png"
    assert re.search(r'<img[^>]+src="\.\./' + re.escape(figure) + '"', presets)
    assert (site / figure).is_file()
