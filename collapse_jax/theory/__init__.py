"""Host-side closed forms (NumPy/SciPy, float64) for the model-collapse claims.

One module per topic, each function citing its claim id in docs/theory.md and its
proof in ``proofs/``:

* :mod:`collapse_jax.theory.gaussian`: the 1-D Gaussian chain (GC-1, GC-2, GC-3,
  GC-5, SH-4 to SH-6, SH-8, SU-3, AL-2).
* :mod:`collapse_jax.theory.multivariate`: the d-dimensional Gaussian chain (SH-7).
* :mod:`collapse_jax.theory.discrete`: the categorical (Wright–Fisher) chain
  (SH-3, WF-1 to WF-5, WF-9).
* :mod:`collapse_jax.theory.approximation`: the functional-approximation error
  (SH-1): the pseudo-data (biased objective) closed form and the float64 K-step
  optimiser map.
* :mod:`collapse_jax.theory.expressivity`: the population limit and the
  expressivity error (SH-1): projections onto a smaller class.
* :mod:`collapse_jax.theory.mixing`: regimes that keep real data (AL-3 / SE-2
  fixed real set and fresh data), re-exporting :mod:`~collapse_jax.theory.accumulation`
  (LR-3) and :mod:`~collapse_jax.theory.stability_toy` (BE-2 stability toy).
* :mod:`collapse_jax.theory.counting`: the Poisson chain and Galton–Watson
  extinction (SU-2, SU-1).
* :mod:`collapse_jax.theory.tails`: Zipf tails and the memorisation learner
  (TT-1, TT-2, TT-3).
* :mod:`collapse_jax.theory.regression`: the linear-regression chain (LR-0 to
  LR-2, LR-5, LR-6): replace vs accumulate, over-parameterised collapse.
* :mod:`collapse_jax.theory.bias`: sampling bias (AL-2: temperature, top-k,
  nucleus as independent NumPy maps) and tail weighting (TW-1).
* :mod:`collapse_jax.theory.bayes`: Bayesian learners (BL-1 to BL-6): posterior
  draws, MAP and posterior predictive for the Gaussian, categorical and Poisson.
* :mod:`collapse_jax.theory.web`: the web regime (WB-1 to WB-5): the effective
  synthetic share after detection, the categorical and Gaussian web chains, the
  recall a target error needs; :mod:`collapse_jax.theory.minority_loss`: a
  minority's loss in the neutral chain (WB-5).
* :mod:`collapse_jax.theory.curves`: the closed forms above at every generation
  ``n = 0 .. N`` at once, in O(N) (the experiments' theory curves).

Index ``n`` counts fits (``n = 0`` is the truth); a ``sample_size`` is one int
``M`` or a per-generation schedule ``M_0, M_1, ...`` (generation ``i`` draws
``M_i`` points).
"""

from collapse_jax.theory import bayes, bias, curves, web
from collapse_jax.theory.approximation import (
    fixed_start_rates,
    gradient_map_iterate,
    one_step_variance_fixed_point,
    pseudo_data_moments,
)
from collapse_jax.theory.counting import (
    expected_poisson_rate,
    forgetting_generation_quantile,
    galton_watson_extinction,
    poisson_absorption_probability,
)
from collapse_jax.theory.discrete import (
    absorption_horizon,
    category_loss_probability,
    entropy,
    expected_gini_simpson,
    expected_probs,
    expected_support_size,
    fixation_probabilities,
    gini_simpson,
    non_absorption_bounds,
    wright_fisher_eigenvalues,
    wright_fisher_matrix,
)
from collapse_jax.theory.expressivity import (
    moment_match_categorical,
    moment_match_mixture,
    top_k_kl_to_truth,
    top_k_projection,
    top_k_tv_to_truth,
)
from collapse_jax.theory.gaussian import (
    expected_log_variance,
    expected_sd,
    expected_squared_mean_error,
    expected_variance,
    expected_w2_sq,
    expected_w2_sq_leading_order,
    log_variance_factor_mean,
    log_variance_factor_var,
    marginal_sample_variance,
    mean_increment_scale,
    quadratic_schedule,
    variance_log_variance,
    variance_of_variance,
    w2_sq_upper_bound,
)
from collapse_jax.theory.mixing import (
    accumulate_mean_error_bound,
    accumulate_squared_mean_error,
    accumulate_variance,
    accumulate_variance_limit,
    categorical_mixing_sq_error,
    categorical_mixing_stationary_sq_error,
    fixed_real_moments,
    fresh_known_variance_stationary_error,
    fresh_moments,
    mixing_stationary_moments,
    mixing_weights,
    stability_bound,
    stability_toy_map,
    stability_toy_path,
    toy_mean_contraction,
)
from collapse_jax.theory.multivariate import (
    collapse_generation,
    expected_log_det_cov,
    lyapunov_exponents,
    variance_log_det_cov,
)
from collapse_jax.theory.regression import (
    accumulate_test_error_bound,
    conditional_test_error_accumulate,
    conditional_test_error_replace,
    expected_test_error_accumulate,
    expected_test_error_overparameterised,
    expected_test_error_replace,
    expected_test_error_steps,
    expected_weights_overparameterised,
    fixed_design_chain,
)
from collapse_jax.theory.tails import (
    equivalent_sample_size,
    lost_mass_after_generations,
    memorisation_error,
    memorisation_error_asymptotic,
    tail_cut_probs,
    tail_mass,
    tail_mass_asymptotic,
    zipf_probs,
)

__all__ = [
    "bayes",
    "bias",
    "curves",
    "web",
    "accumulate_test_error_bound",
    "conditional_test_error_accumulate",
    "conditional_test_error_replace",
    "expected_test_error_accumulate",
    "expected_test_error_overparameterised",
    "expected_test_error_replace",
    "expected_test_error_steps",
    "expected_weights_overparameterised",
    "fixed_design_chain",
    "pseudo_data_moments",
    "one_step_variance_fixed_point",
    "gradient_map_iterate",
    "fixed_start_rates",
    "top_k_tv_to_truth",
    "top_k_projection",
    "top_k_kl_to_truth",
    "moment_match_mixture",
    "moment_match_categorical",
    "absorption_horizon",
    "category_loss_probability",
    "collapse_generation",
    "entropy",
    "expected_gini_simpson",
    "expected_log_det_cov",
    "expected_log_variance",
    "expected_probs",
    "expected_sd",
    "expected_squared_mean_error",
    "expected_support_size",
    "expected_variance",
    "expected_w2_sq",
    "expected_w2_sq_leading_order",
    "fixation_probabilities",
    "gini_simpson",
    "log_variance_factor_mean",
    "log_variance_factor_var",
    "lyapunov_exponents",
    "marginal_sample_variance",
    "mean_increment_scale",
    "non_absorption_bounds",
    "quadratic_schedule",
    "variance_log_det_cov",
    "variance_log_variance",
    "variance_of_variance",
    "w2_sq_upper_bound",
    "wright_fisher_eigenvalues",
    "wright_fisher_matrix",
    "accumulate_mean_error_bound",
    "accumulate_squared_mean_error",
    "accumulate_variance",
    "accumulate_variance_limit",
    "categorical_mixing_sq_error",
    "categorical_mixing_stationary_sq_error",
    "fixed_real_moments",
    "fresh_known_variance_stationary_error",
    "fresh_moments",
    "mixing_stationary_moments",
    "mixing_weights",
    "stability_bound",
    "stability_toy_map",
    "stability_toy_path",
    "toy_mean_contraction",
    "expected_poisson_rate",
    "forgetting_generation_quantile",
    "galton_watson_extinction",
    "poisson_absorption_probability",
    "equivalent_sample_size",
    "lost_mass_after_generations",
    "memorisation_error",
    "memorisation_error_asymptotic",
    "tail_cut_probs",
    "tail_mass",
    "tail_mass_asymptotic",
    "zipf_probs",
]
