"""Model families: factories and params constructors."""

from collapse_jax.families.base import ApproxHooks, Location, MixtureView, ModelFamily
from collapse_jax.families.categorical import (
    CategoricalParams,
    categorical,
    categorical_params,
)
from collapse_jax.families.gaussian import (
    GaussianParams,
    gaussian,
    gaussian_mean_cov,
    gaussian_params,
)
from collapse_jax.families.gmm import (
    GmmParams,
    gmm,
    gmm_params,
    gmm_weights_means_covs,
)
from collapse_jax.families.linear_regression import (
    LinearRegressionParams,
    linear_regression,
    linear_regression_params,
)
from collapse_jax.families.poisson import PoissonParams, poisson, poisson_params

__all__ = [
    "ModelFamily",
    "MixtureView",
    "ApproxHooks",
    "Location",
    "GmmParams",
    "gmm",
    "gmm_params",
    "gmm_weights_means_covs",
    "GaussianParams",
    "gaussian",
    "gaussian_params",
    "gaussian_mean_cov",
    "CategoricalParams",
    "categorical",
    "categorical_params",
    "LinearRegressionParams",
    "linear_regression",
    "linear_regression_params",
    "PoissonParams",
    "poisson",
    "poisson_params",
]
