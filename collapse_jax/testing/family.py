"""The family contract, as a test a fork runs on its own family.

:func:`check_family` checks what the runner relies on and nothing in the type of a
:class:`~collapse_jax.families.base.ModelFamily` states: shapes and dtypes of every
function, prefix-stable draws, bitwise batch and chunk invariance (reductions are tree
sums, so a chain's bits do not depend on the chains beside it), masked draws equal to
a smaller sample, frequency weights (weight 2 is a duplicated point, weight 0 an
absent one), the house error messages of ``validate_params``, and the population
limit where the family claims one. A broken contract raises ``AssertionError``
naming it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax.families.base import ModelFamily

__all__ = ["CHECKS", "K_DEFAULT", "check_family"]

#: The contracts, in the order they run.
CHECKS = (
    "shapes_and_dtypes",
    "prefix_stability",
    "masked_draws",
    "batch_invariance",
    "chunk_invariance",
    "weighted_fit",
    "bad_input",
    "population_limit",
)

#: k of the population check's k·SE tolerance: a two-sided normal tail of 1e-6, the
#: per-assertion share of a 1e-3 false-failure budget over 1,000 assertions.
K_DEFAULT = 4.9


class _Broken(AssertionError):
    pass


def _broken(family, contract, message):
    raise _Broken(
        f"check_family({family.name}): contract {contract!r} broken: {message}"
    )


def _float_leaves(tree):
    return [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]


def _same_bits(family, contract, a, b, what):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(la) != len(lb):
        _broken(family, contract, f"{what}: {len(la)} leaves against {len(lb)}")
    for i, (x, y) in enumerate(zip(la, lb, strict=True)):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            _broken(
                family,
                contract,
                f"{what}: leaf {i} is {x.dtype}{x.shape} against {y.dtype}{y.shape}",
            )
        if x.tobytes() != y.tobytes():
            _broken(family, contract, f"{what}: leaf {i} differs in its bits")


def _dtypes(dtypes):
    if dtypes is not None:
        return tuple(jnp.dtype(d) for d in dtypes)
    out = (jnp.dtype("float32"),)
    config: Any = jax.config  # its options are attributes made at runtime
    if config.jax_enable_x64:
        out += (jnp.dtype("float64"),)
    return out


def _check_shapes_and_dtypes(family, params, key, n, dtype):
    c = "shapes_and_dtypes"
    p = family.cast_params(params, dtype)
    if type(p) is not family.params_type:
        _broken(family, c, f"cast_params returned {type(p).__name__}")
    for x in _float_leaves(p):
        if x.dtype != dtype:
            _broken(family, c, f"cast_params to {dtype} gave a {x.dtype} leaf")

    def everything(key, p):
        # One compiled program for every function: a fork's check stays quick.
        ks, kf = jax.random.split(key)
        x = family.sample(ks, p, n)
        weights = jnp.ones((n,), dtype)
        fit = family.fit(kf, x, weights, p)
        out = {"fit": fit, "refit": family.refit(ks, kf, p, weights)}
        if family.sample_fit is not None:
            out["sample_fit"] = family.sample_fit(ks, p, n)
        if family.fit_population is not None:
            out["fit_population"] = family.fit_population(p)
        extra = {
            "x": x,
            "log_prob": family.log_prob(p, x),
            "status": family.status(fit),
            "metrics": family.metrics(fit, p),
        }
        return out, extra

    results, extra = jax.jit(everything)(key, p)
    x = extra["x"]
    if x.shape != (n, *family.event_shape):
        _broken(
            family,
            c,
            f"sample(key, params, {n}) has shape {x.shape}, not "
            f"{(n, *family.event_shape)} (n + event_shape)",
        )
    if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype != dtype:
        _broken(family, c, f"sample in {dtype} drew {x.dtype} data")
    lp = extra["log_prob"]
    if lp.shape != (n,):
        _broken(family, c, f"log_prob of {n} points has shape {lp.shape}, not ({n},)")
    if lp.dtype != dtype:
        _broken(family, c, f"log_prob in {dtype} gave {lp.dtype}")
    for fn, out in results.items():
        if type(out) is not family.params_type:
            _broken(family, c, f"{fn} returned {type(out).__name__}")
        for leaf, ref in zip(jax.tree.leaves(out), jax.tree.leaves(p), strict=True):
            if leaf.shape != ref.shape or leaf.dtype != ref.dtype:
                _broken(
                    family,
                    c,
                    f"{fn} in {dtype} returned a {leaf.dtype}{leaf.shape} leaf "
                    f"where params have {ref.dtype}{ref.shape}",
                )
    code = int(extra["status"])
    if code != 0:
        _broken(family, c, f"status of a fit to {n} draws is {code}, not 0 (OK)")
    metrics = extra["metrics"]
    if sorted(metrics) != sorted(family.metric_names):  # jit sorts a dict's keys
        _broken(
            family,
            c,
            f"metrics returned {tuple(metrics)}, metric_names says "
            f"{tuple(family.metric_names)}",
        )
    return p


def _check_draws(family, p, key, n, checks, big_n):
    """Prefix stability, masked draws and batch invariance."""
    dtype = _float_leaves(p)[0].dtype

    def step(key):
        ks, kf = jax.random.split(key)
        out = {"refit": family.refit(ks, kf, p, jnp.ones((n,), dtype))}
        if family.sample_fit is not None:
            out["sample_fit"] = family.sample_fit(ks, p, n)
        return out

    def everything(key):
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(8))
        return {
            "short": family.sample(key, p, n),
            "long": family.sample(key, p, big_n),
            "big": jax.vmap(step)(keys),
            "small": jax.vmap(step)(keys[:3]),
        }

    out = jax.jit(everything)(key)
    if "masked_draws" in checks:
        # Two programs, as the runner compiles one per schedule: within one
        # program XLA may fuse the two refits' reductions differently.
        ks, kf = jax.random.split(key)
        refit = jax.jit(family.refit)
        out["masked"] = refit(ks, kf, p, (jnp.arange(big_n) < n).astype(dtype))
        out["exact"] = refit(ks, kf, p, jnp.ones((n,), dtype))
    if "prefix_stability" in checks:
        _same_bits(
            family,
            "prefix_stability",
            out["long"][:n],
            out["short"],
            f"the first {n} of {big_n} draws against {n} draws",
        )
    if "masked_draws" in checks:
        _same_bits(
            family,
            "masked_draws",
            out["masked"],
            out["exact"],
            f"a refit to {n} of {big_n} draws (the rest weighted 0) against a "
            f"refit to {n} draws",
        )
    if "batch_invariance" in checks:
        _same_bits(
            family,
            "batch_invariance",
            jax.tree.map(lambda x: x[:3], out["big"]),
            out["small"],
            "a generation of 3 chains against the same 3 in a batch of 8",
        )


def _check_chunks(family, params, key, n, samplers):
    from collapse_jax.chain import run_chains  # noqa: PLC0415 (the runner's API)

    c = "chunk_invariance"
    for sampler in samplers:
        kw: dict[str, Any] = dict(
            key=key, num_generations=4, sample_size=n, sampler=sampler
        )
        whole = run_chains(family, params, num_chains=5, **kw)
        parts = run_chains(family, params, num_chains=5, chunk_size=3, **kw)
        what = f"sampler={sampler!r}: chunks of 3 generations against one scan"
        _same_bits(family, c, whole.params, parts.params, what)
        _same_bits(family, c, whole.metrics, parts.metrics, what)
        alone = run_chains(family, params, num_chains=1, first_chain=3, **kw)
        what = f"sampler={sampler!r}: chain 3 alone against 5 chains"
        _same_bits(
            family,
            "batch_invariance",
            jax.tree.map(lambda x: x[3:4], whole.params),
            alone.params,
            what,
        )


def _check_weighted(family, p, key, n, rtol, atol):
    c = "weighted_fit"
    dtype = _float_leaves(p)[0].dtype
    ks, kf, kw = jax.random.split(key, 3)
    x = np.asarray(jax.jit(family.sample, static_argnums=2)(ks, p, n))
    counts = np.array(jax.random.randint(kw, (n,), 0, 3))
    counts[: max(family.min_sample_size, 1)] = 1  # enough points to fit
    rep = np.repeat(x, counts, axis=0)

    def both(x, w, rep):
        return (
            family.fit(kf, x, w, p),
            family.fit(kf, rep, jnp.ones((rep.shape[0],), dtype), p),
        )

    weighted, duplicated = jax.jit(both)(
        jnp.asarray(x), jnp.asarray(counts, dtype), jnp.asarray(rep)
    )
    what = (
        f"a fit with weights in {{0, 1, 2}} against the fit to the points "
        f"duplicated (weight 2) or dropped (weight 0), rtol={rtol}, atol={atol}"
    )
    la, lb = jax.tree.leaves(weighted), jax.tree.leaves(duplicated)
    for i, (a, b) in enumerate(zip(la, lb, strict=True)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False):
            _broken(family, c, f"{what}: leaf {i} is {a} against {b}")


def _check_bad_input(family, params):
    c = "bad_input"
    fn = "check_family"
    try:
        family.validate_params(fn, "params", params)
    except (TypeError, ValueError) as err:
        _broken(family, c, f"validate_params refused the valid params: {err}")

    class NotParams:
        pass

    try:
        family.validate_params(fn, "params", NotParams())
    except TypeError as err:
        if not str(err).startswith(f"{fn}(): params must be"):
            _broken(family, c, f"a wrong params type: not the house message: {err}")
    except Exception as err:  # noqa: BLE001 (reported as the broken contract)
        _broken(family, c, f"a wrong params type raised {type(err).__name__}: {err}")
    else:
        _broken(family, c, "validate_params accepted an object of another type")
    fields = [
        i
        for i, x in enumerate(params)
        if np.issubdtype(np.asarray(x).dtype, np.floating)
    ]
    if not fields:
        return
    leaf = np.array(np.asarray(params[fields[0]]), np.float64, copy=True)
    leaf.reshape(-1)[0] = np.nan
    bad = params._replace(**{params._fields[fields[0]]: leaf})
    try:
        family.validate_params(fn, "params", bad)
    except (TypeError, ValueError) as err:
        if not str(err).startswith(f"{fn}(): params"):
            _broken(family, c, f"a NaN parameter: not the house message: {err}")
    else:
        _broken(
            family,
            c,
            f"validate_params accepted a NaN in params.{params._fields[fields[0]]}",
        )


def _check_population(family, p, key, size, replicates, k):
    """The mean over ``replicates`` fits to ``size`` draws is within k·SE of the
    population fit, leaf by leaf (SE from the replicates). Returns the number of
    scalar comparisons made."""
    c = "population_limit"
    dtype = _float_leaves(p)[0].dtype

    def one(rep_key):
        ks, kf = jax.random.split(rep_key)
        return family.refit(ks, kf, p, jnp.ones((size,), dtype))

    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(replicates))
    fits = jax.jit(jax.vmap(one))(keys)
    target = jax.jit(family.fit_population)(p)
    count = 0
    for field, got, want in zip(p._fields, fits, target, strict=True):
        if not jnp.issubdtype(got.dtype, jnp.floating):
            continue  # counts of a finite sample have no population value
        got = np.asarray(got, np.float64)
        mean = got.mean(axis=0)
        se = got.std(axis=0, ddof=1) / math.sqrt(replicates)
        want = np.asarray(want, np.float64)
        # Float rounding of the fit itself (a few ulps of the values) as a floor.
        ulp = 8 * float(jnp.finfo(dtype).eps) * (np.abs(want) + 1)
        ok = np.abs(mean - want) <= k * se + ulp
        count += int(np.size(ok))
        if not np.all(ok):
            _broken(
                family,
                c,
                f"params.{field}: the mean of {replicates} fits to {size} draws is "
                f"{mean} against the population fit {want}, SE {se}, k={k}",
            )
    return count


def check_family(
    family: ModelFamily,
    params: Any,
    *,
    key: int = 0,
    sample_size: int | None = None,
    dtypes: Sequence[Any] | None = None,
    checks: Sequence[str] = CHECKS,
    samplers: Sequence[str] | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    masked_size: int | None = None,
    population_size: int = 4096,
    replicates: int = 64,
    k: float = K_DEFAULT,
) -> dict[str, str]:
    """Check that ``family`` keeps the contract the runner relies on.

    Args:
      family: the family under test.
      params: a valid truth of the family (host arrays, as its public constructor
        returns them).
      key: the seed of every draw.
      sample_size: the number of draws per check; default
        ``max(2 * min_sample_size, 16)``.
      dtypes: the dtypes of the shape checks; default float32, and float64 when
        x64 is on.
      checks: the contracts to check (a subset of :data:`CHECKS`).
      samplers: the runner's samplers for ``chunk_invariance``; default
        ``"samples"``, and ``"sufficient"`` when the family has an exact draw.
      rtol, atol: the tolerance of ``weighted_fit`` (float rounding of a fit).
      masked_size: the draws of ``masked_draws`` and ``prefix_stability``, of
        which the first ``sample_size`` are kept; default ``2 * sample_size + 3``
        (a longer tree of sums). A family whose fit is bitwise the same only for
        draws padded to one power of two (EM, least squares: XLA compiles their
        elementwise work differently per shape) passes a size in the same power
        of two as ``sample_size``.
      population_size, replicates: the population check fits ``replicates``
        samples of ``population_size`` draws.
      k: the population check's k·SE tolerance.

    Returns:
      ``{contract: "passed" | "skipped: why" | "passed (N comparisons)"}``.

    Raises:
      AssertionError: naming the broken contract and what was compared.
      ValueError: for an unknown contract name.

    Examples:
      >>> import collapse_jax as cj
      >>> report = check_family(
      ...     cj.poisson(), cj.poisson_params(2.0), checks=("prefix_stability",)
      ... )
      >>> report["prefix_stability"]
      'passed'
    """
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise ValueError(
            f"check_family(): checks must be names from {CHECKS}; got {unknown}. "
            "Pass a subset of collapse_jax.testing.CHECKS."
        )
    n = sample_size or max(2 * family.min_sample_size, 16)
    root = jax.random.key(key)
    dtypes = _dtypes(dtypes)
    report: dict[str, str] = {}
    p32 = None
    if "shapes_and_dtypes" in checks:
        for dtype in dtypes:
            cast = _check_shapes_and_dtypes(family, params, root, n, dtype)
            p32 = cast if p32 is None else p32
        report["shapes_and_dtypes"] = "passed (" + ", ".join(map(str, dtypes)) + ")"
    p = p32 if p32 is not None else family.cast_params(params, dtypes[0])
    draws = [c for c in ("prefix_stability", "masked_draws", "batch_invariance")]
    draws = [c for c in draws if c in checks]
    if draws:
        _check_draws(family, p, root, n, draws, masked_size or 2 * n + 3)
        report.update(dict.fromkeys(draws, "passed"))
    if "chunk_invariance" in checks:
        if samplers is None:
            samplers = ("samples",) + (
                ("sufficient",) if family.sample_fit is not None else ()
            )
        _check_chunks(family, params, key, n, tuple(samplers))
        report["chunk_invariance"] = "passed (" + ", ".join(samplers) + ")"
    if "weighted_fit" in checks:
        _check_weighted(family, p, root, n, rtol, atol)
        report["weighted_fit"] = "passed"
    if "bad_input" in checks:
        _check_bad_input(family, params)
        report["bad_input"] = "passed"
    if "population_limit" in checks:
        if family.fit_population is None:
            report["population_limit"] = "skipped: the family has no fit_population"
        elif family.population_tolerance is not None:
            report["population_limit"] = f"skipped: {family.population_tolerance}"
        else:
            made = _check_population(family, p, root, population_size, replicates, k)
            report["population_limit"] = f"passed ({made} comparisons)"
    return report
