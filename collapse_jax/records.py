"""The results layout: records of a run, gathered chunk by chunk into a Dataset.

:class:`Records` is the one assembly of the results-file schema
(:mod:`collapse_jax.io`): the experiment runner (:mod:`collapse_jax.runs`) fills it
point by point and chunk by chunk, and :meth:`collapse_jax.ChainResult.to_dataset`
fills it with a whole run at once, so a plain run and an experiment's results file
have the same variables, axes and coordinates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from collapse_jax import io as cio
from collapse_jax import keys as cjk
from collapse_jax.status import mark_failed

__all__ = ["Records", "RecordPoint", "params_fields"]


class RecordPoint(NamedTuple):
    """A sweep point as the layout sees it: its label and its swept settings."""

    label: str
    coords: Mapping[str, Any]


def params_fields(params) -> dict[str, np.ndarray]:
    """``{field: array}`` of a params pytree: a NamedTuple's fields by name, any
    other pytree's leaves by their path (``params__<field>`` in a results file)."""
    if params is None:
        return {}
    if hasattr(params, "_asdict"):
        out = {}
        for k, v in params._asdict().items():
            if isinstance(v, dict | list | tuple):  # a nested field (a network's
                out.update(_leaves(v, k))  # weights): one entry per leaf
            else:
                out[k] = np.asarray(v)
        return out
    import jax

    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        name = "".join(c if c.isalnum() else "_" for c in jax.tree_util.keystr(path))
        out[name.strip("_") or "value"] = np.asarray(leaf)
    return out


def _leaves(tree, prefix: str) -> dict[str, np.ndarray]:
    """The leaves of a nested params field by their path, ``prefix__key__key``
    (alphanumerics and ``_`` only), so a results file holds one array each."""
    import jax

    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        keys = [prefix]
        for entry in path:
            key = getattr(entry, "key", getattr(entry, "idx", None))
            key = getattr(entry, "name", entry) if key is None else key
            keys.append("".join(c if c.isalnum() else "_" for c in str(key)))
        out["__".join(keys)] = np.asarray(leaf)
    return out


class Records:
    """The results of a run in memory, filled chunk by chunk.

    Args:
      points: the sweep points (:class:`RecordPoint`), run one after another.
      num_chains: chains per point.
      num_generations: fits per chain (records have ``num_generations + 1``).
      summary: None (keep every chain) or the quantile levels of a summary.
      params: ``params -> {field: array}``, the model parameters to keep as
        ``params__<field>``; None keeps none.
      chain_ids: the ``chain`` coordinate (default ``0 .. num_chains - 1``).
      generations: the recorded generations, the ``generation`` coordinate
        (default every one, ``0 .. num_generations``); ``put``'s ``lo`` indexes
        them.
    """

    def __init__(
        self,
        points: Sequence[RecordPoint],
        num_chains: int,
        num_generations: int,
        summary: Sequence[float] | None,
        params: Callable[[Any], Mapping[str, np.ndarray]] | None = None,
        chain_ids: np.ndarray | None = None,
        generations: np.ndarray | None = None,
    ):
        self.points = list(points)
        self.summary = summary
        self.params = params
        self.P = len(self.points)
        self.C = num_chains
        self.N = num_generations
        self._chain_ids = chain_ids
        self.generations = (
            np.arange(num_generations + 1, dtype=np.int32)
            if generations is None
            else np.asarray(generations, np.int32)
        )
        self.arrays: dict[str, np.ndarray] = {}
        self.dims: dict[str, tuple[str, ...]] = {}
        self.done = [0] * self.P  # generations with records, per point

    @property
    def chain_ids(self) -> np.ndarray:
        # Made when written: a run refused for memory never allocates C ids.
        if self._chain_ids is not None:
            return np.asarray(self._chain_ids)
        return np.arange(self.C, dtype=np.int32)

    def _alloc(self, name, dims, trailing, dtype):
        if dims[1] == "generation":
            lead = (self.P,)
        elif dims[1] == "quantile":
            assert self.summary is not None  # a quantile dim is made for a summary
            lead = (self.P, len(self.summary))
        else:
            lead = (self.P, self.C)
        shape = lead + (self.generations.size,) + tuple(trailing)
        fill = np.nan if np.issubdtype(dtype, np.floating) else 0
        self.arrays[name] = np.full(shape, fill, dtype)
        self.dims[name] = dims

    def put(self, p, lo, mets, params, status):
        """Store records of generations ``lo .. lo + n - 1`` of point ``p``."""
        n = status.shape[1]
        sl = (p, slice(None), slice(lo, lo + n))
        if self.summary is None:
            for m, v in mets.items():
                if m not in self.arrays:
                    tr = v.shape[2:]
                    self._alloc(
                        m,
                        ("sweep", "chain", "generation")
                        + tuple(f"{m}_dim{i}" for i in range(len(tr))),
                        tr,
                        v.dtype,
                    )
                # A failed chain is frozen: its float records are missing (NaN).
                self.arrays[m][sl] = mark_failed(v, status)
            kept = {} if self.params is None else self.params(params)
            for f, v in kept.items():
                v = np.asarray(v)
                name = f"params__{f}"
                if name not in self.arrays:
                    tr = v.shape[2:]
                    self._alloc(
                        name,
                        ("sweep", "chain", "generation")
                        + tuple(f"{name}_dim{i}" for i in range(len(tr))),
                        tr,
                        v.dtype,
                    )
                self.arrays[name][sl] = v
            if "status" not in self.arrays:
                self._alloc("status", ("sweep", "chain", "generation"), (), np.int32)
            self.arrays["status"][sl] = status
        else:
            ok = (status == 0)[None]
            for m, v in mets.items():
                parts = cio.summary_arrays(m, v[None], ok, self.summary)
                for name, (dims, arr) in parts.items():
                    arr = arr[0]  # this point
                    n_own = len(dims) - dims.index("generation") - 1
                    own = arr.shape[arr.ndim - n_own :]
                    if name not in self.arrays:
                        self._alloc(name, dims, own, np.float64)
                    if dims[1] == "generation":  # the mean: no quantile axis
                        self.arrays[name][p, lo : lo + n] = arr
                    else:
                        self.arrays[name][sl] = arr
            if "failed" not in self.arrays:
                self._alloc("failed", ("sweep", "generation"), (), np.int32)
            self.arrays["failed"][p, lo : lo + n] = (status != 0).sum(axis=0)
        self.done[p] = max(self.done[p], lo + n)

    def load(self, ds) -> None:
        """Take the records of a partial results file."""
        for name, var in ds.data_vars.items():
            if name.startswith("theory__"):
                continue
            self.arrays[name] = np.array(var.values)
            self.dims[name] = tuple(var.dims)
        self.done = list(json.loads(ds.attrs["generations_done"]))

    def dataset(
        self,
        complete: bool,
        attrs: Mapping[str, Any],
        theory: Mapping[str, tuple[str, Sequence[Any], str]] | None = None,
    ):
        """The results Dataset.

        Args:
          complete: whether every point is done (attribute ``complete``).
          attrs: the run's own attributes (experiment, configuration, seed,
            provenance, ...); the layout's (format, kind, sizes, progress, sweep
            fields) are added here.
          theory: ``{metric: (label, curves, statistic)}``, one curve per point,
            written as ``theory__<metric>``.
        """
        xr = cio._xarray()
        data_vars: dict[str, tuple[Any, ...]] = {
            name: (self.dims[name], arr) for name, arr in self.arrays.items()
        }
        for m, (label, curves, statistic) in (theory or {}).items():
            curve = np.stack([np.asarray(c, np.float64) for c in curves])
            data_vars[f"theory__{m}"] = (
                ("sweep", "generation"),
                curve,
                {"label": label, "statistic": statistic},
            )
        coords = {
            "sweep": (
                "sweep",
                np.asarray([p.label for p in self.points], dtype=object),
            ),
            "generation": ("generation", self.generations),
        }
        if self.summary is None:
            coords["chain"] = ("chain", self.chain_ids)
        else:
            coords["quantile"] = ("quantile", np.asarray(self.summary, np.float64))
        sweep_fields = list(self.points[0].coords)
        for k in sweep_fields:
            vals = [p.coords[k] for p in self.points]
            arr = (
                np.asarray(vals, dtype=object)
                if isinstance(vals[0], str)
                else np.asarray(vals)
            )
            coords[k] = ("sweep", arr)
        layout = {
            "collapse_jax_format": cio.RESULTS_FORMAT,
            "kind": "chains" if self.summary is None else "summary",
            "summary": json.dumps(None if self.summary is None else list(self.summary)),
            "key_scheme_version": cjk.KEY_SCHEME_VERSION,
            "num_chains": self.C,
            "num_generations": self.N,
            "complete": int(complete),
            "generations_done": json.dumps(self.done),
            "sweep_fields": json.dumps(sweep_fields),
        }
        return xr.Dataset(data_vars, coords=coords, attrs={**layout, **attrs})
