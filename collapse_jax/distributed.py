"""Runs over many processes and hosts through ``jax.distributed``.

Chains are independent and a chain's bits depend only on (seed, chain id,
configuration, dtype) (:mod:`collapse_jax.keys`), so a multi-host run needs no
communication while it runs: each process runs a contiguous range of chain ids
(:func:`share`, by process index) on its own devices, and the ranges are put back
together at the end, by :func:`run_chains` (``gather=True``: every process gets the
whole result) or by :func:`merge_results` on results kept per process. The merged
result is bit for bit the single-process run of the same seed
(tests/test_distributed.py runs two processes on the loopback address).

A launch on two hosts (or two terminals), the same script on each::

    import collapse_jax as cj

    cj.distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)  # 1
    res = cj.distributed.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0),
                                    key=0, num_chains=4096, num_generations=100,
                                    sample_size=100)

Under SLURM, Open MPI or on a TPU pod, ``cj.distributed.initialize()`` with no
arguments lets JAX read the cluster's settings (``JAX_COORDINATOR_ADDRESS`` gives
the coordinator's address).
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import pickle
from collections.abc import Sequence
from typing import Any, Literal, TypeVar, overload

import numpy as np

import jax

from collapse_jax.checks import check_positive_int, described, fail
from collapse_jax.result import ChainResult
from collapse_jax.summaries import SummaryResult

__all__ = [
    "gather_dataset",
    "initialize",
    "merge_datasets",
    "merge_results",
    "run_chains",
    "share",
]

# The config entries that differ between the parts of one run (merge_results).
_PART_KEYS = ("num_chains", "first_chain")


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    _fn: str = "initialize",
    _names: tuple[str, str, str] = (
        "coordinator_address",
        "num_processes",
        "process_id",
    ),
) -> None:
    """Join a multi-process run: ``jax.distributed.initialize`` with checked arguments.

    Call it in every process before anything else touches JAX. With no arguments JAX
    finds the settings itself (SLURM, Open MPI, TPU pods; the environment variable
    ``JAX_COORDINATOR_ADDRESS`` gives the coordinator); otherwise pass all three.

    Args:
      coordinator_address: ``"HOST:PORT"`` of process 0 (which listens there).
      num_processes: how many processes take part (``>= 1``).
      process_id: this process's index, in ``[0, num_processes)``.

    Raises:
      ValueError, TypeError: for a malformed address, a partial set of arguments,
        an id out of range, or when this process already joined.
    """
    fn, names = _fn, _names  # the command line's wording: run(), --coordinator
    given = [coordinator_address, num_processes, process_id]
    if any(v is not None for v in given) and any(v is None for v in given):
        fail(
            fn,
            f"{names[0]}, {names[1]} and {names[2]}",
            "all given or all None",
            described(
                ", ".join(f"{n}={v!r}" for n, v in zip(names, given, strict=True))
            ),
            "Pass all three, or none to let JAX read the cluster's settings.",
        )
    if coordinator_address is not None:
        check_address(fn, names[0], coordinator_address)
        n = check_positive_int(fn, names[1], num_processes)
        check_process_id(fn, names[2], process_id, n)
    if jax.distributed.is_initialized():
        fail(
            fn,
            "the process",
            "not yet part of a distributed run",
            described("already initialized"),
            "Call initialize() once per process, before any computation.",
            error=RuntimeError,
        )
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )


def check_address(fn: str, name: str, address: Any) -> str:
    """``address`` as ``"HOST:PORT"`` (a port in 1..65535), or the house error."""
    if not isinstance(address, str):
        fail(
            fn,
            name,
            "a 'HOST:PORT' string",
            address,
            "Pass e.g. '10.0.0.1:1234' (process 0's host).",
            error=TypeError,
        )
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        fail(
            fn,
            name,
            "'HOST:PORT' with a port in 1..65535",
            address,
            "Pass e.g. '10.0.0.1:1234' (process 0's host).",
        )
    return address


def check_process_id(fn: str, name: str, process_id: Any, num_processes: int) -> int:
    """``process_id`` as an int in ``[0, num_processes)``, or the house error."""
    if (
        not isinstance(process_id, numbers.Integral)
        or isinstance(process_id, bool)
        or not 0 <= int(process_id) < num_processes
    ):
        fail(
            fn,
            name,
            f"an int in [0, {num_processes - 1}]",
            process_id,
            "Number the processes 0 .. num_processes - 1, one id each.",
        )
    return int(process_id)


def share(
    num_chains: int,
    *,
    first_chain: int = 0,
    process_id: int | None = None,
    num_processes: int | None = None,
) -> tuple[int, int]:
    """This process's chains of a run: ``(first chain id, number of chains)``.

    The ``num_chains`` ids from ``first_chain`` are cut into ``num_processes``
    contiguous ranges in process order; the first ``num_chains % num_processes``
    ranges hold one chain more.

    Args:
      num_chains: chains of the whole run (``>= num_processes``).
      first_chain: id of the run's first chain.
      process_id, num_processes: default ``jax.process_index()`` and
        ``jax.process_count()``.

    Examples:
      >>> share(10, process_id=1, num_processes=3), share(10, process_id=2,
      ...                                                num_processes=3)
      ((4, 3), (7, 3))
    """
    fn = "share"
    n = (
        jax.process_count()
        if num_processes is None
        else check_positive_int(fn, "num_processes", num_processes)
    )
    i = (
        jax.process_index()
        if process_id is None
        else check_process_id(fn, "process_id", process_id, n)
    )
    num_chains = check_positive_int(fn, "num_chains", num_chains)
    if num_chains < n:
        fail(
            fn,
            "num_chains",
            f">= the number of processes ({n})",
            num_chains,
            "Give every process at least one chain, or use fewer processes.",
        )
    base, extra = divmod(num_chains, n)
    return first_chain + i * base + min(i, extra), base + (i < extra)


# The result's type follows `output`, as for collapse_jax.run_chains.
# fmt: off
@overload
def run_chains(
    family, init, *, num_chains: int, first_chain: int = ..., gather: bool = ...,
    devices: Any = ..., output: Literal["records"] = ..., **kwargs: Any,
) -> ChainResult: ...
@overload
def run_chains(
    family, init, *, num_chains: int, first_chain: int = ..., gather: bool = ...,
    devices: Any = ..., output: Literal["summaries"], **kwargs: Any,
) -> SummaryResult: ...
@overload
def run_chains(
    family, init, *, num_chains: int, first_chain: int = ..., gather: bool = ...,
    devices: Any = ..., output: str, **kwargs: Any,
) -> ChainResult | SummaryResult: ...
# fmt: on


def run_chains(
    family,
    init,
    *,
    num_chains: int,
    first_chain: int = 0,
    gather: bool = True,
    devices: Any = "all",
    output: str = "records",
    **kwargs: Any,
) -> ChainResult | SummaryResult:
    """:func:`collapse_jax.run_chains` over every process of a distributed run.

    Each process runs its :func:`share` of the chain ids on its own devices; call
    it in every process with the same arguments. In a single process it is
    ``cj.run_chains(...)`` on all local devices.

    Args:
      num_chains: chains of the whole run; ``first_chain``: its first id.
      gather: True: every process returns the whole run (all chains, in id
        order), bit for bit the single-process result; False: each returns its own
        chains (keep or save them, then :func:`merge_results`), for results too
        big for one host.
      devices: this process's devices: ``"all"`` (default: every local device),
        an int ``k`` (the first ``k``), a list of local devices, or None (the
        default device). Results do not depend on it.
      output: as for :func:`collapse_jax.run_chains`: ``"records"`` (default) or
        ``"summaries"`` (a :class:`~collapse_jax.summaries.SummaryResult`; only in
        one process or with ``gather=False``: gathering merges records,
        :func:`merge_results`).
      **kwargs: the other arguments of :func:`collapse_jax.run_chains`.

    Returns:
      A :class:`~collapse_jax.ChainResult` (a
      :class:`~collapse_jax.summaries.SummaryResult` with ``output="summaries"``);
      after gathering, ``final_state`` holds host arrays.
    """
    from collapse_jax.chain import run_chains as _run

    first, count = share(num_chains, first_chain=first_chain)
    if devices == "all" and len(jax.local_devices()) == 1:
        devices = None  # the default device: one device needs no mesh
    res = _run(
        family,
        init,
        num_chains=count,
        first_chain=first,
        devices=devices,
        output=output,
        **kwargs,
    )
    if not gather or jax.process_count() == 1:
        return res
    return merge_results(_allgather(_to_host(res)))


_R = TypeVar("_R", bound=ChainResult | SummaryResult)


def _to_host(res: _R) -> _R:
    """``res`` with its final state on the host (picklable, the same bits)."""
    return dataclasses.replace(
        res, final_state=jax.tree.map(np.asarray, res.final_state)
    )


def _allgather(obj: Any) -> list[Any]:
    """Every process's ``obj`` (picklable), in process order, on every process.

    Sent as bytes (``process_allgather`` of uint8), so float64 host arrays keep
    their bits whether or not x64 is on.
    """
    from jax.experimental import multihost_utils

    data = np.frombuffer(pickle.dumps(obj, protocol=5), np.uint8)
    sizes = multihost_utils.process_allgather(np.asarray([data.size], np.int32))
    sizes = np.asarray(sizes).reshape(-1)
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[: data.size] = data
    parts = np.asarray(multihost_utils.process_allgather(padded))
    # Our own processes' bytes, made just above: unpickling them is safe.
    return [pickle.loads(parts[i, : int(s)].tobytes()) for i, s in enumerate(sizes)]


def merge_results(results: Sequence[ChainResult]) -> ChainResult:
    """One :class:`~collapse_jax.ChainResult` from the parts of a run.

    The parts are runs of one configuration and seed over contiguous ranges of
    chain ids (e.g. each process's share, or ``first_chain=`` calls); the merged
    result holds the chains in id order and equals the run of all of them in one
    call, bit for bit.

    Args:
      results: the parts, in any order.

    Raises:
      ValueError, TypeError: when the parts are not of one run or their chain
        ranges overlap or leave a gap.

    Examples:
      >>> import collapse_jax as cj
      >>> kw = dict(key=0, num_generations=3, sample_size=10)
      >>> g, p = cj.gaussian(), cj.gaussian_params(0.0, 1.0)
      >>> parts = [cj.run_chains(g, p, num_chains=4, first_chain=4, **kw),
      ...          cj.run_chains(g, p, num_chains=4, **kw)]
      >>> merged = cj.merge_results(parts)
      >>> merged.chain_ids.tolist(), merged.config["num_chains"]
      ([0, 1, 2, 3, 4, 5, 6, 7], 8)
    """
    fn = "merge_results"
    if isinstance(results, ChainResult) or not isinstance(results, Sequence):
        fail(
            fn,
            "results",
            "a sequence of ChainResult",
            results,
            "Pass a list, e.g. [part0, part1].",
            error=TypeError,
        )
    if not results or not all(isinstance(r, ChainResult) for r in results):
        fail(
            fn,
            "results",
            "a non-empty sequence of ChainResult",
            results,
            "Pass the results of cj.run_chains (or cj.distributed.run_chains "
            "with gather=False).",
            error=TypeError,
        )
    parts = sorted(results, key=lambda r: int(r.config["first_chain"]))
    first = parts[0]

    def same(r: ChainResult) -> dict[str, Any]:
        return {k: v for k, v in r.config.items() if k not in _PART_KEYS}

    for r in parts[1:]:
        if same(r) != same(first) or r.seed != first.seed:
            fail(
                fn,
                "results",
                "parts of one run (one configuration and seed)",
                described(
                    f"configs {same(first)} and {same(r)}"
                    if same(r) != same(first)
                    else f"seeds {first.seed} and {r.seed}"
                ),
                "Merge only the parts that one run was split into.",
            )
    start = int(first.config["first_chain"])
    for r in parts:
        if int(r.config["first_chain"]) != start:
            fail(
                fn,
                "results",
                "contiguous ranges of chain ids",
                described(
                    f"a part from chain {r.config['first_chain']} where "
                    f"chain {start} was next"
                ),
                "Pass every part once: the ranges may not overlap or leave gaps.",
            )
        start += int(r.config["num_chains"])

    def cat(*xs):
        return np.concatenate([np.asarray(x) for x in xs], axis=0)

    config = dict(first.config, num_chains=start - int(first.config["first_chain"]))
    return ChainResult(
        None if first.params is None else jax.tree.map(cat, *[r.params for r in parts]),
        {m: cat(*[r.metrics[m] for r in parts]) for m in first.metrics},
        cat(*[r.status for r in parts]),
        cat(*[r.chain_ids for r in parts]),
        jax.tree.map(cat, *[r.final_state for r in parts]),
        config,
        first.reference,
        first.origin,
        {m: cat(*[r.relative[m] for r in parts]) for m in first.relative},
        first.seed,
    )


def local_share(num_chains: int) -> tuple[int, int]:
    """This process's ``(first chain id, count)`` of a run of ``num_chains`` from
    chain 0: :func:`share` in a multi-process run, all of them otherwise (the
    experiment runner's chains, :mod:`collapse_jax.runs`)."""
    if jax.process_count() == 1:
        return 0, num_chains
    return share(num_chains)


def merge_datasets(datasets: Sequence[Any]):
    """One results Dataset from the parts of an experiment run (per process).

    Each part is the results Dataset (:func:`collapse_jax.load`) that one process
    of a multi-process run wrote for its chains; the merged Dataset holds every
    chain in id order, as the single-process run's file does.

    Raises:
      ValueError, TypeError: when the parts are not of one run, hold quantile
        summaries (``summary``: merge the chains, then summarise), or their chain
        ranges overlap or leave a gap.
    """
    from collapse_jax import io as cio

    fn = "merge_datasets"
    if not isinstance(datasets, Sequence) or not datasets:
        fail(
            fn,
            "datasets",
            "a non-empty sequence of results Datasets",
            datasets,
            "Pass e.g. [cj.load(p) for p in paths].",
            error=TypeError,
        )
    for ds in datasets:
        cio.check_dataset(fn, ds)
        if "chain" not in ds.dims:
            fail(
                fn,
                "datasets",
                "results that keep every chain",
                described("a quantile summary (no chain dimension)"),
                "Run the parts without summary, merge them, then summarise "
                "(collapse_jax.io.summarize).",
            )
    xr = cio._xarray()
    parts = sorted(datasets, key=lambda d: int(d["chain"].values[0]))
    keys = ("experiment", "preset", "scale", "config", "seed")
    for ds in parts[1:]:
        for k in keys:
            if ds.attrs.get(k) != parts[0].attrs.get(k):
                fail(
                    fn,
                    "datasets",
                    "parts of one run",
                    described(f"{k} {parts[0].attrs.get(k)!r} and {ds.attrs.get(k)!r}"),
                    "Merge only the parts that one run was split into.",
                )
    ids = np.concatenate([d["chain"].values for d in parts])
    try:  # the run's chain count (its config); a part's num_chains is its own
        whole = int(json.loads(parts[0].attrs["config"])["num_chains"])
    except (KeyError, TypeError, ValueError):
        whole = ids.size
    if not np.array_equal(ids, np.arange(whole)):
        fail(
            fn,
            "datasets",
            f"chains 0 .. {whole - 1}, each once",
            described(f"{ids.size} chains, ids {ids.min()} .. {ids.max()}"),
            "Pass the part of every process once.",
        )
    merged = xr.concat(
        parts,
        dim="chain",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        combine_attrs="override",
    )
    merged.attrs["num_chains"] = whole
    if "run_config" in merged.attrs:  # each point's description: the whole run's
        points = json.loads(merged.attrs["run_config"])
        for p in points:
            if isinstance(p, dict):
                p.update(num_chains=whole, first_chain=0)
        merged.attrs["run_config"] = json.dumps(points)
    return merged


def gather_dataset(ds):
    """Every process's results Dataset merged (:func:`merge_datasets`), on every
    process of a multi-process run; ``ds`` itself in a single process."""
    if jax.process_count() == 1:
        return ds
    return merge_datasets(_allgather(ds.load()))
