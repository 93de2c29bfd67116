"""Verify claims by topic, each module exporting ``CLAIMS`` (see ``verify.py``).

A claim module imports its row builders from :mod:`collapse_jax.verify`
(``Claim``, ``Context``, ``stat_row``, ``exact_row``, ``mean_se``, ``Z_PASS``).
"""
