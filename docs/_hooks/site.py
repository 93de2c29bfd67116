"""MkDocs hooks: the site is built from the repository as it is.

* Mounts README.md as the home page and docs/, proofs/ and benchmarks/README.md at
  their repository paths, so relative links between them (``../proofs/x.md``,
  ``docs/figures/y.png``) resolve on the site as they do on GitHub. A repository file
  that a mounted page links to (a benchmark script, a results file) is mounted too.
* Generates one API page per public module of ``collapse_jax`` (found on disk: every
  ``.py`` file without a leading underscore in its path), so a split or renamed module
  gets its page without an edit here.
* Generates the presets page from ``collapse_jax.experiments.presets()``: every
  registered preset with its configuration and the figures under
  ``docs/figures/presets/<preset>-*.png``.

Run by ``mkdocs build`` / ``mkdocs serve`` through ``hooks:`` in mkdocs.yml.
"""

from __future__ import annotations

import pathlib
import posixpath
import re
import sys
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = "collapse_jax"
PRESET_FIGURES = "docs/figures/presets"

# Inline links and images, [text](target) and ![alt](target): the target up to
# whitespace or ")" (titles and anchors are dropped later).
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)")
_MATHJAX_CONFIG = """\
window.MathJax = {
  tex: {inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]],
        processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"}
};
"""


def _pages() -> dict[str, pathlib.Path]:
    """Site path -> repository file of every hand-written page and asset."""
    pages = {"index.md": ROOT / "README.md"}
    for path in sorted((ROOT / "docs").rglob("*")):
        rel = path.relative_to(ROOT)
        if (
            path.is_file()
            and "_hooks" not in rel.parts
            and "__pycache__" not in rel.parts
        ):
            pages[rel.as_posix()] = path
    for path in sorted((ROOT / "proofs").glob("*.md")):
        pages[path.relative_to(ROOT).as_posix()] = path
    pages["benchmarks/README.md"] = ROOT / "benchmarks" / "README.md"
    return pages


def _linked_files(pages: dict[str, pathlib.Path]) -> dict[str, pathlib.Path]:
    """Repository files that mounted pages link to and that are not mounted yet."""
    extra: dict[str, pathlib.Path] = {}
    for uri, path in pages.items():
        if not uri.endswith(".md"):
            continue
        # Where the link resolves in the repository: relative to the file itself.
        base = path.relative_to(ROOT).parent.as_posix()
        for target in _LINK.findall(path.read_text(encoding="utf-8")):
            target = target.split("#", 1)[0]
            if not target or "://" in target or target.startswith(("/", "mailto:")):
                continue
            rel = posixpath.normpath(posixpath.join(base, target))
            file = ROOT / rel
            if rel.startswith("..") or not file.is_file():
                continue
            # README.md is mounted as index.md, but the site path of a file must be
            # its repository path for the link to resolve: mount it there as well
            # only if it is something other than a page we already have.
            if rel not in pages and file not in pages.values():
                extra[rel] = file
    return extra


def public_modules() -> list[str]:
    """Dotted names of the package's public modules, packages first, sorted."""
    names = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if any(p.startswith("_") for p in parts) or parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    return sorted(names, key=lambda n: (n.count(".") > 0, n.split(".")))


def _api_uri(module: str) -> str:
    return "api/" + module + ".md"


def _api_page(module: str) -> str:
    return (
        f"# `{module}`\n\n::: {module}\n    options:\n      show_root_heading: false\n"
    )


def _api_nav(modules: list[str]) -> list[Any]:
    """Nested nav: the package, its modules, then each subpackage and its modules."""
    top: list[Any] = [{PACKAGE: _api_uri(PACKAGE)}]
    groups: dict[str, list[Any]] = {}
    for name in modules:
        parts = name.split(".")
        if len(parts) == 1:
            continue
        package = ".".join(parts[:2])
        if len(parts) == 2 and not (ROOT / PACKAGE / parts[1]).is_dir():
            top.append({name: _api_uri(name)})
            continue
        groups.setdefault(package, []).append({name: _api_uri(name)})
    for package, entries in groups.items():
        top.append({package: entries})
    return top


def _value(v: Any) -> str:
    text = repr(v) if isinstance(v, str) else str(v)
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def figure_owners(registry: Any, figures: list[str]) -> dict[str, list[str]]:
    """``{preset: [figure file, ...]}``: a figure ``<preset>-<metric>.png`` is the
    preset's with the longest name that prefixes it ("gmm-l2.png" is gmm's even if
    a "gmm-large" preset exists, and "gmm-large-l2.png" is gmm-large's)."""
    owner: dict[str, list[str]] = {name: [] for name in registry}
    for fig in figures:
        stem = fig.rsplit(".", 1)[0]
        names = [n for n in registry if stem.startswith(n + "-")]
        if names:
            owner[max(names, key=len)].append(fig)
    return owner


def presets_page(
    registry: dict[str, Any] | None = None,
    figure_dir: pathlib.Path | None = None,
) -> str:
    """Markdown of every preset with its configuration and figures.

    Args:
      registry: ``{name: Preset}``; None for ``collapse_jax.experiments.presets()``.
      figure_dir: where the preset figures are; None for ``docs/figures/presets``.
    """
    if registry is None:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from collapse_jax.experiments import presets

        registry = presets()
    figure_dir = ROOT / PRESET_FIGURES if figure_dir is None else figure_dir
    owner = figure_owners(registry, sorted(p.name for p in figure_dir.glob("*.png")))
    out = [
        "# Presets",
        "",
        "A preset is a named configuration of an experiment, usually a paper's "
        "figure. `collapse-jax reproduce NAME` runs one at its CPU-friendly default "
        "scale and draws its figures; `--scale full` changes the values listed under "
        "*full scale* (the paper's sizes). `collapse-jax list NAME` prints the same "
        "from the command line, and `collapse_jax.experiments.presets()` from Python.",
        "",
        "This page is generated from the preset registry when the site is built; the "
        f"figures are those in `{PRESET_FIGURES}/`.",
        "",
    ]
    for name, preset in sorted(registry.items()):
        out += [f"## `{name}`", "", preset.description, ""]
        source = f" Source: {preset.source}." if preset.source else ""
        out += [f"Experiment `{preset.experiment}`.{source}", ""]
        out += ["```bash", f"collapse-jax reproduce {name}", "```", ""]
        out += ["| field | default | full scale |", "|---|---|---|"]
        for field in sorted(set(preset.values) | set(preset.full)):
            default = _value(preset.values[field]) if field in preset.values else ""
            full = _value(preset.full[field]) if field in preset.full else ""
            out.append(f"| `{field}` | {default} | {full} |")
        out.append("")
        if not owner[name]:
            out += [
                "No figure of this preset is in the repository; `collapse-jax "
                f"reproduce {name}` draws them into `runs/{name}/figures/`.",
                "",
            ]
        for fig in owner[name]:
            # presets.md sits at the site root, the figures at their repository path.
            out += [f"![{name}: {fig}]({PRESET_FIGURES}/{fig})", ""]
    return "\n".join(out)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    nav = list(config.nav or [])
    proofs = sorted((ROOT / "proofs").glob("*.md"))
    proof_nav: list[Any] = [{"Index": "proofs/README.md"}]
    proof_nav += [{p.stem: f"proofs/{p.name}"} for p in proofs if p.name != "README.md"]
    nav.append({"Proofs": proof_nav})
    nav.append({"API reference": _api_nav(public_modules())})
    config.nav = nav
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    pages = _pages()
    pages.update(_linked_files(pages))
    out = Files([])
    for uri, path in pages.items():
        out.append(File.generated(config, uri, abs_src_path=str(path)))
    for module in public_modules():
        out.append(File.generated(config, _api_uri(module), content=_api_page(module)))
    out.append(File.generated(config, "presets.md", content=presets_page()))
    out.append(File.generated(config, "_js/mathjax-config.js", content=_MATHJAX_CONFIG))
    # Theme assets (CSS, JS, fonts) come from the files mkdocs collected; the files
    # it found under docs/ are replaced by the mounts above (same files, repo paths).
    docs = pathlib.Path(config.docs_dir).resolve()
    for file in files:
        src = file.abs_src_path
        if src is None or not pathlib.Path(src).resolve().is_relative_to(docs):
            out.append(file)
    return out
