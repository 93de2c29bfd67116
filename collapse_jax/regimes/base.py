"""The regime API's types: :class:`Regime` and the :class:`StepContext` of a step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax

from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.keys import GenerationKeys

__all__ = ["SAMPLERS", "MIXING_SAMPLERS", "StepContext", "Regime"]

#: Every sampler a regime may support: draws, the exact sufficient-statistic draw,
#: and the population limit (``sample_size=None``).
SAMPLERS = ("samples", "sufficient", "population")
#: The samplers of a regime that pools data: draws, or the population limit, where
#: each fit is to a mixture of models (``family.fit_population_mixture``).
MIXING_SAMPLERS = ("samples", "population")


class StepContext(NamedTuple):
    """What one generation of one chain knows besides its model and regime state.

    Attributes:
      family: the fitted family.
      keys: this generation's :class:`~collapse_jax.keys.GenerationKeys`.
      t: int32 (), the generation index (the fit makes model ``t + 1``).
      sample_size: int32 (), this generation's ``M_t`` (traced).
      n_max: static, the largest ``M_t`` (draws are masked down to ``M_t``).
      sampler: static, ``"samples"``, ``"sufficient"`` or ``"population"``.
      hyper: dict of traced numbers of the regime, sampling bias and curation.
      truth: the truth's params (of ``truth_family``), for fresh real data.
      truth_family: the truth's family (``family`` unless ``init_family`` differs).
      reference: the truth seen as a model of ``family`` (``ChainResult.reference``).
      first_source: static; True for the first fit of a cross-family run, whose
        draws come from the truth (``truth_family``) rather than from ``params``.
      sampling: a :class:`~collapse_jax.sampling.SamplingBias` or None.
      curation: a :class:`~collapse_jax.curation.Curation` or None.
      num_generations: static, the run's ``N``.
    """

    family: ModelFamily
    keys: GenerationKeys
    t: jax.Array
    sample_size: jax.Array
    n_max: int
    sampler: str
    hyper: Mapping[str, jax.Array]
    truth: Params
    truth_family: ModelFamily
    reference: Params
    first_source: bool = False
    sampling: Any = None
    curation: Any = None
    num_generations: int = 1


class Regime(NamedTuple):
    """A data regime.

    Attributes:
      name: short name.
      samplers: the samplers this regime supports (subset of ``SAMPLERS``).
      init: ``(family, data, num_generations) -> state``: the regime's per-chain
        state (``()`` when it keeps none); ``data`` is a ``ShapeDtypeStruct`` of one
        generation's ``n_max`` draws.
      step: ``(ctx: StepContext, params, state) -> (params, state)``: one
        generation of one chain.
      hyper: ``{name: value}``, the regime's traced (sweepable) numbers.
      check: ``(fn, family, data, schedule, num_generations, hyper) -> None`` or
        None: host-side validation against the run (``data``: a ``ShapeDtypeStruct``
        of one draw of the fitted family; ``schedule``: the ``M_t`` as an int array,
        or None for the population limit).
      sweepable: the names in ``hyper`` that :func:`collapse_jax.sweep` may vary.
      checkers: ``{name: (fn, name, value) -> value}``: validates one swept value.
      describe: a JSON-serialisable description of the settings.
      observe: ``(state) -> {name: array}`` or None: per-generation records the
        regime keeps in its state (e.g. a collapse monitor's statistic and alarm),
        recorded as metrics under the names ``observed``.
      observed: the names ``observe`` returns.
      mixes_models: True when, in the population limit, a fit is to a mixture of
        models (it then needs ``family.fit_population_mixture``).
      cpu_batch_limit: None, or the most chains one compiled call may hold on the
        CPU backend (the runner then loops over blocks of chains; results are
        unchanged, a chain's bits not depending on its batch). Works around an
        XLA:CPU runtime hang seen with the monitor's rank statistic.
      data_hyper: the names in ``hyper`` that hold data points given in the
        truth's coordinates (a real set, a held-out set): the runner moves them
        into a translated run's frame with the truth (collapse_jax.frame).
      init_reference: True when ``init`` takes ``reference`` (the truth as a
        model of the family: the shape of the models a regime keeps) in every
        run, not only in the population limit; ``init`` then tells the two apart
        by ``data`` (no draws, ``data.shape[0] == 0``, in the population limit).
    """

    name: str
    samplers: tuple[str, ...]
    init: Callable[..., Any]
    step: Callable[..., tuple[Params, Any]]
    hyper: Any = ()
    check: Callable[..., None] | None = None
    sweepable: tuple[str, ...] = ()
    checkers: Any = ()
    describe: Any = ()
    observe: Callable[..., Any] | None = None
    observed: tuple[str, ...] = ()
    mixes_models: bool = False
    cpu_batch_limit: int | None = None
    data_hyper: tuple[str, ...] = ()
    init_reference: bool = False
