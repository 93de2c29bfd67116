"""The private parts of :mod:`collapse_jax.plots`, one concept a module."""
