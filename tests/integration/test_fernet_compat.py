"""pgwarden's Fernet (catalog/fernet.cpp) is byte-compatible with Python's
cryptography.fernet in both directions, including MultiFernet key rotation
and the ttl / clock-skew rules, so the application and pgwarden can share a
catalog of encrypted connection strings.

Drives the test-only binary named by $FERNET_TOOL (tests/unit/fernet_tool.cpp).
Run: FERNET_TOOL=build/tests/fernet_tool /usr/bin/python3 -m pytest -q <this file>
"""

from __future__ import annotations

import base64
import os
import subprocess

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

TOOL = os.environ.get("FERNET_TOOL", "")

pytestmark = pytest.mark.skipif(not TOOL, reason="FERNET_TOOL is not set")

# Empty, below / at / above one AES block, multi-block, non-ASCII, every byte.
PLAINTEXTS = [
    b"",
    b"x",
    b"hello",
    b"0123456789abcde",
    b"0123456789abcdef",
    b"0123456789abcdef0",
    b"postgresql://app:p%40ss@db.example.com:5432/sales?sslmode=require",
    "pässwörd ✓ 密码".encode(),
    bytes(range(256)),
    os.urandom(4096),
]


def run(*args: str, keys: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, ENCRYPTION_KEY=keys)
    return subprocess.run([TOOL, *args], input=stdin, capture_output=True, env=env, timeout=30,
                          check=False)


def cpp_encrypt(keys: str, plaintext: bytes, at: int | None = None) -> bytes:
    args = ["encrypt"] + (["--at", str(at)] if at is not None else [])
    r = run(*args, keys=keys, stdin=plaintext)
    assert r.returncode == 0, r.stderr
    return r.stdout.rstrip(b"\n")


def cpp_decrypt(keys: str, token: bytes, ttl: int = 0, now: int | None = None) -> bytes | None:
    args = ["decrypt", "--ttl", str(ttl)] + (["--now", str(now)] if now is not None else [])
    r = run(*args, keys=keys, stdin=token)
    if r.returncode == 1:
        return None
    assert r.returncode == 0, r.stderr
    return r.stdout


def cpp_keygen() -> str:
    r = run("keygen", keys="")
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


@pytest.mark.parametrize("plaintext", PLAINTEXTS, ids=lambda p: f"{len(p)}B")
def test_python_encrypts_cpp_decrypts(plaintext: bytes) -> None:
    key = Fernet.generate_key()
    token = Fernet(key).encrypt(plaintext)
    assert cpp_decrypt(key.decode(), token) == plaintext


@pytest.mark.parametrize("plaintext", PLAINTEXTS, ids=lambda p: f"{len(p)}B")
def test_cpp_encrypts_python_decrypts(plaintext: bytes) -> None:
    key = Fernet.generate_key()
    token = cpp_encrypt(key.decode(), plaintext)
    assert Fernet(key).decrypt(token) == plaintext


def test_cpp_token_layout_matches_python() -> None:
    """Same version byte, big-endian timestamp and total length as Python's
    token for the same plaintext and time (the IV differs, nothing else may)."""
    key = Fernet.generate_key()
    ours = base64.urlsafe_b64decode(cpp_encrypt(key.decode(), b"layout", at=499162800))
    theirs = base64.urlsafe_b64decode(Fernet(key).encrypt_at_time(b"layout", 499162800))
    assert ours[:9] == theirs[:9]
    assert len(ours) == len(theirs)
    assert Fernet(key).extract_timestamp(base64.urlsafe_b64encode(ours)) == 499162800


def test_keys_are_interchangeable() -> None:
    """A key from our keygen works in Python and vice versa."""
    ours = cpp_keygen()
    assert len(base64.urlsafe_b64decode(ours)) == 32
    assert Fernet(ours.encode()).decrypt(cpp_encrypt(ours, b"k")) == b"k"
    theirs = Fernet.generate_key().decode()
    assert cpp_decrypt(theirs, Fernet(theirs.encode()).encrypt(b"k")) == b"k"


def test_multifernet_rotation_python_to_cpp() -> None:
    """Tokens from the old key and from MultiFernet([new, old]) (and its
    rotate()) decrypt with ENCRYPTION_KEY="new,old"; with "new" alone only the
    new ones do."""
    old, new = Fernet.generate_key(), Fernet.generate_key()
    ring = MultiFernet([Fernet(new), Fernet(old)])
    from_old = Fernet(old).encrypt(b"old secret")
    from_ring = ring.encrypt(b"new secret")
    rotated = ring.rotate(from_old)
    both = f"{new.decode()}, {old.decode()}"
    assert cpp_decrypt(both, from_old) == b"old secret"
    assert cpp_decrypt(both, from_ring) == b"new secret"
    assert cpp_decrypt(both, rotated) == b"old secret"
    assert cpp_decrypt(new.decode(), from_old) is None
    assert cpp_decrypt(new.decode(), rotated) == b"old secret"


def test_multifernet_rotation_cpp_to_python() -> None:
    """With ENCRYPTION_KEY="new,old" we encrypt with new only: Python's
    Fernet(new) and MultiFernet read it, Fernet(old) does not; and Python's
    rotate() accepts our token."""
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = cpp_encrypt(f"{new.decode()},{old.decode()}", b"rotate me")
    assert Fernet(new).decrypt(token) == b"rotate me"
    assert MultiFernet([Fernet(new), Fernet(old)]).decrypt(token) == b"rotate me"
    with pytest.raises(InvalidToken):
        Fernet(old).decrypt(token)
    old_token = cpp_encrypt(old.decode(), b"old")
    rotated = MultiFernet([Fernet(new), Fernet(old)]).rotate(old_token)
    assert Fernet(new).decrypt(rotated) == b"old"


# (token time offset from "now", ttl): both implementations must agree on each.
TIME_CASES = [(0, 60), (-60, 60), (-61, 60), (60, 60), (61, 60), (3600, 60), (-10**6, 0),
              (10**6, 0), (-5, 10**9)]


@pytest.mark.parametrize("offset,ttl", TIME_CASES)
def test_ttl_and_clock_skew_agree(offset: int, ttl: int) -> None:
    key = Fernet.generate_key()
    now = 1_700_000_000
    token = Fernet(key).encrypt_at_time(b"t", now + offset)
    if ttl:
        try:
            Fernet(key).decrypt_at_time(token, ttl, now)
            python_ok = True
        except InvalidToken:
            python_ok = False
    else:
        python_ok = True
        Fernet(key).decrypt(token)  # no ttl: Python ignores the timestamp
    assert (cpp_decrypt(key.decode(), token, ttl=ttl, now=now) is not None) == python_ok
    # And with the token made by us.
    ours = cpp_encrypt(key.decode(), b"t", at=now + offset)
    assert (cpp_decrypt(key.decode(), ours, ttl=ttl, now=now) is not None) == python_ok


def test_tampered_python_token_rejected() -> None:
    key = Fernet.generate_key()
    token = bytearray(Fernet(key).encrypt(b"secret"))
    for i in range(0, len(token) - 2, 7):
        bad = bytearray(token)
        bad[i] = ord("A") if bad[i] != ord("A") else ord("B")
        assert cpp_decrypt(key.decode(), bytes(bad)) is None, i


def test_bad_key_is_not_echoed() -> None:
    key = Fernet.generate_key().decode()
    broken = key[:20] + "*" + key[21:]
    r = run("encrypt", keys=broken, stdin=b"x")
    assert r.returncode == 2
    assert key[:8].encode() not in r.stderr and key[22:30].encode() not in r.stderr
