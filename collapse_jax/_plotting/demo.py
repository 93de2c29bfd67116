"""A tiny synthetic results Dataset for the examples of :mod:`collapse_jax.plots`."""

from __future__ import annotations

import json

import numpy as np


def _demo_dataset():
    """A small Gaussian results Dataset (2 sweep points x 8 chains x 20
    generations) following the schema, for the docstring examples."""
    import xarray as xr

    rng = np.random.default_rng(0)
    sizes = (10, 100)
    num_chains, num_gens = 8, 20
    shape = (len(sizes), num_chains, num_gens + 1)
    steps = np.stack([np.log(rng.chisquare(m - 1, shape[1:]) / (m - 1)) for m in sizes])
    steps[..., 0] = 0.0
    log_var = np.cumsum(steps, axis=-1)
    mean = np.cumsum(
        rng.normal(size=shape) * np.exp(log_var / 2) / np.sqrt(sizes)[:, None, None],
        axis=-1,
    )
    mean[..., 0] = 0.0
    w2_sq = mean**2 + (np.exp(log_var / 2) - 1.0) ** 2
    from scipy.special import digamma

    drift = [digamma((m - 1) / 2) + np.log(2 / (m - 1)) for m in sizes]
    theory = np.array(drift)[:, None] * np.arange(num_gens + 1)
    dims = ("sweep", "chain", "generation")
    ds = xr.Dataset(
        {
            "mean": (dims + ("mean_dim0",), mean[..., None].astype(np.float32)),
            "log_var": (dims + ("log_var_dim0",), log_var[..., None]),
            "w2_sq": (dims, w2_sq),
            "shrunk": (dims, log_var < np.log(0.5)),
            "status": (dims, np.zeros(shape, np.int32)),
            "theory__log_var": (
                ("sweep", "generation"),
                theory,
                {"label": "E log σ²ₙ", "statistic": "mean"},
            ),
        },
        coords={
            "sweep": [f"M={m}" for m in sizes],
            "chain": np.arange(num_chains, dtype=np.int32),
            "generation": np.arange(num_gens + 1, dtype=np.int32),
            "sample_size": ("sweep", np.array(sizes)),
        },
    )
    ds.attrs.update(
        collapse_jax_format=1,
        kind="chains",
        title="Gaussian chain (demo)",
        num_chains=num_chains,
        num_generations=num_gens,
        complete=1,
        generations_done=json.dumps([num_gens + 1] * len(sizes)),
        sweep_fields=json.dumps(["sample_size"]),
        log_metrics=json.dumps(["w2_sq"]),
        metric_labels=json.dumps({"log_var": "log σ²ₙ", "w2_sq": "W₂²"}),
        figures=json.dumps(
            [
                {"kind": "metric", "metric": "log_var", "name": "log_var"},
                {"kind": "metric", "metric": "w2_sq", "name": "w2_sq"},
                {"kind": "fraction", "metric": "shrunk", "name": "shrunk"},
                {
                    "kind": "histogram",
                    "metric": "log_var",
                    "generations": [0, 10, 20],
                    "name": "log_var_hist",
                },
                {"kind": "snapshot", "generations": [0, 10, 20], "name": "densities"},
            ]
        ),
    )
    return ds
