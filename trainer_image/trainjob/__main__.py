"""`python -m trainjob`: the `trainjob` command."""

import sys

from trainjob.cli import main

sys.exit(main())
