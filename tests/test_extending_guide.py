"""The "Extending collapse_jax" guide (docs/extending.md), executed as a reader would.

The guide's fenced code blocks are extracted: a block with ``title="path"`` is a file
of the fork (written under ``tmp_path``; the ``pyproject.toml`` block's entry points
become a ``*.dist-info``, as ``pip install -e .`` would make them), an untitled
``python`` block is a check, run in order in its section with the fork importable,
and the ``collapse-jax`` lines of the ``bash`` blocks are run by a fresh interpreter.
A renamed API, a changed message or a broken example then fails here, not in a
reader's hands.

The registries the fork fills (regimes, key sub-streams, experiments, presets, the
entry points) are restored after the module, so no other test sees the fork. The
family section needs the family builder (``collapse_jax.families.base.family``) and
``collapse_jax.testing.check_family``; it is skipped, naming them, where they are
missing.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

import collapse_jax.families.base as family_base
import collapse_jax.testing as testing
from collapse_jax import keys, plugins, verify
from collapse_jax.experiments import core
from collapse_jax.regimes import registry

ROOT = pathlib.Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "extending.md"
SECTIONS = {
    "family": "Adding a family",
    "regime": "Adding a regime",
    "claim": "Adding a verify claim",
    "preset": "Adding a preset",
}
HAS_BUILDER = hasattr(family_base, "family") and hasattr(testing, "check_family")
NO_BUILDER = (
    "the guide's family section needs the family builder "
    "collapse_jax.families.base.family and collapse_jax.testing.check_family "
    "(branch i12/builders), which this checkout does not have yet"
)

_FENCE = re.compile(
    r"^```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S
)
_TITLE = re.compile(r'title="([^"]+)"')


@dataclasses.dataclass(frozen=True)
class Block:
    lang: str
    title: str | None
    body: str
    section: str  # the "## " heading the block is under
    line: int  # of the opening fence, 1-based


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, with their sections."""
    headings = [
        (m.start(), m.group(1).strip()) for m in re.finditer(r"^## (.+)$", text, re.M)
    ]
    out = []
    for m in _FENCE.finditer(text):
        section = next((h for pos, h in reversed(headings) if pos < m.start()), "")
        title = _TITLE.search(m.group("attrs"))
        out.append(
            Block(
                m.group("lang"),
                title.group(1) if title else None,
                m.group("body"),
                section,
                text.count("\n", 0, m.start()) + 1,
            )
        )
    return out


GUIDE_BLOCKS = blocks(GUIDE.read_text(encoding="utf-8"))


def _files(section: str | None = None) -> list[Block]:
    return [
        b
        for b in GUIDE_BLOCKS
        if b.title is not None and (section is None or b.section == SECTIONS[section])
    ]


def _checks(section: str, lang: str = "python") -> list[Block]:
    return [
        b
        for b in GUIDE_BLOCKS
        if b.title is None and b.lang == lang and b.section == SECTIONS[section]
    ]


def _commands(section: str) -> list[list[str]]:
    """The ``collapse-jax ...`` lines of a section's bash blocks, as argv lists."""
    out = []
    for block in _checks(section, "bash"):
        for line in block.body.splitlines():
            if line.startswith("collapse-jax "):
                out.append(shlex.split(line)[1:])
    return out


def write_fork(root: pathlib.Path) -> pathlib.Path:
    """The guide's fork, as installed: its files, empty ``__init__.py`` files for its
    packages, and a dist-info holding the entry points of its pyproject.toml."""
    for block in _files():
        path = root / block.title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.body, encoding="utf-8")
        if path.suffix == ".py":
            init = path.parent / "__init__.py"
            if not init.exists():
                init.write_text("", encoding="utf-8")
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    info = root / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\n"
        f"Version: {project['version']}\n"
    )
    groups = project.get("entry-points", {})
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
            for group, eps in groups.items()
        )
    )
    return root


def _clear_plugin_caches() -> None:
    plugins.entries.cache_clear()
    verify._all_claims.cache_clear()


@pytest.fixture(scope="module")
def fork(tmp_path_factory):
    """The fork on sys.path, with registries that are restored after the module."""
    root = write_fork(tmp_path_factory.mktemp("my-fork"))
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(root))
    mp.setattr(core, "_EXPERIMENTS", dict(core._EXPERIMENTS))
    mp.setattr(core, "_PRESETS", dict(core._PRESETS))
    mp.setattr(core, "_plugins_loaded", False)
    mp.setattr(registry, "_REGIMES", dict(registry._REGIMES))
    mp.setattr(keys, "_STREAMS", dict(keys._STREAMS))
    _clear_plugin_caches()
    try:
        yield root
    finally:
        mp.undo()
        _clear_plugin_caches()
        for name in [
            m for m in sys.modules if m == "my_fork" or m.startswith("my_fork.")
        ]:
            del sys.modules[name]


def run_checks(section: str, cwd: pathlib.Path) -> dict:
    """Run the section's python check blocks in order, in one namespace, in ``cwd``."""
    found = _checks(section)
    assert found, f"the guide's section {SECTIONS[section]!r} has no python check"
    namespace: dict = {"__name__": f"guide_{section}"}
    old = os.getcwd()
    os.chdir(cwd)
    try:
        for block in found:
            code = compile(block.body, f"{GUIDE}:{block.line + 1}", "exec")
            exec(code, namespace)  # noqa: S102 - the guide's own code
    finally:
        os.chdir(old)
    return namespace


# ------------------------------------------------------------------ structure ---


def test_each_extension_is_one_file_a_registration_and_a_check():
    files = {name: _files(name) for name in SECTIONS}
    assert all(len(f) == 1 and f[0].lang == "python" for f in files.values()), files
    project = tomllib.loads(
        next(b.body for b in _files() if b.title == "pyproject.toml")
    )["project"]
    groups = project["entry-points"]
    # Claims and presets: one entry point each, naming the section's own file.
    for section, group in (("claim", plugins.CLAIMS), ("preset", plugins.EXPERIMENTS)):
        module = files[section][0].title.removesuffix(".py").replace("/", ".")
        assert list(groups[group].values()) == [module], (group, groups)
    # A regime: one registration line in its file; a family: none.
    assert files["regime"][0].body.count("cj.register_regime(") == 1
    assert "register" not in files["family"][0].body
    # Every section says how to check it.
    for section in SECTIONS:
        assert _checks(section), section
    assert any("check_family(" in b.body for b in _checks("family"))
    assert any("check_regime(" in b.body for b in _checks("regime"))
    assert ["verify", "--only", "MYFORK-1"] in _commands("claim")
    assert ["reproduce", "window-demo", "--out", "runs/window-demo", "-q"] in (
        _commands("preset")
    )


def test_the_guide_is_in_the_site_nav_and_linked_from_the_readme():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert "  - Extending collapse_jax: docs/extending.md\n" in nav
    assert (
        "[Extending collapse_jax](docs/extending.md)"
        in (ROOT / "README.md").read_text()
    )


def test_the_extractor_sees_titles_sections_and_lines():
    text = (
        '# T\n\n## A\n\n```python title="pkg/a.py"\nx = 1\n```\n\n'
        "## B\n\n```bash\ncollapse-jax verify --only X-1\n```\n"
    )
    a, b = blocks(text)
    assert (a.lang, a.title, a.body, a.section, a.line) == (
        "python",
        "pkg/a.py",
        "x = 1\n",
        "A",
        5,
    )
    assert (b.lang, b.title, b.section) == ("bash", None, "B")


# ------------------------------------------------------------------- sections ---


# The contract kits run several compiled programs each: 15-35 s of a loaded 2-core
# machine per section, so these two are slow; .ci/run runs them with the docs site.
@pytest.mark.slow
@pytest.mark.skipif(not HAS_BUILDER, reason=NO_BUILDER)
def test_the_family_section_runs(fork, tmp_path):
    ns = run_checks("family", tmp_path)
    assert ns["report"]["population_limit"].startswith("passed")
    assert ns["res"].ok


@pytest.mark.slow
def test_the_regime_section_runs(fork, tmp_path):
    ns = run_checks("regime", tmp_path)
    assert ns["res"].ok
    assert "window" in registry.regime_names()
    assert keys.streams()["window_real"] >= 2**16  # derived from the name


def test_the_claim_section_runs(fork, tmp_path):
    ns = run_checks("claim", tmp_path)
    assert ns["row"].id == "MYFORK-1" and ns["row"].passed
    # After the built-in claims; the quick run includes it.
    ids = [c.id for c in verify.claims(quick=True)]
    assert ids[-1] == "MYFORK-1" and ids.count("MYFORK-1") == 1


def test_the_preset_section_runs(fork, tmp_path):
    ns = run_checks("preset", tmp_path)
    ds = ns["run"].dataset
    assert (tmp_path / "runs" / "window-small" / "results.nc").exists()
    assert list(ds["sweep"].values) == ["width=1", "width=4"]
    assert "window-demo" in core.presets()


@pytest.mark.slow  # a fresh interpreter per command, compiles and a figure: 35 s loaded
def test_the_guide_commands_run_from_the_command_line(tmp_path):
    root = write_fork(tmp_path / "my-fork")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(root), env.get("PYTHONPATH", "")]
    )
    commands = [c for s in ("claim", "preset") for c in _commands(s)]
    assert len(commands) == 4, commands
    outputs = []
    for argv in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "collapse_jax", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (argv, proc.stdout[-3000:], proc.stderr[-3000:])
        assert "PluginWarning" not in proc.stderr, proc.stderr
        outputs.append(proc.stdout)
    listing, verified, shown, _ = outputs
    assert listing.splitlines()[-1].startswith("MYFORK-1")
    assert "MYFORK-1 " in verified and "1/1 claims passed" in verified
    assert "--width" in shown and "--num-real" in shown
    run = tmp_path / "runs" / "window-demo"
    assert (run / "results.nc").exists()
    assert (run / "figures" / "log_var.png").exists()
