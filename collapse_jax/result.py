"""What a run returns: :class:`ChainResult`, and its results Dataset.

:meth:`ChainResult.to_dataset` is the results-file layout of
:mod:`collapse_jax.io` (assembled by :class:`collapse_jax.records.Records`, as an
experiment's results file is), so ``cj.save(cj.run_chains(...), path)`` writes a
file :func:`collapse_jax.load` reads back.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from collapse_jax import io as cio
from collapse_jax.compiled import ChainState
from collapse_jax.families.base import Params
from collapse_jax.records import RecordPoint, Records, params_fields
from collapse_jax.status import ChainFailure, Status, failure_report

__all__ = ["ChainResult"]


@dataclasses.dataclass
class ChainResult:
    """What :func:`run_chains` returns (host NumPy arrays).

    A chain that fails inside the run (a non-finite or degenerate fit) freezes at
    its last good model and its status turns non-zero from that generation on;
    :func:`run_chains` then warns once (:class:`~collapse_jax.FailedChainsWarning`).

    Attributes:
      params: the family's params pytree, leading axes
        ``(num_chains, num_generations + 1)`` (``(num_chains, G)``, the
        :attr:`generations` recorded, when thinned); ``None`` if
        ``record_params=False``.
        A failed chain's params stay those of its last good model (the frozen
        state), so it can be inspected.
      metrics: ``{name: array}``, leading axes ``(num_chains, num_generations + 1)``
        (``(num_chains, G)`` when thinned).
        Float metrics are NaN (missing) where ``status != 0``, i.e. from the
        generation a chain failed at; integer and bool metrics (counts, support
        sizes, alarms) cannot hold NaN and keep the frozen chain's values there:
        mask them with :attr:`valid`.
      status: ``(num_chains, num_generations + 1) int32`` status codes.
      chain_ids: ``(num_chains,)`` global chain ids.
      final_state: the batched :class:`ChainState` after the last generation.
      config: a JSON-serialisable description of the run.
      reference: the model of the fitted family that generation 0 stands for, and
        that the family's metrics compare with: the truth itself when it is a valid
        model of the fitted family (e.g. a categorical truth of a ``max_support``
        family), else its population best fit in the fitted family (its
        projection, e.g. the moment-matched Gaussian of a mixture).
        ``params[:, 0]`` is this reference.
      origin: None, or the float64 point the run was translated by. A truth far
        enough from the origin that the dtype would round its steps there (its
        spacing above 1/1024 of one generation's step) is run in a frame where
        it sits near 0, so the chain keeps the dtype's resolution wherever the
        truth is (collapse_jax.frame, docs/precision.md). Location metrics (``mean``,
        ``means``, regression ``weights`` and ``weight_norm_sq``) and location
        params are then returned as ``origin +`` the frame's value, added on the
        host in **float64** (whatever the run's dtype); everything
        translation-invariant (variances, distances, test errors) is the
        frame's value in the run's dtype. ``final_state.params`` are absolute
        too, rounded to the run's dtype (so a downstream fit can start from
        them); its ``regime_state`` (e.g. buffers of past draws) is the frame's.
      relative: ``{name: array}``, the location metrics as the chain computed
        them in the frame (relative to ``origin``, in the run's dtype); empty
        when ``origin`` is None. Where ``origin`` dwarfs the chain's moves
        (float64 resolves ``1e30 + 0.01`` as ``1e30``), ``relative`` still holds
        them exactly: ``relative["mean"][:, n] - relative["mean"][:, 0]`` is
        ``mu_n - mu_0`` as computed.
      seed: the run's int seed, or None when it was given as a typed JAX key
        (recorded by :meth:`to_dataset`).
      generations: ``(G,)`` the recorded generations, the generation axis of
        ``params``, ``metrics`` and ``status`` (``0 .. N`` unless the run was
        thinned with ``record_every`` or ``record_at``; 0 and ``N`` are always
        recorded).
      first_passage: ``{name: (num_chains,) int32}``: per chain, the first
        generation its ``first_passage`` predicate held, ``-1`` if never.
      failed_at: ``(num_chains,) int32``, the generation each chain failed at
        (-1: it did not), when the run tracked it (thinned or with
        ``first_passage``); None otherwise (the status says).
    """

    params: Params | None
    metrics: dict[str, np.ndarray]
    status: np.ndarray
    chain_ids: np.ndarray
    final_state: ChainState
    config: dict[str, Any]
    reference: Params | None = None
    origin: np.ndarray | None = None
    relative: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    seed: int | None = None
    generations: np.ndarray | None = None  # None: every one (__post_init__ fills)
    first_passage: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    failed_at: np.ndarray | None = None

    def __post_init__(self):
        if self.generations is None:  # every generation recorded
            self.generations = np.arange(np.shape(self.status)[1], dtype=np.int64)

    def failures(self) -> list[ChainFailure]:
        """The chains whose status turned non-zero: id, generation and reason
        (the exact generation also under thinning)."""
        if self.failed_at is None:
            return failure_report(self.status, self.chain_ids)
        final = np.asarray(self.final_state.status)
        return [
            ChainFailure(
                int(self.chain_ids[i]), int(self.failed_at[i]), Status(int(final[i]))
            )
            for i in np.flatnonzero(np.asarray(self.failed_at) >= 0)
        ]

    @property
    def ok(self) -> bool:
        """True when no chain failed."""
        return not bool(np.any(self.status))

    @property
    def valid(self) -> np.ndarray:
        """``(num_chains, num_generations + 1)`` bool: True where the record is a
        result (status 0), False from the generation a chain failed at."""
        return np.asarray(self.status) == 0

    def to_dataset(self, summary: Sequence[float] | None = None):
        """The results Dataset of this run: the layout an experiment's results
        file has (:mod:`collapse_jax.io`), with one sweep point.

        Every metric is ``(sweep, chain, generation, *metric_dims)``, the status
        ``(sweep, chain, generation)``, recorded params ``params__<field>``; the
        ``chain`` coordinate holds the global chain ids and the attributes the
        run's description (``config``, ``run_config``), its dtype, seed (when an
        int) and this process's provenance. Failed chains keep their status and
        their float metrics are NaN from the generation they failed at. A run in
        a translated frame records its ``origin`` (JSON) as an attribute.
        ``cj.save(result.to_dataset(), path)`` (or ``cj.save(result, path)``)
        writes it and :func:`collapse_jax.load` reads it back.

        Args:
          summary: None (every chain), or quantile levels: the ``"summary"``
            layout of :func:`collapse_jax.io.summarize` (no ``chain`` axis).

        Returns:
          An ``xarray.Dataset``.
        """
        q = None if summary is None else cio.check_quantiles("to_dataset", summary)
        c, n1 = np.shape(self.status)
        gens = np.asarray(self.generations)
        records = Records(
            [RecordPoint("run", {})],
            c,
            int(gens[-1]),
            q,
            params=None if self.params is None else params_fields,
            chain_ids=np.asarray(self.chain_ids, np.int32),  # as runs writes them
            generations=gens,
        )
        add = lambda x: np.asarray(x)  # noqa: E731 - records take host arrays
        records.put(
            0,
            0,
            {m: add(v) for m, v in self.metrics.items()},
            self.params,
            add(self.status),
        )
        cfg = self.config
        prov = cio.provenance()
        title = f"{cfg.get('family')}, regime {cfg.get('regime')}"
        attrs = {
            "experiment": "",
            "preset": "",
            "config": json.dumps(cfg, sort_keys=True),
            "key_scheme": "chain c: fold_in(fold_in(key(seed), STREAM_CHAINS), c); "
            "generation t: counter keys, scheme 2 (collapse_jax.keys)",
            "versions": json.dumps(prov["versions"], sort_keys=True),
            "device": prov["device"],
            "git_revision": prov["git_revision"],
            "dtype": str(cfg.get("dtype", "")),
            "title": title,
            "log_metrics": json.dumps([]),
            "metric_labels": json.dumps({}),
            "figures": json.dumps([]),
            "run_config": json.dumps([cfg], sort_keys=True),
            "created": cio.now(),
        }
        if self.seed is not None:
            attrs["seed"] = int(self.seed)
        if self.origin is not None:
            attrs["origin"] = json.dumps(np.asarray(self.origin).tolist())
        return records.dataset(True, attrs)

    def __repr__(self) -> str:
        c, _ = np.shape(self.status)
        gens = np.asarray(self.generations)
        n1 = int(gens[-1]) + 1
        thinned = gens.size != n1
        mets = ", ".join(f"{k}{tuple(np.shape(v))}" for k, v in self.metrics.items())
        cfg = self.config
        keys = ("family", "regime", "sample_size", "sampler", "dtype")
        parts = []
        for k in keys:
            v = cfg.get(k)
            if k == "sample_size" and isinstance(v, list):
                v = v[0] if len(set(v)) == 1 else f"{min(v)}..{max(v)}"
            if v is not None:
                parts.append(f"{k}={v}")
        failed = int(np.any(self.status != 0, axis=1).sum())
        params = "recorded" if self.params is not None else "not recorded"
        return (
            f"ChainResult({c} chains x {n1 - 1} generations"
            + (f" ({gens.size} recorded)" if thinned else "")
            + f", {', '.join(parts)}; "
            f"metrics: {mets}; params {params}; "
            f"{failed} failed chain{'s' if failed != 1 else ''}"
            + (" (see .failures())" if failed else "")
            + (
                ""
                if self.origin is None
                else "; run in a frame at the truth: locations float64, see .relative"
            )
            + ")"
        )
