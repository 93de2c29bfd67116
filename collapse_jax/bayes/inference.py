"""Approximate Bayesian inference on ONE data set, inside the compiled chain.

Two inference specs, frozen and hashable (a family that holds one stays a static jit
argument), and the functions that run them on one chain's data set inside ``jit``,
``vmap`` over chains and ``lax.scan`` over generations:

* :func:`svi` -> :class:`SVI`: numpyro's stochastic variational inference
  (``numpyro.infer.SVI`` with ``Trace_ELBO``) with an ``AutoNormal`` guide
  (``guide="normal"``, mean-field Gaussian in the unconstrained space), an
  ``AutoDelta`` guide (``guide="delta"``: the posterior mode, MAP) or a user
  guide; an optax optimiser through ``numpyro.optim.optax_to_numpyro``;
  ``num_steps`` steps in one ``lax.scan``, warm-started from the previous
  generation's guide parameters (``start="warm"``) or from the same initial
  guide parameters every generation (``start="fixed"``).
* :func:`nuts` -> :class:`NUTS`: numpyro's No-U-Turn sampler through its
  functional kernel API (``numpyro.infer.hmc.hmc(potential_fn=..., algo="NUTS")``):
  ``num_warmup`` adaptation steps (step size by dual averaging, a diagonal mass
  matrix by Welford) then ``num_samples`` kept draws, all in ``lax.fori_loop`` /
  ``lax.scan``; no host loop, keyed by the fit key, started from given latents.

The engine works on a *numpyro model of one data set*: ``model(data=None, n=...)``
with exactly one observed site (``obs=data``) whose batch shape is ``(n,)`` (a
``numpyro.plate`` of size ``n``, or ``.expand([n])``), and global latent sites
(shapes that do not depend on ``n``). Frequency weights (the runner's weights; 0
masks a point out) scale the observed site's per-point log-likelihood
(:func:`weighted`): the user's model does not see them. The functions:

* :func:`inspect_model` (host, build time): the latent and observed sites.
* :func:`run_nuts` ``(spec, model, sites, data, weights, key, start)``: the kept
  draws (constrained), the share of divergent kept transitions and the mean
  acceptance probability.
* :func:`make_guide`, :func:`initial_guide_params` (host, build time) and
  :func:`run_svi` ``(spec, model, guide, sites, data, weights, key, start_params)``:
  the fitted guide parameters and the final ELBO loss; :func:`guide_draw` draws the
  latents from a fitted guide.

A conjugate family (``cj.bayesian(..., inference=...)``) can write its model in this
contract and call these functions;
:func:`collapse_jax.bayes.numpyro_family.numpyro_family` does exactly that for any
model. docs/bayes.md has the user guide.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import numbers
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp
import optax
from numpyro import handlers
from numpyro.distributions import ImproperUniform, Unit
from numpyro.infer import SVI as _NumpyroSVI
from numpyro.infer import Trace_ELBO
from numpyro.infer.autoguide import AutoDelta, AutoNormal
from numpyro.infer.hmc import hmc
from numpyro.infer.initialization import init_to_uniform, init_to_value
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn
from numpyro.optim import optax_to_numpyro
from numpyro.primitives import Messenger

from collapse_jax.checks import (
    check_choice,
    check_positive_int,
    check_real,
    described,
    fail,
)

__all__ = [
    "GUIDES",
    "OPTIMIZERS",
    "STARTS",
    "NUTS",
    "SVI",
    "ModelSites",
    "NutsFit",
    "SviFit",
    "guide_draw",
    "initial_guide_params",
    "inspect_model",
    "make_guide",
    "nuts",
    "run_nuts",
    "run_svi",
    "svi",
    "weighted",
]

GUIDES = ("normal", "delta")
OPTIMIZERS = ("adam", "sgd", "momentum")
STARTS = ("warm", "fixed")
MOMENTUM = 0.9  # optimizer="momentum" is optax.sgd(learning_rate, momentum=0.9)


# ------------------------------------------------------------------------ specs ---


@dataclasses.dataclass(frozen=True)
class SVI:
    """Stochastic variational inference per generation (build with :func:`svi`)."""

    num_steps: int
    guide: Any  # "normal", "delta" or a user guide callable
    optimizer: str
    learning_rate: float
    start: str
    num_particles: int

    kind = "svi"


@dataclasses.dataclass(frozen=True)
class NUTS:
    """A NUTS run per generation (build with :func:`nuts`)."""

    num_warmup: int
    num_samples: int
    target_accept: float
    max_tree_depth: int

    kind = "nuts"


def svi(
    num_steps: int,
    guide: Any = "normal",
    optimizer: str = "adam",
    learning_rate: float = 1e-2,
    start: str = "warm",
    num_particles: int = 1,
) -> SVI:
    """SVI with ``num_steps`` optimiser steps per generation.

    Args:
      num_steps: optimiser steps per generation (``>= 1``).
      guide: ``"normal"`` (``AutoNormal``: a mean-field Gaussian on the unconstrained
        latents), ``"delta"`` (``AutoDelta``: a point, i.e. MAP) or a numpyro guide
        ``guide(data=None, n=...)`` with one sample site per latent of the model.
      optimizer: ``"adam"``, ``"sgd"`` or ``"momentum"`` (sgd with momentum 0.9).
      learning_rate: the optimiser's step size (``> 0``).
      start: ``"warm"`` (each generation starts from the previous generation's
        guide parameters) or ``"fixed"`` (from the same initial guide parameters
        every generation: the truth's latents, the guide's initial scales).
      num_particles: Monte Carlo draws of the ELBO per step (``>= 1``).

    Returns:
      A frozen, hashable :class:`SVI`.

    Raises:
      ValueError, TypeError: the house message for a bad argument.

    Examples:
      >>> svi(200).guide
      'normal'
    """
    fn = "svi"
    num_steps = check_positive_int(
        fn, "num_steps", num_steps, "Pass num_steps >= 1, e.g. num_steps=200."
    )
    if not callable(guide):
        if not isinstance(guide, str) or guide not in GUIDES:
            fail(
                fn,
                "guide",
                "'normal', 'delta' or a numpyro guide callable",
                guide,
                "Pass guide='normal' (mean-field), guide='delta' (MAP) or a "
                "function guide(data=None, n=...) with numpyro.param sites.",
            )
    check_choice(fn, "optimizer", optimizer, OPTIMIZERS)
    lr = check_real(fn, "learning_rate", learning_rate, low=0.0, low_open=True)
    check_choice(fn, "start", start, STARTS)
    num_particles = check_positive_int(fn, "num_particles", num_particles)
    return SVI(num_steps, guide, optimizer, lr, start, num_particles)


def nuts(
    num_warmup: int,
    num_samples: int,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
) -> NUTS:
    """NUTS with ``num_warmup`` adaptation steps and ``num_samples`` kept draws.

    Args:
      num_warmup: adaptation steps per generation (``>= 0``; each generation
        adapts its step size and diagonal mass matrix afresh).
      num_samples: kept draws per generation (``>= 1``).
      target_accept: the acceptance probability step-size adaptation aims at,
        in ``(0, 1)``.
      max_tree_depth: the largest tree depth (at most ``2**max_tree_depth``
        leapfrog steps per draw), ``>= 1``.

    Returns:
      A frozen, hashable :class:`NUTS`.

    Raises:
      ValueError, TypeError: the house message for a bad argument.

    Examples:
      >>> nuts(100, 50).num_samples
      50
    """
    fn = "nuts"
    if (
        not isinstance(num_warmup, numbers.Integral)
        or isinstance(num_warmup, bool)
        or num_warmup < 0
    ):
        fail(
            fn,
            "num_warmup",
            "a non-negative integer",
            num_warmup,
            "Pass e.g. num_warmup=100.",
        )
    num_samples = check_positive_int(
        fn,
        "num_samples",
        num_samples,
        "Pass num_samples >= 1 kept draws per generation, e.g. num_samples=50.",
    )
    target = check_real(
        fn,
        "target_accept",
        target_accept,
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
    )
    depth = check_positive_int(fn, "max_tree_depth", max_tree_depth)
    return NUTS(int(num_warmup), num_samples, target, depth)


# ---------------------------------------------------------------------- models ---


class _Weighted(Messenger):
    """Scale one sample site's per-point log-likelihood by frequency weights."""

    def __init__(self, fn, site, weights):
        self.site = site
        self.weights = weights
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] != "sample" or msg["name"] != self.site:
            return
        # Masked first: a point with weight 0 adds exactly 0 even where its
        # log-likelihood is -inf (0 * -inf would be NaN).
        msg["fn"] = msg["fn"].mask(self.weights > 0)
        scale = self.weights
        msg["scale"] = scale if msg.get("scale") is None else scale * msg["scale"]


def weighted(model: Callable, site: str, weights: jax.Array) -> Callable:
    """``model`` with site ``site``'s per-point log-likelihood times ``weights``.

    ``weights`` ``(n,)`` are frequency weights: a point of weight 2 counts twice,
    weight 0 removes it (its term is masked to 0, not multiplied). The site's
    batch shape must be ``(n,)``.
    """
    return _Weighted(model, site, weights)


class ModelSites(NamedTuple):
    """The sites of a numpyro model of one data set (host, from a build-time trace).

    Attributes:
      latent: the latent sample sites' names, in the model's order.
      shapes: ``{name: shape}`` of each latent.
      observed: the observed site's name.
      event_shape: the shape of one data point.
      dtype: the data's dtype name (``"float32"``, ``"int32"``...).
      supports: ``{name: constraint}`` each latent's support (from the prior of
        the build-time trace).
    """

    latent: tuple[str, ...]
    shapes: dict
    observed: str
    event_shape: tuple[int, ...]
    dtype: str
    supports: dict


def _trace(model, key, **kwargs):
    with standard_promotion():
        return handlers.trace(handlers.seed(model, key)).get_trace(**kwargs)


def _improper_value(site):
    """A value for an improper prior's site (it cannot be sampled): a uniform point
    of ``(-2, 2)`` on the unconstrained scale (numpyro's ``init_to_uniform``)."""
    if isinstance(site["fn"], ImproperUniform) and not site["is_observed"]:
        return init_to_uniform(site)
    return None


def _observed(tr) -> list:
    """The observed sample sites of a trace, ``numpyro.factor`` terms left out (a
    factor is an observed site of the ``Unit`` distribution: a log-density term,
    not data)."""
    return [
        k
        for k, s in tr.items()
        if s["type"] == "sample" and s["is_observed"] and not isinstance(s["fn"], Unit)
    ]


def _trace_free(model, key, **kwargs):
    """:func:`_trace` where improper priors' sites take a feasible value."""
    seeded = handlers.substitute(
        handlers.seed(model, key), substitute_fn=_improper_value
    )
    with standard_promotion():
        return handlers.trace(seeded).get_trace(**kwargs)


@contextlib.contextmanager
def standard_promotion():
    """numpyro's internals mix int and float arrays (e.g. NUTS's mean acceptance
    ``sum / count``) and broadcast across ranks: they run under JAX's standard
    dtype promotion and rank broadcasting even where the caller (the test suite)
    made them strict. Every result is cast back to the caller's dtype."""
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        yield


def promoting(fn):
    """``fn`` run under :func:`standard_promotion` (it calls numpyro)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with standard_promotion():
            return fn(*args, **kwargs)

    return wrapper


@promoting
def inspect_model(fn: str, model: Callable, n: int = 3) -> ModelSites:
    """Find the latent and observed sites of ``model`` by tracing it (host).

    The observed site is the one that ``model(data=x, n=n)`` observes when ``x``
    is that site's own draw from ``model(data=None, n=n)``.

    Raises:
      ValueError: the house message (of ``fn``) for a model with no observed site
        or more than one, a site whose batch shape is not ``(n,)``, a discrete
        latent, or a latent whose shape depends on ``n``.
    """
    if not callable(model):
        fail(
            fn,
            "model",
            "a numpyro model model(data=None, n=...)",
            type(model).__name__,
            "Pass a function with numpyro.sample sites and one observed site "
            "numpyro.sample(name, ..., obs=data).",
            error=TypeError,
        )
    try:
        free = _trace_free(model, jax.random.key(0), data=None, n=n)
    except TypeError as err:
        fail(
            fn,
            "model",
            "callable as model(data=None, n=...)",
            described(f"a model that raised {err}"),
            "Give the model the keyword arguments data (None to generate) and n "
            "(the number of points).",
            error=TypeError,
        )
    fixed = _observed(free)
    observed = []
    for name, site in free.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        value = site["value"]
        if np.ndim(value) < 1 or np.shape(value)[0] != n:
            continue
        tr = _trace_free(model, jax.random.key(0), data=value, n=n)
        hit = _observed(tr)
        if name in hit and len(hit) == 1 + len(fixed):
            observed.append(name)
    if len(observed) + len(fixed) != 1:
        fail(
            fn,
            "model",
            "a model with exactly one observed site (numpyro.sample(name, ..., "
            "obs=data))",
            described(
                f"observed sites {sorted(observed + fixed)}"
                if observed or fixed
                else "a model with no observed site"
            ),
            "Observe the data in exactly one sample site: numpyro.sample('x', "
            "dist.Normal(mu, sigma).expand([n]), obs=data).",
        )
    if fixed:
        fail(
            fn,
            "model",
            "a model whose one observed site observes data",
            described(f"site {fixed[0]!r} observes a fixed value"),
            "Observe the model's data argument: obs=data.",
        )
    obs = observed[0]
    site = free[obs]
    batch = tuple(site["fn"].batch_shape)
    if batch != (n,):
        fail(
            fn,
            "model",
            f"a model whose observed site {obs!r} has batch shape (n,)",
            described(f"batch shape {batch} with n = {n}"),
            "Draw the n points in a numpyro.plate('data', n) or with "
            ".expand([n]), not .to_event(1): each point's log-likelihood is "
            "weighted separately.",
        )
    again = _trace_free(model, jax.random.key(0), data=None, n=n + 1)
    latent, shapes, supports = [], {}, {}
    for name, s in free.items():
        if s["type"] != "sample" or name == obs or s["is_observed"]:
            continue
        if s["fn"].is_discrete:
            fail(
                fn,
                "model",
                "a model with continuous latents (NUTS and SVI need gradients)",
                described(f"discrete latent site {name!r}"),
                "Marginalise the discrete latent out (e.g. "
                "dist.MixtureSameFamily for a mixture's assignments).",
            )
        shape = tuple(np.shape(s["value"]))
        if name not in again or tuple(np.shape(again[name]["value"])) != shape:
            fail(
                fn,
                "model",
                "a model whose latents are global (shapes independent of n)",
                described(f"latent site {name!r} of shape {shape} at n = {n}"),
                "Marginalise per-point latents out of the model.",
            )
        latent.append(name)
        shapes[name] = shape
        supports[name] = s["fn"].support
    value = np.asarray(site["value"])
    return ModelSites(
        tuple(latent), shapes, obs, tuple(value.shape[1:]), value.dtype.name, supports
    )


# ------------------------------------------------------------------------- NUTS ---


class NutsFit(NamedTuple):
    """What :func:`run_nuts` returns (one chain).

    Attributes:
      draws: ``{site: (num_samples,) + shape}`` the kept draws, constrained.
      diverging: ``()`` the share of divergent transitions among the kept draws.
      accept: ``()`` the mean acceptance probability of the kept transitions.
    """

    draws: dict
    diverging: jax.Array
    accept: jax.Array


@promoting
def run_nuts(
    spec: NUTS,
    model: Callable,
    sites: ModelSites,
    data: jax.Array,
    weights: jax.Array,
    key: jax.Array,
    start: Mapping[str, jax.Array],
) -> NutsFit:
    """NUTS on one weighted data set (traceable: jit, vmap and scan).

    Args:
      spec: the :class:`NUTS` spec.
      model: the model of one data set, ``model(data=None, n=...)``.
      sites: its :class:`ModelSites` (:func:`inspect_model`).
      data: ``(n,) + event_shape``.
      weights: ``(n,)`` frequency weights in the latents' float dtype.
      key: the fit key (every random choice of the run derives from it).
      start: ``{site: value}`` constrained latents to start from (warm start:
        the previous generation's).

    Returns:
      :class:`NutsFit`.
    """
    n = data.shape[0]
    kwargs = {"data": data, "n": n}
    target = weighted(model, sites.observed, weights)
    # NUTS runs in JAX's default float dtype: under x64 numpyro's constants (the
    # initial mass matrix, the momenta) are float64 whatever the run's dtype, and
    # its tree building needs one dtype throughout. The draws are cast back.
    work = jax.dtypes.canonicalize_dtype(jnp.float64)
    z0 = unconstrain_fn(target, (), kwargs, dict(start))
    z0 = jax.tree.map(lambda v: jnp.asarray(v, work), z0)

    def potential(z):
        return potential_energy(target, (), kwargs, z)

    init_kernel, sample_kernel = hmc(potential_fn=potential, algo="NUTS")
    state = init_kernel(
        z0,
        spec.num_warmup,
        target_accept_prob=spec.target_accept,
        max_tree_depth=spec.max_tree_depth,
        rng_key=key,
    )
    state = jax.lax.fori_loop(0, spec.num_warmup, lambda _, s: sample_kernel(s), state)

    def keep(s, _):
        s = sample_kernel(s)
        return s, (s.z, s.diverging, s.accept_prob)

    _, (zs, div, acc) = jax.lax.scan(keep, state, None, length=spec.num_samples)
    draws = constrain_fn(target, (), kwargs, zs, batch_ndims=1)
    like = next(iter(jax.tree.leaves(start)))
    return NutsFit(
        {k: draws[k].astype(like.dtype) for k in sites.latent},
        jnp.mean(div.astype(like.dtype)),
        jnp.mean(acc.astype(like.dtype)),
    )


# -------------------------------------------------------------------------- SVI ---


class SviFit(NamedTuple):
    """What :func:`run_svi` returns (one chain).

    Attributes:
      params: ``{param: value}`` the fitted guide parameters (constrained).
      loss: ``()`` the ELBO loss (negative ELBO estimate) of the last step.
    """

    params: dict
    loss: jax.Array


def _optimizer(spec: SVI):
    if spec.optimizer == "adam":
        tx = optax.adam(spec.learning_rate)
    elif spec.optimizer == "momentum":
        tx = optax.sgd(spec.learning_rate, momentum=MOMENTUM)
    else:
        tx = optax.sgd(spec.learning_rate)
    return optax_to_numpyro(tx)


def make_guide(
    spec: SVI, model: Callable, truth: Mapping[str, Any], guide: Callable | None
) -> Callable:
    """The guide of ``spec`` for ``model`` (host, build time).

    An autoguide (``"normal"``, ``"delta"``) starts its locations at ``truth``
    (the generation-0 latents); its prototype is set up by
    :func:`initial_guide_params` on the host, so no tracer is kept across
    compiles. A user ``guide`` (or a callable ``spec.guide``) is returned as is.
    """
    if guide is not None:
        return guide
    if callable(spec.guide):
        return spec.guide
    init = init_to_value(values={k: np.asarray(v) for k, v in truth.items()})
    if spec.guide == "delta":
        return AutoDelta(model, init_loc_fn=init)
    return AutoNormal(model, init_loc_fn=init)


@promoting
def initial_guide_params(
    spec: SVI,
    model: Callable,
    guide: Callable,
    sites: ModelSites,
    data: Any,
) -> dict:
    """The guide's initial parameters (host, build time), by ``svi.init`` on
    ``data`` (e.g. a draw from the truth); sets up an autoguide's prototype."""
    data = jnp.asarray(data)
    n = data.shape[0]
    target = weighted(model, sites.observed, jnp.ones((n,), _float(data)))
    engine = _NumpyroSVI(target, guide, _optimizer(spec), Trace_ELBO())
    state = engine.init(jax.random.key(0), data=data, n=n)
    return {k: np.asarray(v) for k, v in engine.get_params(state).items()}


def _float(data):
    return data.dtype if jnp.issubdtype(data.dtype, jnp.floating) else jnp.float32


@promoting
def run_svi(
    spec: SVI,
    model: Callable,
    guide: Callable,
    sites: ModelSites,
    data: jax.Array,
    weights: jax.Array,
    key: jax.Array,
    start_params: Mapping[str, jax.Array],
) -> SviFit:
    """``spec.num_steps`` SVI steps on one weighted data set (traceable).

    Args:
      spec: the :class:`SVI` spec.
      model: the model of one data set.
      guide: its guide (:func:`make_guide`, set up by
        :func:`initial_guide_params`).
      sites: the model's :class:`ModelSites`.
      data: ``(n,) + event_shape``.
      weights: ``(n,)`` frequency weights in the float dtype of the guide's
        params.
      key: the fit key.
      start_params: the guide parameters to start from (constrained): the previous
        generation's (``start="warm"``) or the initial ones (``"fixed"``).

    Returns:
      :class:`SviFit`.
    """
    n = data.shape[0]
    target = weighted(model, sites.observed, weights)
    engine = _NumpyroSVI(
        target, guide, _optimizer(spec), Trace_ELBO(num_particles=spec.num_particles)
    )
    state = engine.init(key, data=data, n=n, init_params=dict(start_params))
    like = next(iter(jax.tree.leaves(dict(start_params))))

    def step(s, _):
        s, loss = engine.update(s, data=data, n=n)
        return s, loss

    state, losses = jax.lax.scan(step, state, None, length=spec.num_steps)
    params = engine.get_params(state)
    return SviFit(
        {k: params[k].astype(start_params[k].dtype) for k in start_params},
        losses[-1].astype(like.dtype),
    )


@promoting
def guide_draw(
    guide: Callable,
    sites: ModelSites,
    params: Mapping[str, jax.Array],
    key: jax.Array,
    data: jax.Array | None,
    n: int,
) -> dict:
    """One draw of the latents from ``guide`` with ``params`` (traceable).

    ``data`` may be None once the guide is set up (an autoguide's prototype is
    built at :func:`initial_guide_params`; a user guide must not need it).
    """
    tr = _trace(handlers.substitute(guide, data=dict(params)), key, data=data, n=n)
    like = next(iter(jax.tree.leaves(dict(params))))
    return {k: tr[k]["value"].astype(like.dtype) for k in sites.latent}
