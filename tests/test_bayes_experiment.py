"""The bayes-learners experiment (collapse_jax.experiments.bayes_learners).

One small Gaussian run and one categorical run (module fixtures) under every learner;
the chains' means are compared with the exact curves the experiment draws at k·SE,
SE from the chains themselves (tests/helpers.py sets k from the suite's budget).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from collapse_jax import runs
from collapse_jax.bayes import LEARNERS
from collapse_jax.experiments import core
from collapse_jax.theory import bayes as tb

from .helpers import assert_within_se

EXP = "bayes-learners"
CHAINS, GENS, M = 256, 12, 10


def _mean_se(x):
    x = np.asarray(x, np.float64)
    return x.mean(0), x.std(0, ddof=1) / np.sqrt(x.shape[0])


@pytest.fixture(scope="module")
def gauss_run(tmp_path_factory):
    return runs.run_experiment(
        EXP,
        overrides={"family": "gaussian", "sample_size": M, "num_generations": GENS,
                   "num_chains": CHAINS},
        out=tmp_path_factory.mktemp("bl-gauss"), figures=False,
    ).dataset


def test_gaussian_dataset_and_theory(gauss_run):
    ds = gauss_run
    assert list(ds["sweep"].values) == list(LEARNERS)
    assert ds["log_var"].shape == (4, CHAINS, GENS + 1, 1)  # (d,) per model
    assert not np.any(ds["status"].values)
    theory = ds["theory__log_var"].values
    by = dict(zip(LEARNERS, theory, strict=True))
    # The predictive's E log v_n has only a bound (BL-3): no curve is drawn.
    assert np.all(np.isnan(by["posterior_predictive"]))
    np.testing.assert_allclose(by["posterior_sample"], 0.0, atol=1e-12)  # BL-1
    np.testing.assert_allclose(
        by["map"][GENS], tb.gaussian_map_log_var_moments(M, GENS)[0], rtol=1e-12)
    specs = {s["name"]: s for s in json.loads(ds.attrs["figures"])}
    assert specs["log_var"]["kind"] == "metric"


@pytest.mark.parametrize("learner", ["plugin", "posterior_sample", "map"])
def test_gaussian_chains_follow_the_curves(gauss_run, learner):
    ds = gauss_run.sel(sweep=learner)
    for n in (1, GENS):
        est, se = _mean_se(ds["log_var"].values[:, n, 0])
        assert_within_se(est, ds["theory__log_var"].values[n], se,
                         what=f"{learner} E log σ² at n={n}")


def test_gaussian_predictive_grows_where_plugin_collapses(gauss_run):
    # BL-3: E v_n grows geometrically; the plug-in's E log σ² falls (GC-3). The
    # difference of the chains' means is compared with its SE (same chain ids:
    # the paired differences' spread).
    lv = gauss_run["log_var"].values[..., 0]
    i, j = LEARNERS.index("posterior_predictive"), LEARNERS.index("plugin")
    diff = lv[i, :, GENS] - lv[j, :, GENS]
    est, se = _mean_se(diff)
    assert est > 5.0 * se


def test_categorical_run_follows_bl5(tmp_path):
    ds = runs.run_experiment(
        EXP,
        overrides={"family": "categorical", "truth": 0.3, "sample_size": M,
                   "num_generations": GENS, "num_chains": CHAINS,
                   "learners": ["plugin", "posterior_sample"]},
        out=tmp_path, figures=False,
    ).dataset
    assert list(ds["sweep"].values) == ["plugin", "posterior_sample"]
    for learner in ("plugin", "posterior_sample"):
        sel = ds.sel(sweep=learner)
        est, se = _mean_se(sel["gini_simpson"].values[:, GENS])
        assert_within_se(est, sel["theory__gini_simpson"].values[GENS], se,
                         what=f"{learner} E Gini–Simpson")
    # Dirichlet(1/2) draws never stay in a point mass; the plug-in chain does.
    ab = ds["absorbed"].values[:, :, GENS].mean(1)
    assert ab[0] > ab[1]


def test_presets_validate():
    for name, fam in (("bayes-learners", "gaussian"),
                      ("bayes-learners-categorical", "categorical"),
                      ("bayes-learners-poisson", "poisson")):
        cfg = core.resolve_config(EXP, preset=name)
        assert cfg["family"] == fam and cfg["learners"] == list(LEARNERS)
        assert core.get_preset(name).experiment == EXP


@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"family": "gmm"}, "--family"),
        ({"learners": ["bayes"]}, "--learners"),
        ({"learners": ["map", "map"]}, "--learners"),
        ({"family": "categorical", "truth": 1.0}, "--truth"),
        ({"sample_size": 3}, "--sample-size"),
        ({"concentration": 2.0}, "--concentration"),  # only with --prior conjugate
        ({"prior": "conjugate", "family": "categorical", "rate": 1.0}, "--rate"),
    ],
)
def test_bad_values(overrides, option):
    with pytest.raises(ValueError, match=option):
        core.resolve_config(EXP, overrides=overrides)
