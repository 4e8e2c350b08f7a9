"""The shared PostgreSQL catalog store behind the admin API: the table is
exactly the data model and holds only Fernet tokens, two instances sharing it
learn of each other's changes within a second (LISTEN/NOTIFY), the schema
cache TTL, and a catalog outage (503, /healthz degraded) that heals by itself.

The API runs in admin_server_test_main (tests/integration/adminapi.py).
"""

from __future__ import annotations

import secrets
import time

import pytest
from cryptography.fernet import Fernet

import harness
from adminapi import AdminServer


@pytest.fixture(scope="session")
def key() -> str:
    return Fernet.generate_key().decode()


def body(world, name: str, user: str) -> dict:
    return {"user": user, "name": name, "host": world.pg.host, "port": world.pg.port,
            "database": "analytics", "username": "analyst", "password": world.roles["analyst"]}


def names(reply) -> list[str]:
    return [c["name"] for c in reply.json["connections"]]


def create(admin, world, name: str, user: str) -> str:
    r = admin.post("/api/connections", body(world, name, user))
    assert r.status == 201, r.text
    return r.json["connection_id"]


@pytest.fixture
def pg_catalog(pg):
    """A database for a shared PostgreSQL catalog, owned by its own role:
    (url, role, password)."""
    suffix = secrets.token_hex(4)
    role, db = f"catalog_owner_{suffix}", f"pgwarden_catalog_{suffix}"
    password = pg.create_role(role)
    pg.create_database(db, role)
    return pg.url(db, role, password), role, password


def test_postgresql_catalog_shared_by_two_instances(pg, world, key, pg_catalog):
    """Both stores behind one API: the table is exactly the data model, holds
    only tokens, and a second instance learns of changes within a second
    (LISTEN/NOTIFY)."""
    url, _, catalog_password = pg_catalog
    catalog_db = url.rsplit("/", 1)[1]
    catalog = f"url = {harness.toml_str(url)}\nschema_cache_ttl = 1"
    a, b = AdminServer(key, catalog=catalog), AdminServer(key, catalog=catalog)
    try:
        a.start()
        b.start()
        assert a.get("/healthz").json["catalog"] == {"kind": "postgresql", "ok": True}
        seen = b.hook_calls()["external_changes"]
        cid = create(a, world, "shared", "pguser")
        created_at = time.monotonic()
        harness.wait_until(lambda: b.hook_calls()["external_changes"] > seen, 5,
                           "instance b to hear of the change")
        assert time.monotonic() - created_at < 1.0
        assert names(b.get("/api/connections?user=pguser")) == ["shared"]
        assert a.hook_calls()["external_changes"] == 0  # its own write is not news

        q = lambda sql: pg.psql(sql, db=catalog_db)  # noqa: E731
        types = dict(line.split("|") for line in q(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'database_connections'").splitlines())
        assert types == {"id": "uuid", "user_id": "text", "name": "text",
                         "connection_string_encrypted": "bytea", "schema_cache": "jsonb",
                         "is_active": "boolean", "last_used": "timestamp with time zone",
                         "created_at": "timestamp with time zone",
                         "updated_at": "timestamp with time zone"}
        assert q("SELECT column_default FROM information_schema.columns WHERE "
                 "table_name = 'database_connections' AND column_name = 'id'") == \
            "gen_random_uuid()"
        assert q("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'u' AND "
                 "conrelid = 'database_connections'::regclass") == "UNIQUE (user_id, name)"
        assert q("SELECT version FROM pgwarden_schema_version") == "1"
        dump = q("SELECT row_to_json(c)::text FROM database_connections c")
        assert world.roles["analyst"] not in dump
        token = q(f"SELECT convert_from(connection_string_encrypted, 'UTF8') "
                  f"FROM database_connections WHERE id = '{cid}'")
        assert world.roles["analyst"] in Fernet(key.encode()).decrypt(token.encode()).decode()
        assert q(f"SELECT schema_cache->>'table_count' FROM database_connections "
                 f"WHERE id = '{cid}'") == "3"

        # The TTL (1 s) has passed: reading the schema introspects again.
        first = a.get(f"/api/connections/{cid}/schema").json["introspected_at"]
        time.sleep(1.2)
        again = a.get(f"/api/connections/{cid}/schema").json
        assert again["introspected_at"] > first and again["stale"] is False

        seen = a.hook_calls()["external_changes"]
        assert b.delete(f"/api/connections/{cid}").status == 200
        harness.wait_until(lambda: a.hook_calls()["external_changes"] > seen, 5,
                           "instance a to hear of the delete")
        assert a.get(f"/api/connections/{cid}").status == 404
        for server in (a, b):
            assert world.roles["analyst"] not in server.log
            assert catalog_password not in server.log
        # Restarting re-runs the migration check only.
        a.stop()
        a.start()
        assert a.get("/healthz").status == 200
    finally:
        a.cleanup()
        b.cleanup()


def test_postgresql_catalog_outage_is_503_then_recovers(pg, key, pg_catalog):
    """The catalog's server refusing pgwarden: API calls that need it get 503
    (no libpq text, no password), /healthz says degraded; both recover by
    themselves when the catalog is back."""
    url, role, password = pg_catalog
    server = AdminServer(key, catalog=f"url = {harness.toml_str(url)}")
    try:
        server.start()
        assert server.get("/api/connections").status == 200
        pg.psql(f"ALTER ROLE {role} NOLOGIN")
        pg.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        # The first call may only find the terminated session ("connection
        # lost"); the next ones reconnect and are refused by authentication.
        r = harness.wait_until(
            lambda: ((res := server.get("/api/users")).status == 503
                     and "Authentication failed" in server.log and res), 10,
            "a 503 while the catalog refuses us, with the kind logged")
        assert r.json == {"error": "The catalog is unavailable; try again later."}
        health = server.get("/healthz")
        assert health.status == 503 and health.json["status"] == "degraded"
        assert password not in server.log            # ... never the URL
        pg.psql(f"ALTER ROLE {role} LOGIN")
        harness.wait_until(lambda: server.get("/healthz").status == 200, 10, "healthz to recover")
        assert server.get("/api/users").status == 200
    finally:
        server.cleanup()
