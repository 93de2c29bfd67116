"""Contract tests a fork runs on its own family or regime.

``check_family(family, params)`` checks the family contract the runner relies on
(:mod:`collapse_jax.testing.family`); ``check_regime(regime, ...)`` the regime
contract (:mod:`collapse_jax.testing.regime`). Every built-in family and regime
passes them (tests/test_family_contract.py, tests/test_regime_contract.py).
"""

from collapse_jax.testing.family import CHECKS, K_DEFAULT, check_family
from collapse_jax.testing.regime import check_regime

__all__ = ["CHECKS", "K_DEFAULT", "check_family", "check_regime"]
