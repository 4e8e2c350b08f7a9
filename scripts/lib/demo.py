"""The part of scripts/demo that runs after the build: a throwaway PostgreSQL
with the analytics schema, pgwarden in front of it, one real query through it.

Reuses the integration-test harness (tests/integration/harness.py), so the
demo starts PostgreSQL and pgwarden exactly as the tests do. Run with
/usr/bin/python3 (scripts/demo does).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))

import harness  # noqa: E402

TOP_BORROWERS = """\
SELECT b.full_name, b.country, count(*) AS active_loans,
       sum(l.principal - coalesce(p.paid, 0)) AS outstanding_eur
FROM borrowers b
JOIN loans l USING (borrower_id)
LEFT JOIN (SELECT loan_id, sum(amount) AS paid FROM payments GROUP BY loan_id) p USING (loan_id)
WHERE l.status = 'active'
GROUP BY b.borrower_id, b.full_name, b.country
ORDER BY outstanding_eur DESC
LIMIT 5"""


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def _interrupt(signum, frame):  # SIGTERM/SIGHUP stop the demo like Ctrl-C
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/demo")
    ap.add_argument("--once", action="store_true", help="stop right after the query")
    ap.add_argument("--bin", type=Path, default=None, help="pgwarden binary (default build/pgwarden)")
    args = ap.parse_args()
    # Ctrl-C even if our parent started us with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)

    pg = harness.PostgresCluster()
    daemon: harness.Pgwarden | None = None
    try:
        say("starting a throwaway PostgreSQL 15 ...")
        pg.start()
        analyst_password = pg.load_analytics("analytics", "analyst")
        say(f"PostgreSQL on {pg.host}:{pg.port}: database analytics (borrowers, loans, payments),"
            " read-only role analyst")

        daemon = harness.Pgwarden(args.bin)
        say("ENCRYPTION_KEY generated with `pgwarden keygen`")
        password = daemon.add_user("demo")
        daemon.add_connection("demo", "analytics", pg.url("analytics", "analyst", analyst_password))
        daemon.pool = {"min_size": 2, "max_size": 10, "acquire_timeout": 10}
        daemon.write_config()
        say(f"config {daemon.config_path}: user demo (SCRAM verifier from `pgwarden verifier`),"
            " connection analytics (encrypted with `pgwarden encrypt`)")
        daemon.start()
        say(f"pgwarden listening on {daemon.host}:{daemon.port}")

        say("psql through pgwarden: top 5 borrowers by outstanding balance")
        r = daemon.psql(TOP_BORROWERS, "demo", "analytics", tuples_only=False, unaligned=False)
        if not r.ok:
            say(f"the query failed: {r.stderr}")
            say("pgwarden log:\n" + daemon.log[-3000:])
            return 1
        print(r.stdout, flush=True)

        if args.once:
            return 0
        print(f"""
Connect by hand while the demo runs:

  PGPASSWORD='{password}' psql "host={daemon.host} port={daemon.port} user=demo dbname=analytics"

pgwarden log: {daemon.logfile}
Press Ctrl-C to stop pgwarden and PostgreSQL and remove their files.""", flush=True)
        daemon.proc.wait()
        say(f"pgwarden exited with {daemon.proc.returncode}:\n" + daemon.log[-3000:])
        return 1
    except KeyboardInterrupt:
        print(flush=True)
        return 0
    finally:
        say("stopping pgwarden and PostgreSQL")
        if daemon is not None:
            daemon.cleanup()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
