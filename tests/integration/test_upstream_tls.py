"""TLS to customer databases: ssl_mode with libpq's meanings, against a real
PostgreSQL with ssl=on and certificates made here with the openssl CLI."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

import harness
from tlscerts import make_ca_and_server_cert


@pytest.fixture(scope="module")
def tls_world():
    certs = Path(tempfile.mkdtemp(prefix="pgwarden-tls-"))
    pg = plain = daemon = None
    try:
        make_ca_and_server_cert(certs, "good")
        make_ca_and_server_cert(certs, "other")  # a CA that signed nothing we use
        for f in certs.iterdir():
            shutil.chown(f, "postgres", "postgres")
            os.chmod(f, 0o600 if f.suffix == ".key" else 0o644)
        shutil.chown(certs, "postgres", "postgres")
        pg = harness.PostgresCluster(settings={
            "ssl": "on",
            "ssl_cert_file": str(certs / "good-server.crt"),
            "ssl_key_file": str(certs / "good-server.key"),
        }).start()
        reader = pg.load_analytics()
        # A second database server that only accepts TLS connections.
        pg.psql("CREATE ROLE strict_reader LOGIN PASSWORD 'strictpw' IN ROLE analyst")
        hba = pg.data / "pg_hba.conf"
        hba.write_text("hostssl all strict_reader 127.0.0.1/32 scram-sha-256\n"
                       "hostnossl all strict_reader 127.0.0.1/32 reject\n" + hba.read_text())
        pg.psql("SELECT pg_reload_conf()")
        plain = harness.PostgresCluster().start()
        plain_reader = plain.load_analytics()

        daemon = harness.Pgwarden()
        daemon.add_user("acme")
        url = pg.url("analytics", "analyst", reader)
        daemon.add_connection("acme", "tls_require", url + "?sslmode=require")
        daemon.add_connection("acme", "tls_verify_full",
                              url + f"?sslmode=verify-full&sslrootcert={certs / 'good-ca.crt'}")
        daemon.add_connection("acme", "tls_wrong_ca",
                              url + f"?sslmode=verify-ca&sslrootcert={certs / 'other-ca.crt'}")
        daemon.add_connection("acme", "tls_disable_strict",
                              pg.url("analytics", "strict_reader", "strictpw") + "?sslmode=disable")
        daemon.add_connection("acme", "tls_prefer_strict",
                              pg.url("analytics", "strict_reader", "strictpw") + "?sslmode=prefer")
        daemon.add_connection("acme", "tls_allow_strict",
                              pg.url("analytics", "strict_reader", "strictpw") + "?sslmode=allow")
        daemon.add_connection("acme", "no_tls_server",
                              plain.url("analytics", "analyst", plain_reader) + "?sslmode=require")
        daemon.add_connection("acme", "prefer_no_tls_server",
                              plain.url("analytics", "analyst", plain_reader) + "?sslmode=prefer")
        daemon.start()
        yield daemon
    finally:
        if daemon:
            daemon.cleanup()
        for cluster in (pg, plain):
            if cluster:
                cluster.stop()
        shutil.rmtree(certs, ignore_errors=True)


def _ssl_in_use(daemon: harness.Pgwarden, db: str) -> bool:
    with psycopg.connect(daemon.dsn("acme", db), autocommit=True) as conn:
        return conn.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]


@pytest.mark.parametrize("db", ["tls_require", "tls_verify_full", "tls_prefer_strict",
                                "tls_allow_strict"])
def test_upstream_session_is_encrypted(tls_world, db):
    """require, verify-full (our CA, name 127.0.0.1), and prefer/allow against a
    TLS-only server all end up with an encrypted upstream session, as the
    server itself reports in pg_stat_ssl."""
    assert _ssl_in_use(tls_world, db) is True


def test_prefer_falls_back_to_clear_text(tls_world):
    """prefer against a server without TLS connects in clear, as libpq does."""
    assert _ssl_in_use(tls_world, "prefer_no_tls_server") is False


def _login_error(daemon: harness.Pgwarden, db: str) -> str:
    r = daemon.psql("SELECT 1", "acme", db)
    assert not r.ok
    return r.stderr


def test_wrong_ca_is_refused(tls_world):
    """verify-ca with a CA that did not sign the server's certificate fails
    the handshake, and says so."""
    err = _login_error(tls_world, "tls_wrong_ca")
    assert "TLS handshake with the server failed" in err and "certificate verify failed" in err


def test_require_against_server_without_tls(tls_world):
    """require never falls back to clear text."""
    err = _login_error(tls_world, "no_tls_server")
    assert "The server does not support SSL, but ssl_mode=require." in err


def test_disable_against_tls_only_server_says_ssl_required(tls_world):
    """A server whose pg_hba.conf accepts only TLS gives the original design's
    message and hint."""
    err = _login_error(tls_world, "tls_disable_strict")
    assert "SSL connection required by server." in err
    assert "ssl_mode=require" in err
