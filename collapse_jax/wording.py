"""How an entry point names its arguments in messages: Python names or ``--flags``.

One check serves both the Python API and the command line; it takes a
:class:`Wording` and asks it how to spell an argument, so that the same mistake reads
``run_experiment(): overrides['num_chains'] must be ... Pass overrides={'num_chains':
100}.`` from Python and ``run(): --num-chains must be ... Pass --num-chains 100.``
from ``collapse-jax run``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Wording", "as_wording"]

# Run options whose flag is not the Python name with dashes.
_CLI_OPTIONS = {"checkpoint_interval": "--checkpoint-every", "run_dir": "RUN_DIR"}


@dataclasses.dataclass(frozen=True)
class Wording:
    """The spelling of one entry point.

    Attributes:
      fn: what the message starts with: the function (``"run_experiment"``) or the
        command (``"run"``).
      cli: True for the command line (``--flags``), False for Python names.
      container: the Python argument that holds experiment fields
        (``"overrides"``; ``"values"`` for a preset).
    """

    fn: str
    cli: bool = False
    container: str = "overrides"

    # -- experiment fields (``--sample-size`` / ``overrides['sample_size']``) ---

    def field(self, name: str) -> str:
        """An experiment field."""
        if self.cli:
            return "--" + name.replace("_", "-")
        return f"{self.container}[{name!r}]"

    def field_value(self, name: str, value: Any) -> str:
        """An experiment field set to ``value``, as the user would type it."""
        if self.cli:
            return f"{self.field(name)} {_cli_text(value)}"
        return f"{self.container}={{{name!r}: {value!r}}}"

    # -- run options (``--out`` / ``out``) ---

    def option(self, name: str) -> str:
        """A run option (an argument of the function, a flag of the command)."""
        if self.cli:
            return _CLI_OPTIONS.get(name, "--" + name.replace("_", "-"))
        return name

    def option_value(self, name: str, value: Any) -> str:
        """A run option set to ``value``."""
        if self.cli:
            return f"{self.option(name)} {_cli_text(value)}"
        return f"{name}={value!r}"

    def flag(self, name: str) -> str:
        """A boolean option switched on: ``--overwrite`` / ``overwrite=True``."""
        return self.option(name) if self.cli else f"{name}=True"

    def resume(self, directory: Any) -> str:
        """How to go on with the run in ``directory``."""
        if self.cli:
            return f"`collapse-jax resume {directory}`"
        return f"collapse_jax.resume({str(directory)!r})"


def _cli_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(_cli_text(v) for v in value)
    return str(value)


def as_wording(where: str | Wording) -> Wording:
    """``where`` as a :class:`Wording`; a plain name means a command (``--flags``),
    as the experiment registry's checks have always spoken."""
    return where if isinstance(where, Wording) else Wording(str(where), cli=True)
