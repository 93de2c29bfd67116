"""Every refusal of the Bayesian learners and priors, in the house message."""

from __future__ import annotations

import numpy as np
import pytest

import collapse_jax as cj
from collapse_jax.fitting import approximate


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cj.normal_inverse_gamma(0.0, 0.0, 1.0, 1.0),
         r"normal_inverse_gamma\(\): precision must be finite and > 0; got 0.0"),
        (lambda: cj.normal_inverse_gamma(0.0, 1.0, -1.0, 1.0),
         r"normal_inverse_gamma\(\): concentration must be finite and > 0; got -1.0"),
        (lambda: cj.normal_inverse_gamma(0.0, 1.0, 1.0, 0.0),
         r"normal_inverse_gamma\(\): rate must be finite and > 0; got 0.0\. .*"
         r"cj\.jeffreys\(\)"),
        (lambda: cj.normal_inverse_gamma(np.nan, 1.0, 1.0, 1.0),
         r"normal_inverse_gamma\(\): mean must be a finite number"),
        (lambda: cj.dirichlet_prior([1.0, 0.0]),
         r"dirichlet_prior\(\): concentration must be finite and > 0; "
         r"got \[1.0, 0.0\]"),
        (lambda: cj.dirichlet_prior([]),
         r"dirichlet_prior\(\): concentration must be a number or a non-empty vector"),
        (lambda: cj.gamma_prior(0.0, 1.0),
         r"gamma_prior\(\): concentration must be finite and > 0; got 0.0"),
        (lambda: cj.gamma_prior(1.0, 0.0),
         r"gamma_prior\(\): rate must be finite and > 0; got 0.0\. .*cj\.jeffreys"),
        (lambda: cj.gamma_prior(1.0, np.inf),
         r"gamma_prior\(\): rate must be finite and > 0; got inf"),
    ],
)
def test_bad_prior_numbers(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unknown_learner_in_the_words_of_the_entry_point():
    with pytest.raises(ValueError, match=r"bayesian\(\): learner must be one of "
                       r"'plugin', 'posterior_sample', 'posterior_predictive', "
                       r"'map'; got 'posterior'"):
        cj.bayesian(cj.gaussian(), "posterior")
    with pytest.raises(ValueError, match=r"gaussian\(\): learner must be one of"):
        cj.gaussian(learner="mle")
    with pytest.raises(ValueError, match=r"poisson\(\): learner must be one of"):
        cj.poisson(learner="bayes")
    with pytest.raises(ValueError, match=r"categorical\(\): learner must be one of"):
        cj.categorical(3, learner="nuts")


@pytest.mark.parametrize("fam", [cj.gmm(2, 1), cj.linear_regression(2, 10),
                                 cj.categorical(4, max_support=2)],
                         ids=["gmm", "linear_regression", "truncated_categorical"])
def test_a_learner_needs_the_conjugate_capability(fam):
    with pytest.raises(ValueError, match=(
        r"bayesian\(\): learner must be for a family with a conjugate prior "
        r"\(ModelFamily\.conjugate\); got 'map' for the \w+ family, which has none\. "
        r"Bayesian learners exist for cj\.gaussian\(\) \(1-D\), cj\.categorical\(K\) "
        r"and cj\.poisson\(\); fit any other model by NUTS or SVI with "
        r"cj\.numpyro_family")):
        cj.bayesian(fam, "map")


def test_a_prior_of_the_wrong_kind_or_length():
    with pytest.raises(ValueError, match=(
        r"gaussian\(\): prior must be cj\.jeffreys\(\) or cj\.normal_inverse_gamma"
        r"\(mean, precision, concentration, rate\) for the gaussian family; got a "
        r"Dirichlet prior")):
        cj.gaussian(learner="map", prior=cj.dirichlet_prior(1.0))
    with pytest.raises(ValueError, match=(
        r"bayesian\(\): prior must be cj\.jeffreys\(\) or cj\.gamma_prior")):
        cj.bayesian(cj.poisson(), prior=cj.normal_inverse_gamma(0, 1, 1, 1))
    with pytest.raises(ValueError, match=(
        r"categorical\(\): prior must be a Dirichlet prior over the family's 3 "
        r"categories; got 2 concentrations")):
        cj.categorical(3, learner="posterior_sample", prior=cj.dirichlet_prior([1, 2]))
    with pytest.raises(TypeError, match=r"bayesian\(\): prior must be None or a prior"):
        cj.bayesian(cj.poisson(), prior=(2.0, 1.0))
    with pytest.raises(ValueError, match=(
        r"poisson\(\): prior must be None with learner='plugin'")):
        cj.poisson(prior=cj.gamma_prior(1.0, 1.0))


def test_refusals_of_the_family_and_inference():
    with pytest.raises(ValueError, match=(
        r"gaussian\(\): learner must be 'plugin' for a 2-dimensional Gaussian .*"
        r"normal-inverse-Wishart posterior is not implemented.*; got "
        r"'posterior_sample'\. Use cj\.gaussian\(dim=1, learner=\.\.\.\)")):
        cj.gaussian(dim=2, learner="posterior_sample")
    # inference= works since bayes/inferred.py; a non-spec is refused.
    with pytest.raises(TypeError, match=(
        r"bayesian\(\): inference must be None \(exact\), cj\.nuts\(\.\.\.\) or "
        r"cj\.svi\(\.\.\.\); got 'object'")):
        cj.bayesian(cj.gaussian(), inference=object())
    with pytest.raises(TypeError, match=r"bayesian\(\): family must be a model family"):
        cj.bayesian("gaussian")
    fam = approximate(cj.gaussian(estimator="mle"), num_steps=3, learning_rate=0.1)
    with pytest.raises(ValueError, match=(
        r"bayesian\(\): family must be a family with an exact fit .*; got "
        r"approx\(gaussian\), an approximate fit of gaussian")):
        cj.bayesian(fam)
    with pytest.raises(ValueError, match=r"run_chains\(\): sampler must be 'samples' "
                       r"for the gaussian\[posterior_predictive\] family"):
        cj.run_chains(cj.gaussian(learner="posterior_predictive"),
                      cj.gaussian_params(0.0, 1.0), key=0, num_chains=2,
                      num_generations=1, sample_size=5, sampler="sufficient")
