"""The ``hccp53`` command: one sub-command (verb) per pipeline stage.

Each verb lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``;
this module only dispatches, configures logging, and turns the library's
:class:`~hccp53.errors.HccP53Error` into one sentence on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hccp53 import __version__
from hccp53.cli import describe, evaluate, phases, prepare, pull, push, serve, synth, train
from hccp53.errors import HccP53Error
from hccp53.logging_setup import configure_logging

VERBS = (synth, describe, phases, prepare, train, evaluate, serve, pull, push)
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

logger = logging.getLogger("hccp53.cli")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-sentence error that points at ``--help`` instead of the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message[0].upper() + message[1:]}; see `{self.prog} --help`.\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hccp53",
        description="TP53 mutation of hepatocellular carcinoma from multiphase liver MRI (research use only).",
        epilog="Run `hccp53 <verb> --help` for the options of each verb.",
    )
    parser.add_argument("--version", action="version", version=f"hccp53 {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v: all INFO, -vv: DEBUG)")
    verbs = parser.add_subparsers(dest="verb", metavar="<verb>", parser_class=_Parser)
    for module in VERBS:
        module.add_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hccp53`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    configure_logging(args.verbose)
    try:
        return int(args.run(args) or 0)
    except HccP53Error as error:
        sys.stderr.write(f"hccp53 {args.verb}: error: {error}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write(f"hccp53 {args.verb}: interrupted; no partial output was kept.\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
