r"""The functional-approximation error as a switch: optimiser-based refits.

``approximate(family, ...)`` wraps a family whose exact fit is a closed form into one
whose fit is an imperfect learning procedure: ``num_steps`` optax updates of the
family's negative log-likelihood (plus an optional biased term) from the previous
model (``start="warm"``) or a fixed initialisation (``start="fixed"``). Everything
else (sampling, metrics, status) is the wrapped family's, so a chain of the wrapped
family differs from the exact chain only by the fitting procedure (docs/theory.md SH-1).

In the population limit (``sample_size=None``) the chain is the deterministic map
:math:`\theta_{n+1} = T(\theta_n)` = "``num_steps`` optimiser steps on the population
objective of :math:`\theta_n`", which ``collapse_jax.theory.approximation.
gradient_map_iterate`` iterates independently in NumPy float64
(proofs/sh-1c-approximation-pseudo-data.md).
"""

from __future__ import annotations

import math
import numbers
import typing
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp
import optax

from collapse_jax.checks import check_choice, check_positive_int, fail
from collapse_jax.families.base import ApproxHooks, ModelFamily, check_is_family, has
from collapse_jax.fitting.train import minimise

__all__ = [
    "OPTIMIZERS",
    "STARTS",
    "MOMENTUM",
    "PseudoData",
    "adam",
    "approximate",
    "pseudo_data",
]

OPTIMIZERS = ("sgd", "momentum", "adam")
STARTS = ("warm", "fixed")
MOMENTUM = 0.9  # optimizer="momentum" is optax.sgd(learning_rate, momentum=0.9)


class PseudoData(NamedTuple):
    """A pseudo-data penalty: ``strength`` units of data from a fixed reference model.

    Adds ``strength * loss(params, target_from_model(family, reference))`` to the
    objective: a conjugate prior, or ``strength`` pseudo-observations per unit of
    data. Build it with :func:`pseudo_data`.
    """

    reference: Any  # params of the reference model, in the fitted family's layout
    strength: float  # rho > 0, weight of the reference relative to the data


def pseudo_data(reference_params: Any, strength: float) -> PseudoData:
    r"""A biased objective with a closed form: regularise towards a reference model.

    With this penalty the exact minimiser for a Gaussian is the moment match of the
    mixture :math:`(p + \rho r)/(1 + \rho)`, and the population chain converges
    geometrically to the reference, at rate :math:`1 - \alpha = 1/(1 + \rho)` per
    generation (proofs/sh-1c-approximation-pseudo-data.md, part 1).

    Args:
      reference_params: params of the reference model ``r`` in the fitted family's
        layout (e.g. ``cj.gaussian_params(mean, cov)``); checked by
        :func:`approximate` against the family.
      strength: :math:`\rho > 0`, the reference's weight relative to the data.

    Returns:
      A :class:`PseudoData` to pass as ``approximate(..., penalty=...)``.

    Raises:
      ValueError, TypeError: if ``strength`` is not a positive finite number.

    Examples:
      >>> import collapse_jax as cj
      >>> pen = pseudo_data(cj.gaussian_params(0.0, 1.0), 0.5)
      >>> pen.strength
      0.5
    """
    fn = "pseudo_data"
    if not isinstance(strength, numbers.Real) or isinstance(strength, bool):
        fail(
            fn,
            "strength",
            "a positive number",
            strength,
            "Pass e.g. strength=0.5.",
            error=TypeError,
        )
    if not (math.isfinite(strength) and strength > 0):
        fail(
            fn,
            "strength",
            "positive and finite",
            strength,
            "Pass strength > 0, or penalty=None for no penalty.",
        )
    return PseudoData(reference_params, float(strength))


# ------------------------------------------------------------------ validation ---


def _hooks(fn: str, family: ModelFamily) -> ApproxHooks:
    if not has(family, "approximation_hooks"):
        fail(
            fn,
            "family",
            "a family with optimiser hooks (ModelFamily.approx)",
            family.name,
            f"Approximate fitting is not supported for the {family.name!r} family "
            "yet; use a family that defines ApproxHooks, e.g. cj.gaussian(dim).",
        )
    assert family.approx is not None  # what the capability "approximation_hooks" is
    return family.approx


def _optimizer(fn: str, optimizer: Any, learning_rate: Any):
    """The optax transformation, and a hashable description of it for the cache."""
    if isinstance(optimizer, optax.GradientTransformation):
        if learning_rate is not None:
            fail(
                fn,
                "learning_rate",
                "None with an optax transformation",
                learning_rate,
                "The transformation carries its own learning rate; drop "
                "learning_rate, or pass optimizer by name.",
            )
        return optimizer, ("transformation", optimizer)
    if not isinstance(optimizer, str):
        fail(
            fn,
            "optimizer",
            f"one of {OPTIMIZERS} or an optax.GradientTransformation",
            type(optimizer).__name__,
            "Pass e.g. optimizer='sgd' or optax.adam(1e-2).",
            error=TypeError,
        )
    check_choice(fn, "optimizer", optimizer, OPTIMIZERS)
    if learning_rate is None:
        fail(
            fn,
            "learning_rate",
            f"given with optimizer={optimizer!r}",
            None,
            "Pass e.g. learning_rate=0.1.",
            error=TypeError,
        )
    if not isinstance(learning_rate, numbers.Real) or isinstance(learning_rate, bool):
        fail(
            fn,
            "learning_rate",
            "a positive number",
            learning_rate,
            "Pass a float, e.g. learning_rate=0.1; sweep it with separate calls.",
            error=TypeError,
        )
    lr = float(learning_rate)
    if not (math.isfinite(lr) and lr > 0):
        fail(
            fn,
            "learning_rate",
            "positive and finite",
            learning_rate,
            "Pass e.g. learning_rate=0.1.",
        )
    if optimizer == "sgd":
        opt = optax.sgd(lr)
    elif optimizer == "momentum":
        opt = optax.sgd(lr, momentum=MOMENTUM)
    else:
        opt = adam(lr)
    return opt, (optimizer, lr)


def _scale_by_adam(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """``optax.scale_by_adam(b1, b2, eps)`` with every float in the params' dtype.

    optax computes the bias corrections ``1 - b ** count`` from a Python float and
    an int32 count: the default float dtype (float64 when x64 is on, so float32 bits
    would depend on the x64 flag) and an implicit int-to-float promotion (rejected
    under strict promotion). Same state, same formulas otherwise
    (``mu = (1 - b1) g + b1 mu``, ``nu = (1 - b2) g^2 + b2 nu``, update
    ``mu_hat / (sqrt(nu_hat) + eps)``); pinned to optax by tests/test_approximation.py.
    """

    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return optax.ScaleByAdamState(
            count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros
        )

    def update_fn(updates, state, params=None):
        del params
        mu = jax.tree.map(lambda g, t: (1 - b1) * g + b1 * t, updates, state.mu)
        nu = jax.tree.map(lambda g, t: (1 - b2) * (g**2) + b2 * t, updates, state.nu)
        # optax types the count as any number; it is the int32 array of init_fn.
        count = typing.cast(jax.Array, optax.safe_increment(state.count))

        def corrected(moment, decay):
            power = jnp.asarray(decay, moment.dtype) ** count.astype(moment.dtype)
            return moment / (1 - power)

        updates = jax.tree.map(
            lambda m, v: corrected(m, b1) / (jnp.sqrt(corrected(v, b2)) + eps), mu, nu
        )
        return updates, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def adam(
    learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
    """``optax.adam(learning_rate, b1, b2, eps)``, dtype-explicit (see
    :func:`_scale_by_adam`): float32 bits do not depend on the x64 flag, and it runs
    under strict dtype promotion. What ``optimizer="adam"`` builds.

    Examples:
      >>> import jax.numpy as jnp
      >>> opt = adam(0.1)
      >>> state = opt.init(jnp.zeros(2))
      >>> upd, state = opt.update(jnp.array([1.0, -2.0]), state)
      >>> [round(u, 4) for u in upd.tolist()]  # the first step: -lr * sign(g)
      [-0.1, 0.1]
    """
    return optax.chain(
        _scale_by_adam(b1, b2, eps), optax.scale_by_learning_rate(learning_rate)
    )


def _freeze(params: Any):
    """A hashable, exact description of a params pytree (for the factory cache)."""
    leaves, treedef = jax.tree.flatten(params)
    arrays = tuple(np.asarray(x, np.float64) for x in leaves)
    return treedef, tuple((a.shape, a.tobytes()) for a in arrays)


def _host_copy(params: Any) -> Any:
    return jax.tree.map(lambda x: np.array(x, np.float64), params)


_CACHE: dict[Any, ModelFamily] = {}


def approximate(
    family: ModelFamily,
    *,
    optimizer: str | optax.GradientTransformation = "sgd",
    learning_rate: float | None = None,
    num_steps: int,
    start: str = "warm",
    init_params: Any = None,
    penalty: PseudoData | None = None,
) -> ModelFamily:
    r"""The family ``family`` fitted by a finite optimiser run (approximation error).

    Each fit minimises ``loss(params, target) + strength * loss(params,
    reference_target)`` (the second term only with ``penalty``) with ``num_steps``
    optimiser updates under ``lax.scan``, projecting onto valid params after every
    step. The target is what the family's negative log-likelihood needs from the
    fitted distribution (``family.approx``): the weighted sample (``fit``), fresh
    draws from the previous model (``refit``, ``sample_fit``) or the previous
    model's exact distribution (``fit_population``, ``sample_size=None``). With
    ``start="warm"`` the optimiser starts from the previous model, with
    ``start="fixed"`` from ``init_params`` at every generation. The objective is
    the negative log-likelihood, so a converged run gives the maximum-likelihood fit
    (for a Gaussian: ddof 0), whatever estimator the wrapped family's exact fit
    uses.

    Args:
      family: the family to wrap; it must define optimiser hooks
        (``ModelFamily.approx``; the Gaussian family has them).
      optimizer: ``"sgd"``, ``"momentum"`` (heavy ball, ``optax.sgd(lr,
        momentum=0.9)``), ``"adam"`` (:func:`adam`: ``optax.adam`` with its defaults
        ``b1=0.9, b2=0.999, eps=1e-8``, made dtype-explicit), or an
        ``optax.GradientTransformation`` used as is (it must act elementwise: no
        global-norm clipping, whose reduction would make a chain's bits depend on
        its neighbours).
      learning_rate: step size ``> 0`` for a named optimizer; ``None`` with a
        transformation.
      num_steps: optimiser steps per fit (``>= 1``, static).
      start: ``"warm"`` (from the previous model) or ``"fixed"`` (from
        ``init_params``).
      init_params: params of the fixed initialisation (required for
        ``start="fixed"``; with ``"warm"``, only used to start a fit to a model of
        another family when ``family.start_from`` is missing).
      penalty: ``None`` or :func:`pseudo_data` (a biased objective with a closed
        form).

    Returns:
      A :class:`~collapse_jax.ModelFamily` named ``"approx(<name>)"`` with the same
      params, sampling, metrics and status as ``family``. Cached: equal arguments
      give the same object, so a jitted run compiles once.

    Raises:
      ValueError, TypeError: for invalid arguments, with the fix in the message.

    Examples:
      >>> import collapse_jax as cj
      >>> fam = approximate(cj.gaussian(1), learning_rate=0.1, num_steps=5)
      >>> fam.name, fam is approximate(cj.gaussian(1), learning_rate=0.1, num_steps=5)
      ('approx(gaussian)', True)
      >>> res = cj.run_chains(fam, cj.gaussian_params(0.0, 1.0), key=0, num_chains=2,
      ...                     num_generations=3, sample_size=None)
      >>> bool((res.metrics["log_var"] == 0.0).all())  # the truth is a fixed point
      True

    References:
      Shumailov et al., Nature 631 (2024), "functional approximation error";
      docs/theory.md
      SH-1; proofs/sh-1c-approximation-pseudo-data.md.
    """
    fn = "approximate"
    check_is_family(fn, family)
    hooks = _hooks(fn, family)
    opt, opt_key = _optimizer(fn, optimizer, learning_rate)
    num_steps = check_positive_int(
        fn, "num_steps", num_steps, "Pass num_steps >= 1 optimiser steps per fit."
    )
    start = check_choice(fn, "start", start, STARTS)
    if init_params is None:
        if start == "fixed":
            fail(
                fn,
                "init_params",
                "given with start='fixed'",
                None,
                "Pass the fixed initialisation, e.g. "
                "init_params=cj.gaussian_params(0.0, 1.0), or use start='warm'.",
            )
        init_key = None
    else:
        family.validate_params(fn, "init_params", init_params)
        init_params = _host_copy(init_params)
        init_key = _freeze(init_params)
    if penalty is None:
        pen_key = None
    else:
        if not isinstance(penalty, PseudoData):
            fail(
                fn,
                "penalty",
                "None or collapse_jax.fitting.pseudo_data(...)",
                type(penalty).__name__,
                "Build it with pseudo_data(reference_params, strength).",
                error=TypeError,
            )
        family.validate_params(fn, "penalty.reference", penalty.reference)
        penalty = PseudoData(_host_copy(penalty.reference), penalty.strength)
        pen_key = (_freeze(penalty.reference), penalty.strength)
    key = (family, opt_key, num_steps, start, init_key, pen_key)
    cached = _CACHE.get(key)
    if cached is None:
        named = opt_key[0] != "transformation"
        cached = _CACHE[key] = _make(
            family, hooks, opt, num_steps, start, init_params, penalty, named
        )
    return cached


# -------------------------------------------------------------------- the family ---


def _make(
    inner: ModelFamily,
    hooks: ApproxHooks,
    opt: optax.GradientTransformation,
    num_steps: int,
    start: str,
    init_params: Any,
    penalty: PseudoData | None,
    named: bool = True,
) -> ModelFamily:
    def cast(host_params, like):
        dtype = jax.tree.leaves(like)[0].dtype
        return jax.tree.map(lambda x: jnp.asarray(x, dtype), host_params)

    def train(target, warm):
        """``num_steps`` steps on the objective of ``target`` from the start."""
        first = cast(init_params, target) if start == "fixed" else warm
        if penalty is None:

            def objective(p):
                return hooks.loss(p, target)

        else:
            ref = hooks.target_from_model(inner, cast(penalty.reference, target))
            dtype = jax.tree.leaves(target)[0].dtype
            strength = jnp.asarray(penalty.strength, dtype)

            def objective(p):
                return hooks.loss(p, target) + strength * hooks.loss(p, ref)

        return minimise(objective, first, opt, num_steps, hooks.project)

    def fit(key, data, weights, prev):
        del key  # full-batch steps: no randomness inside the fit
        return train(hooks.target_from_data(data, weights), prev)

    def refit(sample_key, fit_key, params, weights):
        del fit_key
        return train(hooks.refit_target(sample_key, params, weights), params)

    def sample_fit(key, params, sample_size):
        sample_target = hooks.sample_target
        assert sample_target is not None  # only wrapped (below) when the hooks have one
        return train(sample_target(key, params, sample_size), params)

    def fit_population(params):
        return train(hooks.target_from_model(inner, params), params)

    def fit_population_from(source_family, source_params):
        target = hooks.target_from_model(source_family, source_params)
        if start == "fixed":
            warm = None
        elif source_family is inner:
            warm = source_params
        elif inner.start_from is not None:  # e.g. the heaviest components of a GMM
            warm = inner.start_from(source_family, source_params)
        elif init_params is not None:
            warm = cast(init_params, target)
        else:
            fail(
                "approximate",
                "init_params",
                f"given to warm-start a fit to a {source_family.name!r} model",
                None,
                f"{inner.name!r} has no start_from; pass init_params.",
            )
        return train(target, warm)

    return inner._replace(
        name=f"approx({inner.name})",
        fit=fit,
        refit=refit,
        sample_fit=None if hooks.sample_target is None else sample_fit,
        fit_population=fit_population,
        fit_population_from=fit_population_from,
        approx=hooks,
        exact_family=inner.exact_family or inner,
        location=_location(
            inner, hooks, opt, num_steps, start, init_params, penalty, named
        ),
    )


def _location(inner, hooks, opt, num_steps, start, init_params, penalty, named):
    """The wrapped family's :class:`~collapse_jax.families.base.Location`.

    The named optimisers update by gradients of a translation-invariant loss, so
    the fit is translation-equivariant and a run may be moved into its truth's
    frame, its absolute settings (``init_params``, the penalty's reference) moved
    with it (``rebase``, one family per offset). A transformation passed as is
    may act on the parameters themselves (weight decay pulls them to 0): its runs
    are not moved.
    """
    loc = inner.location
    if loc is None:
        return None
    if not named:
        return loc._replace(rebase=None, equivariant=False)
    if init_params is None and penalty is None and loc.rebase is None:
        return loc
    cache: dict[bytes, ModelFamily] = {}

    def rebase(offset):
        offset = np.asarray(offset, np.float64)
        found = cache.get(offset.tobytes())
        if found is None:
            back = -offset
            init = None if init_params is None else loc.shift(init_params, back)
            pen = (
                None
                if penalty is None
                else PseudoData(loc.shift(penalty.reference, back), penalty.strength)
            )
            moved = inner if loc.rebase is None else loc.rebase(offset)
            found = cache[offset.tobytes()] = _make(
                moved, hooks, opt, num_steps, start, init, pen, named
            )
        return found

    return loc._replace(rebase=rebase)
