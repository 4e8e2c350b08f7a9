"""node-pg (the `pg` package from the npm registry, pinned in
node/package.json) through pgwarden (issue 5, the client matrix):
parameterised queries, named prepared statements ({name, text, values}) and a
pg.Pool of more clients than pgwarden has server connections.

node/check.js runs the same work against pgwarden and straight against
PostgreSQL (as the role pgwarden logs in as) and prints JSON; every test here
compares the two. Backend pids are the only output that may differ.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

import harness

NODE_DIR = Path(__file__).resolve().parent / "node"
POOL_MAX = 5   # the fixture's [pool] max_size
CLIENTS = 12   # node-pg clients at once: more than POOL_MAX
ROUNDS = 10

# What npm prints when it cannot reach its registry (and only then do we skip).
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT",
                  "ENETUNREACH", "EHOSTUNREACH", "network request")


@pytest.fixture(scope="session")
def node_pg() -> Path:
    """`npm ci` into node/node_modules: the exact `pg` version in
    node/package-lock.json. Skips only when npm's registry is unreachable."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm must be on PATH (scripts/install-deps installs them)")
    p = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                       env=harness.clean_env(), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=600)
    if p.returncode != 0:
        symptoms = [line for line in p.stderr.splitlines()
                    if any(e in line for e in NETWORK_ERRORS)]
        if symptoms:
            pytest.skip("npm's registry is unreachable, so node-pg cannot be installed: "
                        + symptoms[0].strip())
        pytest.fail(f"npm ci failed ({p.returncode}):\n{p.stderr}")
    pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["pg"]
    installed = json.loads((NODE_DIR / "node_modules" / "pg" / "package.json").read_text())
    assert installed["version"] == pinned
    return NODE_DIR


def run_check(host: str, port: int, user: str, password: str, tag: str) -> dict:
    cfg = {"host": host, "port": port, "user": user, "database": "analytics",
           "clients": CLIENTS, "rounds": ROUNDS, "tag": tag}
    p = subprocess.run(["node", "check.js", json.dumps(cfg)], cwd=NODE_DIR,
                       env=harness.clean_env(CHECK_PASSWORD=password), capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=180)
    assert p.returncode == 0, f"node check.js against {host}:{port} as {user}:\n{p.stderr}"
    return json.loads(p.stdout)


def executions(pg: harness.PostgresCluster, tag: str) -> dict[str, int]:
    """How often the server executed the tagged statement, by statement name."""
    counts: dict[str, int] = {}
    for m in re.finditer(r"LOG:  execute (\S+): [^\n]*node-pg-check " + tag + r" ",
                         pg.logfile.read_text(errors="replace")):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


@pytest.fixture(scope="module")
def runs(node_pg, pgwarden, world) -> dict:
    """check.js once through pgwarden and once direct, each with its own tag."""
    pg = world.pg
    tags = {"via": "v" + uuid.uuid4().hex[:12], "direct": "d" + uuid.uuid4().hex[:12]}
    out = {
        "via": run_check(pgwarden.host, pgwarden.port, "acme", pgwarden.users["acme"], tags["via"]),
        "direct": run_check(pg.host, pg.port, "analyst", world.roles["analyst"], tags["direct"]),
    }
    out["tags"] = tags
    return out


def test_parameterised_queries_match_direct(runs):
    """Unnamed parameterised queries (ints, text with non-ASCII, numeric,
    NULL, int[], jsonb, dates, a join with GROUP BY) return through pgwarden
    what they return from PostgreSQL."""
    via, direct = runs["via"]["parameterised"], runs["direct"]["parameterised"]
    assert via[0] == [{"sum": 42}]
    assert via[3] == [{"is_null": True}]
    assert via == direct


def test_named_statements_match_direct_while_moving_between_servers(runs, pg):
    """Twelve node-pg clients at once, each parsing its two named statements
    once and then executing them every round: the results equal PostgreSQL's
    round for round, the clients' statements ran on several server
    connections (never more than the pool's five), and PostgreSQL executed
    the statement as a named prepared statement exactly as often as direct."""
    via, direct = runs["via"], runs["direct"]
    for w in range(CLIENTS):
        assert via["workers"][w]["loans"] == direct["workers"][w]["loans"], f"client {w}"
        assert via["workers"][w]["borrowers"] == direct["workers"][w]["borrowers"], f"client {w}"
    servers = {pid for pids in via["pids"] for pid in pids}
    assert 1 <= len(servers) <= POOL_MAX, servers
    moved = [w for w, pids in enumerate(via["pids"]) if len(set(pids)) > 1]
    assert moved, f"no client's named statement ever ran on a second server: {via['pids']}"
    # Each client: ROUNDS executions, plus one after the refused write.
    expected = CLIENTS * (ROUNDS + 1)
    direct_counts = harness.wait_until(
        lambda: (c := executions(pg, runs["tags"]["direct"])) and sum(c.values()) >= expected and c,
        10, "the direct run's executions in the server log")
    assert direct_counts == {"loans_by_status": expected}
    via_counts = harness.wait_until(
        lambda: (c := executions(pg, runs["tags"]["via"])) and sum(c.values()) >= expected and c,
        10, "the pgwarden run's executions in the server log")
    assert sum(via_counts.values()) == expected, via_counts
    assert "<unnamed>" not in via_counts, via_counts


def test_transaction_stays_on_one_server(runs):
    """BEGIN, two named-statement queries, COMMIT on one pool client: both
    queries ran on the same server connection and counted what direct counts."""
    for w, (v, d) in enumerate(zip(runs["via"]["workers"], runs["direct"]["workers"])):
        assert v["transactionOnOneServer"] is True, f"client {w}"
        assert v["transaction"] == d["transaction"], f"client {w}"


def test_refused_named_write_leaves_the_client_usable(runs):
    """A named statement that deletes is refused with 42501 (the guard;
    direct, the SELECT-only role's permission error) and the same client's
    named statement runs again right after, with the right result."""
    for w, (v, d) in enumerate(zip(runs["via"]["workers"], runs["direct"]["workers"])):
        assert d["refused"] == "42501"
        assert v["refused"] == "42501", f"client {w}"
        assert v["afterRefusal"] == d["afterRefusal"] == d["loans"][0], f"client {w}"
