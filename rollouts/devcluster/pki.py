"""Certificates and keys for the local API server, made with the `openssl` command.

A throw-away CA signs the API server's serving certificate; a separate RSA key pair
signs service-account tokens. Clients authenticate with a static bearer token
(`--token-auth-file`), so no client certificates are needed.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rollouts.devcluster.errors import DevClusterError

SERVER_NAMES = (
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
    "IP:127.0.0.1",
    "IP:10.0.0.1",
)


@dataclass(frozen=True)
class Pki:
    """Paths of the generated material, and the admin bearer token."""

    directory: Path
    admin_token: str

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.directory / "sa.pub"

    @property
    def token_file(self) -> Path:
        return self.directory / "tokens.csv"


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DevClusterError(f"openssl {args[0]} failed: {last}")


def generate(directory: Path) -> Pki:
    """Create a CA, the API server's certificate, the SA key pair and the token file."""
    if shutil.which("openssl") is None:
        raise DevClusterError("openssl is not installed; install it (apt-get install openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory, admin_token=secrets.token_hex(24))
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        "-keyout", str(pki.ca_key), "-out", str(pki.ca_cert), "-subj", "/CN=rollouts-dev-ca",
    )
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
        "-keyout", str(pki.server_key), "-out", str(pki.server_cert),
        "-subj", "/CN=kube-apiserver",
        "-addext", "subjectAltName=" + ",".join(SERVER_NAMES),
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "extendedKeyUsage=serverAuth",
    )
    _openssl("genrsa", "-out", str(pki.sa_key), "2048")
    _openssl("rsa", "-in", str(pki.sa_key), "-pubout", "-out", str(pki.sa_pub))
    pki.token_file.write_text(f'{pki.admin_token},admin,uid-admin,"system:masters"\n')
    for secret in (pki.ca_key, pki.server_key, pki.sa_key, pki.token_file):
        secret.chmod(0o600)
    return pki


def load(directory: Path, admin_token: str) -> Pki:
    return Pki(directory, admin_token)
