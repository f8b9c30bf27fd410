"""A real S3-compatible server for tests: versitygw (built by hack/s3server.sh) over a directory.

It runs as its own process, speaks S3 over HTTP and checks SigV4 signatures, so the code under
test goes through s3fs, botocore and the network exactly as against a cloud's object store.
"""

from __future__ import annotations

import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .binaries import BuildError
from .controlplane import free_port
from .processes import spawn, stop, tail

SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "s3server.sh"
REGION = "us-east-1"


def build_s3_server() -> Path:
    """Build versitygw if missing (instant when cached); the binary's path."""
    result = subprocess.run(["bash", str(SCRIPT), "build"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"{SCRIPT} build exited {result.returncode}:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


class S3Server:
    """versitygw with its posix backend, listening on every address on a free port.

    Use as a context manager. `endpoint(host)` is its URL as seen from `host` (127.0.0.1 on this
    machine, the pod network's gateway from a pod); `credentials(host)` the `AWS_*` variables a
    client needs. Buckets are directories under `root`.
    """

    def __init__(self, binary: Path, root: Path, startup_timeout: float = 30.0) -> None:
        self.binary = binary
        self.root = root
        self.startup_timeout = startup_timeout
        self.access_key = f"tj{secrets.token_hex(6)}"
        self.secret_key = secrets.token_hex(16)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log(self) -> Path:
        """The server's output."""
        return self.root / "versitygw.log"

    def start(self) -> None:
        """Start the server and wait until its health endpoint answers."""
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.port = free_port("0.0.0.0")
        argv = [str(self.binary), "--access", self.access_key, "--secret", self.secret_key]
        argv += ["--port", f"0.0.0.0:{self.port}", "--region", REGION, "--health", "/health", "--quiet"]
        self._process = spawn([*argv, "posix", str(data)], log=self.log)
        deadline = time.monotonic() + self.startup_timeout
        while not self._healthy():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"versitygw did not start:\n{tail(self.log)}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server."""
        if self._process is not None:
            stop(self._process)
            self._process = None

    def endpoint(self, host: str = "127.0.0.1") -> str:
        """The server's URL as seen from `host`."""
        return f"http://{host}:{self.port}"

    def credentials(self, host: str = "127.0.0.1") -> dict[str, str]:
        """The environment an S3 client (botocore, s3fs) needs to reach this server from `host`."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint(host),
            "AWS_REGION": REGION,
        }

    def make_bucket(self, name: str) -> None:
        """Create a bucket (a directory of the posix backend, which serves it at once)."""
        (self.root / "data" / name).mkdir()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint()}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False
