"""The experiment runner's engine: a Design run into a run directory, chunk by chunk.

:func:`collapse_jax.runs.run_experiment`, :func:`~collapse_jax.runs.resume` and
:func:`~collapse_jax.runs.reproduce` claim and lock the directory and read or write
its ``run.json``; this module runs the design's sweep points there
(:func:`_execute_run`): one :class:`~collapse_jax.runspec.RunSpec` per point, run
by :mod:`collapse_jax.chain` in chunks, the records assembled by
:mod:`collapse_jax.records`, the records written first (results.nc whole at the first
checkpoint, then part files of what is new: :mod:`collapse_jax.parts`) and the
checkpoint second at each checkpoint (the layout and its guarantees are in
:mod:`collapse_jax.runs`, which re-exports :class:`Run` and :func:`check_design`).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from collapse_jax import chain, distributed, memory, parts, rundir, runspec
from collapse_jax import io as cio
from collapse_jax.checks import fail
from collapse_jax.experiments import core
from collapse_jax.records import RecordPoint, Records
from collapse_jax.rundir import FIGURES_DIR, RESULTS_FILE
from collapse_jax.status import (
    ChainFailure,
    FailedChainsWarning,
    failure_report,
)
from collapse_jax.wording import Wording


@dataclasses.dataclass
class Run:
    """What :func:`run_experiment`, :func:`resume` and :func:`reproduce` return.

    Attributes:
      directory: the run directory.
      dataset: the results Dataset (as saved in ``directory / "results.nc"``).
      figures: paths of the figures drawn (empty with ``figures=False``).
      failures: ``{sweep label: [ChainFailure, ...]}`` for the points where some
        chain failed inside the run (non-finite or degenerate fits); such chains are
        frozen and masked in summaries and figures, never dropped silently.
      resumed_from: ``(point, generation)`` the run went on from, or None.
      already_complete: True when the directory already held this run, complete,
        and nothing was computed or written (``resume`` of a finished run,
        ``reproduce`` of one already there); ``figures`` lists what was redrawn.
      kept: files ``overwrite`` left in the directory because collapse_jax did not
        write them (paths relative to ``directory``).
    """

    directory: pathlib.Path
    dataset: Any
    figures: list[str]
    failures: dict[str, list[ChainFailure]]
    resumed_from: tuple[int, int] | None = None
    already_complete: bool = False
    kept: list[str] = dataclasses.field(default_factory=list)

    @property
    def results(self) -> pathlib.Path:
        """The results file."""
        return self.directory / RESULTS_FILE

    def __repr__(self) -> str:
        ds = self.dataset
        a = ds.attrs
        failed = sum(len(v) for v in self.failures.values())
        state = ("already complete" if self.already_complete
                 else "complete" if a.get("complete") == 1 else "partial")
        return (
            f"Run({str(self.directory)!r}: {a.get('experiment')}"
            + (f" (preset {a['preset']})" if a.get("preset") else "")
            + f", {ds.sizes.get('sweep', 0)} points x {a.get('num_chains')} chains x "
            f"{a.get('num_generations')} generations, {a.get('kind')}, {state}; "
            f"{len(self.figures)} figure files; {failed} failed chains"
            + (f"; resumed from {self.resumed_from}" if self.resumed_from else "")
            + ")"
        )

# ------------------------------------------------------------------ records ---


def _records(design, request) -> Records:
    """The run's records (collapse_jax.records: the one results layout)."""
    cfg = request["config"]
    # A process of a multi-process run keeps its share (collapse_jax.distributed).
    first, count = distributed.local_share(cfg["num_chains"])
    return Records(
        [RecordPoint(p.label, p.coords) for p in design.points],
        count,
        cfg["num_generations"],
        request["summary"],
        params=design.params,
        chain_ids=np.arange(first, first + count, dtype=np.int32) if first else None,
    )


def _dataset(records: Records, design, request, complete: bool, run_config: list):
    """The results Dataset; ``run_config``: each point's run description."""
    req = request
    d = design
    prov = req["provenance"]  # of the process that started the run
    attrs = {
        "experiment": req["experiment"],
        "preset": req["preset"] or "",
        "scale": req["scale"],
        "config": json.dumps(req["config"], sort_keys=True),
        "seed": req["seed"],
        "key_scheme": "chain c: fold_in(fold_in(key(seed), STREAM_CHAINS), c); "
        "generation t: counter keys, scheme 2 (collapse_jax.keys); chain c has id c "
        "at every sweep point",
        "versions": json.dumps(prov["versions"], sort_keys=True),
        "device": prov["device"],
        "git_revision": prov["git_revision"],
        "dtype": req["config"]["dtype"],
        "title": f"{req['preset']}: {d.title}" if req["preset"] else d.title,
        "log_metrics": json.dumps(list(d.log_metrics)),
        "metric_labels": json.dumps(dict(d.metric_labels), ensure_ascii=False),
        "figures": json.dumps(list(d.figures)),
        "run_config": json.dumps(run_config, sort_keys=True),
        "created": req["created"],
    }
    return records.dataset(complete, attrs, d.theory)


# ------------------------------------------------------------------ the engine ---


def _progress(progress, total: int, desc: str):
    """``update(done_total, note, start=False)``: a callable, a report, or nothing.

    ``progress=True``: :func:`collapse_jax.progress.progress_bar` (a bar on a
    terminal, plain lines elsewhere). ``start=True`` marks the start of a sweep
    point (before its compilation), reported by the built-in report only.
    """
    if progress is None or progress is False:
        return lambda done, note, start=False: None
    if callable(progress) and progress is not True:
        return lambda done, note, start=False: (
            None if start else progress(done, total)
        )
    from collapse_jax.progress import progress_bar

    report = progress_bar(desc, dynamic_ncols=True)
    ended = False

    def update(done, note, start=False):
        nonlocal ended
        if not ended:  # the end is reported once (last chunk, or the final call)
            ended = done >= total
            report(done, total, note)

    return update


def _note(p: int, points, done: int, num_generations: int, what: str = "") -> str:
    """``point 2/4 (M=500), generation 1,000/200,000`` (no point for one point)."""
    where = "" if len(points) == 1 else f"point {p + 1}/{len(points)} "
    where += f"({points[p].label}), " if len(points) > 1 else ""
    return where + (what or f"generation {done:,}/{num_generations:,}")

#: The run_chains arguments a Point may set, with their defaults.
_POINT_OPTIONS = {
    "sample_size": None,
    "regime": None,
    "sampler": "samples",
    "init_family": None,
    "sampling": None,
    "curation": None,
    "extra_metrics": None,
}


def check_design(design: core.Design, config: Mapping[str, Any]) -> None:
    """Refuse a malformed Design before anything runs (for experiment authors).

    Checks: at least one point, distinct labels, the same coordinate names at every
    point, known run options, one theory curve of ``num_generations + 1`` values
    per point for recorded metrics.
    """
    name = "Experiment.build"
    if not isinstance(design, core.Design) or not design.points:
        fail(name, "design", "a Design with at least one Point", design,
             "Return core.Design(points=(Point(...), ...), ...).", error=TypeError)
    labels = [p.label for p in design.points]
    if len(set(labels)) != len(labels):
        fail(name, "points", "distinct labels", labels, "Name each point uniquely.")
    keys = {tuple(p.coords) for p in design.points}
    if len(keys) != 1:
        fail(name, "points", "the same coordinate names at every point",
             sorted(keys), "Give every point the same coords keys.")
    for p in design.points:
        unknown = sorted(set(p.options) - set(_POINT_OPTIONS))
        if unknown:
            fail(name, f"points[{p.label!r}].options",
                 f"keys from {tuple(_POINT_OPTIONS)}", unknown,
                 "Other run_chains arguments come from the run itself.")
    n = config["num_generations"] + 1
    for m, (_, curves, _) in design.theory.items():
        if m not in design.metrics:
            fail(name, "theory", f"curves of recorded metrics {design.metrics}", m,
                 "Record the metric, or drop its curve.")
        if len(curves) != len(design.points) or any(
            np.shape(c) != (n,) for c in curves
        ):
            fail(name, f"theory[{m!r}]",
                 f"{len(design.points)} curves of {n} values (one per point)",
                 [np.shape(c) for c in curves], "Use NaN where there is no theory.")


def _execute_run(w: Wording, directory, request, design, *, devices, progress,
                 figures, start=None, existing=None):
    fn = w.fn
    cfg = request["config"]
    records = _records(design, request)
    p0, done0, leaves = (0, 0, None) if start is None else start
    if done0 == 0:
        leaves = None  # a checkpoint between points: the next one starts afresh
    if existing is not None:
        records.load(existing)
    total = records.P * records.N
    update = _progress(progress, total, request["experiment"])
    q = request["summary"]
    # The records of every point are allocated at the first (or loaded already).
    keep_first = memory.Keep(
        points=0 if existing is not None else records.P,
        copies=2.0,  # the arrays, and the results file read back at the end
        quantiles=None if q is None else len(q),
        # Quantiles over chains: a float64 copy and its sort (measured: 1.5 chunks).
        chunk_copies=0.0 if q is None else 1.5,
        wording=w,
    )
    interval = request["checkpoint_interval"]
    run_config: list[Any] = [None] * records.P
    if existing is not None:
        run_config = json.loads(existing.attrs["run_config"])
    t_start = time.perf_counter()
    # Records on disk: results.nc is written whole at the first checkpoint of a
    # fresh run (or a run started again), later ones append part files of what
    # is new (collapse_jax.parts): O(chunk) per checkpoint, not O(run).
    saved = None if existing is None else list(records.done)
    key = parts.run_key(request["experiment"], cfg, request["seed"], q)
    index = parts.next_index(directory)

    def save(point, done, state):
        nonlocal saved, index
        if saved is None:
            cio.save(_dataset(records, design, request, False, run_config),
                     directory / RESULTS_FILE)
            # results.nc holds everything now: parts of an earlier session (same
            # run, same bits) are superseded.
            parts.remove_parts(directory)
            index = 0
        else:
            for pt, (lo, hi) in enumerate(zip(saved, records.done, strict=True)):
                if hi > lo:
                    parts.write_part(directory, index, records, pt, lo, hi,
                                     run_config[pt], key)
                    index += 1
        saved = list(records.done)
        rundir.save_checkpoint(directory, request, point, done, state)

    last = time.perf_counter()
    for p in range(p0, records.P):
        point = design.points[p]
        begin = done0 if p == p0 and leaves is not None else 0
        update(p * records.N + begin,
               _note(p, design.points, begin, records.N, "preparing"), start=True)
        spec = runspec.build(
            fn,
            point.family,
            point.init,
            key=request["seed"],
            num_chains=records.C,
            num_generations=records.N,
            dtype=cfg["dtype"],
            first_chain=distributed.local_share(cfg["num_chains"])[0],
            chunk_size=request["chunk_size"],
            metrics=design.metrics,
            record_params=design.params is not None,
            devices=devices,
            runner=chain.execute,
            **{**_POINT_OPTIONS, **point.options},
        )
        plan = chain.prepare(
            spec,
            keep=keep_first if p == p0 else dataclasses.replace(keep_first, points=0),
        )
        run_config[p] = plan.description
        if p == p0 and leaves is not None:
            state = plan.place(rundir.restore_state(plan.state, leaves))
            done = done0
        else:
            state, done = plan.state, 0
            mets, params, status = plan.generation_zero()
            records.put(p, 0, mets, params, status)
        for now_done, new_state, (mets, params, status) in plan.chunks(state, done):
            state = new_state
            records.put(p, done + 1, mets, params, status)
            done = now_done
            if time.perf_counter() - last >= interval and done < records.N:
                save(p, done, state)
                last = time.perf_counter()
            note = _note(p, design.points, done, records.N)
            if p * records.N + done == total:
                note += ", writing the results" + (" and figures" if figures else "")
            update(p * records.N + done, note)
        if p + 1 < records.P:  # close the point: the next one starts afresh
            save(p + 1, 0, ())
            last = time.perf_counter()
    ds = _dataset(records, design, request, True, run_config)
    ds.attrs["wall_seconds"] = round(time.perf_counter() - t_start, 3)
    cio.save(ds, directory / RESULTS_FILE)
    rundir.remove_checkpoint(directory)
    parts.remove_parts(directory)  # a complete results.nc ignores any left
    ds = cio.load(directory / RESULTS_FILE)  # exactly what the file holds
    update(total, "finished")
    drawn = _draw(ds, directory) if figures else []
    return Run(directory, ds, drawn, _failures(ds),
               None if start is None else (p0, done0))


def _warn_failures(run: Run, stacklevel: int) -> Run:
    """One FailedChainsWarning for a run whose chains failed (if any did)."""
    ds = run.dataset
    points = ds.sizes.get("sweep", 1)
    total = points * int(ds.attrs.get("num_chains", 0))
    if run.failures:
        label, reps = next(iter(run.failures.items()))
        first = reps[0]
        count = sum(len(v) for v in run.failures.values())
        detail = (f"the first: chain {first.chain_id} of point {label!r} at "
                  f"generation {first.generation}, {first.status.name} "
                  f"({first.status.message})")
    elif "failed" in ds and int(ds["failed"].values.max(initial=0)) > 0:
        count = int(ds["failed"].values[:, -1].sum())
        detail = "counted in the summary's variable 'failed'"
    else:
        return run
    warnings.warn(
        f"{count} of {total} chains failed inside the run in {run.directory}; "
        f"{detail}. Their float records are NaN from the generation they failed at "
        "and they are left out of summaries and figures; run.failures lists every "
        "failure.",
        FailedChainsWarning,
        stacklevel=stacklevel + 1,
    )
    return run


def _failures(ds) -> dict[str, list[ChainFailure]]:
    out = {}
    if "status" in ds:
        for i, label in enumerate(ds["sweep"].values):
            rep = failure_report(ds["status"].values[i], ds["chain"].values)
            if rep:
                out[str(label)] = rep
    return out


def _draw(ds, directory) -> list[str]:
    from collapse_jax import plots

    return plots.figures(ds, directory / FIGURES_DIR)
