"""The ``xdpkt`` command line: one entry point, subcommands registered by modules.

Each module in :data:`COMMAND_MODULES` has ``register(subparsers)``, which adds
its subcommands and sets ``func`` (``(args) -> int``) on each. Exit codes: 0 on
success, 1 on an I/O or data error (a one-line message, no traceback), 2 on a
usage error (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from xdpkt import __version__
from xdpkt._xdpkt import XdpktError

# Modules that contribute subcommands; later features add theirs here.
COMMAND_MODULES: tuple[str, ...] = (
    "xdpkt.commands.offload",
    "xdpkt.commands.conformance",
    "xdpkt.commands.demo",
    "xdpkt.commands.ethtool",
    "xdpkt._cli_bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xdpkt",
        description="User-space NIC datapath tools: offloads with Linux kernel semantics.",
    )
    parser.add_argument("--version", action="version", version=f"xdpkt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print(f"xdpkt {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, XdpktError) as e:
        print(f"xdpkt {args.command}: error: {e}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
