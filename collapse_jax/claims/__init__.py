"""Verify claims by topic, one module each, exporting ``CLAIMS``.

A claim module imports what a claim is from :mod:`collapse_jax.claims.registry`
(``Claim``, ``Context``, ``Row``, ``stat_row``, ``exact_row``, ``mean_se``,
``Z_PASS``), and :mod:`collapse_jax.verify` lists the modules (``BUILTIN``).
:mod:`collapse_jax.claims.shared` holds the runs several modules share and
:mod:`collapse_jax.claims.blocks` the blocked runs of the largest rows.
"""
