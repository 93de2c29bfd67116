"""The contract a regime keeps, as a check a fork runs on its own regime.

:func:`check_regime` runs a regime through :func:`collapse_jax.run_chains` and
asserts what the runner relies on: a chain's bits do not depend on the batch it runs
in nor on resuming between chunks of generations; the params keep the run's dtype;
the fits see the data the regime claims (a probe family reports the total weight of
each fit's data set); the population limit runs where the regime claims it; a
sampler it does not support, and any bad settings the caller lists, are refused with
the house message.

Examples:
  >>> import collapse_jax as cj
  >>> from collapse_jax.testing import check_regime
  >>> check_regime(cj.accumulate(), expected_weight=lambda t, m: m[: t + 1].sum())
  ... # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax._reduce import tree_sum
from collapse_jax.chain import ChainResult, run_chains
from collapse_jax.checks import described, fail
from collapse_jax.families.base import ModelFamily, Params
from collapse_jax.families.gaussian import gaussian, gaussian_params
from collapse_jax.regimes.base import SAMPLERS, Regime

__all__ = ["check_regime", "weight_probe"]

_FN = "check_regime"
#: The default schedule: uneven sizes, so a regime that ignores the mask shows.
DEFAULT_SCHEDULE = (8, 6, 10, 7)


def weight_probe() -> ModelFamily:
    """A 1-D Gaussian whose fitted mean is the total weight of the fit's data set.

    Its ``fit`` and ``refit`` fit as the Gaussian does and then overwrite the mean
    with ``sum(weights)``, so a run's ``metrics["mean"][:, t + 1, 0]`` is the total
    weight the regime gave fit ``t``: the number of points it sees (weighted).
    """
    base = gaussian()

    def _report(params, weights):
        total = tree_sum(weights).astype(params.mean.dtype)
        return params._replace(mean=jnp.full_like(params.mean, total))

    def fit(key, data, weights, prev):
        return _report(base.fit(key, data, weights, prev), weights)

    def refit(key_sample, key_fit, model, weights):
        return _report(base.refit(key_sample, key_fit, model, weights), weights)

    return base._replace(fit=fit, refit=refit)


_PROBE: list[ModelFamily] = []


def _probe() -> ModelFamily:
    # One probe object per process: the runner compiles once per family object.
    if not _PROBE:
        _PROBE.append(weight_probe())
    return _PROBE[0]


def _assert_same(what: str, regime: Regime, got: ChainResult, want, sel=slice(None)):
    """Bitwise equality of records (NaN equals NaN), with the check's name."""
    pairs = [("status", got.status, np.asarray(want.status)[sel])]
    pairs += [(k, v, np.asarray(want.metrics[k])[sel]) for k, v in got.metrics.items()]
    if got.params is not None:
        for i, (a, b) in enumerate(
            zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params), strict=True)
        ):
            pairs.append((f"params leaf {i}", a, np.asarray(b)[sel]))
    for name, a, b in pairs:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            raise AssertionError(
                f"regime {regime.name!r}: {what}: {name} has shape/dtype "
                f"{a.shape}/{a.dtype}, expected {b.shape}/{b.dtype}"
            )
        same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
        if not np.all(same):
            bad = np.argwhere(~same)[0].tolist()
            raise AssertionError(
                f"regime {regime.name!r}: {what}: {name} differs first at index {bad} "
                f"({a[tuple(bad)]!r} vs {b[tuple(bad)]!r}): a chain's bits must not "
                "depend on this"
            )


def _check_refusal(what: str, make: Callable[[], Any], match: str) -> None:
    try:
        make()
    except (ValueError, TypeError, LookupError) as err:
        msg = str(err)
        if not re.search(match, msg):
            raise AssertionError(
                f"{what}: the message {msg!r} does not match {match!r}"
            ) from err
        if "(): " not in msg or "; got " not in msg:
            raise AssertionError(
                f"{what}: {msg!r} is not the house message "
                "(function(): argument must be ...; got ... . fix)"
            ) from err
        return
    raise AssertionError(f"{what}: no error was raised")


def check_regime(
    regime: Regime,
    family: ModelFamily | None = None,
    params: Params | None = None,
    *,
    sample_size: Sequence[int] = DEFAULT_SCHEDULE,
    num_chains: int = 5,
    key: int = 0,
    dtype: str = "float32",
    expected_weight: Callable[[int, np.ndarray], float] | None = None,
    population: bool = True,
    bad_inputs: Sequence[tuple[Callable[[], Any], str]] = (),
) -> ChainResult:
    """Check that ``regime`` keeps the contract the runner relies on.

    Raises ``AssertionError`` naming the regime and the broken property:

    * batch and chunk (resume) invariance: chains ``1, 2`` run alone
      (``first_chain=1``) in one scan give the bits they have in a batch of
      ``num_chains`` run in chunks of 2 generations (the regime's state carried
      between compiled scans);
    * dtype: every floating params leaf has the run's ``dtype``;
    * the data each fit sees: with ``expected_weight``, a run of
      :func:`weight_probe` (a 1-D Gaussian reporting each fit's total weight) must
      record ``expected_weight(t, schedule)`` for fit ``t`` (``schedule``: the
      ``M_t`` as an int array), e.g. ``schedule[: t + 1].sum()`` for
      :func:`~collapse_jax.accumulate` (the regime must then run on a 1-D
      Gaussian);
    * the population limit (``sample_size=None``), where ``regime.samplers`` claims
      it and ``population`` is True: it runs, stays finite and batch invariant;
    * refusals: a sampler the regime does not support, and each
      ``(make, match)`` in ``bad_inputs`` (``make()`` must raise the house
      message matching the regex ``match``).

    Args:
      regime: the regime to check.
      family: the fitted family (default: a 1-D Gaussian).
      params: the truth, params of ``family`` (default: mean 0.5, variance 2).
      sample_size: the schedule ``M_0 .. M_{N-1}`` (its length is ``N``, >= 3).
      num_chains: chains in the reference batch (>= 3).
      key: the seed.
      dtype: the run's dtype (``"float64"`` needs x64 enabled).
      expected_weight: ``(t, schedule) -> total weight of fit t``, or None to skip.
      population: whether to run the population limit where the regime claims it.
      bad_inputs: ``(make, match)`` pairs of settings the regime must refuse.

    Returns:
      The reference run (``num_chains`` chains), for further checks.
    """
    if not isinstance(regime, Regime):
        fail(
            _FN,
            "regime",
            "a collapse_jax.Regime",
            regime,
            "Pass the regime itself, e.g. check_regime(cj.accumulate()).",
            error=TypeError,
        )
    schedule = np.asarray(sample_size, np.int64)
    if schedule.ndim != 1 or schedule.shape[0] < 3 or np.any(schedule < 1):
        fail(
            _FN,
            "sample_size",
            "a schedule of at least 3 positive sizes (one per generation)",
            described(f"{schedule.tolist()}"),
            "Pass e.g. sample_size=(8, 6, 10, 7).",
        )
    if num_chains < 3:
        fail(_FN, "num_chains", "an int >= 3", num_chains, "Pass num_chains=5.")
    if family is None:
        family = gaussian()
        params = gaussian_params(0.5, 2.0) if params is None else params
    if params is None:
        fail(
            _FN,
            "params",
            f"the truth's params of the {family.name} family",
            params,
            "Pass the params the chains start from.",
        )
    gens = int(schedule.shape[0])
    sizes = [int(m) for m in schedule]

    def run(**kw):
        args: dict[str, Any] = dict(
            key=key,
            num_chains=num_chains,
            num_generations=gens,
            sample_size=sizes,
            regime=regime,
            dtype=dtype,
        )
        args.update(kw)
        return run_chains(family, params, **args)

    # The data each fit sees first: a cheap run that fails fast.
    if expected_weight is not None:
        probe = run_chains(
            _probe(),
            gaussian_params(0.0, 1.0),
            key=key,
            num_chains=2,
            num_generations=gens,
            sample_size=sizes,
            regime=regime,
        )
        seen = np.asarray(probe.metrics["mean"][:, 1:, 0], np.float64)
        claimed = np.array([float(expected_weight(t, schedule)) for t in range(gens)])
        if not np.allclose(seen, claimed, rtol=1e-5, atol=1e-5):
            raise AssertionError(
                f"regime {regime.name!r}: the fits saw total weights "
                f"{seen[0].tolist()}, the regime claims {claimed.tolist()} "
                f"(schedule {sizes})"
            )
    # One reference run, resumed every 2 generations (the regime's state carried
    # between compiled scans), against chains 1-2 alone in one scan: batch and
    # chunk invariance in two compiled programs.
    whole = run(chunk_size=2)
    if not whole.ok:
        raise AssertionError(
            f"regime {regime.name!r}: chains failed: {whole.failures()[:3]}"
        )
    _assert_same(
        f"chains 1-2 alone in one scan vs in a batch of {num_chains} resumed every "
        "2 generations",
        regime,
        run(num_chains=2, first_chain=1),
        whole,
        slice(1, 3),
    )
    want = jnp.dtype(dtype)
    for leaf in jax.tree.leaves(whole.params):
        if jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.dtype != want:
            raise AssertionError(
                f"regime {regime.name!r}: a params leaf is {leaf.dtype} in a {dtype} "
                "run: the step must keep the run's dtype"
            )
    mixes = getattr(family, "fit_population_mixture", None) is not None
    pop_ok = "population" in regime.samplers and (mixes or not regime.mixes_models)
    if population and pop_ok:
        pop = run(sample_size=None, num_generations=3, num_chains=3)
        for name, v in pop.metrics.items():
            v = np.asarray(v)
            if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
                raise AssertionError(
                    f"regime {regime.name!r}: population limit: {name} is not finite"
                )
        alone = run(sample_size=None, num_generations=3, num_chains=1, first_chain=2)
        _assert_same("population limit, chain 2 alone", regime, alone, pop, slice(2, 3))
    for sampler in SAMPLERS:
        if sampler in regime.samplers:
            continue
        if sampler == "sufficient" and getattr(family, "sample_fit", None) is None:
            continue  # the family refuses it first
        kw = (
            {"sample_size": None}
            if sampler == "population"
            else {"sampler": sampler, "num_chains": 1}
        )
        _check_refusal(
            f"regime {regime.name!r} with sampler {sampler!r}",
            lambda kw=kw: run(**kw),
            re.escape(regime.name),
        )
    for i, (make, match) in enumerate(bad_inputs):
        _check_refusal(f"regime {regime.name!r}: bad input {i}", make, match)
    return whole
