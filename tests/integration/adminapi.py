"""The admin HTTP API under test: admin_server_test_main (the API with a real
catalog store and stub daemon hooks) started with a generated config, and a
small http.client wrapper. Also: SCRAM verifiers computed in Python, and a
PostgreSQL that accepts only TLS.

Plain Python; run with Debian's /usr/bin/python3.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import shutil
from dataclasses import dataclass
from pathlib import Path

import harness


def fixture_bin() -> Path:
    """$ADMIN_FIXTURE_BIN, else build/tests/admin_server_test_main."""
    default = harness.REPO_ROOT / "build" / "tests" / "admin_server_test_main"
    return Path(os.environ.get("ADMIN_FIXTURE_BIN", default)).resolve()


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """A PostgreSQL SCRAM-SHA-256 verifier (RFC 5803 form)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


def verifier_matches(verifier: str, password: str) -> bool:
    """True if `verifier` was derived from `password`."""
    head, keys = verifier.split("$", 2)[1:]
    iterations, salt = head.split(":")
    stored, server = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                 int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return (hashlib.sha256(client_key).digest() == base64.b64decode(stored)
            and hmac.new(salted, b"Server Key", "sha256").digest() == base64.b64decode(server))


@dataclass
class Reply:
    status: int
    headers: dict
    text: str

    @property
    def json(self):
        return json.loads(self.text)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class AdminClient:
    """Requests to an admin API at host:port (or a Unix socket) with a token."""

    host = harness.LOOPBACK
    port = 0
    unix_path: str | None = None
    token = ""

    def __init__(self, host: str = harness.LOOPBACK, port: int = 0, token: str = "") -> None:
        self.host, self.port, self.token = host, port, token

    def connection(self, timeout: float = 60) -> http.client.HTTPConnection:
        if self.unix_path:
            return _UnixConnection(self.unix_path, timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, body=None, token: str | None = "default",
                headers: dict | None = None, raw: bytes | None = None,
                timeout: float = 60) -> Reply:
        """One request on a fresh connection. body is sent as JSON; raw as is;
        token=None sends no Authorization header."""
        h = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        c = self.connection(timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()},
                         r.read().decode(errors="replace"))
        finally:
            c.close()

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> Reply:
        return self.request("POST", path, body, **kw)

    def delete(self, path: str, **kw) -> Reply:
        return self.request("DELETE", path, **kw)


class AdminServer(AdminClient):
    """One admin_server_test_main process with its own folder and config.

    catalog: TOML lines of the [catalog] table (default: a SQLite file in the
    folder). extra_toml: more config (users, connections). unix: listen on a
    Unix socket in the folder instead of TCP.
    """

    def __init__(self, encryption_key: str, catalog: str | None = None, extra_toml: str = "",
                 unix: bool = False, log_level: str = "debug") -> None:
        self.binary = fixture_bin()
        if not os.access(self.binary, os.X_OK):
            raise FileNotFoundError(f"admin fixture not built: {self.binary}")
        self.dir = Path(tempfile.mkdtemp(prefix="pgwarden-admin-"))
        self.encryption_key = encryption_key
        self.token = secrets.token_hex(24)
        self.host = harness.LOOPBACK
        self.port = harness.free_port()
        self.unix_path = str(self.dir / "admin.sock") if unix else None
        self.catalog_path = self.dir / "state" / "catalog.db"
        catalog = catalog if catalog is not None else f"path = {harness.toml_str(str(self.catalog_path))}"
        listen = f"unix:{self.unix_path}" if unix else f"{self.host}:{self.port}"
        token_file = self.dir / "token"
        token_file.write_text(self.token + "\n")
        self.config_path = self.dir / "pgwarden.toml"
        self.config_path.write_text(
            f"[log]\nlevel = {harness.toml_str(log_level)}\n\n"
            f"[admin]\nlisten = {harness.toml_str(listen)}\n"
            f"token_file = {harness.toml_str(str(token_file))}\n\n"
            f"[catalog]\n{catalog}\n\n{extra_toml}")
        self.logfile = self.dir / "admin.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "AdminServer":
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "--config", str(self.config_path)], cwd=self.dir,
                env=harness.clean_env(ENCRYPTION_KEY=self.encryption_key),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

        def ready() -> bool:
            if self.proc.poll() is not None:
                return True
            if self.unix_path:
                return os.path.exists(self.unix_path)
            return harness.port_accepts(self.host, self.port)

        harness.wait_until(ready, timeout, "the admin API to listen")
        if self.proc.poll() is not None:
            raise RuntimeError(f"admin fixture exited with {self.proc.returncode}:\n{self.log}")
        return self

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        return proc.returncode

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def hook_calls(self) -> dict:
        """What the stub daemon hooks were told so far."""
        return self.get("/api/pools").json["stub"]


def make_ssl_only(pg: harness.PostgresCluster) -> None:
    """Turns a running cluster into one that accepts TCP clients over TLS
    only: a self-signed certificate made with the openssl CLI, ssl = on, and a
    pg_hba.conf whose TCP lines are all hostssl."""
    key, crt = pg.data / "server.key", pg.data / "server.crt"
    subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-newkey",
                    "rsa:2048", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    for path in (key, crt):
        harness._chown_postgres(path)
    hba = pg.data / "pg_hba.conf"
    hba.write_text("local all all scram-sha-256\n"
                   "hostssl all all 127.0.0.1/32 scram-sha-256\n"
                   "hostssl all all ::1/128 scram-sha-256\n")
    harness._chown_postgres(hba)
    pg.psql("ALTER SYSTEM SET ssl = on")
    pg.psql("SELECT pg_reload_conf()")
    harness.wait_until(lambda: pg.psql("SHOW ssl") == "on", 10, "ssl = on after reload")
