"""The ``collapse-jax`` command line.

This is the only place that changes JAX configuration (``--x64``), as its first
action, before any computation.

Examples::

    collapse-jax verify --quick
    collapse-jax verify --x64 --json verify.json
    collapse-jax verify --only GC-3 WF-3
    collapse-jax info
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="collapse-jax",
        description="Model collapse, executable: simulate generation chains and check "
        "every theoretical claim against simulation.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser(
        "verify",
        help="run every registered theoretical claim against simulation",
        description="Print one row per claim: id, pass, theory, simulated, z-score "
        "(or exact error), statement. Exit status 0 only if every claim passed.",
        epilog="examples:\n  collapse-jax verify --quick\n"
        "  collapse-jax verify --x64 --json verify.json\n"
        "  collapse-jax verify --only GC-3 SH-7",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument(
        "--quick",
        action="store_true",
        help="reduced set, 4,096 chains (about a minute on two cores)",
    )
    v.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    v.add_argument(
        "--x64",
        action="store_true",
        help="enable float64 and run the chains in float64",
    )
    v.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    v.add_argument("--only", nargs="+", metavar="ID", help="run only these claim ids")
    v.add_argument("--list", action="store_true", help="list the claim ids and exit")

    sub.add_parser("info", help="versions, devices and x64 state")
    return parser


def _enable_x64(argv_x64: bool) -> None:
    if argv_x64:
        import jax

        jax.config.update("jax_enable_x64", True)


def _verify(args) -> int:
    from collapse_jax import verify

    if args.list:
        for c in verify.claims(quick=False):
            tag = "" if c.quick else "  (full run only)"
            print(f"{c.id:<6} {c.claim}{tag}")
        return 0
    if args.json:
        directory = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
            print(
                f"collapse-jax verify: --json {args.json!r}: directory {directory!r} "
                "does not exist or is not writable; pass a writable path.",
                file=sys.stderr,
            )
            return 2
    dtype = "float64" if args.x64 else "float32"
    mode = "quick" if args.quick else "full"
    print(
        f"collapse-jax verify ({mode}, {dtype}, seed {args.seed}); pass when "
        f"|z| <= {verify.Z_PASS:g} or the exact error is within tolerance"
    )
    print(verify.format_table([]))
    start = time.perf_counter()
    try:
        rows = verify.run_claims(
            quick=args.quick,
            seed=args.seed,
            dtype=dtype,
            only=args.only,
            callback=lambda r: print(verify.format_row(r), flush=True),
        )
    except (ValueError, TypeError) as err:
        print(f"collapse-jax verify: {err}", file=sys.stderr)
        return 2
    passed = sum(r.passed for r in rows)
    print(f"\n{passed}/{len(rows)} claims passed in {time.perf_counter() - start:.1f}s")
    if args.json:
        from collapse_jax.io_utils import atomic_write_text

        atomic_write_text(
            args.json,
            json.dumps([r.to_json() for r in rows], indent=2, ensure_ascii=False),
        )
        print(f"wrote {args.json}")
    return 0 if passed == len(rows) else 1


def _info() -> int:
    import jax

    import collapse_jax

    print(f"collapse_jax {collapse_jax.__version__}")
    print(jax.print_environment_info(return_string=True).strip())
    print(f"devices: {jax.devices()}")
    print(f"x64: {jax.config.jax_enable_x64}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``collapse-jax`` console script."""
    args = build_parser().parse_args(argv)
    _enable_x64(getattr(args, "x64", False))
    if args.command == "verify":
        return _verify(args)
    return _info()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
