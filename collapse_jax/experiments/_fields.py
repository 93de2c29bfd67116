"""An experiment's settings: the typed :class:`Field` and the fields every one has.

A field parses its command-line text (``--sample-size 100,1000``), checks a Python
value (kind, choices, range) and refuses either with the house message in the
caller's wording (``--flags`` or Python names, :mod:`collapse_jax.wording`).
:mod:`collapse_jax.experiments.core` re-exports it with the experiment types and the
registry.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from collapse_jax.checks import fail
from collapse_jax.wording import Wording, as_wording

_KINDS = ("int", "float", "str", "bool", "ints", "floats", "strs")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclasses.dataclass(frozen=True)
class Field:
    """One setting of an experiment.

    Attributes:
      name: the Python name (``sample_size``); on the command line
        ``--sample-size`` (``--sample_size`` works too).
      kind: ``"int"``, ``"float"``, ``"str"``, ``"bool"``, or a list of them
        (``"ints"``, ``"floats"``, ``"strs"``; comma-separated on the command line).
        A list field is swept: the experiment runs one point per value.
      default: the value when neither the preset nor the user sets it.
      help: one line for ``--help`` and ``collapse-jax list``.
      choices: allowed values (for str kinds), or empty.
      minimum, maximum: inclusive bounds (for numeric kinds), or None.
      allow_none: whether ``None`` (``none`` on the command line) is allowed.
      applies: ``{other_field: values}``: the field is used only when every
        ``other_field`` takes one of ``values`` (a list field: when one of its
        values does), e.g. ``{"regime": ("mix", "fresh")}`` for a real-data
        share; setting it otherwise is refused (it would be ignored). Empty:
        always used.
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    allow_none: bool = False
    applies: Mapping[str, Sequence[Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"Field {self.name!r}: kind must be one of {_KINDS}")
        # Stored as a tuple of pairs: a Field stays hashable.
        object.__setattr__(self, "applies", tuple(
            (k, tuple(v)) for k, v in dict(self.applies).items()))

    def unused_by(self, config: Mapping[str, Any]) -> tuple[str, Any] | None:
        """``(other_field, value)`` that makes this field unused, or None."""
        # __post_init__ stores ``applies`` as (name, values) pairs.
        pairs = cast("tuple[tuple[str, tuple[Any, ...]], ...]", self.applies)
        for other, values in pairs:
            have = config.get(other)
            seq = have if isinstance(have, list | tuple) else [have]
            if not any(v in values for v in seq):
                return other, have
        return None

    @property
    def option(self) -> str:
        """The command-line spelling, ``--sample-size``."""
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """``kind, default, choices/range`` for help texts."""
        parts = [self.kind]
        if self.choices:
            parts.append("one of " + "|".join(map(str, self.choices)))
        if self.minimum is not None or self.maximum is not None:
            lo = "-inf" if self.minimum is None else _num(self.minimum)
            hi = "inf" if self.maximum is None else _num(self.maximum)
            parts.append(f"in [{lo}, {hi}]")
        return ", ".join(parts)

    def parse(self, text: str, where: str | Wording) -> Any:
        """Convert command-line text to this field's type, then :meth:`check` it.

        ``where``: the entry point's :class:`~collapse_jax.wording.Wording` (a plain
        name: a command, whose messages use ``--flags``).
        """
        if not isinstance(text, str):
            return self.check(text, where)
        if self.allow_none and text.strip().lower() == "none":
            return None
        scalar = self.kind.rstrip("s")  # "ints" -> "int"; "bool" stays
        if self.kind.endswith("s"):
            items = [t.strip() for t in text.split(",") if t.strip()]
            value = [self._convert(scalar, t, where) for t in items]
        else:
            value = self._convert(scalar, text.strip(), where)
        return self.check(value, where)

    def _convert(self, scalar: str, text: str, where: str | Wording) -> Any:
        try:
            if scalar == "int":
                return int(text)
            if scalar == "float":
                return float(text)
            if scalar == "bool":
                low = text.lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError(text)
            return text
        except ValueError:
            w = as_wording(where)
            fail(
                w.fn,
                w.field(self.name),
                f"{'an' if scalar == 'int' else 'a'} {scalar}"
                + (" (true/false)" if scalar == "bool" else ""),
                text,
                f"Pass e.g. {self._pass(w)}.",
            )

    def _example(self) -> str:
        d = self.default
        if isinstance(d, list | tuple):
            return ",".join(map(str, d)) if d else "1,2"
        return str(d).lower() if isinstance(d, bool) else str(d)

    def _pass(self, w: Wording) -> str:
        """This field set to an example value, in ``w``'s spelling."""
        if w.cli:
            return f"{w.field(self.name)} {self._example()}"
        d = self.default
        if isinstance(d, list | tuple):
            d = list(d) if d else [1, 2]
        return w.field_value(self.name, d)

    def check(self, value: Any, where: str | Wording) -> Any:
        """Validate a Python value; return it normalised (lists as lists)."""
        where = as_wording(where)
        if value is None:
            if self.allow_none:
                return None
            fail(
                where.fn,
                where.field(self.name),
                f"a value of kind {self.describe()}",
                None,
                f"Pass e.g. {self._pass(where)}.",
                error=TypeError,
            )
        if self.kind.endswith("s"):
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                value = [value]
            if not value:
                fail(
                    where.fn,
                    where.field(self.name),
                    "a non-empty list",
                    value,
                    f"Pass e.g. {self._pass(where)}.",
                )
            out = [self._check_scalar(self.kind[:-1], v, where) for v in value]
            if len(set(out)) != len(out):
                fail(
                    where.fn,
                    where.field(self.name),
                    "distinct values",
                    value,
                    "Remove the repeats.",
                )
            return out
        return self._check_scalar(self.kind, value, where)

    def _check_scalar(self, kind: str, value: Any, where: Wording) -> Any:
        if not _is_kind(kind, value):
            fail(
                where.fn,
                where.field(self.name),
                f"{kind} values ({self.describe()})",
                f"{value!r} ({type(value).__name__})",
                f"Pass e.g. {self._pass(where)}.",
                error=TypeError,
            )
        if kind == "int":
            value = int(value)
        elif kind == "float":
            value = float(value)
            if not math.isfinite(value):
                fail(
                    where.fn,
                    where.field(self.name),
                    "a finite number",
                    value,
                    f"Pass e.g. {self._pass(where)}.",
                )
        elif kind == "bool":
            value = bool(value)
        if self.choices and value not in self.choices:
            close = difflib.get_close_matches(str(value), map(str, self.choices), 1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            fail(
                where.fn,
                where.field(self.name),
                f"one of {', '.join(map(str, self.choices))}",
                value,
                f"Pick one of the choices.{hint}",
            )
        if kind in ("int", "float"):
            lo, hi = self.minimum, self.maximum
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                rng = f"[{'-inf' if lo is None else _num(lo)}, "
                rng += f"{'inf' if hi is None else _num(hi)}]"
                fail(
                    where.fn,
                    where.field(self.name),
                    f"a value in {rng}",
                    value,
                    f"Pass a value in {rng}.",
                )
        return value


def _is_kind(kind: str, value: Any) -> bool:
    """Whether ``value`` is of the scalar ``kind`` (a bool is no number)."""
    return {
        "int": isinstance(value, numbers.Integral) and not isinstance(value, bool),
        "float": isinstance(value, numbers.Real) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool | np.bool_),
    }[kind]


def _num(x) -> str:
    """A bound as printed in ranges: integers in full (``2,147,483,647``)."""
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


#: Fields every experiment has.
COMMON_FIELDS = (
    Field("num_chains", "int", 256, "independent chains per sweep point", minimum=1,
          maximum=2**31 - 1),
    Field("num_generations", "int", 100, "fits per chain (generation 0 is the truth)",
          minimum=1, maximum=10**7),
    Field("dtype", "str", "float32", "float32, or float64 (needs --x64)",
          choices=("float32", "float64")),
)
