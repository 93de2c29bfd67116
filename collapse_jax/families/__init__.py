"""Model families: factories and params constructors."""

from collapse_jax.families.base import ModelFamily
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

__all__ = [
    "ModelFamily",
    "GaussianParams",
    "gaussian",
    "gaussian_params",
    "gaussian_mean_cov",
    "CategoricalParams",
    "categorical",
    "categorical_params",
]
