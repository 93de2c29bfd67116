r"""The three error sources as switches, run side by side (docs/theory.md SH-1).

:func:`decompose` runs one configuration under any subset of the eight on/off
combinations of the three errors of Shumailov et al.:

* **statistical**: finite samples (``sample_size=M``) or the population limit
  (``sample_size=None``);
* **expressivity**: the fitted family contains the truth (``truth_family``) or is
  too small for it (``restricted_family``, e.g. one Gaussian for a mixture);
* **approximation**: the exact fit, or an imperfect procedure
  (``approximation(family)``, e.g. :func:`~collapse_jax.approximate` with a few
  optimiser steps or a biased objective).

All runs share the seed and chain ids, hence the random numbers (common random
numbers): the differences between combinations are the effect of the switches, not
of the noise. The result holds per-generation distances to the truth for each
combination and their additive decomposition into main effects and interactions.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from collapse_jax import runspec
from collapse_jax.chain import execute
from collapse_jax.checks import check_choice, fail
from collapse_jax.compiled import DISTANCE_METRICS
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.result import ChainResult

__all__ = ["ERROR_SOURCES", "Decomposition", "decompose", "combo_label"]

_FN = "decompose"

#: The three error sources, in the order of a combination's flags.
ERROR_SOURCES = ("statistical", "expressivity", "approximation")
_LETTERS = ("S", "E", "A")
_STATISTICS = ("mean", "median")

Combo = tuple[bool, bool, bool]


def combo_label(combo: Combo) -> str:
    """``"S+E"`` for statistical and expressivity on, ``"none"`` for all off.

    Examples:
      >>> combo_label((True, False, True)), combo_label((False, False, False))
      ('S+A', 'none')
    """
    on = [letter for letter, flag in zip(_LETTERS, combo, strict=True) if flag]
    return "+".join(on) if on else "none"


ALL_COMBOS: tuple[Combo, ...] = tuple(
    tuple(bool(b) for b in bits)  # type: ignore[misc]
    for bits in itertools.product((False, True), repeat=3)
)
_BY_LABEL = {combo_label(c): c for c in ALL_COMBOS}


@dataclasses.dataclass
class Decomposition:
    """What :func:`decompose` returns.

    Attributes:
      combos: the combinations run, as ``(statistical, expressivity,
        approximation)`` flags.
      labels: their labels (``"none"``, ``"S"``, ``"S+E"``, ...).
      distances: ``{metric: array (num_combos, num_chains, num_generations + 1)}``,
        the distances to the truth per chain and generation.
      results: ``{label: ChainResult}``, the underlying runs.
    """

    combos: tuple[Combo, ...]
    labels: tuple[str, ...]
    distances: dict[str, np.ndarray]
    results: dict[str, ChainResult]

    def mean(self, metric: str) -> np.ndarray:
        """Mean over chains: ``(num_combos, num_generations + 1)``."""
        return self._metric(metric).mean(axis=1)

    def median(self, metric: str) -> np.ndarray:
        """Median over chains: ``(num_combos, num_generations + 1)``."""
        return np.median(self._metric(metric), axis=1)

    def effects(self, metric: str, statistic: str = "mean") -> dict[str, np.ndarray]:
        r"""Additive decomposition of a statistic into main effects and interactions.

        For every subset ``A`` of the error sources whose combinations were all
        run, the interaction term is the Möbius inversion
        :math:`\delta_A = \sum_{B \subseteq A} (-1)^{|A| - |B|} y(B)`, where
        ``y(B)`` is the statistic with exactly the sources in ``B`` switched on.
        Then :math:`y(C) = \sum_{A \subseteq C} \delta_A` for every run ``C``:
        ``"none"`` is the baseline (0 up to rounding when the family is
        well-specified and fitted exactly), ``"S"`` the main effect of the
        statistical error, ``"S+E"`` the interaction of statistical and
        expressivity errors beyond their sum, and so on.

        Args:
          metric: a distance name in ``distances``.
          statistic: ``"mean"`` or ``"median"`` over chains.

        Returns:
          ``{label: (num_generations + 1,) array}`` for each subset whose terms are
          all available.
        """
        check_choice("Decomposition.effects", "statistic", statistic, _STATISTICS)
        values = self.mean(metric) if statistic == "mean" else self.median(metric)
        y = dict(zip(self.combos, values, strict=True))
        out = {}
        for combo in ALL_COMBOS:
            subsets = [
                b
                for b in ALL_COMBOS
                if all((not bi) or ci for bi, ci in zip(b, combo, strict=True))
            ]
            if not all(b in y for b in subsets):
                continue
            term = sum((-1) ** (sum(combo) - sum(b)) * y[b] for b in subsets)
            out[combo_label(combo)] = np.asarray(term)
        return out

    def _metric(self, metric: str) -> np.ndarray:
        if metric not in self.distances:
            fail(
                "Decomposition",
                "metric",
                f"one of {tuple(self.distances)}",
                metric,
                "Pick a recorded distance.",
            )
        return self.distances[metric]


def _combos(combos) -> tuple[Combo, ...]:
    if combos is None:
        return ALL_COMBOS
    if isinstance(combos, str) or not isinstance(combos, Iterable):
        fail(
            _FN,
            "combos",
            "None or a sequence of labels ('none', 'S', 'E+A', ...) or flag triples",
            combos,
            "Pass e.g. combos=['none', 'S', 'E', 'S+E'].",
            error=TypeError,
        )
    out = []
    for c in combos:
        if isinstance(c, str):
            key = "+".join(sorted(c.split("+"), key=lambda x: "SEA".find(x)))
            if key not in _BY_LABEL:
                fail(
                    _FN,
                    "combos",
                    f"labels from {tuple(_BY_LABEL)}",
                    c,
                    "Letters S, E, A joined by '+' (statistical, expressivity, "
                    "approximation), or 'none'.",
                )
            out.append(_BY_LABEL[key])
        elif (
            isinstance(c, Sequence)
            and len(c) == 3
            and all(isinstance(b, bool | np.bool_) for b in c)
        ):
            out.append(tuple(bool(b) for b in c))
        else:
            fail(
                _FN,
                "combos",
                "labels or (statistical, expressivity, approximation) bool triples",
                c,
                "Pass e.g. 'S+E' or (True, True, False).",
            )
    if len(set(out)) != len(out):
        fail(_FN, "combos", "distinct combinations", list(combos), "Remove repeats.")
    return tuple(out)


def decompose(
    truth_family: ModelFamily,
    truth: Params,
    *,
    restricted_family: ModelFamily | None,
    approximation: Callable[[ModelFamily], ModelFamily] | None,
    sample_size: int | Sequence[int] | np.ndarray,
    key: Any,
    num_chains: int,
    num_generations: int,
    combos=None,
    metrics: Sequence[str] | None = None,
    dtype: str = "float32",
    chunk_size: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Decomposition:
    """Run a configuration with each error source switched on or off.

    Args:
      truth_family: the truth's family; also the fitted family when expressivity
        is off (well-specified).
      truth: params of the truth in ``truth_family``.
      restricted_family: the fitted family when expressivity is on (one that
        cannot represent the truth, e.g. ``cj.gaussian(d)`` for a ``cj.gmm``
        truth, or ``cj.categorical(K, max_support=k)``). ``None`` if no requested
        combination needs it.
      approximation: ``family -> family`` applied to the fitted family when
        approximation is on, e.g. ``lambda f: cj.approximate(f, optimizer="sgd",
        learning_rate=0.1, num_steps=5)``. ``None`` if no combination needs it.
      sample_size: ``M`` (int or schedule) when the statistical error is on.
      key, num_chains, num_generations, dtype, chunk_size: as in
        :func:`~collapse_jax.run_chains`; every combination uses the same seed and
        chain ids (common random numbers).
      combos: ``None`` (all eight) or a sequence of labels (``"none"``, ``"S"``,
        ``"E"``, ``"A"``, ``"S+E"``, ..., ``"S+E+A"``) or flag triples.
      metrics: distances to record (default all distances of the truth's kind:
        ``l2_to_truth``, ``w2_mm_sq_to_truth`` or ``tv_to_truth``).
      progress: ``progress(label, done, total)`` per chunk, or None.

    Returns:
      A :class:`Decomposition`.

    Raises:
      ValueError, TypeError: for invalid arguments (with the fix), including a
        combination that needs ``restricted_family`` or ``approximation`` when it
        is None.

    Examples:
      >>> import collapse_jax as cj
      >>> truth = cj.categorical_params([0.5, 0.3, 0.15, 0.05])
      >>> dec = cj.decompose(
      ...     cj.categorical(4), truth,
      ...     restricted_family=cj.categorical(4, max_support=2),
      ...     approximation=None, sample_size=20, key=0, num_chains=8,
      ...     num_generations=3, combos=["none", "S", "E", "S+E"])
      >>> dec.labels
      ('none', 'S', 'E', 'S+E')
      >>> round(float(dec.mean("tv_to_truth")[2, 1]), 6)  # E: 1 - (0.5 + 0.3)
      0.2
    """
    if not isinstance(truth_family, ModelFamily):
        fail(
            _FN,
            "truth_family",
            "a model family",
            type(truth_family).__name__,
            "Pass e.g. cj.gmm(2, 2).",
            error=TypeError,
        )
    if truth_family.view_kind is None:
        fail(
            _FN,
            "truth_family",
            "a family with a view (distances to the truth need one)",
            truth_family.name,
            "Use a Gaussian, mixture or categorical family.",
        )
    chosen = _combos(combos)
    if any(c[1] for c in chosen) and not isinstance(restricted_family, ModelFamily):
        fail(
            _FN,
            "restricted_family",
            "a model family (a combination switches expressivity on)",
            restricted_family,
            "Pass e.g. restricted_family=cj.gaussian(d), or drop the 'E' combinations.",
            error=TypeError,
        )
    if any(c[2] for c in chosen) and not callable(approximation):
        fail(
            _FN,
            "approximation",
            "a callable family -> family (a combination switches approximation on)",
            approximation,
            "Pass e.g. lambda f: cj.approximate(f, optimizer='sgd', "
            "learning_rate=0.1, num_steps=5), or drop the 'A' combinations.",
            error=TypeError,
        )
    if sample_size is None and any(c[0] for c in chosen):
        fail(
            _FN,
            "sample_size",
            "the finite M used when the statistical error is on",
            None,
            "Pass e.g. sample_size=100 (the 'S' switch turns it on and off).",
        )
    kind = truth_family.view_kind
    names = DISTANCE_METRICS[kind]
    if metrics is None:
        metrics = names
    elif isinstance(metrics, str) or not all(m in names for m in metrics):
        fail(
            _FN,
            "metrics",
            f"a sequence of names from {names}",
            metrics,
            "Pass None for all distances.",
        )
    metrics = tuple(metrics)

    results: dict[str, ChainResult] = {}
    for combo in chosen:
        statistical, expressive, approximate = combo
        family = restricted_family if expressive else truth_family
        assert family is not None  # checked above: a family for 'E'
        if approximate:
            assert approximation is not None  # checked above: callable for 'A'
            family = approximation(family)
            if not isinstance(family, ModelFamily):
                fail(
                    _FN,
                    "approximation",
                    "a callable that returns a model family",
                    type(family).__name__,
                    "Return e.g. cj.approximate(family, ...).",
                    error=TypeError,
                )
        if family.view_kind != kind:
            fail(
                _FN,
                "restricted_family",
                f"a family whose models compare with the truth ({kind!r} view)",
                family.name,
                "Use a restricted family of the same kind as the truth.",
            )
        label = combo_label(combo)
        report = None if progress is None else functools.partial(progress, label)

        # Each combination is one run spec in decompose's wording.
        spec = runspec.build(
            _FN,
            family,
            truth,
            key=key,
            num_chains=num_chains,
            num_generations=num_generations,
            sample_size=sample_size if statistical else None,
            dtype=dtype,
            init_family=truth_family,
            chunk_size=chunk_size,
            progress=report,
            metrics=metrics,
            record_params=False,
            runner=execute,
        )
        res = execute(spec, report)
        assert isinstance(res, ChainResult)  # the spec records (no output=)
        results[label] = res
    labels = tuple(results)
    distances = {
        m: np.stack([results[label].metrics[m] for label in labels]) for m in metrics
    }
    return Decomposition(chosen, labels, distances, results)
