"""The translation frame of a run: chains run with the truth near the origin.

A float32 number near ``1e6`` is stored to a spacing of ``0.0625``. A Gaussian chain
whose truth has mean ``1e6``, variance 1 and ``M = 10,000`` moves its mean by about
``0.01`` per generation, so every step rounds away and the walk freezes, silently.
The fits of location families are translation-equivariant (the chain of a truth at
``mu0`` is ``mu0`` plus the chain of the truth moved to the origin), so the runner
carries the chain in a frame whose origin is the truth's location
(:class:`~collapse_jax.families.base.Location` says how each family moves) and adds
the origin back on the host, in float64:

* :func:`plan` decides whether a run needs a frame (only when the dtype's spacing
  where the truth is exceeds 1/1024 of one generation's step: other runs keep their
  bits), picks the origin (the truth's centre rounded to a power of two not above
  its scale, so the truth lands within half a scale of 0), and moves the truth and
  any family setting given in absolute coordinates (a fixed initialisation, a
  categorical's numeric support) into the frame;
* :func:`move_hyper` and :func:`curation_in_frame` move what the user gave in
  absolute coordinates: real data sets, held-out sets, a custom score's input;
* :meth:`Frame.metrics` and :meth:`Frame.params` give the absolute values of the
  recorded location metrics and params (float64), everything translation-invariant
  (variances, distances, test errors) being the frame's values unchanged;
* :func:`check_resolution` refuses (or warns about) a truth the run's dtype cannot
  resolve where the frame cannot help: a fit that is not translation-equivariant
  (ridge), or a truth whose own parts sit far apart (mixture components).

Everything here runs on the host, once per run; the compiled chain is untouched.
The audit of every family's representable range is docs/precision.md.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

import jax
import jax.numpy as jnp

from collapse_jax.checks import described, fail

if TYPE_CHECKING:  # annotations only: the families import this module
    from collapse_jax.families.base import Location, ModelFamily

__all__ = [
    "Frame",
    "PrecisionWarning",
    "plan",
    "move_hyper",
    "curation_in_frame",
    "check_resolution",
    "grid_origin",
    "shift_points",
    "log_sd",
]

#: A location is refused when its spacing in the run's dtype reaches one
#: generation's step (the walk freezes), and warned about above this fraction of it
#: (the rounding then adds a measurable share of the step's variance: about
#: ``ratio**2 / 12``, 0.1 % at 1/8).
WARN_RATIO = 1 / 8
#: A run is moved into a frame when, where the truth is, the dtype's spacing
#: exceeds this fraction of one generation's step (rounding would add more than
#: about 1e-7 of the step's variance); closer truths run as they are, bit for bit.
MOVE_RATIO = 2.0**-10


class PrecisionWarning(UserWarning):
    """The run's dtype resolves a location only coarsely (docs/precision.md)."""


# ------------------------------------------------------------- family helpers ---


def grid_origin(center, log_scale) -> np.ndarray:
    """``center`` rounded to a multiple of ``2**floor(log2 scale)``, float64.

    The rounded point is within half a scale of ``center``, and is exactly 0 when
    ``|center|`` is at most half that power of two (such a truth is not moved). A
    zero or undefined scale keeps ``center`` itself (the frame then puts the truth
    exactly at the origin).

    Args:
      center: float64 array, the truth's centre per coordinate.
      log_scale: natural log of its scale per coordinate (same shape; ``-inf``: 0).
    """
    c = np.asarray(center, np.float64)
    ls = np.asarray(log_scale, np.float64)
    ok = np.isfinite(ls)
    e = np.where(ok, np.floor(ls / math.log(2)), 0).astype(np.int64)
    e = np.clip(e, -1074, 1023)
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.round(np.ldexp(c, -e))
        rounded = np.ldexp(q, e)
    # Past 2**53 grid steps the centre is already a multiple of the grid.
    exact = ~ok | ~np.isfinite(rounded) | (np.abs(c) >= np.ldexp(1.0, e + 53))
    return np.where(exact, c, rounded) + 0.0  # + 0.0: no negative zero


def shift_points(x, offset):
    """Points ``x`` (``(..., d)``) moved by ``offset`` (``(d,)``).

    NumPy input gives float64 (the host moves user data into the frame); a JAX
    array (traced inside a chain) stays in its dtype.
    """
    if isinstance(x, jax.Array):
        off = np.asarray(offset)
        off = off.reshape((1,) * (x.ndim - off.ndim) + off.shape)
        return x + jnp.asarray(off, x.dtype)
    return np.asarray(x, np.float64) + np.asarray(offset, np.float64)


def log_sd(chol_log_diag, chol_unit_lower) -> np.ndarray:
    """``0.5 log Sigma_kk`` of log-Cholesky factors (any leading axes), float64."""
    s = np.asarray(chol_log_diag, np.float64)
    u = np.asarray(chol_unit_lower, np.float64)
    with np.errstate(divide="ignore"):
        terms = 2 * s[..., None, :] + 2 * np.log(np.abs(u))
    top = np.max(terms, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    return 0.5 * (top[..., 0] + np.log(np.sum(np.exp(terms - top), axis=-1)))


def _host(params):
    return jax.tree.map(np.asarray, params)


# ------------------------------------------------------------------- the frame ---


@dataclasses.dataclass(frozen=True, eq=False)
class Frame:
    """A run's translation: the chains see ``x - offset`` for every point ``x``.

    Attributes:
      offset: float64, the frame's origin in the truth's coordinates.
      family: the fitted family, its absolute settings moved into the frame.
      source: the truth's family, likewise (``family`` in a same-family run).
      init: the truth, moved into the frame (host arrays).
      location: the fitted family's :class:`Location` (how to restore values).
    """

    offset: np.ndarray
    family: ModelFamily
    source: ModelFamily
    init: Any
    location: Location

    def computed(self, recorded: tuple[str, ...]) -> tuple[str, ...]:
        """The metrics to compute for ``recorded``: with the inputs ``restore``
        needs when a moved metric is recorded."""
        loc = self.location
        if not any(m in loc.moved for m in recorded):
            return recorded
        return recorded + tuple(m for m in loc.inputs if m not in recorded)

    def metrics(self, mets: dict, recorded: tuple[str, ...]) -> dict:
        """Absolute values of the ``recorded`` metrics from the frame's ``mets``."""
        loc = self.location
        out = {m: mets[m] for m in recorded}
        moved = [m for m in recorded if m in loc.moved]
        if moved:
            # A location that moves metrics restores them (Location's contract).
            assert loc.restore is not None
            frame_values = {m: np.asarray(mets[m]) for m in mets}
            absolute = loc.restore(frame_values, self.offset)
            out.update({m: absolute[m] for m in moved})
        return out

    def params(self, params):
        """Absolute params (float64 location leaves) from the frame's ``params``."""
        if params is None:
            return None
        return self.location.shift(_host(params), self.offset)

    def params_like(self, params):
        """Absolute params in the dtypes of the frame's ``params`` (JAX arrays):
        location leaves rounded once to the run's dtype."""
        moved = self.params(params)
        return jax.tree.map(lambda new, old: jnp.asarray(new, old.dtype), moved, params)

    def describe(self) -> list:
        return self.offset.tolist()


def plan(
    family: ModelFamily, source: ModelFamily, init, n_max: int, dtype: str
) -> Frame | None:
    """The frame of a run of ``family`` from ``init`` (of ``source``), or None.

    None (the run is exactly what it was without a frame) when the fitted family
    has no located parameters, when either family's fit is not
    translation-equivariant, or when the truth is close enough to the origin that
    the dtype resolves its steps there to :data:`MOVE_RATIO` (one fit to ``M =
    n_max`` draws, or to one draw's scale in the population limit), or is within
    half its scale of 0 (offset 0). Cross-family runs share the truth's frame.
    """
    loc = family.location
    src = source.location
    if loc is None or src is None or not loc.moved:
        return None
    if not (loc.equivariant and src.equivariant):
        return None
    offset = np.asarray(src.origin(init), np.float64)
    if not np.any(offset):
        return None
    if _ratio(src, init, max(n_max, 1), dtype) <= MOVE_RATIO:
        return None
    moved_init = src.shift(init, -offset)
    fam = loc.rebase(offset) if loc.rebase is not None else family
    if source is family:
        src_fam = fam
    else:
        src_fam = src.rebase(offset) if src.rebase is not None else source
    return Frame(offset, fam, src_fam, moved_init, loc)


def move_hyper(frame: Frame | None, regime, hyper: dict) -> dict:
    """``hyper`` with the regime's data sets (``regime.data_hyper``) moved into the
    frame, in float64 (cast to the run's dtype afterwards, as every hyper value)."""
    names = [n for n in getattr(regime, "data_hyper", ()) if n in hyper]
    if frame is None or not names:
        return hyper
    out = dict(hyper)
    event = tuple(frame.family.event_shape)
    for n in names:
        arr = np.asarray(hyper[n])
        kind_ok = arr.dtype.kind in "fiu"
        # Anything else is left as given: the regime's check refuses it with the
        # house message.
        if kind_ok and arr.ndim == 1 + len(event) and arr.shape[1:] == event:
            out[n] = frame.location.shift_data(arr, -frame.offset)
    return out


@dataclasses.dataclass(frozen=True)
class _AbsoluteScore:
    """A user's score function, fed the points in absolute coordinates."""

    score: Any
    shift_data: Any
    offset: tuple[float, ...]

    def __call__(self, data):
        return self.score(self.shift_data(data, np.asarray(self.offset)))


def curation_in_frame(frame: Frame | None, curation):
    """``curation`` whose custom score (a function of absolute points) sees the
    frame's points moved back by the offset (in the run's dtype, where the user's
    function works); curations by likelihood are translation-invariant as they are.
    """
    score = getattr(curation, "score", None)
    if frame is None or score is None or curation.rebuild is None:
        return curation
    wrapped = _AbsoluteScore(
        score, frame.location.shift_data, tuple(frame.offset.tolist())
    )
    return curation.rebuild(wrapped)


# ------------------------------------------------------------------ resolution ---


def _spacings(loc: Location, model, n: int, dtype: str):
    """``(extent, scale, spacing, step)`` of the live located coordinates."""
    extent, scale = loc.spread(_host(model))
    extent = np.asarray(extent, np.float64).ravel()
    scale = np.asarray(scale, np.float64).ravel()
    live = np.isfinite(extent) & np.isfinite(scale) & (scale > 0)
    extent, scale = extent[live], scale[live]
    spacing = np.spacing(extent.astype(np.dtype(dtype))).astype(np.float64)
    return extent, scale, spacing, scale / math.sqrt(n)


def _ratio(loc: Location, model, n: int, dtype: str) -> float:
    """The largest ``spacing / step`` of a model's located coordinates (0: none)."""
    _, _, spacing, step = _spacings(loc, model, n, dtype)
    return float(np.max(spacing / step)) if spacing.size else 0.0


def check_resolution(fn, family: ModelFamily, model, n_max: int, dtype: str):
    """Refuse (or warn about) a model whose locations the run's dtype cannot resolve.

    One fit to ``M`` draws moves a located coordinate by about ``scale / sqrt(M)``
    (``Location.spread``). Stored in ``dtype`` near ``extent``, the coordinate moves
    by multiples of ``spacing(extent)``: a step below it rounds away (the walk
    freezes), one not far above it is distorted. Refused at ``spacing >= step``,
    warned about at ``spacing > step / 8``. ``model`` is what the chain carries
    (the truth in the run's frame); the population limit (``n_max = 0``) and
    deterministic steps (scale 0) are not checked.
    """
    loc = family.location
    if loc is None or not loc.moved or n_max <= 0:
        return  # (a categorical's support is not carried by its chain)
    extent, scale, spacing, step = _spacings(loc, model, n_max, dtype)
    if not extent.size:
        return
    ratio = spacing / step
    i = int(np.argmax(ratio))
    worst = float(ratio[i])
    if worst < WARN_RATIO:
        return
    why = (
        f"a location {extent[i]:.4g} stored in {dtype} with spacing {spacing[i]:.3g}, "
        f"while one fit to M = {n_max} draws moves it by about {step[i]:.3g} "
        f"(scale {scale[i]:.3g} / sqrt(M))"
    )
    cause = (
        "this family's fit is not translation-equivariant, so the run cannot move "
        "the truth to the origin"
        if not loc.equivariant
        else "the truth's own parts sit far apart relative to their scales"
    )
    fix = (
        f"Run with dtype='float64' (x64 enabled), or centre and rescale the problem "
        f"({cause}; docs/precision.md)."
    )
    if worst >= 1:
        fail(
            fn,
            "init",
            f"a truth whose locations {dtype} resolves to well within one "
            "generation's step",
            described(why),
            fix,
        )
    warnings.warn(
        f"{fn}(): {why}: the rounding distorts the chain's law by about "
        f"{100 * worst**2 / 12:.2g} % of a step's variance. {fix}",
        PrecisionWarning,
        stacklevel=3,
    )
