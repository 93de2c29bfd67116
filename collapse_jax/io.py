"""Results files: xarray Datasets saved as netCDF4, with their provenance.

A run of :func:`collapse_jax.run_experiment` writes one results file. Its schema:

* kind ``"chains"`` (default): every metric as ``(sweep, chain, generation,
  *metric_dims)``, the per-chain ``status`` as ``(sweep, chain, generation)``, the
  theory curves as ``theory__<metric>`` ``(sweep, generation)`` where one exists,
  and recorded model parameters as ``params__<field>`` when the experiment keeps
  them. A metric's own axes are named ``<metric>_dim0``, ``<metric>_dim1``, ...
* kind ``"summary"``: the ``chain`` axis replaced by ``quantile`` (over the chains
  whose status is ok), ``<metric>__mean`` and ``<metric>__sd`` (the mean and the
  sample standard deviation over those chains, for a standard error) and ``failed``
  (chains whose status is not ok, per generation), so a million-chain run does not
  need a million-chain file.

Coordinates: ``sweep`` (labels such as ``"M=100"``), ``chain`` (global chain ids),
``generation`` (0 is the truth), and the swept settings along ``sweep`` (their names
in the attribute ``sweep_fields``). Attributes carry the experiment, its full
configuration (JSON), the seed, the key scheme, package versions, device, git
revision, dtype and how far the run got: ``complete`` (0 or 1) and
``generations_done``, a JSON list with, per sweep point, the number of generations
recorded, the truth included (``num_generations + 1`` when the point is done, 0
when it has not started; later entries of a partial file hold fill values).

Files are written atomically (temporary file, fsync, rename): an interrupted write
leaves the previous file whole.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import subprocess
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from collapse_jax._quantiles import nanquantile
from collapse_jax.checks import described, fail
from collapse_jax.io_utils import (  # noqa: F401 - _ENGINE, _xarray re-exported
    _ENGINE,
    _xarray,
    atomic_target,
    checksum_path,
    verify_checksum,
)

__all__ = [
    "RESULTS_FORMAT",
    "VOLATILE_ATTRS",
    "DEFAULT_QUANTILES",
    "save",
    "load",
    "load_run",
    "summarize",
    "provenance",
]

#: Version of the results-file schema; :func:`load` refuses other versions.
RESULTS_FORMAT = 1
#: Attributes that record when or how long, not what: two runs of one configuration
#: differ only there (and :func:`collapse_jax.resume` leaves everything else alone).
VOLATILE_ATTRS = ("created", "wall_seconds")
#: Quantiles kept by a summary file.
DEFAULT_QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def _git_revision() -> str:
    """The git revision of the installed source tree, or ``"unknown"``."""
    here = pathlib.Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    rev = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    return rev + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def provenance() -> dict[str, Any]:
    """Versions, device and git revision of this process, for a results file.

    Returns:
      ``{"versions": {...}, "device": str, "git_revision": str, "x64": bool}``.

    Examples:
      >>> from collapse_jax import io
      >>> sorted(io.provenance())
      ['device', 'git_revision', 'versions', 'x64']
    """
    import jaxlib

    import jax

    from collapse_jax._version import __version__

    xr = _xarray()
    versions = {
        "python": platform.python_version(),
        "collapse_jax": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "xarray": xr.__version__,
    }
    # jax's config options are attributes made at runtime (Config declares none).
    config: Any = jax.config
    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    device = f"{jax.default_backend()}: {len(devices)} x {', '.join(kinds)}"
    return {
        "versions": versions,
        "device": device,
        "git_revision": _git_revision(),
        "x64": bool(config.jax_enable_x64),
    }


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_dataset(fn: str, ds, also: str = "") -> None:
    xr = _xarray()
    if not isinstance(ds, xr.Dataset) or "collapse_jax_format" not in ds.attrs:
        fail(
            fn,
            "ds",
            "a collapse_jax results Dataset (from run_experiment or load)" + also,
            type(ds).__name__,
            "Load one with collapse_jax.load(path).",
            error=TypeError,
        )


def save(ds, path: str | os.PathLike) -> str:
    """Write a results Dataset to ``path`` as netCDF4, atomically.

    The SHA-256 of the file is recorded beside it (``path + ".sha256"``), and
    :func:`load` checks it, so damaged bytes are detected.

    Args:
      ds: a results Dataset, or a run's result that makes one (a
        :class:`~collapse_jax.ChainResult`: its ``to_dataset()`` is saved).
      path: the target file (its directory must exist and be writable).

    Returns:
      The path written, as a string.

    Raises:
      TypeError: ``ds`` is not a results Dataset.
      ValueError: the directory does not exist or is not writable.

    Examples:
      >>> import collapse_jax as cj
      >>> res = cj.run_chains(cj.gaussian(), cj.gaussian_params(0.0, 1.0), key=0,
      ...                     num_chains=8, num_generations=3, sample_size=10)
      >>> import tempfile, pathlib
      >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.nc"
      >>> _ = cj.save(res, path)
      >>> cj.load(path)["log_var"].dims
      ('sweep', 'chain', 'generation', 'log_var_dim0')
    """
    xr = _xarray()
    # A ChainResult (duck-typed: io imports nothing of the runner) makes its own.
    if not isinstance(ds, xr.Dataset | xr.DataArray) and callable(
        getattr(ds, "to_dataset", None)
    ):
        ds = ds.to_dataset()
    check_dataset("save", ds, " or a ChainResult")
    path = pathlib.Path(path)
    directory = path.resolve().parent
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        fail(
            "save",
            "path",
            "a file in an existing, writable directory",
            str(path),
            "Create the directory or pick another one.",
        )
    with atomic_target(path, suffix=".nc", checksum=True) as tmp:
        ds.to_netcdf(tmp, engine=_ENGINE)
    return str(path)


def load(path: str | os.PathLike, *, verify: bool = True):
    """Read a results file (or the ``results.nc`` of a run directory).

    The Dataset is loaded into memory and the file closed, so the file can be
    overwritten (e.g. by a resumed run) while the Dataset is in use.

    Args:
      path: a results file, or a run directory holding ``results.nc``.
      verify: check the file's bytes against the SHA-256 recorded when it was
        saved (``results.nc.sha256``), when there is one.

    Returns:
      The ``xarray.Dataset`` that was saved, bit for bit.

    Raises:
      FileNotFoundError: nothing at ``path``.
      ValueError: the file is not a collapse_jax results file, is of another
        format version, or its bytes differ from those saved (damaged); or a
        part file of an unfinished run is damaged.

    An unfinished run's directory also holds the records of its checkpoints
    since ``results.nc`` was written, as part files (``parts/``): they are read
    too, so the Dataset holds every checkpointed generation (attribute
    ``generations_done``).

    Examples:
      >>> import collapse_jax as cj
      >>> cj.load("no/such/file.nc")  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      FileNotFoundError: load: argument 'path': ...
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "results.nc"
    if not path.is_file():
        raise FileNotFoundError(
            f"load: argument 'path': expected a results file or a run directory "
            f"holding results.nc, got {str(path)!r}, which does not exist. Pass the "
            "path printed by `collapse-jax run`."
        )
    for _ in range(5):
        # A run writing beside this reader may replace results.nc and delete its
        # parts between the two reads (at its end): read both again then.
        before = os.stat(path).st_ino
        ds = _load_file(path, verify)
        ds = _with_parts(ds, path, verify)
        try:
            if os.stat(path).st_ino == before:
                break
        except FileNotFoundError:
            break
    return ds


def _with_parts(ds, path: pathlib.Path, verify: bool):
    """``ds`` with the part files of its run directory applied (an unfinished
    run's checkpoints since results.nc was written: collapse_jax.parts)."""
    from collapse_jax import parts

    if path.name != "results.nc":  # a results file saved on its own
        return ds

    def refuse(part, why):
        fail(
            "load",
            "path",
            "a run directory whose part files are intact",
            described(f"parts/{part.name}, which is damaged"),
            f"The part file {part} is refused: {why}. Delete it and go on with "
            f"`collapse-jax resume {path.parent}`: its generations are computed "
            "again (the same bits).",
        )

    return parts.consolidate(ds, path.parent, refuse,
                             verify_checksum if verify else None)


def _load_file(path: pathlib.Path, verify: bool):
    """The Dataset of one results file, checked (no part files applied)."""
    xr = _xarray()
    if verify and verify_checksum(path) is False:
        fail(
            "load",
            "path",
            "a results file whose bytes match the SHA-256 recorded when it was "
            f"saved ({pathlib.Path(checksum_path(path)).name})",
            str(path),
            "The file was damaged after it was written. Run it again: "
            "`collapse-jax resume RUN_DIR` after deleting the file (it recomputes "
            "the run, same bits), or `collapse-jax run ... --overwrite`.",
        )
    try:
        ds = xr.load_dataset(path, engine=_ENGINE)
    except (OSError, ValueError) as err:
        fail(
            "load",
            "path",
            "a netCDF4 results file written by collapse_jax",
            str(path),
            f"The file could not be read ({err}); it is not a results file.",
        )
    fmt = ds.attrs.get("collapse_jax_format")
    if fmt is None:
        fail(
            "load",
            "path",
            "a results file written by collapse_jax (attribute collapse_jax_format)",
            str(path),
            "This netCDF file was not written by collapse_jax.",
        )
    if int(fmt) != RESULTS_FORMAT:
        fail(
            "load",
            "path",
            f"results format {RESULTS_FORMAT}",
            f"format {fmt} in {path}",
            "Read it with the collapse_jax version that wrote it (attribute "
            "versions).",
        )
    return ds


def load_run(path: str | os.PathLike, fn: str, arg: str):
    """:func:`load` for an entry point given a run directory or a results file: one
    that does not exist is refused in that entry point's words (``fn``, ``arg``).
    """
    p = pathlib.Path(path)
    target = p / "results.nc" if p.is_dir() else p
    if not target.is_file():
        fail(
            fn,
            arg,
            "a run directory (holding results.nc) or a results file",
            described(f"{str(p)!r}, which does not exist"),
            "Pass the --out directory of an earlier run.",
            error=FileNotFoundError,
        )
    return load(p)


def summarize(ds, quantiles: Sequence[float] = DEFAULT_QUANTILES):
    """Quantiles over chains of a ``"chains"`` results Dataset.

    Each metric becomes ``(sweep, quantile, generation, ...)`` over the chains whose
    status is ok at that generation; ``<metric>__mean`` and ``<metric>__sd`` are
    their mean and standard deviation, and ``failed``
    counts the others. Bool metrics keep only their mean (a fraction).

    Args:
      ds: a results Dataset of kind ``"chains"``.
      quantiles: levels in [0, 1].

    Returns:
      A results Dataset of kind ``"summary"``.
    """
    xr = _xarray()
    check_dataset("summarize", ds)
    if ds.attrs.get("kind") != "chains":
        fail(
            "summarize",
            "ds",
            "a results Dataset of kind 'chains'",
            ds.attrs.get("kind"),
            "It is already a summary.",
        )
    q = check_quantiles("summarize", quantiles)
    ok = ds["status"].values == 0
    data_vars = {}
    for name in metric_names(ds):
        data_vars.update(summary_arrays(name, ds[name].values, ok, q))
    data_vars["failed"] = (("sweep", "generation"), (~ok).sum(axis=1).astype(np.int32))
    for name in ds.data_vars:
        if name.startswith("theory__"):
            data_vars[name] = ds[name]
    coords = {k: v for k, v in ds.coords.items() if k != "chain"}
    coords["quantile"] = ("quantile", np.asarray(q, np.float64))
    attrs = dict(ds.attrs, kind="summary", summary=json.dumps(list(q)))
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def metric_names(ds) -> list[str]:
    """The metrics of a results Dataset: its variables other than ``status``,
    ``failed``, ``theory__*``, ``params__*`` and ``*__mean``; in a summary also the
    bool metrics, which it keeps only as their share ``<metric>__mean``."""
    names = [str(n) for n in ds.data_vars
             if n not in ("status", "failed") and "__" not in str(n)]
    if ds.attrs.get("kind") == "summary":
        names += [str(n)[: -len("__mean")] for n in ds.data_vars
                  if str(n).endswith("__mean") and str(n)[: -len("__mean")] not in ds]
    return names


def check_quantiles(fn: str, quantiles) -> tuple[float, ...]:
    """Validate quantile levels: a non-empty sequence of distinct floats in [0, 1]."""
    try:
        q = tuple(float(x) for x in quantiles)
    except (TypeError, ValueError):
        q = ()
    if not q or any(not 0.0 <= x <= 1.0 for x in q) or len(set(q)) != len(q):
        fail(
            fn,
            "quantiles",
            "a non-empty sequence of distinct levels in [0, 1]",
            quantiles,
            "Pass e.g. (0.1, 0.5, 0.9).",
        )
    return tuple(sorted(q))


def summary_arrays(name, values, ok, quantiles):
    """``{var: (dims, array)}``: quantiles and mean of one metric over ok chains.

    ``values`` has axes ``(sweep, chain, generation, ...)`` and ``ok`` the first
    three; failed chains are left out of the statistics. The variables are
    ``name`` ``(sweep, quantile, generation, ...)``, ``name__mean`` and
    ``name__sd`` (sample standard deviation, ddof 1; NaN below two chains) ``(sweep,
    generation, ...)``, the metric's own axes named ``name_dim0``, ... A bool metric
    keeps only its share ``name__mean``.
    """
    own = tuple(f"{name}_dim{i}" for i in range(np.ndim(values) - 3))
    values = np.asarray(values)
    mask = ok.reshape(ok.shape + (1,) * (values.ndim - 3))
    if values.dtype == bool:
        frac = np.where(mask, values, 0).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
        return {f"{name}__mean": (("sweep", "generation") + own,
                                  frac.astype(np.float64))}
    x = np.where(mask, values.astype(np.float64), np.nan)
    with warnings.catch_warnings():  # all chains failed: NaN, on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        qs = nanquantile(x, quantiles, axis=1)  # np.nanquantile, vectorised
        mean = np.nanmean(x, axis=1)
        sd = np.nanstd(x, axis=1, ddof=1)
    return {
        name: (("sweep", "quantile", "generation") + own, np.moveaxis(qs, 0, 1)),
        f"{name}__mean": (("sweep", "generation") + own, mean),
        f"{name}__sd": (("sweep", "generation") + own, sd),
    }
