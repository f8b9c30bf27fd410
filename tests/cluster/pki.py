"""Certificates and keys for the control plane, made with the openssl command line.

One CA signs the apiserver's serving certificate and every client certificate (admin,
controller-manager, scheduler, test nodes); the apiserver trusts it for client auth.
ServiceAccount tokens are signed with a separate ECDSA key pair.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_DAYS = "3650"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class CertificateAuthority:
    """A throwaway CA in a directory: ca.crt and ca.key, plus the certificates it issued."""

    def __init__(self, directory: Path, name: str = "trainjob-test-ca") -> None:
        self.directory = directory
        self.cert = directory / "ca.crt"
        self.key = directory / "ca.key"
        directory.mkdir(parents=True, exist_ok=True)
        _openssl(
            "req", "-x509", *_EC_KEY, "-keyout", str(self.key), "-out", str(self.cert),
            "-days", _DAYS, "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )  # fmt: skip

    def issue(
        self,
        name: str,
        common_name: str,
        organizations: tuple[str, ...] = (),
        *,
        dns_names: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
    ) -> tuple[Path, Path]:
        """Issue a certificate (server + client auth) and return (cert path, key path).

        For client certificates the apiserver reads the user from the CN and the groups from O.
        """
        cert, key, csr, ext = (self.directory / f"{name}.{s}" for s in ("crt", "key", "csr", "ext"))
        subject = f"/CN={common_name}" + "".join(f"/O={o}" for o in organizations)
        _openssl("req", "-new", *_EC_KEY, "-keyout", str(key), "-out", str(csr), "-subj", subject)
        lines = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth,clientAuth",
        ]
        sans = [f"DNS:{d}" for d in dns_names] + [f"IP:{ipaddress.ip_address(i)}" for i in ips]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
            "-CAcreateserial", "-days", _DAYS, "-extfile", str(ext), "-out", str(cert),
        )  # fmt: skip
        return cert, key


def signing_key_pair(directory: Path, name: str = "sa") -> tuple[Path, Path]:
    """Create an ECDSA key pair for signing ServiceAccount tokens: (private key, public key)."""
    key, pub = directory / f"{name}.key", directory / f"{name}.pub"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
    _openssl("pkey", "-in", str(key), "-pubout", "-out", str(pub))
    return key, pub
