"""`python -m tests.cluster` (or `hack/controlplane.sh up`): a control plane and a test node
for manual use; prints the KUBECONFIG to export and runs until Ctrl-C or SIGTERM."""

import signal
import time
from typing import NoReturn

from . import ControlPlane, TestNode, build_binaries


def _interrupt(*_: object) -> NoReturn:
    raise KeyboardInterrupt


def main() -> None:
    """Start, print how to reach it, wait for a signal, stop (ignoring further signals)."""
    signal.signal(signal.SIGTERM, _interrupt)
    with ControlPlane(build_binaries()) as cp, TestNode(cp):
        print(f"export KUBECONFIG={cp.kubeconfig}", flush=True)
        print(f"export PATH={cp.bin_dir}:$PATH  # kubectl, helm", flush=True)
        print("# Ctrl-C stops the control plane and the node", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)


main()
