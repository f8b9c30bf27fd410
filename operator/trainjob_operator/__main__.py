"""`python -m trainjob_operator [flags]`: run the operator (see `config.add_arguments` for the flags)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from trainjob_operator.config import add_arguments, config_from_args
from trainjob_operator.runtime import run_operator


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the flags and run the operator."""
    parser = argparse.ArgumentParser(prog="python -m trainjob_operator", description="The TrainJob operator.")
    add_arguments(parser)
    run_operator(config_from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
