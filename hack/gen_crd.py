#!/usr/bin/env python3
"""Regenerate crds/ (and every other copy of the CRD) from the Python schema; `--check` only verifies."""

import sys
from pathlib import Path

from trainjob_api.crd import main

if __name__ == "__main__":
    sys.exit(main(["--root", str(Path(__file__).resolve().parent.parent), *sys.argv[1:]]))
