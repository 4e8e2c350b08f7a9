"""Issue 8, hostile clients: connection floods, slowloris, garbage after
authentication, tenants reaching for each other's connections, and secrets
in logs and API answers. Every attack asserts what the attacker gets AND that
another session or tenant keeps being served.

Not repeated here (already proven elsewhere, see docs/RELIABILITY.md):
garbage first packets, message length below 4, a ~1 GiB message and an unknown
message type (test_protocol_edge.py), Bind/Describe of an unknown statement
alone (test_pooling_protocol.py), a single CancelRequest with an unknown or
wrong key (test_protocol_edge.py, test_pooling_protocol.py).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time

import pytest

import adminapi
import faultkit
import harness
import pgwire
from faultkit import login
from pgwire import cstr, message

MAX_CLIENTS = 4   # [server] max_client_connections of the strict daemon
AUTH_TIMEOUT = 2  # [server] auth_timeout of the strict daemon, seconds

VAULT = faultkit.LogVault()


@pytest.fixture(scope="module")
def hostile(world):
    """pgwarden with the world's tenants (acme, tenant_a, tenant_b, as in
    conftest.py) and its admin API on a loopback port with a bearer token."""
    pg, r = world.pg, world.roles
    d = harness.Pgwarden()
    try:
        for user in ("acme", "tenant_a", "tenant_b"):
            d.add_user(user)
        d.add_connection("acme", "analytics", pg.url("analytics", "analyst", r["analyst"]))
        for t in ("a", "b"):
            url = pg.url(f"tenant_{t}_db", f"tenant_{t}", r[f"tenant_{t}"])
            d.add_connection(f"tenant_{t}", f"tenant_{t}_db", url)
            d.add_connection(f"tenant_{t}", "reports", url)
        d.audit = "all"
        d.write_config()
        port, token = faultkit.enable_admin(d)
        d.start()
        d.admin = adminapi.AdminClient(port=port, token=token)
        harness.wait_until(lambda: harness.port_accepts(d.host, port), 15, "the admin API")
        VAULT.watch("hostile", d.dir)
        yield d
    finally:
        VAULT.keep("hostile", d.dir)
        d.cleanup()


@pytest.fixture(scope="module")
def strict(world):
    """pgwarden admitting MAX_CLIENTS clients, each with AUTH_TIMEOUT seconds
    to finish startup and authentication."""
    d = harness.Pgwarden()
    try:
        d.add_user("acme")
        d.add_connection("acme", "analytics",
                         world.pg.url("analytics", "analyst", world.roles["analyst"]))
        d.server_settings.update(max_client_connections=MAX_CLIENTS, auth_timeout=AUTH_TIMEOUT)
        d.write_config()
        d.start()
        VAULT.watch("strict", d.dir)
        yield d
    finally:
        VAULT.keep("strict", d.dir)
        d.cleanup()


@pytest.fixture(autouse=True)
def daemons_survive(request):
    yield from faultkit.daemons_survive(request, ("hostile", "strict"))


def fatal_then_closed(conn: pgwire.RawConnection, timeout: float = 10) -> dict[str, str]:
    """The one FATAL the server sends before closing (fails on silence or no error)."""
    data = conn.read_until_closed(timeout)
    errors = [pgwire.parse_fields(b) for k, b in pgwire.split_messages(data) if k == b"E"]
    assert errors, f"closed without an ErrorResponse: {data!r}"
    assert errors[-1].get("S") == "FATAL", errors[-1]
    return errors[-1]


def logs_in(pgw: harness.Pgwarden) -> bool:
    try:
        with login(pgw, "analytics", timeout=10) as conn:
            return conn.query("SELECT 1")[0] == [["1"]]
    except (pgwire.ServerError, pgwire.Closed, OSError):
        return False


# --------------------------------------------------------------------------
# Connection flood


def test_connection_flood_past_max_client_connections(strict):
    """With max_client_connections = 4 and four sessions open, six more
    clients each get FATAL 53300 and a close; the four go on working; when
    one leaves, a newcomer is admitted."""
    held = [login(strict, "analytics") for _ in range(MAX_CLIENTS)]
    try:
        for _ in range(6):
            with pgwire.RawConnection(strict.host, strict.port, timeout=10) as extra:
                extra.send(pgwire.startup_packet({"user": "acme", "database": "analytics"}))
                err = fatal_then_closed(extra)
                assert err.get("C") == "53300", err
        for conn in held:
            assert conn.query("SELECT count(*) FROM loans") == ([["2000"]], b"I")
        held.pop().close()
        harness.wait_until(lambda: logs_in(strict), 5, "a slot to free up")
    finally:
        for conn in held:
            conn.close()


# --------------------------------------------------------------------------
# Slowloris


def test_slowloris_startup_dribbled_byte_by_byte(strict):
    """A startup packet sent one byte every 0.3 s (it would take ~12 s) is cut
    off by auth_timeout (2 s); a normal client logs in meanwhile."""
    packet = pgwire.startup_packet({"user": "acme", "database": "analytics"})
    sock = socket.create_connection((strict.host, strict.port), timeout=10)
    started = time.monotonic()
    closed_after = None
    try:
        for i in range(len(packet)):
            try:
                sock.send(packet[i:i + 1])
            except OSError:
                closed_after = time.monotonic() - started
                break
            if i == 2:
                assert logs_in(strict), "a normal client was refused while the slowloris dribbled"
            readable, _, _ = select.select([sock], [], [], 0.3)  # the dribble's pace
            if readable:
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                assert data == b"" or data[:1] == b"E", data
                closed_after = time.monotonic() - started
                break
    finally:
        sock.close()
    assert closed_after is not None, "the whole packet was dribbled in without being cut off"
    assert AUTH_TIMEOUT * 0.8 <= closed_after < AUTH_TIMEOUT + 3, closed_after
    assert logs_in(strict)


def test_slowloris_scram_exchange_stops_halfway(strict):
    """A client that sends its SCRAM client-first message and then nothing is
    closed after auth_timeout (2 s); its slot is freed (MAX_CLIENTS clients
    can log in afterwards) and a normal client logs in meanwhile."""
    with pgwire.RawConnection(strict.host, strict.port, timeout=10) as conn:
        started = time.monotonic()
        conn.send(pgwire.startup_packet({"user": "acme", "database": "analytics"}))
        kind, body = conn.read_message()
        assert kind == b"R" and struct.unpack("!i", body[:4])[0] == 10, (kind, body)
        first = b"n,,n=,r=" + os.urandom(18).hex().encode()
        conn.send(message(b"p", cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first))
        kind, body = conn.read_message()
        assert kind == b"R" and struct.unpack("!i", body[:4])[0] == 11, (kind, body)
        assert logs_in(strict)
        conn.read_until_closed(AUTH_TIMEOUT + 5)
        elapsed = time.monotonic() - started
    assert AUTH_TIMEOUT * 0.8 <= elapsed < AUTH_TIMEOUT + 3, elapsed
    held = []
    try:
        for _ in range(MAX_CLIENTS):
            held.append(harness.wait_until(lambda: _try_login(strict), 5, "a free slot"))
    finally:
        for conn in held:
            conn.close()


def _try_login(pgw: harness.Pgwarden):
    try:
        return login(pgw, "analytics", timeout=10)
    except (pgwire.ServerError, pgwire.Closed, OSError):
        return None


# --------------------------------------------------------------------------
# Garbage after authentication (and at the door)


def bind(portal: str, statement: str) -> bytes:
    return message(b"B", cstr(portal) + cstr(statement) + struct.pack("!hhh", 0, 0, 0))


def execute(portal: str) -> bytes:
    return message(b"E", cstr(portal) + struct.pack("!i", 0))


SYNC = message(b"S")


def attack_length_2gib(pgw):
    """A Query announcing 2 GiB - 1 bytes: FATAL 08P01/54000 at once, no waiting for the body."""
    with login(pgw, "analytics") as conn:
        conn.send(b"Q" + struct.pack("!I", 0x7FFFFFFF))
        assert fatal_then_closed(conn).get("C") in ("08P01", "54000")


def attack_negative_length(pgw):
    """A Parse whose length word has the sign bit set (0x80000000; negative
    as PostgreSQL's Int32, 2 GiB unsigned): FATAL 08P01 (malformed) or 54000
    (too large), at once."""
    with login(pgw, "analytics") as conn:
        conn.send(b"P" + struct.pack("!I", 0x80000000))
        assert fatal_then_closed(conn).get("C") in ("08P01", "54000")


def attack_bind_unknown_statement(pgw):
    """Bind of a statement never parsed: ERROR 26000, ReadyForQuery, the session goes on."""
    with login(pgw, "analytics") as conn:
        conn.send(bind("", "never_parsed") + execute("") + SYNC)
        answer = faultkit.read_reply(conn, "Bind of an unknown statement")
        assert [k for k, _ in answer] == [b"E", b"Z"], answer
        assert faultkit.errors_in(answer)[0].get("C") == "26000"
        assert conn.query("SELECT 7")[0] == [["7"]]


def attack_execute_before_parse(pgw):
    """Execute of the unnamed portal with no Parse/Bind before it: ERROR 34000
    (as PostgreSQL: portal "" does not exist), ReadyForQuery, the session goes on."""
    with login(pgw, "analytics") as conn:
        conn.send(execute("") + SYNC)
        answer = faultkit.read_reply(conn, "Execute before Parse/Bind")
        assert [k for k, _ in answer] == [b"E", b"Z"], answer
        err = faultkit.errors_in(answer)[0]
        assert err.get("C") == "34000" and err.get("S") == "ERROR", err
        assert conn.query("SELECT 7")[0] == [["7"]]


def attack_execute_unknown_portal(pgw):
    """Execute of a named portal never bound: ERROR 34000, the session goes on."""
    with login(pgw, "analytics") as conn:
        conn.send(execute("no_such_portal") + SYNC)
        answer = faultkit.read_reply(conn, "Execute of an unknown portal")
        err = faultkit.errors_in(answer)[0]
        assert err.get("C") == "34000", err
        assert conn.query("SELECT 7")[0] == [["7"]]


def attack_protocol_v2_startup(pgw):
    """A protocol 2.0 StartupPacket (fixed 296 bytes): FATAL 0A000 naming the
    protocol, and a close."""
    v2 = (struct.pack("!ii", 296, 2 << 16) + b"analytics".ljust(64, b"\0")
          + b"acme".ljust(32, b"\0") + b"\0" * (64 * 3))
    with pgwire.RawConnection(pgw.host, pgw.port, timeout=10) as conn:
        conn.send(v2)
        err = fatal_then_closed(conn)
        assert err.get("C") == "0A000", err
        assert "protocol" in err.get("M", "").lower(), err


def attack_forged_cancel_burst(pgw):
    """200 CancelRequests carrying a running session's pid and random keys:
    each closed without a reply, and the statement runs to its result."""
    with login(pgw, "analytics") as conn:
        pid = struct.unpack("!I", conn.backend_key[:4])[0]
        conn.send(faultkit.query_message("SELECT count(*) FROM generate_series(1, 20000000)"))
        for _ in range(200):
            with pgwire.RawConnection(pgw.host, pgw.port, timeout=10) as forger:
                forger.send(struct.pack("!iiI", 16, pgwire.CANCEL_REQUEST, pid) + os.urandom(4))
                assert forger.read_until_closed(10) == b""
        rows, status = conn.read_results()
        assert rows == [["20000000"]] and status == b"I"


def attack_cancel_truncated(pgw):
    """A CancelRequest whose length (12) leaves no room for the key: closed, no reply."""
    with pgwire.RawConnection(pgw.host, pgw.port, timeout=10) as conn:
        conn.send(struct.pack("!iii", 12, pgwire.CANCEL_REQUEST, 1234))
        data = conn.read_until_closed(10)
        assert data == b"" or [k for k, _ in pgwire.split_messages(data)] == [b"E"], data


ATTACKS = {f.__name__.removeprefix("attack_"): f for f in (
    attack_length_2gib, attack_negative_length, attack_bind_unknown_statement,
    attack_execute_before_parse, attack_execute_unknown_portal, attack_protocol_v2_startup,
    attack_forged_cancel_burst, attack_cancel_truncated)}


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
def test_garbage_gets_the_right_error_and_nobody_notices(hostile, attack):
    """Each hostile input gets its error (and close, where the framing is
    lost), while another tenant's session, inside a transaction with a
    SET LOCAL marker, keeps its transaction, its marker and its server, and a
    new client logs in."""
    with login(hostile, "tenant_b_db", user="tenant_b") as witness:
        witness.query("BEGIN")
        witness.query("SET LOCAL extra_float_digits = -5")
        (pid,), = witness.query("SELECT pg_backend_pid()")[0]

        ATTACKS[attack](hostile)

        rows, status = witness.query("SELECT current_setting('extra_float_digits'), pg_backend_pid()")
        assert rows == [["-5", pid]] and status == b"T", (rows, status)
        assert witness.query("COMMIT")[1] == b"I"
    assert logs_in(hostile)


# --------------------------------------------------------------------------
# Tenant isolation


def login_error(pgw, user: str, db: str, **kw) -> dict[str, str] | None:
    """The FATAL fields (without F/L/R) a login gets; None if it logged in."""
    try:
        with login(pgw, db, user=user, **kw):
            return None
    except pgwire.ServerError as e:
        return {k: v for k, v in e.fields.items() if k not in "FLR"}


def same_as_unknown(err: dict[str, str] | None, name: str, unknown: dict[str, str]) -> bool:
    """err is the unknown-database error, but for `name` instead of "nosuchdb"."""
    if err is None:
        return False
    normalised = {k: v.replace(name, "nosuchdb") for k, v in err.items()}
    return normalised == unknown


B_NAME_TRICKS = ["TENANT_B_DB", "Tenant_b_db", '"tenant_b_db"', "tenant_b_db ", " tenant_b_db",
                 "tenant_b_db\t", "tenant_b_db;", "public.tenant_b_db", "tenant_b_db/reports"]


@pytest.mark.parametrize("name", B_NAME_TRICKS, ids=[repr(n) for n in B_NAME_TRICKS])
def test_tenant_cannot_reach_other_connection_by_name_trick(hostile, name):
    """tenant_a asking for tenant_b's connection under another spelling (case,
    quotes, spaces, qualification) gets exactly the error of a database that
    does not exist (so it learns nothing about B's names) and no session."""
    unknown = login_error(hostile, "tenant_a", "nosuchdb")
    assert unknown and unknown.get("S") == "FATAL", unknown
    err = login_error(hostile, "tenant_a", name)
    assert same_as_unknown(err, name, unknown), (err, unknown)


@pytest.mark.parametrize("name", ["Analytics", '"analytics"', "analytics "])
def test_connection_names_are_exact(hostile, name):
    """A user's own connection name in another spelling is not that connection."""
    unknown = login_error(hostile, "acme", "nosuchdb")
    assert same_as_unknown(login_error(hostile, "acme", name), name, unknown)


@pytest.mark.parametrize("name", ["tenant_b_db\0", "reports\0tenant_b_db", "tenant_b_db\0reports",
                                  "analytics\0tenant_b_db"])
def test_embedded_nul_never_crosses_tenants(hostile, world, name):
    """A database name with an embedded NUL (the packet then carries a stray
    key or terminator) is refused exactly as the same trick on a name nobody
    has (so it tells nothing about tenant_b), or at most lands in tenant_a's
    own database as tenant_a."""
    try:
        conn = login(hostile, name, user="tenant_a")
    except pgwire.ServerError as e:
        assert e.fields.get("S") == "FATAL", e.fields
        nobody = login_error(hostile, "tenant_a", name.replace("tenant_b_db", "nosuchdb"))
        assert same_as_unknown({k: v for k, v in e.fields.items() if k not in "FLR"},
                               "tenant_b_db", nobody), (e.fields, nobody)
        return
    with conn:
        rows, _ = conn.query("SELECT current_database(), current_user")
        assert rows == [["tenant_a_db", "tenant_a"]], rows
        with pytest.raises(pgwire.ServerError):
            conn.query("SELECT secret FROM secrets_b")


def test_tenant_cannot_reach_other_connection_by_id(hostile):
    """The admin API's id of tenant_b's connection, used as a database name by
    tenant_a, is just an unknown database."""
    r = hostile.admin.get("/api/connections")
    assert r.status == 200, r.text
    ids = {(c["user"], c["name"]): c["id"] for c in r.json["connections"]}
    unknown = login_error(hostile, "tenant_a", "nosuchdb")
    for key in (("tenant_b", "tenant_b_db"), ("tenant_b", "reports")):
        assert key in ids, ids
        err = login_error(hostile, "tenant_a", ids[key])
        assert same_as_unknown(err, ids[key], unknown), (key, err)


STARTUP_TRICKS = {
    "options_read_write": {"options": "-c default_transaction_read_only=off"},
    "options_role": {"options": "-c role=tenant_b"},
    "options_long_role": {"options": "--role=tenant_b"},
    "options_upper_case_key": {"OPTIONS": "-c default_transaction_read_only=off"},
    "read_only_param": {"default_transaction_read_only": "off"},
    "role_param": {"role": "tenant_b"},
    "session_authorization_param": {"session_authorization": "tenant_b"},
    "application_name_injection": {
        "application_name": "x'; SET default_transaction_read_only = off; SET ROLE tenant_b; SELECT '"},
    "application_name_backslash_injection": {
        "application_name": "x\\'; SET default_transaction_read_only = off; --"},
    "timezone_injection": {"TimeZone": "UTC'; SET default_transaction_read_only = off; SELECT '"},
    "datestyle_injection": {"DateStyle": "ISO'; SET ROLE tenant_b; SELECT '"},
}


@pytest.mark.parametrize("trick", STARTUP_TRICKS, ids=list(STARTUP_TRICKS))
def test_startup_parameters_never_reach_upstream(hostile, world, trick):
    """Startup `options` and parameters that would change the upstream
    session's role or read-only default, or smuggle SQL into the values
    pgwarden replays, are refused at login or have no effect: through
    pgwarden, default_transaction_read_only stays on, current_user and
    session_user stay tenant_a, and tenant_b's table stays out of reach."""
    try:
        conn = login(hostile, "tenant_a_db", user="tenant_a", extra=STARTUP_TRICKS[trick])
    except pgwire.ServerError as e:
        assert e.fields.get("S") == "FATAL", e.fields  # refused: never forwarded
        return
    with conn:
        for _ in range(3):  # a few leases: the parameter replay runs on each new server
            try:
                rows, _ = conn.query("SELECT current_setting('default_transaction_read_only'),"
                                     " current_user, session_user")
            except pgwire.ServerError as e:
                if e.fields.get("S") == "FATAL":
                    # The replayed value was refused upstream: pgwarden ends
                    # the session, as PostgreSQL refuses such a login.
                    assert e.fields.get("C", "").startswith("22"), e.fields
                    return
                continue  # a statement that fails changes nothing either
            assert rows == [["on", "tenant_a", "tenant_a"]], rows
        with pytest.raises(pgwire.ServerError):
            conn.query("SELECT secret FROM secrets_b")
    secret_b = world.tenant_secrets["secrets_b"]
    assert secret_b not in hostile.log


# --------------------------------------------------------------------------
# Must stay last: audits every log and API answer of this file.


def test_zz_no_secret_in_logs_api_or_metrics(hostile, strict, world):
    """After every attack above, no password (client, upstream, superuser),
    not the encryption key and not the admin token appears in any log the
    daemons wrote (daemon logs with their audit lines) nor in any admin API
    answer or the metrics."""
    secrets_used = {"admin token": hostile.admin.token,
                    "world superuser password": world.pg.superuser_password,
                    **{f"world role {r}": p for r, p in world.roles.items()}}
    for name, d in (("hostile", hostile), ("strict", strict)):
        secrets_used[f"{name} encryption key"] = d.encryption_key
        for user, password in d.users.items():
            secrets_used[f"{name} password of {user}"] = password
    answers, unanswered = {}, []
    for path in ("/healthz", "/api/connections", "/api/pools", "/api/clients", "/metrics",
                 "/api/users"):
        try:
            r = hostile.admin.get(path, timeout=15)
        except OSError as e:
            unanswered.append(f"GET {path}: {e!r} (daemon running: {hostile.running})")
            continue
        if r.status != 200:
            unanswered.append(f"GET {path}: {r.status} {r.text[:200]}")
        answers[f"GET {path}"] = r.text
    for kind, texts in (("log", VAULT.texts()), ("answer", answers)):
        assert texts and all(texts.values()), f"nothing to audit: {list(texts)}"
        found = faultkit.leaked(texts, secrets_used)
        assert not found, f"secrets in {kind}s: {found}"
    assert not unanswered, f"admin API answers that could not be audited: {unanswered}"
