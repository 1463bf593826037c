"""`hwflow <command>`: the command-line edge of the flow.

Each stage module registers its own subcommand with `add_parser(subparsers)`; the list below
is explicit (no directory scan). Typed errors become one line on stderr and an exit status
here and only here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hwflow.errors import HwflowError

# Modules that define add_parser(subparsers). Order = order in `hwflow --help`.
COMMAND_MODULES = [
    "hwflow.flow",
    "hwflow.synth",
    "hwflow.tools",
    "hwflow.reports",
    "hwflow.estimate",
    "hwflow.fit",
    "hwflow.tune",
    "hwflow.sweep",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hwflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HwflowError as exc:
        print(f"hwflow {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"hwflow {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the file system refused (read-only build folder, disk full, ...): one line, exit 2
        where = exc.filename or "a file"
        print(f"hwflow {args.command}: error: {where}: {exc.strerror or exc}; check that it is writable/readable "
              f"(or set HWFLOW_BUILD_DIR)", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"hwflow {args.command}: error: out of memory; reduce the input size, images or points", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
