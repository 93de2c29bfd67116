"""Suite configuration: devices, strict promotion, x64 hygiene, hypothesis, seeds.

Set before JAX initialises its backend; importing collapse_jax itself changes nothing.
"""

from __future__ import annotations

import gc
import os
import zlib

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import jax  # noqa: E402

# Strict promotion catches silent float64 <-> float32 and rank broadcasting bugs.
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")
# The CLI keeps compiled programs in the user's cache; the suite's in-process CLI
# calls do not (tests/test_compile_cache.py turns it on where it is tested).
os.environ.setdefault("COLLAPSE_JAX_COMPILE_CACHE", "0")

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=20, **_COMMON)
settings.register_profile("ci", max_examples=50, derandomize=True, database=None,
                          **_COMMON)
settings.register_profile("nightly", max_examples=500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE",
                                     "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    Every XLA:CPU executable keeps a few hundred memory mappings (~230 for a chain
    program). The suite compiles thousands of programs in one process, which would
    exhaust Linux's ``vm.max_map_count`` (65,530 by default) and crash the next
    compile with a segmentation fault. Clearing the caches unmaps them.
    """
    yield
    jax.clear_caches()
    gc.collect()


@pytest.fixture(autouse=True)
def _restore_x64():
    """A test that flips x64 cannot leak it into the next one."""
    before = jax.config.jax_enable_x64
    yield
    if jax.config.jax_enable_x64 != before:
        jax.config.update("jax_enable_x64", before)


@pytest.fixture
def seed(request) -> int:
    """A per-test seed: crc32 of the test id, or COLLAPSE_TEST_SEED if set."""
    override = os.environ.get("COLLAPSE_TEST_SEED")
    value = int(override) if override else zlib.crc32(request.node.nodeid.encode())
    request.node.user_properties.append(("seed", value))
    return value


@pytest.fixture
def x64():
    """Skip unless float64 is enabled (run these under JAX_ENABLE_X64=1)."""
    if not jax.config.jax_enable_x64:
        pytest.skip("needs JAX_ENABLE_X64=1 (the x64 pass of .ci/run)")
    return "float64"


def pytest_runtest_makereport(item, call):  # report the seed of a failing test
    if call.when == "call" and call.excinfo is not None:
        for name, value in item.user_properties:
            if name == "seed":
                print(f"\n[collapse_jax] seed for {item.nodeid}: {value}")


def pytest_collection_modifyitems(config, items):
    """Tests that use the ``x64`` fixture carry the ``x64`` mark (the x64 CI pass)."""
    for item in items:
        if "x64" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.x64)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if it made more statistical assertions than the budget assumes.

    Under pytest-xdist each worker reports its count to the controller
    (``workeroutput``), which checks the sum.
    """
    from tests.helpers import ASSERTION_COUNT, NUM_STATISTICAL_ASSERTIONS

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: report, the controller checks
        workeroutput["statistical_assertions"] = ASSERTION_COUNT[0]
        return
    count = ASSERTION_COUNT[0] + _WORKER_COUNTS[0]
    if count > NUM_STATISTICAL_ASSERTIONS:
        print(f"\n[collapse_jax] {count} statistical assertions exceed the budget of "
              f"{NUM_STATISTICAL_ASSERTIONS} (tests/helpers.py): re-derive K.")
        session.exitstatus = 1
    elif count:
        print(f"\n[collapse_jax] {count} statistical assertions "
              f"(budget {NUM_STATISTICAL_ASSERTIONS}, K from tests/helpers.py)")


_WORKER_COUNTS = [0]


try:  # the hook exists only with pytest-xdist (an unknown hook is an error)
    import xdist  # noqa: F401
except ImportError:  # pragma: no cover
    pass
else:

    def pytest_testnodedown(node, error):
        """xdist controller: add up the workers' statistical assertions."""
        _WORKER_COUNTS[0] += int(node.workeroutput.get("statistical_assertions", 0))
