"""The ``collapse-jax`` command line (typer).

Every command is a thin layer over a documented function (``run`` and
``reproduce``: :func:`collapse_jax.run_experiment` / :func:`collapse_jax.reproduce`;
``resume``: :func:`collapse_jax.resume`; ``plot``: :func:`collapse_jax.plot_run`;
``list``: :func:`collapse_jax.experiments.experiments` and ``presets``; ``verify``:
:func:`collapse_jax.verify.run_claims`; ``info``: :func:`collapse_jax.io.provenance`).
This is the only place that changes JAX configuration (``--x64``), as the first
action of a command, before any computation. The options, parsing and reports the
commands share are in :mod:`collapse_jax._cli_support`.

Examples::

    collapse-jax list
    collapse-jax reproduce gaussian-drift
    collapse-jax run gaussian --sample-size 100,1000 --num-generations 500
    collapse-jax run categorical --preset discrete-absorption --scale full
    collapse-jax resume runs/gaussian
    collapse-jax plot runs/gaussian
    collapse-jax verify --quick
    collapse-jax info
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
from typing import Annotated

import typer

from collapse_jax._cli_support import (
    COORDINATOR,
    DEVICES,
    NUM_PROCESSES,
    OUT,
    PROCESS_ID,
    PROGRESS,
    SCALE,
    SEED,
    X64,
    _enable_x64,
    _fail,
    _field_args,
    _guarded,
    _join,
    _merge_parts,
    _quantiles,
    _report,
    _speak,
)

__all__ = ["main", "app"]

app = typer.Typer(
    name="collapse-jax",
    help="Model collapse, executable: simulate generation chains, reproduce the "
    "papers' figures and check every theoretical claim against simulation.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    compile_cache: Annotated[bool, typer.Option(
        "--compile-cache/--no-compile-cache", help="Keep compiled programs in "
        "$COLLAPSE_JAX_CACHE/xla (~/.cache/collapse_jax/xla) so the next command "
        "does not compile them again; COLLAPSE_JAX_COMPILE_CACHE=DIR moves it, "
        "=0 turns it off.")] = True,
) -> None:
    """Options of every command (before the command's name)."""
    from collapse_jax.compile_cache import cli_setup

    cli_setup(compile_cache)

# ------------------------------------------------------------------ commands ---


@app.command(
    "run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog="Examples:\n\n"
    "  collapse-jax run gaussian --sample-size 100,1000 --num-generations 500\n\n"
    "  collapse-jax run gaussian --preset gaussian-drift --scale full --x64 "
    "--dtype float64\n\n"
    "  collapse-jax run categorical --num-categories 5 --init zipf -o runs/zipf\n\n"
    "Every field of an experiment is an option --FIELD VALUE (lists comma-"
    "separated): `collapse-jax list EXPERIMENT` or `collapse-jax run EXPERIMENT "
    "--help` shows them.",
)
def run_command(
    ctx: typer.Context,
    experiment: Annotated[str, typer.Argument(help="Experiment name (collapse-jax "
                                              "list).")],
    preset: Annotated[str | None, typer.Option("--preset", help="Named settings "
                                               "(collapse-jax list).")] = None,
    scale: SCALE = "default",
    seed: SEED = 0,
    out: OUT = None,
    devices: DEVICES = None,
    x64: X64 = False,
    chunk_size: Annotated[int | None, typer.Option(
        "--chunk-size", help="Generations per compiled chunk (progress and "
        "checkpoint granularity; results do not change).", min=1)] = None,
    checkpoint_every: Annotated[float, typer.Option(
        "--checkpoint-every", help="Seconds between checkpoints (0: every chunk).",
        min=0.0)] = 60.0,
    summary: Annotated[str | None, typer.Option(
        "--summary", help="Keep only these quantiles over chains, e.g. "
        "0.1,0.5,0.9 (small files for huge runs).")] = None,
    figures: Annotated[bool, typer.Option("--figures/--no-figures",
                                          help="Draw the figures.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run "
                                            "already in --out.")] = False,
    progress: PROGRESS = True,
    coordinator: COORDINATOR = None,
    num_processes: NUM_PROCESSES = None,
    process_id: PROCESS_ID = None,
) -> int:
    """Run an EXPERIMENT with a preset and/or --FIELD VALUE settings.

    Writes RUN_DIR/results.nc (netCDF, load with collapse_jax.load), checkpoints
    as it goes (kill it any time; `collapse-jax resume RUN_DIR` goes on with the
    same bits) and figures in RUN_DIR/figures. With --coordinator each process
    writes its chains to RUN_DIR/process-I, and process 0 the merged results.
    """
    _enable_x64(x64)
    from collapse_jax import runs
    from collapse_jax.experiments import core

    directory = runs.default_run_dir(preset or experiment) if out is None else out
    try:  # a multi-process run: this process's chains go to RUN_DIR/process-I
        part = _join("run", coordinator, num_processes, process_id, summary, directory)
    except (ValueError, TypeError, RuntimeError) as err:
        return _fail("run", err)
    joined = part != directory
    import jax  # after _join: jax.distributed goes first

    def call():
        exp = core.get_experiment(experiment, "run")
        run = runs.run_experiment(
            experiment, preset=preset, scale=scale,
            overrides=_field_args(exp, list(ctx.args)), seed=seed, out=part,
            devices=devices, chunk_size=chunk_size,
            checkpoint_interval=checkpoint_every, summary=_quantiles(summary),
            progress=progress and jax.process_index() == 0,
            figures=figures and not joined, overwrite=overwrite,
            _wording=_speak("run"),
        )
        return _merge_parts(run, directory, figures) if joined else run

    result, status = _guarded("run", part, call)
    if result is not None:
        _report(result, "run")
    return status


@app.command(
    "reproduce",
    epilog="Examples:\n\n  collapse-jax reproduce gaussian-drift\n\n"
    "  collapse-jax reproduce theorem-3.1 --scale full --devices 4 -o runs/t31\n\n"
    "`collapse-jax list` shows every figure preset.",
)
def reproduce_command(
    figure: Annotated[str, typer.Argument(help="A preset name (collapse-jax list).")],
    scale: SCALE = "default",
    seed: SEED = 0,
    out: OUT = None,
    devices: DEVICES = None,
    x64: X64 = False,
    summary: Annotated[str | None, typer.Option(
        "--summary", help="Keep only these quantiles over chains.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run "
                                            "already in --out.")] = False,
    progress: PROGRESS = True,
) -> int:
    """Run a paper figure's preset and write its figures (PNG and PDF)."""
    _enable_x64(x64)
    from collapse_jax import runs

    directory = runs.default_run_dir(figure) if out is None else out
    result, status = _guarded("reproduce", directory, lambda: runs.reproduce(
        figure, scale=scale, seed=seed, out=directory, devices=devices,
        progress=progress, overwrite=overwrite, summary=_quantiles(summary),
        _wording=_speak("reproduce")))
    if result is not None:
        _report(result, "reproduce")
    return status


@app.command(
    "resume",
    epilog="Example:\n\n  collapse-jax resume runs/gaussian-drift",
)
def resume_command(
    run_dir: Annotated[pathlib.Path, typer.Argument(help="The run directory.")],
    devices: DEVICES = None,
    progress: PROGRESS = True,
    figures: Annotated[bool | None, typer.Option(
        "--figures/--no-figures", help="Draw the figures (default: when the run "
        "finishes now; --figures also redraws those of a complete run).")] = None,
) -> int:
    """Go on with an interrupted run from its last checkpoint (same bits).

    A complete run is left as it is. Float64 runs switch x64 on by themselves.
    """
    from collapse_jax import runs

    try:
        request = json.loads((run_dir / runs.RUN_FILE).read_text())
        _enable_x64(request.get("config", {}).get("dtype") == "float64")
    except (OSError, ValueError, AttributeError):
        pass  # resume() explains what is wrong with the directory
    result, status = _guarded("resume", run_dir, lambda: runs.resume(
        run_dir, devices=devices, progress=progress, figures=figures,
        _wording=_speak("resume")))
    if result is None:
        return status
    if result.resumed_from is not None:
        p, g = result.resumed_from
        print(f"collapse-jax resume: went on from sweep point {p}, generation {g}")
    _report(result, "resume")
    return 0


@app.command(
    "plot",
    epilog="Examples:\n\n  collapse-jax plot runs/gaussian-drift\n\n"
    "  collapse-jax plot runs/gaussian-drift/results.nc -o figs/\n\n"
    "  collapse-jax plot runs/a runs/b --label baseline --label curated\n\n"
    "  collapse-jax plot runs/a runs/b --metric w2_sq -o compare/",
)
def plot_command(
    run_dirs: Annotated[list[pathlib.Path], typer.Argument(
        help="A run directory or a results file; several are overlaid.",
        metavar="RUN_DIR...")],
    out: Annotated[pathlib.Path | None, typer.Option(
        "--out", "-o", help="Where to write the figures (default RUN_DIR/figures for "
        "one run; ./comparison/comparison.png and .pdf for several)."
    )] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", help="A legend label per run, in order (repeat it; default: "
        "the run directories' names).")] = None,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", help="A metric to compare (repeat it; default: the first "
        "run's metric figures).")] = None,
) -> int:
    """Redraw a run's figures, or overlay several runs on shared metric panels.

    With one RUN_DIR, its figures are redrawn. With several (or with --label or
    --metric), one panel per metric draws every run in its own colour and label,
    the median over chains with its 10 to 90 % band.
    """
    from collapse_jax import compare, runs

    try:
        if len(run_dirs) == 1 and not label and not metric:
            paths = runs.plot_run(run_dirs[0], out, _wording=_speak("plot"))
        else:
            w = _speak("plot")
            fig = compare.plot_runs(run_dirs, labels=label or None,
                                    metrics=metric or None, _wording=w)
            target = compare.DEFAULT_COMPARISON_DIR if out is None else out
            paths = compare.save_comparison(fig, target, _wording=w)
    except (ValueError, TypeError, FileNotFoundError) as err:
        return _fail("plot", err)
    for p in paths:
        print(p)
    return 0


@app.command(
    "list",
    epilog="Examples:\n\n  collapse-jax list\n\n  collapse-jax list gaussian",
)
def list_command(
    experiment: Annotated[str | None, typer.Argument(
        help="Show this experiment's fields and presets.")] = None,
) -> int:
    """List the experiments and presets (or one experiment's fields)."""
    from collapse_jax.experiments import core

    if experiment is not None:
        try:
            print(experiment_help(experiment))
        except (ValueError, TypeError) as err:
            return _fail("list", err)
        return 0
    exps, pres = core.experiments(), core.presets()
    print("Experiments (collapse-jax run NAME --FIELD VALUE ...):")
    for name, e in exps.items():
        print(f"  {name:<22} {e.description}")
    print("\nPresets (collapse-jax reproduce NAME, or run EXPERIMENT --preset NAME):")
    for name, p in pres.items():
        print(f"  {name:<22} [{p.experiment}] {p.description}")
    return 0


def experiment_help(name: str) -> str:
    """The fields and presets of one experiment, as ``list NAME`` prints them."""
    from collapse_jax.experiments import core

    exp = core.get_experiment(name, "list")
    lines = [f"{exp.name}: {exp.description}"]
    if exp.details:
        lines += ["", exp.details]
    lines += ["", "Fields (--FIELD VALUE; lists comma-separated):"]
    for f in exp.all_fields:
        default = f.default
        if isinstance(default, list):
            default = ",".join(map(str, default))
        lines.append(f"  {f.option:<22} {f.help} [{f.describe()}; default "
                     f"{default}]")
    mine = [p for p in core.presets().values() if p.experiment == exp.name]
    if mine:
        lines += ["", "Presets (--preset NAME; --scale full for the paper's size):"]
        for p in mine:
            vals = ", ".join(f"{k}={v}" for k, v in p.values.items())
            lines.append(f"  {p.name:<22} {p.description}")
            lines.append(f"  {'':<22} default: {vals}")
            if p.full:
                full = ", ".join(f"{k}={v}" for k, v in p.full.items())
                lines.append(f"  {'':<22} full:    {full}")
    return "\n".join(lines)


# typer has no nargs="+" option: `--only A B C` is a flag followed by arguments.
@app.command(
    "verify",
    context_settings={"allow_extra_args": True},
    epilog="Examples:\n\n  collapse-jax verify --quick\n\n"
    "  collapse-jax verify --x64 --json verify.json\n\n"
    "  collapse-jax verify --only GC-3 SH-7",
)
def verify_command(
    ctx: typer.Context,
    quick: Annotated[bool, typer.Option("--quick", help="Reduced set, 4,096 chains "
                                        "(a couple of minutes on two cores).")] = False,
    json_path: Annotated[pathlib.Path | None, typer.Option(
        "--json", help="Also write the rows as JSON.")] = None,
    x64: Annotated[bool, typer.Option("--x64", help="Enable float64 and run the "
                                      "chains in float64.")] = False,
    seed: SEED = 0,
    only: Annotated[bool, typer.Option("--only", help="Run only the claim ids "
                                       "that follow.")] = False,
    list_claims: Annotated[bool, typer.Option("--list", help="List the claim ids "
                                              "and exit.")] = False,
) -> int:
    """Run every registered theoretical claim against simulation.

    Prints one row per claim: id, pass, theory, simulated, z-score (or exact
    error), statement (the claims by id: docs/theory.md). Exit status 0 only if
    every claim passed.
    """
    ids = list(ctx.args) if only else None
    if ctx.args and not only:
        return _fail("verify", ValueError(
            f"unexpected arguments {ctx.args}; pass claim ids after --only."))
    return _verify(quick, json_path, x64, seed, ids, list_claims)


def _verify(quick, json_path, x64, seed, only, list_claims) -> int:
    _enable_x64(x64)
    from collapse_jax import verify

    if list_claims:
        for c in verify.claims(quick=False):
            tag = "" if c.quick else "  (full run only)"
            print(f"{c.id:<6} {c.claim}{tag}")
        return 0
    if json_path is not None:
        directory = os.path.dirname(os.path.abspath(json_path))
        if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
            print(
                f"collapse-jax verify: --json {str(json_path)!r}: directory "
                f"{directory!r} does not exist or is not writable; pass a writable "
                "path.",
                file=sys.stderr,
            )
            return 2
    if only is not None:
        known = [c.id for c in verify.claims()]
        unknown = [i for i in only if i not in known]
        if not only or unknown:
            got = f"unknown ids {unknown}" if unknown else "no ids"
            return _fail("verify", ValueError(
                f"argument '--only': expected one or more claim ids after it, got "
                f"{got}. Pass e.g. --only GC-3 SH-7; `collapse-jax verify --list` "
                "lists the ids."))
    dtype = "float64" if x64 else "float32"
    mode = "quick" if quick else "full"
    print(
        f"collapse-jax verify ({mode}, {dtype}, seed {seed}); pass when "
        f"|z| <= {verify.Z_PASS:g} or the exact error is within tolerance; the "
        "claims, their proofs and sources: docs/theory.md"
    )
    print(verify.format_table([]))
    start = time.perf_counter()
    try:
        rows = verify.run_claims(
            quick=quick,
            seed=seed,
            dtype=dtype,
            only=only,
            callback=lambda r: print(verify.format_row(r), flush=True),
        )
    except (ValueError, TypeError) as err:
        return _fail("verify", err)
    passed = sum(r.passed for r in rows)
    print(f"\n{passed}/{len(rows)} claims passed in {time.perf_counter() - start:.1f}s")
    if json_path is not None:
        from collapse_jax.io_utils import atomic_write_text

        atomic_write_text(
            json_path,
            json.dumps([r.to_json() for r in rows], indent=2, ensure_ascii=False),
        )
        print(f"wrote {json_path}")
    return 0 if passed == len(rows) else 1


@app.command(
    "decompose",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog="Examples:\n\n  collapse-jax decompose\n\n"
    "  collapse-jax decompose --sample-size 50 --combos none,S,E,S+E "
    "--num-generations 200",
)
def decompose_command(
    ctx: typer.Context,
    seed: SEED = 0,
    out: OUT = None,
    devices: DEVICES = None,
    x64: X64 = False,
    metric: Annotated[str, typer.Option("--metric", help="l2_to_truth or "
                                        "w2_mm_sq_to_truth.")] = "l2_to_truth",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run "
                                            "already in --out.")] = False,
    progress: PROGRESS = True,
) -> int:
    """The three error sources switched on and off, and their additive effects.

    Runs the `decomposition` experiment (its fields are options, see
    `collapse-jax list decomposition`) and prints, at the last generation, the
    mean distance of each combination and its Möbius decomposition into main
    effects and interactions (collapse_jax.Decomposition.effects).
    """
    _enable_x64(x64)
    from collapse_jax import runs
    from collapse_jax.experiments import core

    directory = runs.default_run_dir("decomposition") if out is None else out

    def call():
        exp = core.get_experiment("decomposition", "decompose")
        fields = _field_args(exp, list(ctx.args))
        if metric not in ("l2_to_truth", "w2_mm_sq_to_truth"):
            raise ValueError(
                f"argument '--metric': expected l2_to_truth or w2_mm_sq_to_truth, "
                f"got {metric!r}. Pick one of them."
            )
        return runs.run_experiment(
            "decomposition", overrides=fields, seed=seed, out=directory,
            devices=devices, progress=progress, overwrite=overwrite,
            _wording=_speak("decompose"),
        )

    result, status = _guarded("decompose", directory, call)
    if result is not None:
        print(effects_table(result.dataset, metric))
        _report(result, "decompose")
    return status


def effects_table(ds, metric: str) -> str:
    """Mean distance per combination and the additive effects, last generation."""
    import numpy as np

    from collapse_jax.decompose import _BY_LABEL, Decomposition

    labels = tuple(str(s) for s in ds["sweep"].values)
    values = np.where(ds["status"].values == 0, ds[metric].values, np.nan)
    dec = Decomposition(tuple(_BY_LABEL[lab] for lab in labels), labels,
                        {metric: values}, {})
    n = int(ds.attrs["num_generations"])
    mean = np.nanmean(values[:, :, n], axis=1)
    eff = {k: v[n] for k, v in dec.effects(metric).items()}
    lines = [f"{metric} at generation {n} (mean over chains)",
             f"{'combination':<12} {'mean':>12} {'effect':>12}"]
    for lab, m in zip(labels, mean, strict=True):
        e = eff.get(lab)
        lines.append(f"{lab:<12} {m:>12.5g} "
                     + (f"{e:>12.5g}" if e is not None else f"{'':>12}"))
    return "\n".join(lines)


@app.command("info", epilog="Example:\n\n  collapse-jax info --x64")
def info_command(x64: X64 = False) -> int:
    """Versions, devices, x64 state and git revision."""
    _enable_x64(x64)
    import jax

    from collapse_jax import io

    prov = io.provenance()
    for k, v in prov["versions"].items():
        print(f"{k:<14} {v}")
    print(f"{'device':<14} {prov['device']}")
    print(f"{'devices':<14} {jax.devices()}")
    print(f"{'x64':<14} {prov['x64']}")
    print(f"{'git revision':<14} {prov['git_revision']}")
    return 0


# ------------------------------------------------------------------ entry point ---


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``collapse-jax`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if (
        len(args) >= 2
        and args[0] == "run"
        and not args[1].startswith("-")
        and any(a in ("--help", "-h") for a in args[2:])
    ):
        try:
            print(experiment_help(args[1]))
        except (ValueError, TypeError) as err:
            return _fail("run", err)
        print("\nRun options: collapse-jax run --help")
        return 0
    try:
        rv = app(args=args, prog_name="collapse-jax", standalone_mode=False)
    except Exception as err:  # the command-line library's usage errors
        show, code = getattr(err, "show", None), getattr(err, "exit_code", None)
        if show is not None and code is not None:
            show()
            return int(code)
        raise
    return 0 if rv is None else int(rv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
