"""A worker that does not train: it exits 0 at once if a marker file exists, else it waits to be stopped
(or, with `--until`, until another marker file appears).

For tests of what happens around the workers (crashes, restarts, a lost node), where training
itself would only cost time. SIGTERM ends it with exit code 143 after `--term-delay` seconds, as
a trainer that checkpoints before it exits.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--done-if", type=Path, help="exit 0 at once when this file exists")
    parser.add_argument("--term-delay", type=float, default=0.0, help="seconds from SIGTERM to exit")
    parser.add_argument("--until", type=Path, help="exit 0 once this file exists (checked every 0.2 s)")
    args = parser.parse_args()
    if args.done_if is not None and args.done_if.exists():
        print("done", flush=True)
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        time.sleep(args.term_delay)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    print("waiting", flush=True)
    while args.until is None or not args.until.exists():
        time.sleep(3600 if args.until is None else 0.2)
    print("done", flush=True)


if __name__ == "__main__":
    main()
