"""Runs of named experiments: results files, checkpoints, resumption, figures.

:func:`run_experiment` is what ``collapse-jax run`` calls. A run lives in a run
directory::

    RUN_DIR/run.json          what was asked: experiment, full configuration, seed, ...
    RUN_DIR/results.nc        the results Dataset (collapse_jax.io), written whole
                              at the first checkpoint and at the end; attribute
                              ``complete`` says whether the run finished
    RUN_DIR/parts/NNNNN.nc    while the run is unfinished: the records each later
                              checkpoint added (collapse_jax.parts), so a
                              checkpoint costs O(chunk), not O(run); readers
                              (load, resume, plot) apply them to results.nc
    RUN_DIR/checkpoint.npz    the chain state after the last checkpointed chunk
    RUN_DIR/*.sha256          the SHA-256 of results.nc, each part and
                              checkpoint.npz, checked before they are read
                              (damaged bytes are refused)
    RUN_DIR/figures/          PNG and PDF figures (collapse_jax.plots)
    RUN_DIR/.lock             held by the one process working in the directory
                              (collapse_jax.runlock); a second one is refused

At each checkpoint the records are written first (results.nc or a part), then the
checkpoint, each by an atomic rename, so a run killed at any point leaves records
that hold at least what the checkpoint says and never a torn file; records written
twice (a part whose checkpoint was lost to a kill, computed again on resume) have
the same bits, so nothing is lost or duplicated. :func:`resume` goes on from
the checkpoint; a chain's bits do not depend on where the run was cut (chunking
does not change results, tests/test_keys.py), so a resumed run's results file equals an
uninterrupted run's, bit for bit, apart from the attributes in
:data:`collapse_jax.io.VOLATILE_ATTRS`.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from collapse_jax import io as cio
from collapse_jax import keys as cjk
from collapse_jax import parts, rundir, runlock, runspec
from collapse_jax._run_engine import (  # noqa: F401 - re-exported (old import paths)
    _POINT_OPTIONS,
    Run,
    _dataset,
    _draw,
    _execute_run,
    _failures,
    _note,
    _progress,
    _records,
    _warn_failures,
    check_design,
)
from collapse_jax._version import __version__
from collapse_jax.checks import fail
from collapse_jax.experiments import core
from collapse_jax.io_utils import atomic_write_bytes
from collapse_jax.rundir import (
    CHECKPOINT_FILE,
    FIGURES_DIR,
    RESULTS_FILE,
    RUN_FILE,
    RUN_FORMAT,
)
from collapse_jax.wording import Wording

# jax.Device is bound by assignment in jax/__init__.py (no stub declares the class),
# so pyright refuses it in annotations: the `devices` arguments below silence
# that one rule (reportInvalidTypeForm).

__all__ = [
    "RUN_FORMAT",
    "RUN_FILE",
    "RESULTS_FILE",
    "CHECKPOINT_FILE",
    "FIGURES_DIR",
    "Run",
    "run_experiment",
    "resume",
    "reproduce",
    "plot_run",
    "run_arguments",
    "DEFAULT_CHECKPOINT_INTERVAL",
    "check_design",
]

#: Version of the run-directory layout (run.json, checkpoint.npz).
#: Seconds between checkpoints (a checkpoint also closes every sweep point).
DEFAULT_CHECKPOINT_INTERVAL = 60.0

# ------------------------------------------------------------------ directories ---


def default_run_dir(name: str) -> pathlib.Path:
    """Where a run of a preset or experiment goes without ``out``: ``runs/<name>``."""
    return pathlib.Path("runs") / name


def _claim_directory(w: Wording, path: pathlib.Path, overwrite: bool) -> list[str]:
    """Make ``path`` (locked) ready for a new run; return the files kept."""
    kept: list[str] = []
    if (path / RUN_FILE).exists():
        if not overwrite:
            fail(w.fn, w.option("out"), "a directory that holds no run yet",
                 str(path), f"Resume it with {w.resume(path)}, pass "
                 f"{w.flag('overwrite')} to start again, or choose another "
                 f"{w.option('out')}.")
    if overwrite:
        kept = rundir.clear_run(path)
    rundir.check_writable(w, "out", path)
    return kept


def _locked(w: Wording, arg: str, directory: pathlib.Path, what: str):
    """Take the directory's lock and clear stale temporary files under it."""
    lock = runlock.acquire(w, arg, directory, what)
    rundir.clean_temporary(directory)
    return lock


def _check_run_options(w: Wording, seed, chunk_size, checkpoint_interval, summary,
                       progress):
    fn = w.fn
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        fail(fn, w.option("seed"), "an int in [0, 2**32)", seed,
             f"Pass e.g. {w.option_value('seed', 0)}.",
             error=TypeError if not isinstance(seed, int) else ValueError)
    if chunk_size is not None and (
        not isinstance(chunk_size, int) or isinstance(chunk_size, bool)
        or chunk_size < 1
    ):
        fail(fn, w.option("chunk_size"), "None or an int >= 1", chunk_size,
             f"Pass e.g. {w.option_value('chunk_size', 100)}.")
    if not isinstance(checkpoint_interval, int | float) or isinstance(
        checkpoint_interval, bool
    ) or not checkpoint_interval >= 0:
        fail(fn, w.option("checkpoint_interval"),
             "seconds >= 0 (0: after every chunk)", checkpoint_interval,
             f"Pass e.g. {w.option_value('checkpoint_interval', 60)}.")
    q = None if summary is None else cio.check_quantiles(fn, summary)
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        fail(fn, "progress", "a bool or a callable (done, total)", progress,
             "Pass progress=True for a bar.", error=TypeError)
    return q


# ------------------------------------------------------------------ public API ---


def run_experiment(
    experiment: str,
    *,
    preset: str | None = None,
    scale: str = "default",
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    devices: int | Sequence[jax.Device] | None = None,  # pyright: ignore[reportInvalidTypeForm]
    chunk_size: int | None = None,
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
    summary: Sequence[float] | None = None,
    progress: bool | Callable[[int, int], None] = False,
    figures: bool = True,
    overwrite: bool = False,
    _wording: Wording | None = None,
) -> Run:
    """Run a named experiment into a run directory (``collapse-jax run``).

    Args:
      experiment: a registered experiment (``collapse-jax list``), e.g.
        ``"gaussian"``.
      preset: a preset of that experiment, e.g. ``"gaussian-drift"``, or None.
      scale: ``"default"`` (CPU-friendly) or ``"full"`` (the paper's sizes).
      overrides: ``{field: value}`` applied after the preset; values may be Python
        values or command-line text (``"100,500"``).
      seed: the base seed; chain ``c`` of every sweep point has chain id ``c``.
      out: the run directory (created if needed; default ``runs/<preset or
        experiment>``). It must not hold a run yet unless ``overwrite``.
      devices: spread chains over these devices (an int ``k`` for the first ``k``)
        or None for the default device; results do not depend on it.
      chunk_size: generations per compiled scan (default ``min(N, 1000)``); it
        sets the granularity of progress and checkpoints, not the results.
      checkpoint_interval: seconds between checkpoints (0: after every chunk).
      summary: None to keep every chain, or quantile levels to keep only
        quantiles over chains (and means, and failure counts).
      progress: True for a progress bar with an estimate of the time left, or a
        callable ``(done, total)`` over generations of all points.
      figures: draw the experiment's figures into ``out/figures``.
      overwrite: replace a run already in ``out``: the files collapse_jax wrote
        there (run.json, results, checkpoint, checksums, the figures the earlier
        results file names, temporary files) are deleted first; any other file
        is kept and listed in ``Run.kept``.

    Returns:
      A :class:`Run`. If chains failed inside the run, a
      :class:`~collapse_jax.FailedChainsWarning` says how many and why.

    Raises:
      ValueError, TypeError: unknown experiment, preset or field, a field the
        configuration does not use (e.g. ``real_fraction`` with regime
        ``replace``), a value of the wrong type or range, an empty or unwritable
        ``out``, a directory another process is working in (its lock holder is
        named), with the fix in the message.

    Examples:
      >>> import tempfile, collapse_jax as cj
      >>> run = cj.run_experiment("gaussian", overrides={"num_chains": 8,
      ...     "num_generations": 5, "sample_size": [10, 100]},
      ...     out=tempfile.mkdtemp(), figures=False)
      >>> run.dataset["log_var"].dims
      ('sweep', 'chain', 'generation', 'log_var_dim0')
      >>> run.dataset["sweep"].values.tolist()
      ['M=10', 'M=100']
    """
    w = _wording or Wording("run_experiment")
    run = _run_experiment(
        w, experiment, preset=preset, scale=scale, overrides=overrides, seed=seed,
        out=out, devices=devices, chunk_size=chunk_size,
        checkpoint_interval=checkpoint_interval, summary=summary,
        progress=progress, figures=figures, overwrite=overwrite, reuse=False)
    return _warn_failures(run, stacklevel=2)


def _run_experiment(w: Wording, experiment, *, preset, scale, overrides, seed, out,
                    devices, chunk_size, checkpoint_interval, summary, progress,
                    figures, overwrite, reuse) -> Run:
    """run_experiment in ``w``'s wording; ``reuse``: a directory that holds this
    same run is finished (or left as it is, when complete) instead of refused."""
    fn = w.fn
    exp = core.get_experiment(experiment, fn)
    config = core.resolve_config(exp, preset=preset, scale=scale, overrides=overrides,
                                 where=w)
    q = _check_run_options(w, seed, chunk_size, checkpoint_interval, summary,
                           progress)
    devices = runspec.check_devices(fn, devices)
    if out is None:
        out = default_run_dir(preset or experiment)
    directory = rundir.make_directory(w, "out", out)
    request = {
        "run_format": RUN_FORMAT,
        "collapse_jax_version": __version__,
        "key_scheme_version": cjk.KEY_SCHEME_VERSION,
        "experiment": exp.name,
        "preset": preset,
        "scale": scale,
        "config": config,
        "seed": seed,
        "summary": None if q is None else list(q),
        "chunk_size": chunk_size,
        "checkpoint_interval": float(checkpoint_interval),
        "devices": None if devices is None else len(devices),
        "created": cio.now(),
        "provenance": cio.provenance(),
    }
    with _locked(w, "out", directory, f"{fn} {preset or exp.name}"):
        if reuse and not overwrite and (directory / RUN_FILE).exists():
            return _reuse_run(w, directory, request, devices=devices,
                              progress=progress)
        kept = _claim_directory(w, directory, overwrite)
        # run.json first: the run exists (and `resume` can take it up) before any
        # long preparation (theory curves, compilation).
        atomic_write_bytes(directory / RUN_FILE,
                           json.dumps(request, indent=2, sort_keys=True).encode())
        try:
            design = exp.build(config)
            check_design(design, config)
            run = _execute_run(w, directory, request, design, devices=devices,
                               progress=progress, figures=figures)
        except (ValueError, TypeError):
            # Refused before any result was saved (a design error, too little
            # memory): leave no run behind, so the corrected command can use the
            # directory.
            if not (directory / RESULTS_FILE).exists():
                (directory / RUN_FILE).unlink(missing_ok=True)
            raise
    run.kept = kept
    return run


#: What makes two runs the same run (the rest is how and when it was run).
_SAME_RUN = ("experiment", "preset", "scale", "config", "seed", "summary")


def _reuse_run(w: Wording, directory, request, *, devices, progress) -> Run:
    """The run already in ``directory`` if it is this one (finished if partial)."""
    _, old = _read_request(w, directory, arg="out")
    differ = [k for k in _SAME_RUN
              if json.dumps(old.get(k), sort_keys=True)
              != json.dumps(request[k], sort_keys=True)]
    if differ:
        fail(w.fn, w.option("out"),
             "a directory that holds no run, or this same run", str(directory),
             f"It holds a run of another {', '.join(differ)}. Pass "
             f"{w.flag('overwrite')} to replace it, or choose another "
             f"{w.option('out')}.")
    return _resume_locked(w, directory, old, devices=devices, progress=progress,
                          figures=True)


def _read_request(w: Wording, run_dir, arg: str = "run_dir"
                  ) -> tuple[pathlib.Path, dict]:
    fn = w.fn
    where = "--out" if w.cli else "out"
    if not isinstance(run_dir, str | os.PathLike):
        fail(fn, w.option(arg), "a run directory path", type(run_dir).__name__,
             f"Pass the {where} directory of an earlier run.", error=TypeError)
    directory = pathlib.Path(run_dir)
    path = directory / RUN_FILE
    if not directory.is_dir() or not path.is_file():
        fail(fn, w.option(arg), "a run directory (one holding run.json)",
             str(directory), f"Pass the {where} directory of an earlier run.")
    try:
        request = json.loads(path.read_text())
        for key in ("experiment", "config", "seed", "provenance", "summary"):
            request[key]  # noqa: B018
    except (ValueError, KeyError, TypeError) as err:
        fail(fn, w.option(arg), "a readable run.json", str(path),
             f"The file is damaged ({err}); start the run again with "
             f"{w.flag('overwrite')}.")
    made = (request.get("run_format"), request.get("collapse_jax_version"),
            request.get("key_scheme_version"))
    here = (RUN_FORMAT, __version__, cjk.KEY_SCHEME_VERSION)
    if made != here:
        fail(fn, w.option(arg),
             f"a run made by this version (run format {RUN_FORMAT}, collapse_jax "
             f"{__version__}, key scheme {cjk.KEY_SCHEME_VERSION})",
             f"run format {made[0]}, collapse_jax {made[1]}, key scheme {made[2]}",
             f"Resume it with collapse_jax {made[1]}, whose chains have the same "
             f"bits, or start it again with this version ({w.flag('overwrite')}).")
    return directory, request


def resume(
    run_dir: str | os.PathLike,
    *,
    devices: int | Sequence[jax.Device] | None = None,  # pyright: ignore[reportInvalidTypeForm]
    progress: bool | Callable[[int, int], None] = False,
    figures: bool | None = None,
    _wording: Wording | None = None,
) -> Run:
    """Go on with an interrupted run (``collapse-jax resume``).

    The run restarts from its last checkpoint; its results file then equals, bit
    for bit, that of a run never interrupted. A finished run is left as it is:
    nothing is computed or written (``Run.already_complete``).

    Args:
      run_dir: the run directory.
      devices: as in :func:`run_experiment` (results do not depend on it).
      progress: as in :func:`run_experiment`.
      figures: None (default) to draw the figures when the run is finished now,
        not for a run that was complete already; True to draw (or redraw) them in
        either case; False never.

    Returns:
      A :class:`Run`; ``resumed_from`` is the ``(point, generation)`` it went on
      from.

    Raises:
      ValueError: the directory holds no run, a damaged one (a results file or
        checkpoint whose bytes differ from their recorded SHA-256, or that cannot
        be read), one made by another version of collapse_jax (whose bits could
        differ), or one another process is working on (named in the message).
    """
    w = _wording or Wording("resume")
    directory, _ = _read_request(w, run_dir)
    devices = runspec.check_devices(w.fn, devices)
    with _locked(w, "run_dir", directory, w.fn):
        # Read again under the lock: another process may have replaced the run.
        directory, request = _read_request(w, directory)
        run = _resume_locked(w, directory, request, devices=devices,
                             progress=progress, figures=figures)
    return run if run.already_complete else _warn_failures(run, stacklevel=2)


def _resume_locked(w: Wording, directory, request, *, devices, progress, figures
                   ) -> Run:
    fn = w.fn
    results = directory / RESULTS_FILE
    exp = core.get_experiment(request["experiment"], fn)
    ck = rundir.read_checkpoint(w, directory, request)
    existing = None
    if results.exists():
        existing = rundir.load_results(w, directory)
        if ck is None and existing.attrs.get("complete") == 1:
            parts.remove_parts(directory)  # left by a kill after the last write
            drawn = _draw(existing, directory) if figures else []
            return Run(directory, existing, drawn, _failures(existing), None,
                       already_complete=True)
    config = core.resolve_config(exp, overrides=request["config"], where=w,
                                 refuse_unused=False)
    design = exp.build(config)
    check_design(design, config)
    if ck is None or existing is None:  # nothing certified yet: from the start
        ck, existing = None, None
    else:
        done = json.loads(existing.attrs["generations_done"])
        p, d, _ = ck  # records of generations 0..d of point p must be there,
        n = existing.sizes["generation"]  # and every earlier point's
        if (d > 0 and done[p] < d + 1) or any(x < n for x in done[:p]):
            # Cannot happen with records written first, unless a part file was
            # deleted (as a damaged one's message advises): compute it all again.
            ck, existing = None, None
    return _execute_run(w, directory, request, design, devices=devices,
                        progress=progress, figures=figures is not False, start=ck,
                        existing=existing)


def reproduce(
    figure: str,
    *,
    scale: str = "default",
    seed: int = 0,
    out: str | os.PathLike | None = None,
    devices: int | Sequence[jax.Device] | None = None,  # pyright: ignore[reportInvalidTypeForm]
    progress: bool | Callable[[int, int], None] = False,
    overwrite: bool = False,
    summary: Sequence[float] | None = None,
    _wording: Wording | None = None,
) -> Run:
    """Run a paper figure's preset and draw its figures (``collapse-jax reproduce``).

    Reproducing twice is safe: when ``out`` already holds this same run (preset,
    scale, seed, summary and configuration), a complete one is left as it is and
    only its figures are redrawn (``Run.already_complete``), and a partial one is
    finished from its checkpoint. A run of anything else there needs
    ``overwrite``.

    Args:
      figure: a preset name (``collapse-jax list``), e.g. ``"gaussian-drift"``.
      scale: ``"default"`` (minutes on a CPU) or ``"full"`` (the paper's sizes).
      seed, out, devices, progress, overwrite, summary: as in
        :func:`run_experiment`; ``out`` defaults to ``runs/<figure>``.

    Returns:
      A :class:`Run` whose ``figures`` are the PNG and PDF files.
    """
    w = _wording or Wording("reproduce")
    p = core.get_preset(figure, w.fn)
    run = _run_experiment(
        w, p.experiment, preset=p.name, scale=scale, overrides=None, seed=seed,
        out=out, devices=devices, chunk_size=None,
        checkpoint_interval=DEFAULT_CHECKPOINT_INTERVAL, summary=summary,
        progress=progress, figures=True, overwrite=overwrite, reuse=True)
    return run if run.already_complete else _warn_failures(run, stacklevel=2)


def plot_run(path: str | os.PathLike, out: str | os.PathLike | None = None,
             *, _wording: Wording | None = None) -> list[str]:
    """Redraw a run's figures from its results file (``collapse-jax plot``).

    Drawing into a run directory's own ``figures/`` takes the directory's lock, so
    it is refused while a run or resume works there; ``out`` elsewhere is not.

    Args:
      path: a run directory or a results file.
      out: where to write the figures (default: ``figures/`` beside the results).

    Returns:
      The paths of the PNG and PDF files.
    """
    from collapse_jax import plots

    w = _wording or Wording("plot_run")
    ds = cio.load_run(path, w.fn, w.option("run_dir") if w.cli else "path")
    p = pathlib.Path(path)
    base = p if p.is_dir() else p.parent
    target = pathlib.Path(out) if out is not None else base / FIGURES_DIR
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(w.fn, w.option("out"), "a writable directory", str(target),
             f"Pick another directory ({err.strerror}).")
    inside = base.resolve() in (target.resolve(), *target.resolve().parents)
    if inside and (base / RUN_FILE).is_file():  # the run's own figures
        with runlock.acquire(w, "out", base, w.fn):
            return plots.figures(ds, target)
    return plots.figures(ds, target)


def run_arguments(ds) -> dict[str, Any]:
    """The :func:`~collapse_jax.run_experiment` arguments that made a results file.

    ``cj.run_experiment(**cj.run_arguments(ds), out=...)`` repeats the run: the
    same experiment, configuration, seed and summary setting, hence the same
    numbers.

    Args:
      ds: a results Dataset.

    Returns:
      ``{"experiment", "overrides", "seed", "summary"}``; the preset and scale are
      already folded into ``overrides`` (the full configuration, less the fields
      it does not use).
    """
    cio.check_dataset("run_arguments", ds)
    summary = json.loads(ds.attrs.get("summary", "null"))
    experiment = str(ds.attrs["experiment"])
    config = json.loads(ds.attrs["config"])
    return {
        "experiment": experiment,
        # Fields the configuration does not use (e.g. a real-data share with
        # regime replace) are left out: run_experiment refuses them as overrides.
        "overrides": core.applicable(experiment, config),
        "seed": int(ds.attrs["seed"]),
        "summary": None if summary is None else tuple(summary),
    }
