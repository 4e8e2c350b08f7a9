"""The admin HTTP API against a real PostgreSQL 15: bearer tokens and request
limits, the connection lifecycle (create -> list -> test -> introspect ->
delete), every error row of the issue produced for real (closed port, wrong
password, a listener that never answers, a TLS-only server), the introspected
demo schema field by field, users, /metrics, credentials at rest in both
catalog stores, and changes between two instances sharing a PostgreSQL
catalog.

The API runs in admin_server_test_main (the admin server, a real catalog and
stub daemon hooks) until the daemon serves it itself.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import sqlite3
import stat
import time

import pytest
from cryptography.fernet import Fernet

import harness
from adminapi import AdminClient, AdminServer, make_ssl_only, scram_verifier, verifier_matches

UNABLE = "Unable to connect. Check host/port."
AUTH = "Authentication failed. Check credentials."
TIMEOUT = "Connection timed out. Server may be unreachable."
SSL = "SSL connection required by server."
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="session")
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def admin(world, key):
    """The API over a SQLite catalog, with a user and a connection (to the
    analytics database) declared in its configuration file."""
    pg = world.pg
    url = pg.url("analytics", "analyst", world.roles["analyst"])
    token = Fernet(key.encode()).encrypt(url.encode()).decode()
    extra = (f"[[users]]\nname = \"cfguser\"\npassword = \"{scram_verifier('cfg-pass')}\"\n\n"
             f"[[connections]]\nuser = \"cfguser\"\nname = \"cfgdb\"\n"
             f"connection_string_encrypted = \"{token}\"\n")
    server = AdminServer(key, extra_toml=extra)
    try:
        yield server.start()
        assert server.stop() == 0, server.log[-3000:]
    finally:
        server.cleanup()


def body(world, name: str, user: str = "acme", **override) -> dict:
    """A POST /api/connections body for the analytics database."""
    b = {"user": user, "name": name, "host": world.pg.host, "port": world.pg.port,
         "database": "analytics", "username": "analyst", "password": world.roles["analyst"]}
    b.update(override)
    return b


def names(reply) -> list[str]:
    return [c["name"] for c in reply.json["connections"]]


def create(admin, world, name: str, **override) -> str:
    r = admin.post("/api/connections", body(world, name, **override))
    assert r.status == 201, r.text
    return r.json["connection_id"]


# ---------------------------------------------------------------- transport


def test_every_request_needs_the_bearer_token(admin):
    """No header, another scheme, a wrong token of the same length: 401 with
    WWW-Authenticate, on every endpoint including /healthz and /metrics; the
    right token gets through. The token never appears in the log."""
    wrong = "0" * len(admin.token)
    for path in ("/healthz", "/metrics", "/api/connections", "/api/pools", "/api/users"):
        for kw in ({"token": None}, {"token": wrong}, {"headers": {"Authorization": "Basic eDp5"},
                                                       "token": None}):
            r = admin.get(path, **kw)
            assert r.status == 401, (path, kw, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "Bearer" in r.json["error"]
    r = admin.get("/healthz")
    assert r.status == 200
    assert r.json == {"status": "ok", "catalog": {"kind": "sqlite", "ok": True}}
    assert admin.token not in admin.log


def test_limits_and_malformed_requests_get_errors_not_crashes(admin):
    r = admin.post("/api/connections", raw=b'{"user": "acme", ')
    assert r.status == 400 and r.json["error"].startswith("malformed JSON"), r.text
    r = admin.post("/api/connections", raw=b"[1, 2, 3]")
    assert r.status == 400 and r.json["error"] == "request body must be a JSON object"
    r = admin.post("/api/connections", raw=b"{" * 100000)
    assert r.status == 400 and r.json["error"].startswith("malformed JSON")
    # A declared body over 1 MiB is refused from its headers alone (no body
    # is sent, so the early close cannot turn into a reset).
    with socket.create_connection((admin.host, admin.port), timeout=10) as s:
        s.sendall(f"POST /api/connections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  f"{admin.token}\r\nContent-Length: {2 << 20}\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 413")
    headers = {f"X-Filler-{i}": "y" for i in range(100)}
    assert admin.get("/healthz", headers=headers).status == 431
    r = admin.get("/api/nothing")
    assert r.status == 404 and r.json == {"error": "no such endpoint"}
    r = admin.request("PUT", "/api/connections")
    assert r.status == 405 and r.headers["allow"] == "GET, POST"
    r = admin.post("/api/connections", {"user": "acme", "name": "x", "host": "h",
                                        "database": "d", "username": "u", "sslmode": "disable"})
    assert r.status == 400 and r.json["error"] == 'unknown field "sslmode"'
    # Bytes that are not HTTP at all: 400, connection closed, server fine.
    with socket.create_connection((admin.host, admin.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00 not http\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 400")
    assert admin.get("/healthz").status == 200


# ---------------------------------------------------------------- lifecycle


def test_connection_lifecycle(admin, world, pg):
    """create -> list -> test -> introspect -> schema pages -> deactivate ->
    delete, each step telling the daemon (hook) when records change."""
    calls = admin.hook_calls()["connections_changed"]
    r = admin.post("/api/connections", body(world, "lifecycle"))
    assert r.status == 201, r.text
    created = r.json
    assert UUID.match(created["connection_id"])
    assert created["status"] == "connected"
    assert [t["name"] for t in created["schema"]["tables"]] == ["borrowers", "loans", "payments"]
    assert created["schema"]["total"] == 3
    cid = created["connection_id"]
    assert admin.hook_calls()["connections_changed"] == calls + 1

    listed = admin.get("/api/connections?user=acme").json["connections"]
    mine = [c for c in listed if c["id"] == cid]
    assert len(mine) == 1
    assert mine[0] | {"created_at": None, "updated_at": None} == {
        "id": cid, "user": "acme", "name": "lifecycle", "status": "active", "is_active": True,
        "table_count": 3, "last_used": None, "created_at": None, "updated_at": None,
        "source": "catalog", "read_only": False}

    r = admin.post(f"/api/connections/{cid}/test")
    assert r.status == 200, r.text
    assert r.json["success"] is True and r.json["rows"] == 1
    assert 0 < r.json["execution_time_ms"] < 5000
    r = admin.post(f"/api/connections/{cid}/test", {"query": "SELECT * FROM payments"})
    assert r.status == 200 and r.json["rows"] == 8000
    assert admin.get(f"/api/connections/{cid}").json["last_used"] is not None

    # The SELECT-only policy applies before anything reaches the server.
    r = admin.post(f"/api/connections/{cid}/test", {"query": "DELETE FROM payments"})
    assert r.status == 403 and r.json["success"] is False and r.json["error_kind"] == "denied"
    assert pg.psql("SELECT count(*) FROM payments", db="analytics") == "8000"
    r = admin.post(f"/api/connections/{cid}/test", {"query": "SELECT * FROM nope"})
    assert r.status == 400 and r.json["sqlstate"] == "42P01"
    assert r.json["error"] == 'relation "nope" does not exist'
    # Several statements cannot ride along (extended protocol: one statement).
    r = admin.post(f"/api/connections/{cid}/test", {"query": "SELECT 1; SELECT 2"})
    assert r.status == 400 and r.json["sqlstate"] == "42601"

    r = admin.post(f"/api/connections/{cid}/introspect")
    assert r.status == 200, r.text
    assert r.json["introspected_at"] >= created["schema"]["introspected_at"]
    assert r.json["schema"]["total"] == 3

    page = admin.get(f"/api/connections/{cid}/schema?limit=2").json
    assert [t["name"] for t in page["tables"]] == ["borrowers", "loans"]
    assert (page["offset"], page["limit"], page["total"], page["next_offset"]) == (0, 2, 3, 2)
    assert page["stale"] is False and page["functions"] == []
    page = admin.get(f"/api/connections/{cid}/schema?offset=2&limit=2").json
    assert [t["name"] for t in page["tables"]] == ["payments"]
    assert page["next_offset"] is None and "functions" not in page
    assert admin.get(f"/api/connections/{cid}/schema?limit=5000").status == 400

    r = admin.request("PATCH", f"/api/connections/{cid}", {"is_active": False})
    assert r.status == 200 and r.json["status"] == "inactive"
    assert admin.hook_calls()["connections_changed"] == calls + 2

    # A duplicate (user, name) is refused before any connection attempt:
    # even with a wrong password the answer is 409, not 401.
    r = admin.post("/api/connections", body(world, "lifecycle", password="wrong"))
    assert r.status == 409 and "exists" in r.json["error"]

    assert admin.delete(f"/api/connections/{cid}").json == {"success": True}
    assert admin.hook_calls()["connections_changed"] == calls + 3
    assert admin.get(f"/api/connections/{cid}").status == 404
    assert admin.delete(f"/api/connections/{cid}").status == 404
    assert "lifecycle" not in names(admin.get("/api/connections?user=acme"))
    assert admin.get("/api/connections/not-a-uuid").status == 404


# ---------------------------------------------------------------- error rows


@pytest.fixture
def blackhole():
    """A TCP listener that completes handshakes (backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((harness.LOOPBACK, 0))
        s.listen(16)
        yield s.getsockname()[1]


def check_failed(admin, r, status: int, error: str, user: str, secret: str) -> None:
    assert r.status == status, r.text
    assert r.json["connection_id"] is None and r.json["status"] == "failed"
    assert r.json["error"] == error
    assert secret not in r.text and secret not in admin.log
    assert admin.get(f"/api/connections?user={user}").json["connections"] == []


def test_closed_port_is_400(admin, world):
    r = admin.post("/api/connections", body(world, "db", user="err_refused", port=world.closed_port))
    check_failed(admin, r, 400, UNABLE, "err_refused", world.roles["analyst"])
    assert r.json["error_kind"] == "refused"


def test_wrong_password_is_401(admin, world):
    secret = world.wrong_upstream_password
    r = admin.post("/api/connections", body(world, "db", user="err_auth", password=secret))
    check_failed(admin, r, 401, AUTH, "err_auth", secret)


def test_listener_that_never_answers_is_504_after_5s(admin, world, blackhole):
    start = time.monotonic()
    r = admin.post("/api/connections", body(world, "db", user="err_timeout", port=blackhole))
    elapsed = time.monotonic() - start
    check_failed(admin, r, 504, TIMEOUT, "err_timeout", world.roles["analyst"])
    assert 4.5 <= elapsed < 12, elapsed


@pytest.fixture(scope="module")
def ssl_pg():
    """A second PostgreSQL with ssl = on and hostssl-only pg_hba.conf."""
    pg = harness.PostgresCluster()
    pg.start()
    try:
        make_ssl_only(pg)
        password = pg.create_role("tls_reader")
        pg.create_database("tls_db", "tls_reader")
        yield pg, password
    finally:
        pg.stop()


def test_ssl_only_server_is_400_with_hint(admin, ssl_pg):
    pg, password = ssl_pg
    b = {"user": "err_ssl", "name": "db", "host": pg.host, "port": pg.port, "database": "tls_db",
         "username": "tls_reader", "password": password, "ssl_mode": "disable"}
    r = admin.post("/api/connections", b)
    check_failed(admin, r, 400, SSL, "err_ssl", password)
    assert "ssl_mode=require" in r.json["hint"]
    # The same server is fine once TLS is asked for.
    r = admin.post("/api/connections", b | {"ssl_mode": "require"})
    assert r.status == 201 and r.json["status"] == "connected", r.text
    assert admin.delete(f"/api/connections/{r.json['connection_id']}").status == 200


# ---------------------------------------------------------------- introspection


def col(name, type_, description, nullable=False):
    return {"name": name, "type": type_, "nullable": nullable, "description": description}


DEMO_TABLES = [
    {"schema": "public", "name": "borrowers", "kind": "table", "selectable": True,
     "description": "People and companies that took out at least one loan.",
     "row_count_estimate": 500,
     "columns": [col("borrower_id", "integer", "Surrogate key of the borrower."),
                 col("full_name", "text", "Legal name as written on the loan agreement."),
                 col("email", "text", "Contact e-mail address; unique per borrower."),
                 col("country", "character(2)", "ISO 3166-1 alpha-2 country of residence."),
                 col("credit_score", "smallint",
                     "Credit score at onboarding, 300 (worst) to 850 (best)."),
                 col("created_at", "timestamp with time zone", "When the borrower was onboarded.")],
     "primary_key": ["borrower_id"], "foreign_keys": []},
    {"schema": "public", "name": "loans", "kind": "table", "selectable": True,
     "description": "One row per loan disbursed.", "row_count_estimate": 2000,
     "columns": [col("loan_id", "integer", "Surrogate key of the loan."),
                 col("borrower_id", "integer", "Borrower who owes the loan (borrowers.borrower_id)."),
                 col("principal", "numeric(12,2)", "Amount disbursed, in EUR."),
                 col("interest_rate", "numeric(5,4)",
                     "Nominal annual interest rate as a fraction (0.0725 = 7.25 %)."),
                 col("term_months", "smallint", "Agreed duration of the loan in months."),
                 col("status", "text", "active, paid_off or defaulted."),
                 col("originated_on", "date", "Date the money was disbursed.")],
     "primary_key": ["loan_id"],
     "foreign_keys": [{"name": "loans_borrower_id_fkey", "columns": ["borrower_id"],
                       "references": {"schema": "public", "table": "borrowers",
                                      "columns": ["borrower_id"]}}]},
    {"schema": "public", "name": "payments", "kind": "table", "selectable": True,
     "description": "Repayments received, one row per transfer.", "row_count_estimate": 8000,
     "columns": [col("payment_id", "integer", "Surrogate key of the payment."),
                 col("loan_id", "integer", "Loan the payment is booked against (loans.loan_id)."),
                 col("paid_on", "date", "Value date of the transfer."),
                 col("amount", "numeric(12,2)", "Amount received, in EUR.")],
     "primary_key": ["payment_id"],
     "foreign_keys": [{"name": "payments_loan_id_fkey", "columns": ["loan_id"],
                       "references": {"schema": "public", "table": "loans",
                                      "columns": ["loan_id"]}}]},
]


def test_demo_schema_field_by_field(admin):
    """The connection declared in the config file (read-only through the API)
    introspects to exactly sql/analytics.sql."""
    listed = admin.get("/api/connections?user=cfguser").json["connections"]
    assert [(c["name"], c["source"], c["read_only"]) for c in listed] == [("cfgdb", "config", True)]
    cid = listed[0]["id"]
    assert admin.delete(f"/api/connections/{cid}").status == 403
    r = admin.post(f"/api/connections/{cid}/introspect")
    assert r.status == 200, r.text
    schema = r.json["schema"]
    for expected, actual in zip(DEMO_TABLES, schema["tables"], strict=True):
        for field in expected:
            assert actual[field] == expected[field], (expected["name"], field)
        assert set(actual) == set(expected), expected["name"]
    assert schema["functions"] == []
    assert schema["database"] == "analytics"
    assert schema["server_version"].startswith("15.")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", schema["introspected_at"])
    # Cached now: the schema endpoint serves the same document.
    page = admin.get(f"/api/connections/{cid}/schema").json
    assert page["tables"] == schema["tables"] and page["stale"] is False
    assert page["introspected_at"] == r.json["introspected_at"]


GUARD_FACTS_SQL = """
CREATE SCHEMA util;
CREATE TABLE util.events (tenant int, seq int, note text, PRIMARY KEY (tenant, seq));
COMMENT ON COLUMN util.events.note IS 'free text';
CREATE TABLE public.refs (id int PRIMARY KEY, tenant int, seq int,
  FOREIGN KEY (tenant, seq) REFERENCES util.events);
CREATE VIEW public.v_refs AS SELECT id FROM public.refs;
CREATE MATERIALIZED VIEW public.m_refs AS SELECT id FROM public.refs;
CREATE TABLE public.measurements (at date NOT NULL, value float8) PARTITION BY RANGE (at);
CREATE TABLE public.measurements_2024 PARTITION OF public.measurements
  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE FUNCTION public.f_imm(x int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT x';
CREATE FUNCTION util.f_stable() RETURNS text STABLE LANGUAGE sql AS 'SELECT current_user::text';
CREATE FUNCTION public.f_vol() RETURNS int LANGUAGE sql AS 'SELECT 1';
"""


def test_kinds_keys_and_function_volatility(admin, pg):
    """Views, materialized views, a partitioned table (partitions left out),
    a composite key and a composite foreign key across schemas, and the
    function volatility facts the query guard needs."""
    password = pg.create_role("facts_reader")
    pg.create_database("facts", "facts_reader")
    pg.psql(GUARD_FACTS_SQL, db="facts", user="facts_reader", password=password)
    r = admin.post("/api/connections", {"user": "facts", "name": "facts", "host": pg.host,
                                        "port": pg.port, "database": "facts",
                                        "username": "facts_reader", "password": password})
    assert r.status == 201, r.text
    schema = r.json["schema"]
    by_name = {(t["schema"], t["name"]): t for t in schema["tables"]}
    assert list(by_name) == [("public", "m_refs"), ("public", "measurements"),
                             ("public", "refs"), ("public", "v_refs"), ("util", "events")]
    assert by_name[("public", "m_refs")]["kind"] == "materialized_view"
    assert by_name[("public", "measurements")]["kind"] == "partitioned_table"
    assert by_name[("public", "v_refs")]["kind"] == "view"
    assert by_name[("public", "v_refs")]["row_count_estimate"] is None
    assert by_name[("public", "refs")]["row_count_estimate"] is None  # never analysed
    assert by_name[("util", "events")]["primary_key"] == ["tenant", "seq"]
    assert by_name[("util", "events")]["columns"][2] == col("note", "text", "free text", True)
    assert by_name[("public", "refs")]["foreign_keys"] == [
        {"name": "refs_tenant_seq_fkey", "columns": ["tenant", "seq"],
         "references": {"schema": "util", "table": "events", "columns": ["tenant", "seq"]}}]
    functions = [(f["schema"], f["name"], f["arguments"], f["volatility"])
                 for f in schema["functions"]]
    assert functions == [("public", "f_imm", "x integer", "immutable"),
                         ("public", "f_vol", "", "volatile"),
                         ("util", "f_stable", "", "stable")]


def test_a_thousand_tables_of_twenty_columns(admin, pg, tmp_path):
    """Large schemas: one query per kind of fact keeps introspection fast;
    pages of 100 by default."""
    password = pg.create_role("wide_reader")
    pg.create_database("wide", "wide_reader")
    columns = ", ".join(f"c{i} integer" for i in range(19))
    ddl = "".join(f"CREATE TABLE t{n:04d} (id integer PRIMARY KEY, {columns});\n"
                  for n in range(1000))
    ddl_file = tmp_path / "wide.sql"
    ddl_file.write_text(ddl)
    ddl_file.chmod(0o644)
    pg.psql_file(ddl_file, "wide", user="wide_reader", password=password)
    r = admin.post("/api/connections", {"user": "wide", "name": "wide", "host": pg.host,
                                        "port": pg.port, "database": "wide",
                                        "username": "wide_reader", "password": password})
    assert r.status == 201, r.text
    cid = r.json["connection_id"]
    start = time.monotonic()
    r = admin.post(f"/api/connections/{cid}/introspect")
    wall = time.monotonic() - start
    assert r.status == 200
    schema = r.json["schema"]
    assert schema["total"] == 1000 and len(schema["tables"]) == 100 and schema["next_offset"] == 100
    assert all(len(t["columns"]) == 20 for t in schema["tables"])
    print(f"introspecting 1000 tables x 20 columns: {wall:.2f}s wall")
    assert wall < 10, wall
    last = admin.get(f"/api/connections/{cid}/schema?offset=900").json
    assert [t["name"] for t in last["tables"]][-1] == "t0999" and last["next_offset"] is None
    listed = admin.get("/api/connections?user=wide").json["connections"]
    assert listed[0]["table_count"] == 1000


# ---------------------------------------------------------------- users, metrics


def test_users_store_only_a_verifier(admin):
    password = harness.new_password()
    calls = admin.hook_calls()["users_changed"]
    r = admin.post("/api/users", {"name": "dora", "password": password})
    assert r.status == 201 and r.json["name"] == "dora", r.text
    assert admin.hook_calls()["users_changed"] == calls + 1
    assert admin.post("/api/users", {"name": "dora", "password": "x"}).status == 409
    assert admin.post("/api/users", {"name": "cfguser", "password": "x"}).status == 409
    with sqlite3.connect(admin.catalog_path) as db:
        (verifier,) = db.execute(
            "SELECT scram_verifier FROM pgwarden_users WHERE name = 'dora'").fetchone()
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert verifier_matches(verifier, password) and not verifier_matches(verifier, "other")
    assert password not in admin.log and password not in admin.get("/api/users").text
    assert admin.delete("/api/users/cfguser").status == 403
    assert admin.delete("/api/users/dora").json == {"success": True}
    assert admin.delete("/api/users/dora").status == 404


def test_metrics_are_prometheus_text(admin, world):
    admin.post("/api/connections", body(world, "m", user="metrics", port=world.closed_port))
    r = admin.get("/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    declared = {}
    for line in r.text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            declared[name] = kind
        elif line.startswith("# HELP "):
            continue
        else:
            sample = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
            assert sample, line
            family = re.sub(r"_(bucket|sum|count)$", "", sample.group(1))
            assert family in declared or sample.group(1) in declared, line
    assert declared["pgwarden_admin_requests_total"] == "counter"
    assert declared["pgwarden_admin_probe_duration_seconds"] == "histogram"
    assert 'pgwarden_admin_probe_failures_total{operation="validate",kind="refused"}' in r.text
    assert re.search(r'pgwarden_admin_probe_duration_seconds_bucket\{operation="validate",'
                     r'le="\+Inf"\} (\d+)', r.text)
    assert "pgwarden_stub_up 1" in r.text  # the data path's text is appended


# ---------------------------------------------------------------- at rest


def test_sqlite_catalog_holds_no_plaintext_password(admin, world, key):
    password = world.roles["analyst"]
    cid = create(admin, world, "at_rest", user="rest")
    raw = b"".join(p.read_bytes() for p in admin.catalog_path.parent.glob("catalog.db*"))
    assert password.encode() not in raw
    with sqlite3.connect(admin.catalog_path) as db:
        token, kind = db.execute(
            "SELECT connection_string_encrypted, typeof(connection_string_encrypted) "
            "FROM database_connections WHERE id = ?", (cid,)).fetchone()
    assert kind == "blob"
    assert password in Fernet(key.encode()).decrypt(bytes(token)).decode()
    mode = stat.S_IMODE(admin.catalog_path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    with sqlite3.connect(admin.catalog_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unix_socket_listener(key):
    server = AdminServer(key, unix=True)
    try:
        server.start()
        assert stat.S_IMODE(os.stat(server.unix_path).st_mode) == 0o600
        assert server.get("/healthz").json["status"] == "ok"
        assert server.get("/healthz", token=None).status == 401
    finally:
        server.cleanup()


def with_admin_socket(server: AdminServer, path) -> None:
    """Adds [admin] socket = path to the fixture's config (before start)."""
    config = server.config_path.read_text()
    server.config_path.write_text(
        config.replace("[admin]\n", f"[admin]\nsocket = {harness.toml_str(str(path))}\n", 1))


def test_admin_socket_is_a_second_listener_with_mode_0660(key):
    """[admin] socket: the same API on a Unix socket next to the TCP listener,
    mode 0660 whatever the umask (the service's group may connect; the token
    is still required). A stale socket left by a killed run is replaced, and
    the file is removed on shutdown."""
    server = AdminServer(key)
    path = server.dir / "run" / "admin.sock"
    path.parent.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # bound, never listening, closed: what a SIGKILL leaves
    stale.close()
    with_admin_socket(server, path)
    old_umask = os.umask(0o022)  # the fixture inherits it: bind alone would give 0755
    try:
        server.start()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o660, oct(os.lstat(path).st_mode)

        via_socket = AdminClient(token=server.token)
        via_socket.unix_path = str(path)
        for client in (server, via_socket):  # both listeners answer, same API
            assert client.get("/healthz").json["status"] == "ok"
            assert client.get("/healthz", token=None).status == 401
            r = client.get("/api/connections")
            assert r.status == 200, r.text
            assert "cfgdb" not in r.text  # this fixture declares no connections
        assert f"unix:{path}" in server.log

        assert server.stop() == 0, server.log[-3000:]
        assert not os.path.lexists(path), "the socket file outlived the server"
    finally:
        os.umask(old_umask)
        server.cleanup()


def test_admin_socket_leaves_files_that_are_not_its_own(key):
    """A regular file at the socket path is not removed: the server refuses to
    start, naming the path. And a socket that another instance bound at the
    path after this one (a rolling restart) survives this one's shutdown."""
    server = AdminServer(key)
    path = server.dir / "admin.sock"
    path.write_text("not a socket\n")
    with_admin_socket(server, path)
    try:
        with pytest.raises(RuntimeError, match=re.escape(f"unix:{path}")):
            server.start()
        assert path.read_text() == "not a socket\n"
    finally:
        server.cleanup()

    server = AdminServer(key)
    path = server.dir / "admin.sock"
    with_admin_socket(server, path)
    newer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.start()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        os.unlink(path)  # what the next instance does before binding its own
        newer.bind(str(path))
        newer.listen()
        assert server.stop() == 0, server.log[-3000:]
        assert stat.S_ISSOCK(os.lstat(path).st_mode), "the newer instance's socket was removed"
    finally:
        newer.close()
        server.cleanup()


# ---------------------------------------------------------------- the daemon


def test_full_cycle_through_the_daemon(world):
    """On the real daemon: create a connection and a user through the API,
    connect with psql through pgwarden at once (no restart), then delete and
    see new sessions refused. Skipped until pgwarden serves the admin API
    (daemon/admin/README-wiring.md)."""
    d = harness.Pgwarden()
    try:
        d.add_user("acme")
        d.port = harness.free_port()
        admin_port = harness.free_port()
        token = secrets.token_hex(24)
        (d.dir / "admin-token").write_text(token + "\n")
        d.config_path.write_text(
            d.render_config()
            + f"\n[admin]\nlisten = \"{harness.LOOPBACK}:{admin_port}\"\n"
            + f"token_file = {harness.toml_str(str(d.dir / 'admin-token'))}\n")
        d.start()
        try:
            harness.wait_until(lambda: harness.port_accepts(harness.LOOPBACK, admin_port), 5,
                               "the daemon's admin API")
        except TimeoutError:
            pytest.fail(f"pgwarden does not serve the admin API:\n{d.log}")
        api = AdminClient(port=admin_port, token=token)

        r = api.post("/api/connections", body(world, "via_api"))
        assert r.status == 201, r.text
        cid = r.json["connection_id"]
        ok = lambda user, db: d.psql("SELECT count(*) FROM loans", user, db)  # noqa: E731
        result = harness.wait_until(lambda: (res := ok("acme", "via_api")).ok and res, 5,
                                    "the new connection to serve clients")
        assert result.stdout == "2000"

        password = harness.new_password()
        assert api.post("/api/users", {"name": "newbie", "password": password}).status == 201
        assert api.post("/api/connections", body(world, "mine", user="newbie")).status == 201
        d.users["newbie"] = password
        result = harness.wait_until(lambda: (res := ok("newbie", "mine")).ok and res, 5,
                                    "the new user to log in")
        assert result.stdout == "2000"

        assert api.delete(f"/api/connections/{cid}").json == {"success": True}
        harness.wait_until(lambda: not ok("acme", "via_api").ok, 5,
                           "the deleted connection to refuse new sessions")
        for secret in (world.roles["analyst"], password, token):
            assert secret not in d.log

        # POST /api/reload re-reads the file as SIGHUP does: a good file is
        # applied (a new user and connection serve at once), a bad one is
        # refused with the loader's complaint and the running one kept.
        assert api.get("/api/reload").status == 405
        text = d.config_path.read_text()
        d.users["reloaded"] = harness.new_password()
        url = world.pg.url("analytics", "analyst", world.roles["analyst"])
        d.config_path.write_text(
            text + f"\n[[users]]\nname = \"reloaded\"\n"
            f"password = {harness.toml_str(d.verifier(d.users['reloaded']))}\n"
            f"[[connections]]\nuser = \"reloaded\"\nname = \"fresh\"\n"
            f"connection_string_encrypted = {harness.toml_str(d.encrypt(url))}\n")
        r = api.post("/api/reload", {})
        assert (r.status, r.json) == (200, {"status": "reloaded"}), r.text
        assert ok("reloaded", "fresh").stdout == "2000"
        d.config_path.write_text(text + "\n[[connections]]\nuser = \"ghost\"\nname = \"x\"\n"
                                 "connection_string_encrypted = \"x\"\n")
        r = api.post("/api/reload", {})
        assert r.status == 422, r.text
        assert r.json["error"].startswith("reload failed, keeping the running configuration: ")
        assert 'no [[users]] entry is named "ghost"' in r.json["error"]
        assert ok("reloaded", "fresh").ok
    finally:
        d.cleanup()
