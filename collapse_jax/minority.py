r"""Minorities: the share of a marked group of a model, per generation.

Collapse erases the tails first; when the tails are people, this is bias
amplification. :func:`minority` marks a group: categories of a categorical model, or
components of a Gaussian mixture. Its share is the group's total probability,
:math:`m_n = \sum_{j \in G} p_n(j)` (categories) or its total mixture weight
(components), recorded as a derived metric (:mod:`collapse_jax.derived`)::

    group = cj.minority(categories=[9])
    res = cj.run_chains(cj.categorical(10), truth, key=0, num_chains=1000,
                        num_generations=200, sample_size=100,
                        extra_metrics={group.metric: group},
                        first_passage={"below_1pct": (group.metric, "<", 0.01),
                                       "vanished": (group.metric, "==", 0.0)})
    res.metrics["minority_share"]            # (chains, N + 1)
    res.first_passage["vanished"]            # first generation with m_n = 0; -1: never

The exact law (docs/theory.md SH-3, WF-2; proofs/sh-3-discrete-absorption.md): in the
neutral categorical chain (the replace regime, ``M`` draws per generation) the
group's count is binomial given the last model, :math:`M m_{n+1} \mid m_n \sim
\mathrm{Bin}(M, m_n)`, whatever the categories inside the group do: the group is a
two-type Wright–Fisher chain. :math:`m_n` is a bounded martingale absorbed at 0 or 1,
so the group vanishes with probability :math:`1 - m_0`. :func:`vanished_by` gives the
exact probability that it has vanished by generation ``n`` and
:func:`mean_time_to_loss` the exact mean generation of its loss given that it is lost,
both from the two-type transition matrix
(:func:`collapse_jax.theory.discrete.wright_fisher_matrix`), counting generations as
the run does (generation 1 is the first fit to draws from the truth); the diffusion
approximation of the latter, :math:`-2M \frac{m_0}{1 - m_0}\log m_0` (Kimura and
Ohta, 1969), is :func:`collapse_jax.theory.web.minority_mean_time_to_loss`.

A vanished group comes back only from outside the chain: fresh human data
(:func:`collapse_jax.fresh`, :func:`collapse_jax.mix`) puts it back each generation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._linalg import _normalised_log_weights
from collapse_jax._reduce import tree_sum
from collapse_jax.checks import as_float_array, described, fail
from collapse_jax.theory._schedule import check_constant_size, check_int
from collapse_jax.theory.minority_loss import (
    time_to_loss_from_share,
    vanished_by_curve,
)

__all__ = [
    "Minority",
    "minority",
    "vanished_by",
    "mean_time_to_loss",
]


@dataclasses.dataclass(frozen=True)
class Minority:
    """A marked group of categories or mixture components (see :func:`minority`).

    Called on one model's params it returns the group's share, a ``()`` float:
    jittable, hashable by value (equal groups share one compiled program).

    Attributes:
      categories: the group's category indices (sorted, distinct), or None.
      components: the group's mixture-component indices, or None.
      name: the group's name; its metric is ``f"{name}_share"``.
    """

    categories: tuple[int, ...] | None
    components: tuple[int, ...] | None
    name: str = "minority"

    @property
    def metric(self) -> str:
        """The name of the group's share metric, ``"<name>_share"``."""
        return f"{self.name}_share"

    @property
    def indices(self) -> tuple[int, ...]:
        return self.categories if self.categories is not None else self.components  # type: ignore[return-value]

    @property
    def kind(self) -> str:
        return "categories" if self.categories is not None else "components"

    def __call__(self, params) -> jax.Array:
        idx = np.asarray(self.indices, np.int32)
        if self.categories is not None:
            # The group's share sums a handful of entries by the fixed tree: its
            # bits do not depend on the batch (collapse_jax._reduce).
            return tree_sum(params.probs[idx])
        lw = _normalised_log_weights(params.log_weights)
        w = jnp.where(lw > -jnp.inf, jnp.exp(lw), jnp.zeros_like(lw))
        return tree_sum(w[idx])

    def size_of(self, family, init, init_family) -> int | None:
        """How many categories or components a model of ``family`` has (None:
        it has none of this kind)."""
        if self.categories is not None:
            return family.num_categories
        if family.view_kind != "mixture" or "log_weights" not in getattr(
            family.params_type, "_fields", ()
        ):
            return None
        if init_family is None or init_family is family:
            return int(np.shape(init.log_weights)[0])
        shape = jax.eval_shape(
            lambda p: family.fit_population_from(init_family, p), init
        )
        return int(shape.log_weights.shape[0])

    def check(self, fn: str, arg: str, family, init, init_family=None) -> None:
        """Raise the house error unless every index names one of ``family``'s
        categories or components (called when the run is built)."""
        size = self.size_of(family, init, init_family)
        if size is None:
            want = (
                "a categorical family (cj.categorical(K))"
                if self.categories is not None
                else "a mixture family with components (cj.gmm(k, d))"
            )
            fail(
                fn,
                arg,
                f"a group of a model that has {self.kind}: {want}",
                described(
                    f"{self.kind}={list(self.indices)} on the {family.name} family"
                ),
                "Mark categories of a categorical model or components of a "
                "Gaussian mixture.",
            )
        bad = [i for i in self.indices if i >= size]
        if bad:
            fail(
                fn,
                arg,
                f"a group of {self.kind} that exist: indices in "
                f"[0, {size - 1}] for this {family.name} model",
                described(
                    f"{self.kind}={list(self.indices)}, where {bad} do not exist"
                ),
                f"Name {self.kind} 0 .. {size - 1}.",
            )
        if len(self.indices) == size:
            fail(
                fn,
                arg,
                f"a proper subset of the model's {size} {self.kind}",
                described(f"all of them, {list(self.indices)}"),
                "A group that holds every category has share 1 at every "
                "generation; leave some out.",
            )

    def share(self, params) -> float:
        """The group's share in one model's params, on the host (float64)."""
        if self.categories is not None:
            p = np.asarray(params.probs, np.float64)
            return float(p[list(self.categories)].sum())
        lw = np.asarray(params.log_weights, np.float64)
        w = np.exp(lw - np.logaddexp.reduce(lw))
        return float(w[list(self.components)].sum())  # type: ignore[arg-type]


def _indices(fn: str, arg: str, value) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray):
        fail(
            fn,
            arg,
            "a non-empty list of indices",
            value,
            f"Pass e.g. {arg}=[0, 1].",
            error=TypeError,
        )
    out = []
    for v in np.asarray(value, dtype=object).reshape(-1).tolist():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            fail(
                fn,
                arg,
                "a non-empty list of indices (ints >= 0)",
                value,
                f"Pass e.g. {arg}=[0, 1].",
                error=TypeError,
            )
        if v < 0:
            fail(
                fn,
                arg,
                "indices >= 0",
                value,
                "Count categories and components from 0.",
            )
        out.append(int(v))
    if not out:
        fail(fn, arg, "a non-empty list of indices", value, f"Pass e.g. {arg}=[0].")
    if len(set(out)) != len(out):
        fail(fn, arg, "distinct indices", value, "Name each index once.")
    return tuple(sorted(out))


def minority(categories=None, components=None, name: str = "minority") -> Minority:
    """Mark a minority group: categories of a categorical, or mixture components.

    Its share per generation is recorded with ``run_chains(...,
    extra_metrics={group.metric: group})``; whether the named indices exist is
    checked when the run is built.

    Args:
      categories: category indices of a categorical model (an int or a list).
      components: component indices of a Gaussian mixture (an int or a list).
        Exactly one of ``categories`` and ``components``.
      name: the group's name (an identifier); its metric is ``"<name>_share"``.

    Returns:
      A :class:`Minority`.

    Raises:
      ValueError, TypeError: both or neither of ``categories`` and
        ``components``, indices that are not distinct ints ``>= 0``, a name that
        is not an identifier.

    Examples:
      >>> import collapse_jax as cj
      >>> g = cj.minority(categories=[9])
      >>> g.metric, round(float(g(cj.categorical_params([0.9] + [0.0] * 8 + [0.1]))), 6)
      ('minority_share', 0.1)
    """
    fn = "minority"
    if (categories is None) == (components is None):
        fail(
            fn,
            "categories, components",
            "exactly one of the two",
            described(f"categories={categories!r}, components={components!r}"),
            "Pass categories=[...] for a categorical model or components=[...] "
            "for a Gaussian mixture.",
        )
    if not isinstance(name, str) or not name.isidentifier():
        fail(
            fn,
            "name",
            "an identifier such as 'minority'",
            name,
            "Pass e.g. name='minority'.",
            error=TypeError,
        )
    if categories is not None:
        return Minority(_indices(fn, "categories", categories), None, name)
    return Minority(None, _indices(fn, "components", components), name)


# ------------------------------------------------------------------ exact laws ---


def _check_share(fn: str, share0) -> float:
    s = as_float_array(fn, "share0", share0)
    if s.ndim != 0 or not 0.0 < float(s) < 1.0:  # NaN fails the comparison too
        fail(
            fn,
            "share0",
            "a share in (0, 1)",
            share0,
            "Pass the group's share in the truth, e.g. 0.1.",
        )
    return float(s)


def vanished_by(share0: float, sample_size: int, num_generations: int) -> np.ndarray:
    r"""Exact ``P(m_n = 0)`` for ``n = 0 .. N`` in the neutral categorical chain.

    The group's count is a two-type Wright–Fisher chain: generation 1's is
    ``Bin(M, m_0)``, then the transition matrix
    :func:`~collapse_jax.theory.discrete.wright_fisher_matrix` applies (one NumPy
    vector-matrix product per generation, in
    :mod:`collapse_jax.theory.minority_loss`). 0 is absorbing, so this is the
    probability that the group has vanished by generation ``n``; it tends to
    ``1 - m_0``.

    Args:
      share0: the group's share in the truth, ``m_0`` in (0, 1).
      sample_size: ``M`` per generation (constant).
      num_generations: ``N``.

    Returns:
      ``(N + 1,) float64``, 0 at generation 0.

    Examples:
      >>> round(float(vanished_by(0.1, 10, 1)[1]), 6)  # 0.9 ** 10
      0.348678
    """
    fn = "vanished_by"
    s = _check_share(fn, share0)
    m = check_constant_size(sample_size, fn, minimum=1)
    n = check_int(num_generations, "num_generations", fn, minimum=0)
    return vanished_by_curve(s, m, n)


def mean_time_to_loss(share0: float, sample_size: int) -> float:
    r"""Exact mean generation at which the group vanishes, given that it does.

    From the fundamental matrix of the two-type Wright–Fisher chain on its
    transient counts, with generation 1's count ``Bin(M, m_0)`` (``m_0 M`` need not
    be a count); the loss has probability ``1 - m_0``. The chain's exact laws have
    one implementation, in :mod:`collapse_jax.theory.minority_loss` (whose
    ``minority_mean_time_to_loss(x, M, exact=True)`` is this value for ``x M`` a
    count).

    Args:
      share0: ``m_0`` in (0, 1).
      sample_size: ``M`` (the matrix is ``(M + 1)^2``: keep ``M`` below a few
        thousand).

    Returns:
      ``E[T | loss]``, ``T`` the first generation with ``m_T = 0`` (float).

    Examples:
      >>> round(mean_time_to_loss(0.5, 2), 6)
      2.0
    """
    fn = "mean_time_to_loss"
    s = _check_share(fn, share0)
    return time_to_loss_from_share(s, check_constant_size(sample_size, fn, minimum=1))
