"""The helper subcommands operators and scripts use (keygen, encrypt,
verifier), checked against the independent implementations users will mix
them with: Python's cryptography.fernet and PostgreSQL's own SCRAM.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from cryptography.fernet import Fernet, InvalidToken

import harness
import pgwire

VERIFIER = re.compile(r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")


def helper(d: harness.Pgwarden, *args: str, stdin: str = "", key: str | None = None):
    env = harness.clean_env() if key is None else harness.clean_env(ENCRYPTION_KEY=key)
    return subprocess.run([str(d.binary), *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=30)


def test_keygen_prints_fresh_fernet_keys(scratch_pgwarden):
    """keygen prints one url-safe base64 32-byte key that Python's Fernet
    accepts, different every time."""
    keys = {scratch_pgwarden.keygen() for _ in range(3)}
    assert len(keys) == 3
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}=", key), key
        Fernet(key.encode())


def test_encrypt_is_readable_by_python_fernet(scratch_pgwarden):
    """A token from `pgwarden encrypt` decrypts with cryptography.fernet to
    exactly the secret given on stdin."""
    d = scratch_pgwarden
    secret = "postgresql://analyst:s3cr%C3%A9t@127.0.0.1:5432/analytics?sslmode=disable"
    token = d.encrypt(secret)
    assert token.startswith("gAAAAA")
    assert Fernet(d.encryption_key.encode()).decrypt(token.encode()).decode() == secret
    assert d.encrypt(secret) != token  # fresh IV and timestamp each time


def test_encrypt_with_key_list_uses_first_key(scratch_pgwarden):
    """With ENCRYPTION_KEY="new,old", encrypt uses the first key only."""
    d = scratch_pgwarden
    new, old = d.keygen(), d.keygen()
    r = helper(d, "encrypt", stdin="rotate-me", key=f"{new},{old}")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().encode()
    assert Fernet(new.encode()).decrypt(token) == b"rotate-me"
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(token)


def test_encrypt_without_key_refuses(scratch_pgwarden):
    """encrypt without ENCRYPTION_KEY exits non-zero and says what is missing."""
    r = helper(scratch_pgwarden, "encrypt", stdin="x")
    assert r.returncode != 0
    assert "ENCRYPTION_KEY" in r.stderr
    assert not r.stdout.strip()


def test_daemon_reads_python_tokens_and_rotated_keys(scratch_pgwarden):
    """pgwarden decrypts connection strings encrypted by Python's Fernet with
    an older key of a rotated key list ("new,old") and serves them."""
    d = scratch_pgwarden
    old_key = d.encryption_key
    d.encrypt = lambda s: Fernet(old_key.encode()).encrypt(s.encode()).decode()  # type: ignore[method-assign]
    d.write_config()
    d.encryption_key = f"{d.keygen()},{old_key}"
    d.start()
    r = d.psql("SELECT count(*) FROM loans", "acme", "analytics")
    assert r.ok and r.stdout == "2000", r.stderr + d.log[-2000:]


def test_verifier_is_a_postgresql_scram_verifier(scratch_pgwarden, pg):
    """`pgwarden verifier` prints SCRAM-SHA-256$4096:salt$StoredKey:ServerKey
    for the password on stdin, salted afresh each time, which PostgreSQL itself
    accepts as a role password: the right password logs in, a wrong one does not."""
    d = scratch_pgwarden
    password = harness.new_password()
    v1, v2 = d.verifier(password), d.verifier(password)
    m = VERIFIER.fullmatch(v1)
    assert m, v1
    assert int(m.group(1)) >= 4096
    assert v1 != v2
    assert pgwire.scram_verifier_matches(v1, password)
    assert not pgwire.scram_verifier_matches(v1, password + "x")

    pg.psql(f"CREATE ROLE verifier_probe LOGIN PASSWORD '{v1}'")
    try:
        pg.psql("GRANT CONNECT ON DATABASE analytics TO verifier_probe")
        assert pg.psql("SELECT current_user", db="analytics", user="verifier_probe",
                       password=password) == "verifier_probe"
        r = pg.psql("SELECT 1", db="analytics", user="verifier_probe", password="wrong",
                    check=False)
        assert not r.ok and "password authentication failed" in r.stderr
    finally:
        pg.psql("REVOKE CONNECT ON DATABASE analytics FROM verifier_probe; DROP ROLE verifier_probe")
