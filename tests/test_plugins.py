"""A fork's package reaches the command line: claims, experiments and presets.

Each test writes a tiny fork OUTSIDE the package's source tree (tmp_path): one
module that declares a claim, an experiment and a preset, and a ``*.dist-info``
directory whose ``entry_points.txt`` registers it (one line per group), so that
``importlib.metadata`` finds it on ``sys.path`` as it would an installed package.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from collapse_jax import plugins, verify
from collapse_jax.experiments import core

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The fork's one file: a claim, an experiment and a preset of it.
FORK = '''
"""A research fork's additions to collapse_jax."""

import collapse_jax as cj
from collapse_jax.claims.registry import Claim, exact_row
from collapse_jax.experiments import Design, Experiment, Field, Point, Preset
from collapse_jax.theory import gaussian as tg


def _fork1(ctx):
    return exact_row(
        "FORK-1",
        "a fork's claim: E σ_n² = σ² (unbiased, M=20, n=3)",
        1.0,
        tg.expected_variance(20, 3),
        1e-12,
    )


def _design(cfg):
    m = cfg["sample_size"]
    point = Point(
        f"M={m}", {"sample_size": m}, cj.gaussian(), cj.gaussian_params(0.0, 1.0),
        {"sample_size": m},
    )
    return Design(
        (point,), ("log_var",), title="A fork's Gaussian chain",
        figures=({"kind": "metric", "metric": "log_var", "name": "log_var"},),
    )


CLAIMS = (Claim("FORK-1", "a fork's exact claim", _fork1),)
EXPERIMENTS = (
    Experiment(
        "fork-gaussian", "a fork's 1-D Gaussian chain",
        (Field("sample_size", "int", 10, "draws per generation", minimum=2),),
        _design,
    ),
)
PRESETS = (
    Preset(
        "fork-tiny", "fork-gaussian", "a fork's tiny run",
        {"num_chains": 4, "num_generations": 3, "sample_size": 8},
    ),
)
'''

ENTRY_POINTS = """\
[collapse_jax.claims]
fork = collapse_fork

[collapse_jax.experiments]
fork = collapse_fork
"""


def _distribution(root: pathlib.Path, name: str, entry_points: str) -> None:
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(entry_points)


def write_fork(root: pathlib.Path) -> pathlib.Path:
    """The fork: one module and its registration (a dist-info's entry points)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "collapse_fork.py").write_text(FORK)
    _distribution(root, "collapse-fork", ENTRY_POINTS)
    return root


@pytest.fixture
def on_path(monkeypatch):
    """Put directories on sys.path with fresh plugin registries, restored after."""
    monkeypatch.setattr(core, "_EXPERIMENTS", dict(core.experiments()))
    monkeypatch.setattr(core, "_PRESETS", dict(core.presets()))
    monkeypatch.setattr(core, "_plugins_loaded", False)

    def fresh():
        plugins.entries.cache_clear()
        verify._all_claims.cache_clear()

    def add(*dirs):
        for d in dirs:
            monkeypatch.syspath_prepend(str(d))
        fresh()

    yield add
    fresh()
    sys.modules.pop("collapse_fork", None)
    sys.modules.pop("collapse_broken", None)


def test_a_fork_registers_a_claim_an_experiment_and_a_preset(tmp_path, on_path):
    builtin = [c.id for c in verify.claims()]
    on_path(write_fork(tmp_path / "fork"))
    ids = [c.id for c in verify.claims()]
    assert ids == builtin + ["FORK-1"]  # after the built-in claims, in order
    assert "FORK-1" in [c.id for c in verify.claims(quick=True)]
    rows = verify.run_claims(only=["FORK-1"])
    assert [(r.id, r.passed) for r in rows] == [("FORK-1", True)]
    assert "fork-gaussian" in core.experiments()
    preset = core.get_preset("fork-tiny")
    assert preset.experiment == "fork-gaussian"
    config = core.resolve_config("fork-gaussian", preset="fork-tiny")
    assert config["sample_size"] == 8 and config["num_chains"] == 4
    # The built-in entries keep their names and order.
    assert list(core.presets())[:2] == ["gaussian-drift", "theorem-3.1"]


def test_no_plugin_no_change():
    # Without a fork on the path, the registries are the package's own.
    assert [c.id for c in verify.claims()][-1] == "MON-2"
    assert "fork-tiny" not in core.presets()


def test_a_broken_plugin_warns_naming_its_distribution(tmp_path, on_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "collapse_broken.py").write_text("raise ImportError('no such thing')\n")
    _distribution(
        broken,
        "collapse-broken",
        "[collapse_jax.claims]\nbad = collapse_broken\n\n"
        "[collapse_jax.experiments]\nbad = collapse_broken\n",
    )
    on_path(broken, write_fork(tmp_path / "fork"))
    with pytest.warns(plugins.PluginWarning, match=r"collapse-broken 0\.1") as seen:
        ids = [c.id for c in verify.claims()]
    assert "ImportError: no such thing" in str(seen[0].message)
    assert "FORK-1" in ids  # the other plugin still loads
    with pytest.warns(plugins.PluginWarning, match=r"bad = 'collapse_broken'"):
        assert "fork-tiny" in core.presets()


def test_a_plugin_cannot_take_a_builtin_name(tmp_path, on_path):
    root = tmp_path / "clash"
    root.mkdir()
    (root / "collapse_clash.py").write_text(
        textwrap.dedent(
            """
            from collapse_jax.claims.registry import Claim, Row
            from collapse_jax.experiments import Preset

            def _check(ctx):
                return Row("GC-3", "taken", 0.0, 0.0, None, True)

            CLAIMS = (Claim("GC-3", "a second GC-3", _check),)
            PRESETS = (Preset("gaussian-drift", "gaussian", "a second one", {}),)
            WRONG = 3
            """
        )
    )
    _distribution(
        root,
        "collapse-clash",
        "[collapse_jax.claims]\nclash = collapse_clash\nwrong = collapse_clash:WRONG\n"
        "\n[collapse_jax.experiments]\nclash = collapse_clash\n",
    )
    gc3 = next(c for c in verify.claims() if c.id == "GC-3")
    on_path(root)
    with pytest.warns(plugins.PluginWarning) as seen:
        claims = verify.claims()
    messages = [str(w.message) for w in seen]
    assert any("claim ids ['GC-3'] are taken" in m for m in messages), messages
    assert any("it holds 3, not a Claim" in m for m in messages), messages
    assert [c for c in claims if c.id == "GC-3"] == [gc3]  # the package's own
    with pytest.warns(plugins.PluginWarning, match="'gaussian-drift' is taken"):
        assert core.get_preset("gaussian-drift").description.startswith("1-D")
    sys.modules.pop("collapse_clash", None)


def _cli(args, fork_root, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(fork_root), env.get("PYTHONPATH", "")]
    )
    return subprocess.run(
        [sys.executable, "-m", "collapse_jax", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_cli_verifies_a_fork_claim(tmp_path):
    fork = write_fork(tmp_path / "fork")
    proc = _cli(["verify", "--only", "FORK-1"], fork, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FORK-1 " in proc.stdout and "1/1 claims passed" in proc.stdout
    assert "PluginWarning" not in proc.stderr


@pytest.mark.slow
def test_the_cli_reproduces_a_fork_preset(tmp_path):
    # About 6 s of CPU (a fresh interpreter, a compile, a figure); the lookup it
    # relies on runs in the default pass (test_a_fork_registers_...).
    fork = write_fork(tmp_path / "fork")
    out = tmp_path / "run"
    proc = _cli(["reproduce", "fork-tiny", "--out", str(out), "-q"], fork, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "results.nc").exists()
    assert any((out / "figures").glob("log_var*.png"))


def test_the_listings_show_a_fork(tmp_path, on_path, capsys):
    from collapse_jax import cli

    on_path(write_fork(tmp_path / "fork"))
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "fork-gaussian" in out and "[fork-gaussian] a fork's tiny run" in out
    assert cli.main(["verify", "--list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("FORK-1")


def _package_imports(path: pathlib.Path) -> set[str]:
    """The collapse_jax modules a source file imports (any level, ``ast``)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("collapse_jax")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "collapse_jax"
        ):
            # ``from collapse_jax import theory`` imports the module theory.
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_the_registries_are_leaves_and_registration_has_no_circle():
    pkg = ROOT / "collapse_jax"
    # What a claim is, and the entry-point loader: nothing of the package.
    assert _package_imports(pkg / "claims" / "registry.py") == set()
    assert _package_imports(pkg / "plugins.py") == set()
    # Claim modules never import verify back (verify imports them).
    for path in (pkg / "claims").glob("*.py"):
        assert not any("verify" in m for m in _package_imports(path)), path.name
    # The experiments' registry never imports its catalogs, and the catalogs and
    # the scripts they use never import the package root (which imports them).
    core_imports = _package_imports(pkg / "experiments" / "core.py")
    assert not any("catalog" in m for m in core_imports), core_imports
    for name in ("catalog", "catalog_more", "gmm_collapse", "decomposition"):
        imports = _package_imports(pkg / "experiments" / f"{name}.py")
        assert "collapse_jax" not in imports, name
