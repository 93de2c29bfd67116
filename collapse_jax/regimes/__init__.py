"""Regimes: what each fit sees.

A regime is a value with a pure ``step`` that turns the current model (and the
regime's own per-chain state, e.g. a buffer of past data) into the next model. The
runner never branches on the regime. Numbers one might sweep (fractions, weights) are
the regime's ``hyper``: the runner passes them as traced arguments, so a sweep over
them is one compiled program (:func:`collapse_jax.sweep`).

Every regime but :func:`replace` builds a weighted data set and calls the family's
weighted ``fit(key, data, weights, prev)``: the real, previous and synthetic parts of
a fit's data carry their shares through the weights. The regimes:

========================  ============================================================
:func:`replace`           the newest synthetic draws only (docs/theory.md SH-0, α = 1)
:func:`accumulate`        every generation's draws so far (LR-0, LR-3)
:func:`accumulate_subsample`  all draws kept, a uniform subsample of fixed size fitted
:func:`mix`               a fixed real set pooled with the synthetic draws (AL-1, BE-1)
:func:`fresh`             new real draws each generation plus synthetic (AL-3, SE-2)
:func:`retain_original`   a random share of the original data kept (Shumailov's 10 %)
:func:`general_mix`       SH-0: newest model, previous data, original data (α, β, γ)
:func:`web`               a scrape, share s_t synthetic, with a detector's drops
========================  ============================================================

Samplers: :func:`replace` supports all three; the others draw samples, or run in the
population limit (``sample_size=None``) for families with
``fit_population_mixture`` (Gaussian, categorical), where each fit is the exact fit
to a mixture of models (SH-0's deterministic check: a well-specified truth is kept).

Data-keeping regimes hold their state in the scan carry. :func:`accumulate` keeps
the pooled sufficient statistic of every draw for a family that has one
(``ModelFamily.pooled``: Gaussian, categorical, Poisson, OLS and ridge regression),
O(1) per chain and generation, and the points for the others (mixtures, neural and
approximate fits, minimum-norm regression). :func:`accumulate_subsample` (it draws
a subset of the points) and :func:`general_mix` (it re-weighs past points every
generation) keep ``num_generations × max(sample_size)`` points per chain, so their
memory and per-generation cost grow with the length of the run; :func:`mix`,
:func:`fresh` and :func:`retain_original` keep at most one generation's points;
:func:`web` keeps no points, and with ``source="all"`` the past models (``N - 1``
copies of the params per chain).

Writing a regime: a :class:`Regime` whose ``step`` calls the public generation
pipeline (:mod:`collapse_jax.regimes.pipeline`: draw, distort, curate, weigh,
fit), keeps its state with :mod:`collapse_jax.regimes.buffers`, draws its own
randomness from a stream registered in :mod:`collapse_jax.keys`, and registers
itself with one line, ``register_regime("name", factory)``
(:mod:`collapse_jax.regimes.registry`). :func:`collapse_jax.testing.check_regime`
checks the result.
"""

from __future__ import annotations

# Modules of the package: base (types), pipeline (the stages), buffers (state),
# validate (host-side checks), registry (names), and the built-in regimes.
from collapse_jax.regimes.base import MIXING_SAMPLERS, SAMPLERS, Regime, StepContext
from collapse_jax.regimes.generational import general_mix
from collapse_jax.regimes.keeping import accumulate, accumulate_subsample
from collapse_jax.regimes.newest import replace
from collapse_jax.regimes.pipeline import source_data
from collapse_jax.regimes.real_data import fresh, mix, retain_original
from collapse_jax.regimes.registry import (
    make_regime,
    options_of,
    regime_entry,
    regime_names,
    register_regime,
)
from collapse_jax.regimes.web import web

__all__ = [
    "Regime",
    "StepContext",
    "replace",
    "accumulate",
    "accumulate_subsample",
    "mix",
    "fresh",
    "retain_original",
    "general_mix",
    "web",
    "source_data",
    "SAMPLERS",
    "MIXING_SAMPLERS",
    "register_regime",
    "regime_names",
    "regime_entry",
    "make_regime",
    "options_of",
]

# The built-in regimes, in the order of the table above (regime_names()'s order).
for _factory in (
    replace,
    accumulate,
    accumulate_subsample,
    mix,
    fresh,
    retain_original,
    general_mix,
    web,
):
    register_regime(_factory.__name__, _factory)
del _factory
