"""Contract checks a fork runs on its own families and regimes."""

from collapse_jax.testing.regime import check_regime  # noqa: F401
