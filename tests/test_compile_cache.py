"""JAX's persistent compilation cache: on for the command line, off on request.

The CLI test runs a tiny ``collapse-jax run`` in fresh processes: the first
writes the chain programs into the cache directory (JAX names each miss), the
second loads them (JAX names each hit and misses none), and with the cache off
nothing is written.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import compile_cache
from collapse_jax.cli import main as cli_main

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUN = ["run", "gaussian", "--num-chains", "4", "--num-generations", "3",
       "--sample-size", "10", "--no-figures", "--no-progress"]


def cli(tmp_path, name, env_value, *before):
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLLAPSE_JAX_CACHE=str(tmp_path),
               JAX_EXPLAIN_CACHE_MISSES="1", JAX_LOG_COMPILES="1")
    env.pop("COLLAPSE_JAX_COMPILE_CACHE")
    if env_value is not None:
        env["COLLAPSE_JAX_COMPILE_CACHE"] = env_value
    out = subprocess.run(
        [sys.executable, "-m", "collapse_jax", *before, *RUN, "-o",
         str(tmp_path / name)], env=env, capture_output=True, text=True,
        timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    return out.stderr


def entries(path: pathlib.Path) -> set[str]:
    return {p.name for p in path.iterdir()} if path.is_dir() else set()


def test_the_cli_writes_the_cache_once_and_reads_it_in_the_next_process(tmp_path):
    cache = tmp_path / "xla"  # the default: $COLLAPSE_JAX_CACHE/xla
    first = cli(tmp_path, "a", None)
    written = entries(cache)
    assert any(n.startswith("jit__run_chunk-") for n in written), written
    assert "PERSISTENT COMPILATION CACHE MISS for 'jit__run_chunk'" in first
    second = cli(tmp_path, "b", None)
    assert "Persistent compilation cache hit for 'jit__run_chunk'" in second
    assert "PERSISTENT COMPILATION CACHE MISS" not in second
    assert entries(cache) == written  # everything was read, nothing added
    # A loaded executable computes the bits a compiled one does.
    a, b = cj.load(tmp_path / "a"), cj.load(tmp_path / "b")
    assert a["log_var"].values.tobytes() == b["log_var"].values.tobytes()


@pytest.mark.slow
def test_the_cli_with_the_cache_off_writes_none(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    off = cli(tmp_path, "c", str(elsewhere), "--no-compile-cache")
    assert "Persistent compilation cache hit" not in off
    assert "PERSISTENT COMPILATION CACHE MISS" not in off  # no cache to miss
    assert not elsewhere.exists() and not (tmp_path / "xla").exists()
    cli(tmp_path, "d", "0")
    assert not (tmp_path / "xla").exists()


def test_the_flag_turns_the_cli_cache_off(monkeypatch, tmp_path,
                                          restore_cache_config, capsys):
    monkeypatch.setenv(compile_cache.COMPILE_CACHE_ENV, str(tmp_path / "c"))
    assert cli_main(["--no-compile-cache", "list"]) == 0
    assert compile_cache.compile_cache_dir() is None
    assert not (tmp_path / "c").exists()
    assert cli_main(["list"]) == 0
    assert compile_cache.compile_cache_dir() == (tmp_path / "c").resolve()
    capsys.readouterr()


@pytest.fixture
def restore_cache_config():
    before = compile_cache.compile_cache_dir()
    yield
    if before is None:
        compile_cache.disable_compile_cache()
    else:
        compile_cache.enable_compile_cache(before)


@pytest.mark.parametrize("value", ["0", "off", "False"])
def test_the_variable_turns_the_cli_cache_off(monkeypatch, value,
                                              restore_cache_config):
    monkeypatch.setenv(compile_cache.COMPILE_CACHE_ENV, value)
    assert compile_cache.cli_setup(True) is None
    assert compile_cache.compile_cache_dir() is None


def test_the_variable_moves_the_cli_cache(monkeypatch, tmp_path,
                                          restore_cache_config):
    monkeypatch.setenv(compile_cache.COMPILE_CACHE_ENV, str(tmp_path / "mine"))
    assert compile_cache.cli_setup(True) == (tmp_path / "mine").resolve()
    assert compile_cache.cli_setup(False) is None
    monkeypatch.delenv(compile_cache.COMPILE_CACHE_ENV)
    monkeypatch.setenv("COLLAPSE_JAX_CACHE", str(tmp_path / "root"))
    assert compile_cache.cli_setup(True) == (tmp_path / "root" / "xla").resolve()


def test_the_api_caches_a_program_in_the_directory_given(tmp_path,
                                                         restore_cache_config):
    path = cj.enable_compile_cache(tmp_path / "c")
    assert path == (tmp_path / "c").resolve() == cj.compile_cache_dir()

    @jax.jit
    def f(x):
        return jnp.sin(x) * 3.25 + 1.0

    f(jnp.arange(7.0)).block_until_ready()
    assert any(n.startswith("jit_f-") for n in entries(path))
    cj.disable_compile_cache()
    assert cj.compile_cache_dir() is None


def test_an_unusable_directory_is_refused_with_the_fix(tmp_path,
                                                        restore_cache_config,
                                                        capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"enable_compile_cache\(\): path must be a "
                       r"directory that can be created.*COLLAPSE_JAX_COMPILE_CACHE=0"):
        cj.enable_compile_cache(blocker / "xla")
    with pytest.raises(TypeError, match=r"path must be None or a directory path"):
        cj.enable_compile_cache(3)
    with pytest.raises(ValueError, match=r"min_compile_seconds must be seconds >= 0"):
        cj.enable_compile_cache(tmp_path, min_compile_seconds=-1)
    # The command line goes on without the cache, and says why.
    monkeypatch.setenv(compile_cache.COMPILE_CACHE_ENV, str(blocker / "xla"))
    assert compile_cache.cli_setup(True) is None
    assert "running without the compilation cache" in capsys.readouterr().err
