"""What the ``collapse-jax`` commands share: options, parsing, reports, Ctrl-C.

The option types every command reuses (``--x64``, ``--seed``, ``--devices``,
``--out``, ``--scale``, ``--progress``), the parsing of the text the command line
gives (``--summary`` levels, an experiment's ``--FIELD VALUE`` pairs), the wording
of the messages (:class:`~collapse_jax.wording.Wording` in ``--flags``), the report
of a finished run, and the guard that turns bad input into one line and exit status
2 and Ctrl-C into status 130 with the hint to resume. :mod:`collapse_jax.cli` holds
the app and its commands.
"""

from __future__ import annotations

import pathlib
import sys
import time
from typing import Annotated

import typer

# ------------------------------------------------------------ shared options ---

X64 = Annotated[
    bool, typer.Option("--x64", help="Enable float64 (needed for --dtype float64).")
]
SEED = Annotated[int, typer.Option("--seed", help="Base seed.", min=0)]


def _devices_option(text: str | None) -> int | str | None:
    """``--devices``: ``all`` (every local device) or a count ``N >= 1``."""
    if text is None or text == "all":
        return text
    if not text.isdigit() or int(text) < 1:
        raise typer.BadParameter(f"expected 'all' or a count >= 1; got {text!r}. "
                                 "Pass e.g. --devices all or --devices 4.")
    return int(text)


DEVICES = Annotated[
    str | None,
    typer.Option("--devices", help="Spread chains over every local device (all) "
                 "or the first N (results do not change).",
                 callback=_devices_option),
]
COORDINATOR = Annotated[
    str | None,
    typer.Option("--coordinator", help="Join a multi-process run: HOST:PORT of "
                 "process 0, with --num-processes and --process-id (without them, "
                 "JAX_COORDINATOR_ADDRESS set: JAX's cluster detection, e.g. "
                 "SLURM). Each process runs its share of the chains."),
]
NUM_PROCESSES = Annotated[
    int | None,
    typer.Option("--num-processes", help="Processes of a multi-process run.", min=1),
]
PROCESS_ID = Annotated[
    int | None,
    typer.Option("--process-id", help="This process's index (0 .. N-1).", min=0),
]
# Text, not a Path: pathlib turns an empty value into ".", which must be refused.
OUT = Annotated[
    str | None,
    typer.Option("--out", "-o", help="Run directory (default runs/<name>)."),
]
SCALE = Annotated[
    str, typer.Option("--scale", help="default (minutes on a CPU) or full (the "
                      "paper's sizes).")
]
PROGRESS = Annotated[
    bool, typer.Option("--progress/--no-progress", " /--quiet", " /-q",
                       help="Progress with the time left: a bar on a terminal, a "
                       "plain line every 10 s on stderr elsewhere (logs, CI); "
                       "--quiet (or -q, --no-progress) prints neither.")
]

def _join(command: str, coordinator, num_processes, process_id, summary, directory):
    """Join a multi-process run when asked (the flags, or JAX's
    ``JAX_COORDINATOR_ADDRESS`` with a cluster JAX detects); return the directory
    this process writes: ``directory/process-I`` when it is one of several
    (collapse_jax.distributed), else ``directory``."""
    import os

    flags = (coordinator, num_processes, process_id)
    if all(v is None for v in flags) and not os.environ.get("JAX_COORDINATOR_ADDRESS"):
        return directory
    from collapse_jax import distributed
    from collapse_jax.checks import fail

    if summary is not None:
        fail(command, "--summary", "unset in a multi-process run", summary,
             "Keep every chain (the processes' chains are merged), then summarise "
             "the merged results.")
    distributed.initialize(*flags, _fn=command,
                           _names=("--coordinator", "--num-processes", "--process-id"))
    import jax

    if jax.process_count() == 1:
        return directory
    return f"{directory}/process-{jax.process_index()}"


def _merge_parts(run, directory, figures: bool):
    """The parts of a multi-process run put together in ``directory``: gathered
    from every process (collapse_jax.distributed.gather_dataset); process 0 writes
    ``results.nc`` (every chain), ``run.json`` and the figures and gets the merged
    run, the others None."""
    import shutil

    import jax

    from collapse_jax import _run_engine as engine
    from collapse_jax import distributed, rundir
    from collapse_jax import io as cio

    ds = distributed.gather_dataset(run.dataset)
    if jax.process_index() != 0:
        return None
    directory = pathlib.Path(directory)
    shutil.copyfile(run.directory / rundir.RUN_FILE, directory / rundir.RUN_FILE)
    cio.save(ds, directory / rundir.RESULTS_FILE)
    ds = cio.load(directory / rundir.RESULTS_FILE)
    drawn = engine._draw(ds, directory) if figures else []
    return engine.Run(directory, ds, drawn, engine._failures(ds))


def _enable_x64(x64: bool) -> None:
    if x64:
        import jax

        jax.config.update("jax_enable_x64", True)


def _fail(command: str, err: BaseException) -> int:
    print(f"collapse-jax {command}: {err}", file=sys.stderr)
    return 2


def _quantiles(text: str | None):
    if text is None:
        return None
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError as err:
        raise ValueError(
            f"argument '--summary': expected comma-separated quantile levels in "
            f"[0, 1], got {text!r}. Pass e.g. --summary 0.1,0.5,0.9."
        ) from err


def _field_args(experiment, tokens: list[str]) -> dict[str, str]:
    """``--field value`` / ``--field=value`` pairs from the extra arguments."""
    out: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or tok == "--":
            raise ValueError(
                f"argument {tok!r}: expected --FIELD VALUE. Fields of "
                f"{experiment.name!r}: `collapse-jax list {experiment.name}`."
            )
        name, eq, value = tok[2:].partition("=")
        field = experiment.field(name, "run")
        if not eq:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if field.kind == "bool" and (nxt is None or nxt.startswith("--")):
                value = "true"
            elif nxt is None:
                raise ValueError(
                    f"argument {field.option!r}: expected a value "
                    f"({field.describe()}), got nothing. Pass e.g. "
                    f"{field.option} {field._example()}."
                )
            else:
                value, i = nxt, i + 1
        if field.name in out:
            raise ValueError(f"argument {field.option!r}: given twice; keep one.")
        out[field.name] = value
        i += 1
    return out


def _speak(command: str):
    from collapse_jax.wording import Wording

    return Wording(command, cli=True)


def _report(run, command: str) -> None:
    ds = run.dataset
    if run.already_complete:
        print(f"collapse-jax {command}: {run.directory} already holds this run, "
              f"complete; nothing was computed or written ({run.results})"
              + ("; figures redrawn" if run.figures else ""))
    else:
        print(f"collapse-jax {command}: wrote {run.results}")
    for path in run.figures:
        if path.endswith(".png"):
            print(f"  figure {path}")
    if run.kept:
        print(f"collapse-jax {command}: kept {len(run.kept)} file(s) in "
              f"{run.directory} that collapse_jax did not write: "
              + ", ".join(run.kept), file=sys.stderr)
    if run.failures:
        print(f"collapse-jax {command}: some chains failed inside the run (frozen "
              "and masked in summaries and figures):", file=sys.stderr)
        for label, reps in run.failures.items():
            first = reps[0]
            print(f"  {label}: {len(reps)} of {ds.attrs['num_chains']} chains; "
                  f"first: chain {first.chain_id} at generation {first.generation} "
                  f"({first.reason})", file=sys.stderr)

def _guarded(command: str, directory, call):
    """``(call(), 0)``; bad input: ``(None, 2)`` with one line on stderr; Ctrl-C:
    ``(None, 130)`` with the hint to resume ``directory`` when there is a run to
    resume. Failed chains are reported by :func:`_report`, not as a warning."""
    import warnings

    from collapse_jax.status import FailedChainsWarning

    started = time.time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FailedChainsWarning)
            return call(), 0
    except (ValueError, TypeError, FileNotFoundError) as err:
        return None, _fail(command, err)
    except KeyboardInterrupt:
        return None, _interrupted(command, directory, started)


def _interrupted(command: str, directory, started: float) -> int:
    from collapse_jax import runs

    run_file = pathlib.Path(directory) / runs.RUN_FILE
    try:  # run.json written by this command, or by an earlier one
        ours = command == "resume" or run_file.stat().st_mtime >= started - 1.0
    except OSError:
        ours = None
    if ours:
        hint = (f"what was checkpointed is safe. Go on with `collapse-jax resume "
                f"{directory}`.")
    elif ours is None:
        hint = (f"nothing that can be resumed was written to {directory} yet (the "
                f"run was still being prepared). Run the same `collapse-jax "
                f"{command}` command again to start it.")
    else:
        hint = (f"the run already in {directory} was left as it was (`collapse-jax "
                f"resume {directory}` goes on with that one); run the same "
                f"`collapse-jax {command}` command again for yours.")
    print(f"\ncollapse-jax: interrupted; {hint}", file=sys.stderr)
    return 130
