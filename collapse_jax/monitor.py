"""A collapse monitor that runs inside a chain, and a regime that acts on its alarm.

Every generation the monitor compares the current model with **held-out real data**
(points from the truth that no fit ever sees) and raises an alarm when the model
explains them worse than a model equal to the truth would:

=============  ==================================================================
``"rank"``     any family with ``log_prob``: a one-sided Mann–Whitney test of the
               model's log-likelihood of the held-out points against that of
               ``num_model_draws`` fresh draws from the model (two-sample,
               distribution-free; "real data less likely" is collapse).
``"coverage"`` Gaussian: the number of held-out points outside the model's central
               ``1 - tail`` Mahalanobis region (the ``χ²_d`` quantile), exactly
               ``Binomial(n, tail)`` under the null; alarm above its ``1 - level``
               quantile (computed on the host).
``"tail"``     categorical: the number of held-out tokens on the model's tail set
               (its least probable categories, cumulative mass ``<= tail``, at
               least one), exactly ``Binomial(n, p_tail)`` under the null, with
               ``p_tail`` the model's mass on the set: tail mass, support and
               diversity loss all show as too many real tokens there.
``"auto"``     ``"coverage"`` for Gaussians, ``"tail"`` for categoricals, else
               ``"rank"`` (decided by the family's capabilities: a
               single-Gaussian location-scale, a probability vector).
=============  ==================================================================

Every statistic also counts the held-out points the model gives probability zero
(``log_prob = -inf``: lost support); one such point raises the alarm.

``alternative="collapse"`` (default) alarms only in the direction of collapse (too
many held-out points in the model's tails, real data less likely than the model's
own draws). ``alternative="two-sided"`` also alarms when the model explains the
held-out data too well (a model grown too wide): each tail at ``level / 2``, and for
the Gaussian coverage statistic an exact ``χ²_d`` test of the held-out mean
(``n ||L^{-1}(x̄ - mean)||²``) joins the count, each at ``level / 2``
(Bonferroni), since the count alone cannot see a wide model shifted so as to keep
it. :func:`adaptive` needs the two-sided monitor to hold a chain near the truth
(a one-sided monitor lets the model drift wide and off-centre unnoticed).

**The false-alarm guarantee.** Fix a generation ``t`` and the null ``H0(t)``: model
``t`` equals the truth (the law of the held-out points). The held-out points are
independent of every fit (drawn once per chain from the truth with their own key
stream, or given by the user, and never fitted), so conditionally on model ``t``
they are i.i.d. draws from it under ``H0(t)``, and

* ``"coverage"`` and ``"tail"``: ``P(alarm at t | H0(t)) <= level`` exactly (the
  binomial null; conservative only by the discreteness of the count; two-sided
  coverage adds the exact mean test under a union bound);
* ``"rank"``: ``P(alarm at t | H0(t)) = level`` up to the normal approximation of
  the Mann–Whitney null (with continuity and tie corrections): distribution-free,
  accurate to well under ``10^-3`` at ``level = 0.01`` for a few hundred points;
* the lost-support part never fires under ``H0(t)`` (a draw from the truth has
  positive probability under the truth).

The guarantee is **per generation**. Alarms at different generations of one chain
share the held-out set and are dependent; over ``T`` generations the chance of at
least one false alarm is at most ``T · level`` (pass ``level / T`` for a run-wise
guarantee, Bonferroni). Away from the null an alarm is the point of the monitor:
``tests/test_monitor.py`` measures the false-alarm rates on chains that stay at the
truth and the detection delay on a collapsing Gaussian chain.

:func:`monitored` runs a monitor inside any regime and records, per generation,
``monitor_stat``, ``monitor_pvalue``, ``alarm`` and ``monitor_lost``;
:func:`adaptive` injects fresh real data into the fits after an alarm.
"""

from __future__ import annotations

import numpy as np

# The monitor's concepts live in modules of their own, none of which imports this
# one: _collapse_monitor (the monitor and its test step), _monitor_held_out (the
# held-out set), _monitor_stats (the statistics), _monitored and _monitor_adaptive
# (the regimes). This module is their public face, plus the reading of the alarms.
from collapse_jax._collapse_monitor import (
    _STREAM_MONITOR,  # noqa: F401 (tests/test_streams.py)
    ALTERNATIVES,
    MONITOR_RECORDS,
    STATISTICS,
    CollapseMonitor,
    MonitorState,
    collapse_monitor,
)
from collapse_jax._monitor_adaptive import (
    _STREAM_INJECT,  # noqa: F401 (tests/test_streams.py)
    adaptive,
)
from collapse_jax._monitor_held_out import (
    _STREAM_HELD_OUT,  # noqa: F401 (tests/test_streams.py)
)
from collapse_jax._monitor_stats import (  # noqa: F401 (claims/monitoring.py, tests)
    _binomial_pvalues,
    _tail_set,
)
from collapse_jax._monitored import (
    RANK_CPU_BATCH_LIMIT,  # noqa: F401 (the runner's block size, documented there)
    monitored,
)

__all__ = [
    "STATISTICS",
    "ALTERNATIVES",
    "MONITOR_RECORDS",
    "MonitorState",
    "CollapseMonitor",
    "collapse_monitor",
    "monitored",
    "adaptive",
    "first_generation",
]

# --------------------------------------------------------------------- reading ---


def first_generation(flags) -> np.ndarray:
    """Per chain, the first generation where ``flags`` is True (``T + 1``: never).

    ``flags`` is ``(num_chains, T + 1)`` bool, e.g. a run's ``alarm`` record or
    ``log_var <= log(1/2)``.

    Examples:
      >>> from collapse_jax.monitor import first_generation
      >>> first_generation([[False, True, True], [False, False, False]]).tolist()
      [1, 3]
    """
    flags = np.asarray(flags, bool)
    return np.where(flags.any(1), flags.argmax(1), flags.shape[1])
