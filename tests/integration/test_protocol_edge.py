"""The wire protocol at pgwarden's front door, byte by byte: encryption
requests, protocol versions, and malformed or oversized packets (which must
fail closed). Uses the raw client in pgwire.py; expectations follow what
PostgreSQL itself does (see /work/shared/PROTOCOL-NOTES.md sections 1 and 10).
"""

from __future__ import annotations

import struct

import pytest

import pgwire

CLOSE_TIMEOUT = 10  # a violation must close the connection well within this


def open_raw(pgw) -> pgwire.RawConnection:
    return pgwire.RawConnection(pgw.host, pgw.port)


def login(pgw, **kw) -> pgwire.RawConnection:
    conn = open_raw(pgw)
    conn.startup("acme", "analytics", pgw.users["acme"], **kw)
    return conn


def assert_fatal_then_closed(conn: pgwire.RawConnection, codes: tuple[str, ...]) -> dict[str, str]:
    """The server answers with one FATAL ErrorResponse (SQLSTATE in codes) and closes."""
    data = conn.read_until_closed(CLOSE_TIMEOUT)
    errors = [pgwire.parse_fields(body) for kind, body in pgwire.split_messages(data) if kind == b"E"]
    assert errors, f"connection closed without an ErrorResponse: {data!r}"
    assert errors[-1].get("S") == "FATAL" and errors[-1].get("C") in codes, errors[-1]
    return errors[-1]


def assert_still_serving(pgw) -> None:
    with login(pgw) as conn:
        assert conn.query("SELECT 1")[0] == [["1"]]


def test_ssl_request_is_declined_then_startup_works(pgwarden):
    """SSLRequest gets the single byte 'N' (no TLS yet), and a plain startup
    on the same socket then authenticates and queries."""
    with open_raw(pgwarden) as conn:
        assert conn.request_encryption(pgwire.SSL_REQUEST) == b"N"
        conn.startup("acme", "analytics", pgwarden.users["acme"])
        assert conn.query("SELECT count(*) FROM loans") == ([["2000"]], b"I")


def test_gssenc_request_is_declined_then_startup_works(pgwarden):
    """GSSENCRequest gets 'N'; the client may then try SSLRequest (also 'N')
    and start in clear, as libpq does with gssencmode=prefer."""
    with open_raw(pgwarden) as conn:
        assert conn.request_encryption(pgwire.GSSENC_REQUEST) == b"N"
        assert conn.request_encryption(pgwire.SSL_REQUEST) == b"N"
        conn.startup("acme", "analytics", pgwarden.users["acme"])
        assert conn.query("SELECT 1") == ([["1"]], b"I")


GARBAGE_FIRST_PACKETS = {
    "http-request": b"GET / HTTP/1.1\r\nHost: pgwarden\r\n\r\n",
    "huge-length": struct.pack("!ii", 0x7FFFFFFF, pgwire.PROTOCOL_3_0),
    "length-over-10000": struct.pack("!ii", 20000, pgwire.PROTOCOL_3_0) + b"x" * 19992,
    "length-below-8": struct.pack("!i", 3) + b"\0" * 8,
    "binary-noise": bytes(range(255, 191, -1)),  # length field negative
}


@pytest.mark.parametrize("name", GARBAGE_FIRST_PACKETS, ids=list(GARBAGE_FIRST_PACKETS))
def test_garbage_first_packet_closes_connection(pgwarden, name):
    """A first packet that is not a plausible startup (bad or oversized length,
    random bytes, another protocol) gets the connection closed promptly, with
    at most an ErrorResponse, never waiting for a body it announced; the
    daemon keeps serving others."""
    with open_raw(pgwarden) as conn:
        try:
            conn.send(GARBAGE_FIRST_PACKETS[name])
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still writing: that is a close too
        data = conn.read_until_closed(CLOSE_TIMEOUT)
        kinds = [kind for kind, _ in pgwire.split_messages(data)]
        assert data == b"" or kinds == [b"E"], data
    assert_still_serving(pgwarden)


def test_message_length_below_4_after_auth_is_fatal_08P01(pgwarden):
    """After authentication, a message whose length field is below 4 (it
    counts itself) gets FATAL 08P01 and the connection is closed."""
    with login(pgwarden) as conn:
        conn.send(b"Q" + struct.pack("!i", 3))
        assert_fatal_then_closed(conn, ("08P01",))
    assert_still_serving(pgwarden)


def test_oversized_message_after_auth_is_fatal(pgwarden):
    """A message announcing ~1 GiB (beyond the configured maximum) gets FATAL
    08P01 or 54000 right away, without pgwarden waiting for the body."""
    with login(pgwarden) as conn:
        conn.send(b"Q" + struct.pack("!i", 0x3FFFFFF0))
        assert_fatal_then_closed(conn, ("08P01", "54000"))
    assert_still_serving(pgwarden)


def test_unknown_message_type_after_auth_is_fatal_08P01(pgwarden):
    """A message type the frontend protocol does not have gets FATAL 08P01
    (as PostgreSQL's "invalid frontend message type") and a close: a policy
    proxy never passes through what it could not understand."""
    with login(pgwarden) as conn:
        conn.send(b"z" + struct.pack("!i", 4))
        assert_fatal_then_closed(conn, ("08P01",))
    assert_still_serving(pgwarden)


def test_protocol_3_2_startup(pgwarden):
    """A 3.2 StartupMessage either gets NegotiateProtocolVersion ('v', newest
    minor 0, before the authentication request) and proceeds on 3.0, or, if
    pgwarden speaks 3.2, proceeds without 'v' with a 3.2 cancel key (4..256
    bytes). Either way the session works."""
    with login(pgwarden, version=pgwire.PROTOCOL_3_2) as conn:
        if conn.negotiate is not None:
            newest, unknown = conn.negotiate
            # PostgreSQL sends the whole version word (PG_PROTOCOL_LATEST =
            # 3 << 16 | 0 = 196608), not a bare minor number, and libpq reads it so.
            assert newest == pgwire.PROTOCOL_3_0, (
                f"'v' says newest version {newest >> 16}.{newest & 0xFFFF}; PostgreSQL sends 196608 (3.0)")
            assert unknown == []
            assert conn.startup_trace.index(b"v") < conn.startup_trace.index(b"R")
            assert len(conn.backend_key) == 8  # 3.0: Int32 pid + 4-byte key
        else:
            assert 4 <= len(conn.backend_key) - 4 <= 256
        assert conn.query("SELECT 1") == ([["1"]], b"I")


def test_unknown_protocol_option_is_negotiated(pgwarden):
    """An unknown _pq_. protocol option gets NegotiateProtocolVersion listing
    it (never minor 1, which is reserved) and the session proceeds."""
    with login(pgwarden, extra={"_pq_.pgwarden_probe": "1"}) as conn:
        assert conn.negotiate is not None, "no NegotiateProtocolVersion for an unknown _pq_ option"
        newest, unknown = conn.negotiate
        assert newest in (pgwire.PROTOCOL_3_0, pgwire.PROTOCOL_3_2), (
            f"'v' says newest version {newest >> 16}.{newest & 0xFFFF}; PostgreSQL sends 196608 (3.0)")
        assert unknown == ["_pq_.pgwarden_probe"]
        assert conn.query("SELECT 1") == ([["1"]], b"I")


def test_protocol_major_4_is_refused_0A000(pgwarden):
    """A StartupMessage for protocol 4.0 gets FATAL 0A000 (feature not
    supported), as from PostgreSQL, and a close."""
    with open_raw(pgwarden) as conn:
        conn.send(pgwire.startup_packet({"user": "acme", "database": "analytics"}, 4 << 16))
        assert_fatal_then_closed(conn, ("0A000",))


def test_startup_without_user_is_refused(pgwarden):
    """A StartupMessage without a user gets a FATAL error (PostgreSQL says
    28000 "no PostgreSQL user name specified") and a close."""
    with open_raw(pgwarden) as conn:
        conn.send(pgwire.startup_packet({"database": "analytics"}))
        assert_fatal_then_closed(conn, ("28000", "08P01"))


def test_cancel_request_with_unknown_key_is_dropped_silently(pgwarden):
    """A CancelRequest for a key pgwarden never issued gets no reply at all
    (the server never answers a canceller) and the connection is closed."""
    with open_raw(pgwarden) as conn:
        conn.send(struct.pack("!iiii", 16, pgwire.CANCEL_REQUEST, 12345, 67890))
        assert conn.read_until_closed(CLOSE_TIMEOUT) == b""
    assert_still_serving(pgwarden)
