"""collapse_jax: model collapse, executable.

Vectorised JAX chains of generative models refitted on their own samples, with the
three error sources of Shumailov et al. as switches and every theoretical claim
checked against simulation (``collapse-jax verify``). Importing the package changes
no JAX configuration, warning filter or logging setting.
"""

from typing import TYPE_CHECKING

from collapse_jax import datasets, distributed, experiments, families, metrics, theory
from collapse_jax._version import __version__
from collapse_jax.bayes import (
    LEARNERS,
    bayesian,
    dirichlet_prior,
    gamma_prior,
    jeffreys,
    normal_inverse_gamma,
)
from collapse_jax.chain import (
    ChainConfig,
    ChainResult,
    ChainState,
    run_chains,
    run_spec,
)
from collapse_jax.compare import plot_runs
from collapse_jax.compile_cache import (
    compile_cache_dir,
    disable_compile_cache,
    enable_compile_cache,
)
from collapse_jax.curation import Curation, likelihood_filter, tail_weighting
from collapse_jax.decompose import ERROR_SOURCES, Decomposition, decompose
from collapse_jax.distributed import merge_results
from collapse_jax.families import (
    CategoricalParams,
    GaussianParams,
    GmmParams,
    LinearRegressionParams,
    MixtureView,
    ModelFamily,
    PoissonParams,
    categorical,
    categorical_params,
    gaussian,
    gaussian_mean_cov,
    gaussian_params,
    gmm,
    gmm_params,
    gmm_weights_means_covs,
    linear_regression,
    linear_regression_params,
    poisson,
    poisson_params,
)
from collapse_jax.fitting import PseudoData, approximate, pseudo_data
from collapse_jax.io import load, save
from collapse_jax.keys import KEY_SCHEME_VERSION
from collapse_jax.minority import Minority, minority
from collapse_jax.monitor import CollapseMonitor, adaptive, collapse_monitor, monitored
from collapse_jax.progress import progress_bar
from collapse_jax.regimes import (
    Regime,
    accumulate,
    accumulate_subsample,
    fresh,
    general_mix,
    make_regime,
    mix,
    regime_names,
    register_regime,
    replace,
    retain_original,
)
from collapse_jax.regimes.web import (  # issue 16: the web as a regime
    Detector,
    ShareSchedule,
    detector,
    linear_share,
    logistic_share,
    watermark,
    web,
)
from collapse_jax.runs import (
    Run,
    plot_run,
    reproduce,
    resume,
    run_arguments,
    run_experiment,
)
from collapse_jax.runspec import RunSpec
from collapse_jax.sampling import (
    SamplingBias,
    nucleus,
    repetition_penalty,
    temperature,
    top_k,
    variance_scale,
)
from collapse_jax.status import ChainFailure, FailedChainsWarning, Status
from collapse_jax.summaries import SummaryResult
from collapse_jax.sweep import SweepResult, sweep

if TYPE_CHECKING:  # imported on first use: flax and optax load only for neural runs
    from collapse_jax.bayes.inference import nuts, svi
    from collapse_jax.bayes.numpyro_family import numpyro_family
    from collapse_jax.neural import (
        NeuralParams,
        Training,
        learned_family,
        run_stages,
        training,
    )
    from collapse_jax.neural.decoding import Decoding, decoding
    from collapse_jax.neural.lm import language_model
    from collapse_jax.neural.text import Corpus, text_corpus
    from collapse_jax.neural.vae import vae, vae_training

#: Public names of collapse_jax.neural, imported when first used (__getattr__).
_NEURAL = ("learned_family", "training", "Training", "NeuralParams", "run_stages")
#: ... and of its modules, by module (a function named like its module, such as
#: ``vae``, stays off the ``collapse_jax.neural`` package).
_NEURAL_MODULES = {
    "language_model": "lm",
    "text_corpus": "text",
    "Corpus": "text",
    "decoding": "decoding",
    "Decoding": "decoding",
    "vae": "vae",
    "vae_training": "vae",
}

#: Public names of collapse_jax.bayes' numpyro engine, by module, imported when first
#: used (numpyro and optax load only for Bayesian runs).
_BAYES_MODULES = {
    "svi": "inference",
    "nuts": "inference",
    "numpyro_family": "numpyro_family",
}


def __getattr__(name: str):
    if name in _BAYES_MODULES:
        import importlib

        module = importlib.import_module(f"collapse_jax.bayes.{_BAYES_MODULES[name]}")
        return getattr(module, name)
    if name in _NEURAL:
        import collapse_jax.neural

        return getattr(collapse_jax.neural, name)
    if name in _NEURAL_MODULES:
        import importlib

        module = importlib.import_module(f"collapse_jax.neural.{_NEURAL_MODULES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'collapse_jax' has no attribute {name!r}")


__all__ = [
    "__version__",
    "run_chains",
    "run_spec",
    "RunSpec",
    "ChainConfig",
    "ChainResult",
    "ChainState",
    "decompose",
    "Decomposition",
    "ERROR_SOURCES",
    "ModelFamily",
    "gaussian",
    "gaussian_params",
    "gaussian_mean_cov",
    "GaussianParams",
    "categorical",
    "categorical_params",
    "CategoricalParams",
    "gmm",
    "gmm_params",
    "gmm_weights_means_covs",
    "GmmParams",
    "poisson",
    "poisson_params",
    "PoissonParams",
    "MixtureView",
    "linear_regression",
    "linear_regression_params",
    "LinearRegressionParams",
    "approximate",
    "bayesian",
    "LEARNERS",
    "jeffreys",
    "normal_inverse_gamma",
    "dirichlet_prior",
    "gamma_prior",
    "pseudo_data",
    "PseudoData",
    "Regime",
    "replace",
    "accumulate",
    "accumulate_subsample",
    "mix",
    "fresh",
    "retain_original",
    "general_mix",
    "web",
    "detector",
    "watermark",
    "linear_share",
    "logistic_share",
    "Detector",
    "ShareSchedule",
    "register_regime",
    "regime_names",
    "make_regime",
    "collapse_monitor",
    "CollapseMonitor",
    "monitored",
    "adaptive",
    "minority",
    "Minority",
    "sweep",
    "SweepResult",
    "SummaryResult",
    "merge_results",
    "distributed",
    "SamplingBias",
    "variance_scale",
    "temperature",
    "top_k",
    "nucleus",
    "repetition_penalty",
    "Curation",
    "tail_weighting",
    "likelihood_filter",
    "Status",
    "ChainFailure",
    "FailedChainsWarning",
    "KEY_SCHEME_VERSION",
    "progress_bar",
    "run_experiment",
    "run_arguments",
    "resume",
    "reproduce",
    "plot_run",
    "plot_runs",
    "Run",
    "load",
    "save",
    "enable_compile_cache",
    "disable_compile_cache",
    "compile_cache_dir",
    "experiments",
    "theory",
    "metrics",
    "families",
    "datasets",
    "learned_family",
    "language_model",
    "text_corpus",
    "Corpus",
    "decoding",
    "Decoding",
    "training",
    "Training",
    "NeuralParams",
    "run_stages",
    "vae",
    "vae_training",
    "svi",
    "nuts",
    "numpyro_family",
]
