"""The argument parser of the `python -m micronas.*` commands that take Hydra overrides."""

import argparse

from micronas.console import configure_console


def override_parser(prog: str, description: str, example: str) -> argparse.ArgumentParser:
    """A parser with `--help`, `-v/--verbose` and the Hydra `overrides` (e.g. `example`)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help=f"Hydra overrides, e.g. {example}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the libraries' own output too")
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse `argv` and set up the console as `--verbose` says."""
    args = parser.parse_args(argv)
    configure_console(args.verbose)
    return args
