"""A worker that does not train: it blocks until every worker of its group has met, holds, and exits 0.

Like DDP's rendezvous without torch: worker 0 listens on MASTER_PORT until the other WORLD_SIZE - 1
workers have connected, then tells them all to go; the others connect to MASTER_ADDR (retrying
until its name resolves and it listens). A group that never gets all its workers blocks for ever
(or exits 1 after `--timeout`), as a real training job would. For tests of scheduling, where
training itself would only cost CPU. SIGTERM ends it at once (exit 143).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from types import FrameType

GO = b"go"


def lead(port: int, peers: int, deadline: float) -> None:
    """Worker 0: accept `peers` connections, then send each the word to go."""
    with socket.create_server(("", port), reuse_port=True) as server:
        server.settimeout(max(deadline - time.monotonic(), 0.1))
        joined = [server.accept()[0] for _ in range(peers)]
    for connection in joined:
        with connection:
            connection.sendall(GO)


def follow(address: str, port: int, deadline: float) -> None:
    """Any other worker: connect to worker 0 (retrying) and wait for the word to go."""
    while True:
        try:
            with socket.create_connection((address, port), timeout=1) as connection:
                connection.settimeout(max(deadline - time.monotonic(), 0.1))
                if connection.recv(len(GO)) == GO:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to stay after all met")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up (exit 1) after this long")
    args = parser.parse_args()

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    rank, size = int(os.environ["NODE_RANK"]), int(os.environ["WORLD_SIZE"])
    port, deadline = int(os.environ["MASTER_PORT"]), time.monotonic() + args.timeout
    print(f"worker {rank} of {size}: waiting for the others", flush=True)
    try:
        if rank == 0:
            lead(port, size - 1, deadline)
        else:
            follow(os.environ["MASTER_ADDR"], port, deadline)
    except OSError as error:
        print(f"worker {rank}: the group never met: {error}", flush=True)
        sys.exit(1)
    print(f"worker {rank}: all {size} workers met", flush=True)
    time.sleep(args.hold)


if __name__ == "__main__":
    main()
