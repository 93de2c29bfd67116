"""Modules split by concept keep their old import paths.

runs, memory, cli, experiments.core, theory.gaussian and monitor each moved a concept
into a module of its own (_run_engine, _memory_model and _memory_trace, _cli_support,
experiments._fields and _design, theory._gaussian_distance and _gaussian_chain,
_collapse_monitor, _monitor_held_out, _monitored and _monitor_adaptive).
A fork's ``from collapse_jax.memory import estimator`` and the names tests patch
(``runs.check_design``, ``memory.check_run``) must still be there, and be the very
objects the new modules define (a copy would drift).
"""

from __future__ import annotations

import importlib

import pytest

# old module: (new module, names that moved there and stay importable from the old)
MOVED = {
    "collapse_jax.runs": (
        "collapse_jax._run_engine",
        ("Run", "check_design", "_note", "_execute_run", "_POINT_OPTIONS"),
    ),
    "collapse_jax.memory": (
        "collapse_jax._memory_model",
        (
            "Keep",
            "Estimate",
            "RUN_CHAINS",
            "RESERVE",
            "FIT_COPIES",
            "estimate_run",
            "chain_bytes",
            "compiled_bytes",
            "format_bytes",
        ),
    ),
    "collapse_jax.cli": (
        "collapse_jax._cli_support",
        (
            "X64",
            "SEED",
            "DEVICES",
            "OUT",
            "SCALE",
            "PROGRESS",
            "_field_args",
            "_quantiles",
            "_report",
            "_guarded",
        ),
    ),
    "collapse_jax.experiments.core": (
        "collapse_jax.experiments._design",
        ("Point", "TheoryCurve", "Design", "Experiment", "Preset"),
    ),
    "collapse_jax.theory.gaussian": (
        "collapse_jax.theory._gaussian_distance",
        (
            "expected_squared_mean_error",
            "marginal_sample_variance",
            "expected_w2_sq",
            "expected_w2_sq_leading_order",
            "w2_sq_upper_bound",
            "quadratic_schedule",
            "mean_increment_scale",
        ),
    ),
    "collapse_jax.monitor": (
        "collapse_jax._collapse_monitor",
        (
            "STATISTICS",
            "ALTERNATIVES",
            "MONITOR_RECORDS",
            "MonitorState",
            "CollapseMonitor",
            "collapse_monitor",
            "_STREAM_MONITOR",
        ),
    ),
}
MOVED_TOO = {
    "collapse_jax.memory": ("collapse_jax._memory_trace", ("estimator",)),
    "collapse_jax.experiments.core": (
        "collapse_jax.experiments._fields",
        ("Field", "COMMON_FIELDS"),
    ),
    "collapse_jax.theory.gaussian": (
        "collapse_jax.theory._gaussian_chain",
        ("_log_chi2_mean",),
    ),
    "collapse_jax.monitor": (
        "collapse_jax._monitored",
        ("monitored", "RANK_CPU_BATCH_LIMIT"),
    ),
}
# A module split in more than three: its further (new module, names) pairs.
MOVED_ALSO = {
    "collapse_jax.monitor": (
        ("collapse_jax._monitor_adaptive", ("adaptive", "_STREAM_INJECT")),
        ("collapse_jax._monitor_held_out", ("_STREAM_HELD_OUT",)),
    ),
}
CASES = [
    (old, new, name)
    for table in (MOVED, MOVED_TOO)
    for old, (new, names) in table.items()
    for name in names
] + [
    (old, new, name)
    for old, pairs in MOVED_ALSO.items()
    for new, names in pairs
    for name in names
]


@pytest.mark.parametrize(
    ("old", "new", "name"),
    CASES,
    ids=[f"{o.rsplit('.', 1)[1]}.{n}" for o, _, n in CASES],
)
def test_a_moved_name_is_the_same_object_at_its_old_path(old, new, name):
    assert getattr(importlib.import_module(old), name) is getattr(
        importlib.import_module(new), name
    )


@pytest.mark.parametrize("old", sorted(MOVED))
def test_every_public_name_of_a_split_module_still_resolves(old):
    module = importlib.import_module(old)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, (old, missing)
