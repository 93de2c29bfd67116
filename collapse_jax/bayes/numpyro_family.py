"""Any numpyro model of one data set as a chain family (``cj.numpyro_family``).

A user writes a numpyro model of ONE data set, ``model(data=None, n=...)``, with
global latent sites and exactly one observed site of batch shape ``(n,)``;
:func:`numpyro_family` turns it into a :class:`~collapse_jax.ModelFamily` that
runs on the chain engine like every other family (one ``lax.scan`` over
generations, one ``vmap`` over chains). Each generation:

1. **fit**: the inference (:func:`collapse_jax.bayes.inference.nuts` or
   :func:`~collapse_jax.bayes.inference.svi`) on the generation's data, the
   observed site's log-likelihood weighted by the runner's frequency weights;
2. **learner**: what the next model is (``learner=``):

   * ``"posterior_sample"``: one draw of the latents from the posterior: with NUTS
     the *last* kept draw (the one furthest from the warm start, so the one whose
     law is closest to the posterior; every kept draw has the posterior as its
     law at stationarity, and a uniformly chosen one would only mix in earlier,
     less converged draws), with SVI a draw from the fitted guide;
   * ``"map"``: the posterior mode, by SVI with an ``AutoDelta`` guide
     (``cj.svi(..., guide="delta")``); NUTS has no mode and is refused;
   * ``"posterior_predictive"``: every point of the next data set is an
     independent draw from the posterior predictive: with NUTS the point's
     latents are a uniformly chosen kept draw (the ``S`` kept draws are carried in
     the params), with SVI a fresh draw from the fitted guide per point (the
     guide's parameters are carried);

3. **sample**: the observed site's distribution given the latents (numpyro's
   ``seed``/``substitute``/``trace`` handlers on ``model(data=None, n=n)``).

Params are a NamedTuple generated from the latent site names (one field per
latent, the latents' values), plus ``guide`` (SVI: the guide's parameters, the
warm start of the next fit), ``draws`` (NUTS with the predictive learner: the
kept draws, ``{site: (S,) + shape}``) and ``divergences`` (NUTS: the share of
divergent kept transitions of the last fit). docs/bayes.md states the contract.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp
from numpyro import handlers

from collapse_jax.bayes import inference as inf
from collapse_jax.bayes.learners import LEARNERS
from collapse_jax.checks import check_positive_int, described, fail
from collapse_jax.families.base import ModelFamily, family

__all__ = ["LEARNERS", "numpyro_family"]

_EXTRA_FIELDS = ("guide", "draws", "divergences")
_FN = "numpyro_family"


@inf.promoting
def _site_values(model, latents, key, n, data=None):
    """Trace ``model`` with its latents substituted; the trace."""
    sub = handlers.substitute(model, data=dict(latents))
    return handlers.trace(handlers.seed(sub, key)).get_trace(data=data, n=n)


def _check_names(sites: inf.ModelSites) -> None:
    for name in sites.latent:
        if (
            not name.isidentifier()
            or keyword.iskeyword(name)
            or name.startswith("_")
            or name in _EXTRA_FIELDS
        ):
            fail(
                _FN,
                "model",
                "a model whose latent site names are Python identifiers not "
                f"starting with '_' and other than {_EXTRA_FIELDS}",
                described(f"latent site {name!r}"),
                "Rename the site: its name becomes a field of the params.",
            )


def _check_truth(model, sites: inf.ModelSites, truth: Any) -> dict:
    """The truth as ``{site: float array}`` (host), or the house error."""
    if not isinstance(truth, Mapping):
        fail(
            _FN,
            "truth",
            f"a dict of the latent sites' values {list(sites.latent)}",
            type(truth).__name__,
            "Pass truth={'site': value, ...}, one entry per latent site.",
            error=TypeError,
        )
    missing = [k for k in sites.latent if k not in truth]
    extra = sorted(str(k) for k in truth if k not in sites.latent)
    if missing or extra:
        fail(
            _FN,
            "truth",
            f"a dict with exactly the latent sites {list(sites.latent)}",
            described(
                "; ".join(
                    ([f"missing {missing}"] if missing else [])
                    + ([f"extra {extra}"] if extra else [])
                )
            ),
            "Give one value per latent site of the model, and nothing else "
            f"(the observed site {sites.observed!r} is generated).",
        )
    out = {}
    for name in sites.latent:
        try:
            value = np.asarray(truth[name], np.float32)
        except (TypeError, ValueError):
            fail(_FN, f"truth[{name!r}]", "numeric", truth[name], "Pass numbers.")
        if value.shape != sites.shapes[name]:
            fail(
                _FN,
                f"truth[{name!r}]",
                f"of the site's shape {sites.shapes[name]}",
                value,
                "Pass a value of the latent site's shape.",
            )
        if not np.all(np.isfinite(value)):
            fail(
                _FN,
                f"truth[{name!r}]",
                "finite",
                value.tolist(),
                "Remove NaN or inf entries.",
            )
        out[name] = value
    for name in sites.latent:
        support = sites.supports[name]
        with inf.standard_promotion():
            inside = np.all(np.asarray(support(jnp.asarray(out[name]))))
        if not inside:
            fail(
                _FN,
                f"truth[{name!r}]",
                f"in the site's support ({support})",
                out[name].tolist(),
                "Pass a value the prior gives positive density.",
            )
    return out


def _check_learner(learner: Any, spec: Any, guide: Any) -> None:
    if not isinstance(learner, str) or learner not in LEARNERS:
        options = ", ".join(repr(c) for c in LEARNERS[1:])
        fail(_FN, "learner", f"one of {options}", learner, f"Pass one of {options}.")
    if learner == "plugin":
        fail(
            _FN,
            "learner",
            "a Bayesian learner ('posterior_sample', 'posterior_predictive' or 'map')",
            "plugin",
            "A numpyro model has no plug-in fit: use learner='map' (the posterior "
            "mode; with flat priors the maximum likelihood fit).",
        )
    if learner == "map":
        if isinstance(spec, inf.NUTS):
            fail(
                _FN,
                "learner",
                "a learner the inference supports",
                described("learner='map' with cj.nuts(...), which has no mode"),
                "Pass inference=cj.svi(num_steps, guide='delta') for the MAP "
                "learner, or learner='posterior_sample' with NUTS.",
            )
        if guide is not None or spec.guide != "delta":
            fail(
                _FN,
                "inference",
                "cj.svi(..., guide='delta') for learner='map'",
                described(
                    "a user guide"
                    if guide is not None or callable(spec.guide)
                    else f"cj.svi(..., guide={spec.guide!r})"
                ),
                "Pass inference=cj.svi(num_steps, guide='delta'): its point is "
                "the posterior mode.",
            )


def _check_guide(model, spec, guide, sites, truth) -> None:
    """A user guide's sample sites must be the model's latents."""
    if guide is None:
        return
    if not callable(guide):
        fail(
            _FN,
            "guide",
            "None or a numpyro guide callable guide(data=None, n=...)",
            type(guide).__name__,
            "Pass a function with numpyro.param sites and one numpyro.sample site "
            "per latent of the model.",
            error=TypeError,
        )
    if not isinstance(spec, inf.SVI):
        fail(
            _FN,
            "guide",
            "None with cj.nuts(...) (a guide is for SVI)",
            described("a guide"),
            "Drop guide=, or pass inference=cj.svi(num_steps).",
        )
    tr = handlers.trace(handlers.seed(guide, jax.random.key(0))).get_trace(
        data=None, n=1
    )
    names = sorted(k for k, s in tr.items() if s["type"] == "sample")
    if names != sorted(sites.latent):
        fail(
            _FN,
            "guide",
            "a guide whose sample sites are the model's latents "
            f"{sorted(sites.latent)}",
            described(f"sample sites {names}"),
            "Give the guide one numpyro.sample site per latent site of the model, "
            "with the same names.",
        )
    for name in sites.latent:
        shape = tuple(np.shape(tr[name]["value"]))
        if shape != sites.shapes[name]:
            fail(
                _FN,
                "guide",
                f"a guide whose site {name!r} has the model's shape "
                f"{sites.shapes[name]}",
                described(f"shape {shape}"),
                "Match the guide's sample sites to the model's latent shapes.",
            )


def _params_type(name: str, sites, spec, learner):
    fields: list[tuple[str, Any]] = [(site, jax.Array) for site in sites.latent]
    if isinstance(spec, inf.SVI):
        fields.append(("guide", dict))
    else:
        if learner == "posterior_predictive":
            fields.append(("draws", dict))
        fields.append(("divergences", jax.Array))
    title = "".join(p.capitalize() for p in name.split("_") if p) or "Numpyro"
    return NamedTuple(f"{title}Params", fields)


def numpyro_family(
    model: Callable,
    *,
    truth: Mapping[str, Any],
    guide: Callable | None = None,
    inference: inf.NUTS | inf.SVI | None = None,
    learner: str = "posterior_sample",
    metrics: Callable[[dict], dict] | None = None,
    name: str | None = None,
    reference_size: int = 256,
) -> ModelFamily:
    """A chain family from a numpyro model of one data set.

    The model contract (docs/bayes.md): ``model(data=None, n=...)`` draws global
    latents (continuous, shapes independent of ``n``) and observes the data in
    exactly one sample site of batch shape ``(n,)``::

        def model(data=None, n=100):
            loc = numpyro.sample("loc", dist.Normal(0.0, 10.0))
            scale = numpyro.sample("scale", dist.HalfNormal(5.0))
            with numpyro.plate("data", n):
                numpyro.sample("x", dist.StudentT(4.0, loc, scale), obs=data)

    The runner's frequency weights scale the observed site's per-point
    log-likelihood (weight 0 masks a point out); the model does not see them.

    Args:
      model: the numpyro model.
      truth: ``{site: value}`` the latents of the generation-0 model (one entry
        per latent site, nothing else).
      guide: a user guide for SVI, ``guide(data=None, n=...)`` with
        ``numpyro.param`` sites and one ``numpyro.sample`` site per latent (same
        names and shapes); it must run with ``data=None`` (the predictive learner
        draws from it without data). Overrides the spec's named guide.
      inference: :func:`~collapse_jax.bayes.inference.nuts` (default
        ``cj.nuts(100, 100)``) or :func:`~collapse_jax.bayes.inference.svi`.
      learner: ``"posterior_sample"`` (default), ``"posterior_predictive"`` or
        ``"map"`` (SVI with ``guide="delta"`` only). ``"plugin"`` is refused: a
        numpyro model has no plug-in fit.
      metrics: ``(latents: dict) -> {name: scalar}``: more per-generation
        metrics of the carried latents (traceable).
      name: the family's name (default ``"numpyro_<model name>"``).
      reference_size: points of the fixed reference set drawn from the truth
        (key 0) whose mean log-likelihood under the carried latents is the
        ``log_lik`` metric.

    Returns:
      The family; ``family.generation0()`` is the truth's params. Build it once
      and reuse the object: each new object compiles anew.

    Metrics (per chain and generation):
      each scalar latent (its carried value: the posterior draw, or the mode);
      ``log_lik`` the mean log-likelihood of the reference set under the
      carried latents; ``divergences`` (NUTS) the share of divergent kept
      transitions of the generation's fit (0 for the truth); then ``metrics``'.

    Raises:
      ValueError, TypeError: the house message for a model that is not callable,
        has no observed site or more than one, a truth that misses a latent or
        has extra names, a guide whose sites do not match the latents, an unknown
        learner, ``"map"`` with NUTS, or an inference that is not a spec.

    Examples:
      >>> import numpyro, numpyro.distributions as dist
      >>> def model(data=None, n=10):
      ...     mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
      ...     with numpyro.plate("data", n):
      ...         numpyro.sample("x", dist.Normal(mu, 1.0), obs=data)
      >>> fam = numpyro_family(model, truth={"mu": 0.5},
      ...                      inference=inf.svi(50), learner="posterior_sample")
      >>> fam.metric_names
      ('mu', 'log_lik')
    """
    if inference is None:
        inference = inf.nuts(100, 100)
    if not isinstance(inference, inf.NUTS | inf.SVI):
        fail(
            _FN,
            "inference",
            "cj.nuts(...) or cj.svi(...)",
            type(inference).__name__,
            "Pass e.g. inference=cj.nuts(100, 100) or cj.svi(500).",
            error=TypeError,
        )
    sites = inf.inspect_model(_FN, model)
    _check_names(sites)
    _check_learner(learner, inference, guide)
    truth0 = _check_truth(model, sites, truth)
    _check_guide(model, inference, guide, sites, truth0)
    reference_size = check_positive_int(_FN, "reference_size", reference_size)
    fam_name = (
        name
        if name is not None
        else "numpyro_" + getattr(model, "__name__", "model").strip("<>_")
    )
    is_svi = isinstance(inference, inf.SVI)
    predictive = learner == "posterior_predictive"
    ptype = _params_type(fam_name, sites, inference, learner)
    obs = sites.observed

    def latents_of(params) -> dict:
        return {k: getattr(params, k) for k in sites.latent}

    def like(params):
        return getattr(params, sites.latent[0])

    def draw_from(latents, key, n):
        return _site_values(model, latents, key, n)[obs]["value"]

    ref = np.asarray(draw_from(truth0, jax.random.key(0), reference_size))
    guide0: dict = {}
    if isinstance(inference, inf.SVI):
        svi_spec = inference
        guide_fn = inf.make_guide(svi_spec, model, truth0, guide)
        guide0 = inf.initial_guide_params(svi_spec, model, guide_fn, sites, ref)

        def fit(key, data, weights, prev):
            dtype = like(prev).dtype
            infer_key, draw_key = jax.random.split(key)
            start = (
                prev.guide
                if svi_spec.start == "warm"
                else {k: jnp.asarray(v, dtype) for k, v in guide0.items()}
            )
            res = inf.run_svi(
                svi_spec,
                model,
                guide_fn,
                sites,
                data,
                weights.astype(dtype),
                infer_key,
                start,
            )
            lat = inf.guide_draw(
                guide_fn, sites, res.params, draw_key, data, data.shape[0]
            )
            return ptype(**lat, guide=res.params)

        def predictive_point(pick_key, key, params):
            del pick_key  # a fresh guide draw per point: no kept draws to pick
            kg, kx = jax.random.split(key)
            lat = inf.guide_draw(guide_fn, sites, params.guide, kg, None, 1)
            return draw_from(lat, kx, 1)[0]

    else:
        nuts_spec = inference

        def fit(key, data, weights, prev):
            dtype = like(prev).dtype
            infer_key, _ = jax.random.split(key)
            res = inf.run_nuts(
                nuts_spec,
                model,
                sites,
                data,
                weights.astype(dtype),
                infer_key,
                latents_of(prev),
            )
            lat = {k: v[-1] for k, v in res.draws.items()}  # the last kept draw
            extra = {"draws": res.draws} if predictive else {}
            return ptype(**lat, **extra, divergences=res.diverging)

        def predictive_point(pick_key, key, params):
            j = jax.random.randint(pick_key, (), 0, nuts_spec.num_samples)
            lat = {s: params.draws[s][j] for s in sites.latent}
            return draw_from(lat, key, 1)[0]

    def sample(key, params, n):
        if predictive:
            pick, point = jax.random.split(key)
            x = jax.vmap(lambda a, b: predictive_point(a, b, params))(
                jax.random.split(pick, n), jax.random.split(point, n)
            )
        else:
            x = draw_from(latents_of(params), key, n)
        if jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(like(params).dtype)  # numpyro's constants may be float64
        return x

    @inf.promoting
    def log_prob(params, data):
        tr = _site_values(
            model, latents_of(params), jax.random.key(0), data.shape[0], data
        )
        return tr[obs]["fn"].log_prob(data).astype(like(params).dtype)

    scalars = tuple(k for k in sites.latent if sites.shapes[k] == ())
    user_names: tuple[str, ...] = ()
    if metrics is not None:
        shapes = jax.eval_shape(metrics, {k: jnp.asarray(v) for k, v in truth0.items()})
        user_names = tuple(shapes)
    names = scalars + ("log_lik",) + (() if is_svi else ("divergences",)) + user_names

    def all_metrics(params, truth):
        del truth  # the reference set is drawn from the truth at build time
        lat = latents_of(params)
        x = jnp.asarray(ref)
        if jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(like(params).dtype)
        out = {k: lat[k] for k in scalars}
        out["log_lik"] = jnp.mean(log_prob(params, x)).astype(like(params).dtype)
        if not is_svi:
            out["divergences"] = params.divergences
        if metrics is not None:
            out.update(metrics(lat))
        return out

    def cast_params(params, dtype):
        return jax.tree.map(lambda x: jnp.asarray(np.asarray(x), dtype), params)

    def validate_params(fn, arg, params):
        if not isinstance(params, ptype):
            fail(
                fn,
                arg,
                ptype.__name__,
                type(params).__name__,
                f"Pass {fam_name}.generation0() or params fitted by this family.",
                error=TypeError,
            )
        for k in sites.latent:
            value = np.asarray(getattr(params, k))
            if value.shape != sites.shapes[k]:
                fail(
                    fn,
                    f"{arg}.{k}",
                    f"of shape {sites.shapes[k]}",
                    value,
                    f"Pass {fam_name}.generation0().",
                )
        for leaf in jax.tree.leaves(params):
            if not np.all(np.isfinite(np.asarray(leaf))):
                fail(
                    fn,
                    arg,
                    "finite",
                    described("NaN or inf entries"),
                    "Pass params without NaN or inf.",
                )

    fields: dict[str, Any] = dict(truth0)
    if isinstance(inference, inf.SVI):
        fields["guide"] = guide0
    else:
        if predictive:
            fields["draws"] = {
                k: np.broadcast_to(v, (inference.num_samples,) + v.shape).copy()
                for k, v in truth0.items()
            }
        fields["divergences"] = np.float32(0.0)
    truth_params = ptype(**fields)

    return family(
        name=fam_name,
        params_type=ptype,
        sample=sample,
        fit=fit,
        log_prob=log_prob,
        event_shape=sites.event_shape,
        min_sample_size=1,
        metrics=all_metrics,
        metric_names=names,
        cast_params=cast_params,
        validate_params=validate_params,
        generation0=lambda: truth_params,
        population_tolerance=(
            "a Bayesian learner's fit is a random draw, mode or predictive of "
            "an approximate posterior: no population limit is claimed"
        ),
    )
