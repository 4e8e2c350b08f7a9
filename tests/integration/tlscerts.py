"""Test certificates made with the openssl CLI: a CA per name, and server or
client certificates signed by it."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> Path:
    """<name>-ca.crt and <name>-ca.key in folder."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name} test CA", "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.crt",
             cwd=folder)
    return folder / f"{name}-ca.crt"


def sign(folder: Path, ca: str, leaf: str, subject: str, san: str | None = None) -> Path:
    """<leaf>.crt/<leaf>.key signed by <ca>-ca, with an optional subjectAltName."""
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
             "-keyout", f"{leaf}.key", "-out", f"{leaf}.csr", cwd=folder)
    extra: list[str] = []
    if san:
        (folder / f"{leaf}.ext").write_text(f"subjectAltName={san}\n")
        extra = ["-extfile", f"{leaf}.ext"]
    _openssl("x509", "-req", "-in", f"{leaf}.csr", "-CA", f"{ca}-ca.crt", "-CAkey", f"{ca}-ca.key",
             "-CAcreateserial", "-days", "2", *extra, "-out", f"{leaf}.crt", cwd=folder)
    (folder / f"{leaf}.key").chmod(0o600)
    return folder / f"{leaf}.crt"


def make_ca_and_server_cert(folder: Path, name: str) -> None:
    """<name>-ca.crt, and <name>-server.crt/.key signed by it for 127.0.0.1."""
    make_ca(folder, name)
    sign(folder, name, f"{name}-server", "/CN=127.0.0.1", "IP:127.0.0.1,DNS:localhost")
