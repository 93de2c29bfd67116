"""Contract tests a fork runs on its own family or regime.

``check_family(family, params)`` checks the family contract the runner relies on
(:mod:`collapse_jax.testing.family`); every built-in family passes it
(tests/test_family_contract.py).
"""

from collapse_jax.testing.family import CHECKS, K_DEFAULT, check_family

__all__ = ["CHECKS", "K_DEFAULT", "check_family"]
