"""TLS between clients and pgwarden ([server.tls]): psql, psycopg and asyncpg
with certificates made here by the openssl CLI. Proves each mode's answer to
an SSLRequest, that verify-full against the right CA works and against a
wrong one fails, that `require` refuses plaintext with a clear FATAL, that
client certificates are checked when client_ca_file is set, and that a reload
picks up a renewed certificate."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import ssl
import struct
import tempfile
from pathlib import Path

import asyncpg
import psycopg
import pytest

import harness
from tlscerts import make_ca, make_ca_and_server_cert, sign


@pytest.fixture(scope="module")
def certs():
    folder = Path(tempfile.mkdtemp(prefix="pgwarden-client-tls-"))
    try:
        make_ca_and_server_cert(folder, "good")
        make_ca(folder, "other")  # signed nothing we serve
        make_ca(folder, "clients")
        sign(folder, "clients", "acme-client", "/CN=acme")
        sign(folder, "other", "stranger-client", "/CN=acme")
        sign(folder, "good", "renewed-server", "/CN=127.0.0.1", "IP:127.0.0.1")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _daemon(world, certs: Path, mode: str, client_ca: bool = False) -> harness.Pgwarden:
    daemon = harness.Pgwarden()
    daemon.add_user("acme")
    daemon.add_connection("acme", "analytics",
                          world.pg.url("analytics", "analyst", world.roles["analyst"]))
    tls = (f"[server.tls]\nmode = {harness.toml_str(mode)}\n"
           f"cert_file = {harness.toml_str(str(certs / 'good-server.crt'))}\n"
           f"key_file = {harness.toml_str(str(certs / 'good-server.key'))}\n")
    if client_ca:
        tls += f"client_ca_file = {harness.toml_str(str(certs / 'clients-ca.crt'))}\n"
    daemon.extra_toml = tls
    return daemon


@pytest.fixture(scope="module")
def preferring(world, certs):
    daemon = _daemon(world, certs, "prefer")
    try:
        yield daemon.start()
    finally:
        daemon.cleanup()


@pytest.fixture(scope="module")
def requiring(world, certs):
    daemon = _daemon(world, certs, "require")
    try:
        yield daemon.start()
    finally:
        daemon.cleanup()


def _ssl_answer(daemon: harness.Pgwarden) -> bytes:
    """The one byte pgwarden answers to an SSLRequest."""
    with socket.create_connection((daemon.host, daemon.port), timeout=5) as s:
        s.sendall(struct.pack("!II", 8, 80877103))
        return s.recv(1)


def test_ssl_request_is_answered_by_mode(preferring, requiring, pgwarden):
    assert _ssl_answer(preferring) == b"S"
    assert _ssl_answer(requiring) == b"S"
    assert _ssl_answer(pgwarden) == b"N"  # the session's daemon: mode disable


def test_verify_full_with_the_right_ca(preferring, certs):
    dsn = preferring.dsn("acme", "analytics", sslmode="verify-full",
                        sslrootcert=str(certs / "good-ca.crt"))
    with psycopg.connect(dsn) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT count(*) FROM loans").fetchone()[0] > 0
    r = preferring.psql("\\conninfo", "acme", "analytics",
                        extra_env={"PGSSLMODE": "verify-full",
                                   "PGSSLROOTCERT": str(certs / "good-ca.crt")})
    assert r.ok, r.stderr
    assert "SSL connection (protocol: TLSv1.3" in r.stdout


def test_wrong_ca_is_refused_by_the_client(preferring, certs):
    dsn = preferring.dsn("acme", "analytics", sslmode="verify-ca",
                        sslrootcert=str(certs / "other-ca.crt"))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(dsn)


def test_hostname_mismatch_is_refused_under_verify_full(preferring, certs):
    # The certificate names 127.0.0.1 and localhost; libpq checks `host`
    # and connects to `hostaddr`.
    dsn = preferring.dsn("acme", "analytics", sslmode="verify-full", host="db.invalid",
                        hostaddr="127.0.0.1", sslrootcert=str(certs / "good-ca.crt"))
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(dsn)


def test_prefer_still_serves_plaintext(preferring):
    with psycopg.connect(preferring.dsn("acme", "analytics", sslmode="disable")) as conn:
        assert not conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_require_refuses_plaintext_with_28000(requiring, certs):
    with pytest.raises(psycopg.OperationalError) as e:
        psycopg.connect(requiring.dsn("acme", "analytics", sslmode="disable"))
    assert "pgwarden accepts only TLS connections" in str(e.value)
    r = requiring.psql("SELECT 1", "acme", "analytics", extra_env={"PGSSLMODE": "disable"})
    assert not r.ok and "accepts only TLS" in r.stderr
    with psycopg.connect(requiring.dsn("acme", "analytics", sslmode="require")) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_disable_makes_tls_clients_give_up(pgwarden):
    with pytest.raises(psycopg.OperationalError, match="does not support SSL"):
        psycopg.connect(pgwarden.dsn("acme", "analytics", sslmode="require"))


def test_asyncpg_over_tls_with_pool_traffic(preferring, certs):
    """asyncpg (the agent's driver) with a verifying SSL context: named
    statements and parameters work over TLS as in plaintext."""
    context = ssl.create_default_context(cafile=str(certs / "good-ca.crt"))

    async def main() -> list[int]:
        pool = await asyncpg.create_pool(**preferring.connect_kwargs("acme", "analytics"),
                                         ssl=context, min_size=4, max_size=4)
        try:
            async def one(i: int) -> int:
                return await pool.fetchval("SELECT $1::int + count(*) * 0 FROM loans", i)
            return await asyncio.gather(*(one(i) for i in range(40)))
        finally:
            await pool.close()

    assert asyncio.run(asyncio.wait_for(main(), 60)) == list(range(40))


def test_client_certificate_is_required_when_configured(world, certs):
    daemon = _daemon(world, certs, "require", client_ca=True)
    try:
        daemon.start()
        base = {"sslmode": "verify-full", "sslrootcert": str(certs / "good-ca.crt")}
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(daemon.dsn("acme", "analytics", **base))
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(daemon.dsn("acme", "analytics", **base,
                                       sslcert=str(certs / "stranger-client.crt"),
                                       sslkey=str(certs / "stranger-client.key")))
        good = daemon.dsn("acme", "analytics", **base, sslcert=str(certs / "acme-client.crt"),
                          sslkey=str(certs / "acme-client.key"))
        with psycopg.connect(good) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        # The certificate does not replace the password.
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(good.replace(daemon.users["acme"], "not-the-password"))
        assert "TLS handshake failed" in daemon.log
    finally:
        daemon.cleanup()


def test_reload_picks_up_a_renewed_certificate(world, certs):
    daemon = _daemon(world, certs, "require")
    try:
        daemon.start()
        serial = _served_serial(daemon, certs)
        # Point the config at the renewed pair and reload.
        daemon.extra_toml = daemon.extra_toml.replace("good-server.crt", "renewed-server.crt") \
            .replace("good-server.key", "renewed-server.key")
        daemon.write_config()
        mark = daemon.log_mark()
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for_log("reload: configuration applied", since=mark)
        renewed = _served_serial(daemon, certs)
        assert renewed != serial
        # A broken pair is refused and the running one kept.
        daemon.extra_toml = daemon.extra_toml.replace("renewed-server.key", "good-server.key")
        daemon.write_config()
        mark = daemon.log_mark()
        daemon.proc.send_signal(signal.SIGHUP)
        line = daemon.wait_for_log("reload failed", since=mark)
        assert "keeping the running configuration: server.tls.key_file" in line
        assert _served_serial(daemon, certs) == renewed
    finally:
        daemon.cleanup()


def _served_serial(daemon: harness.Pgwarden, certs: Path) -> int:
    """The serial number of the certificate pgwarden presents."""
    context = ssl.create_default_context(cafile=str(certs / "good-ca.crt"))
    context.check_hostname = False
    with socket.create_connection((daemon.host, daemon.port), timeout=5) as raw:
        raw.sendall(struct.pack("!II", 8, 80877103))
        assert raw.recv(1) == b"S"
        with context.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    from cryptography import x509
    return x509.load_der_x509_certificate(der).serial_number
