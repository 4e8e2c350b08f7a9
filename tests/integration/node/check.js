// node-pg through one PostgreSQL endpoint (pgwarden or the server itself).
// tests/integration/test_node_pg.py runs it against both and compares the
// JSON printed on stdout; backend pids are printed apart ("pids") because they
// differ by nature.
//
// Usage: CHECK_PASSWORD=... node check.js '{"host": ..., "port": ..., "user": ...,
//            "database": ..., "clients": 12, "rounds": 10, "tag": "..."}'
// The tag goes into a comment of the named statement, so the test can find
// its executions in the server's statement log.
'use strict';

const pg = require('pg');

// Dates as PostgreSQL prints them, not as JavaScript Dates in the local zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);

const cfg = JSON.parse(process.argv[2]);
const WAIT_MS = 60000; // every await below is bounded by this

function bounded(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms: ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const pool = new pg.Pool({
  host: cfg.host,
  port: cfg.port,
  user: cfg.user,
  password: process.env.CHECK_PASSWORD,
  database: cfg.database,
  max: cfg.clients,
  connectionTimeoutMillis: 10000,
  query_timeout: WAIT_MS,
});

const STATUSES = ['active', 'paid_off', 'defaulted'];

// Parameterised queries (unnamed statements: Parse/Bind/Execute each time).
const PARAMETERISED = [
  { text: 'SELECT $1::int + $2::int AS sum', values: [40, 2] },
  { text: 'SELECT upper($1::text) AS s, length($1::text) AS n', values: ['zoë & ünïcode'] },
  { text: 'SELECT $1::numeric * 2 AS doubled', values: ['12345.678'] },
  { text: 'SELECT $1::text IS NULL AS is_null', values: [null] },
  { text: 'SELECT count(*)::int AS n FROM loans WHERE loan_id = ANY($1::int[])', values: [[1, 2, 3, 99999]] },
  { text: 'SELECT $1::jsonb -> $2 AS picked', values: [JSON.stringify({ a: { b: [1, 2] } }), 'a'] },
  {
    text: 'SELECT loan_id, principal, interest_rate, status, originated_on FROM loans'
      + ' WHERE borrower_id = $1 AND originated_on >= $2 ORDER BY loan_id',
    values: [8, '2021-06-01'],
  },
  {
    text: 'SELECT b.country, count(*)::int AS loans, sum(l.principal) AS total FROM loans l'
      + ' JOIN borrowers b USING (borrower_id) WHERE l.status = $1 GROUP BY 1 ORDER BY 1',
    values: ['defaulted'],
  },
];

function namedLoans(round, worker) {
  return {
    name: 'loans_by_status',
    // The generate_series term (always true) keeps each execution busy for
    // a few milliseconds, so a round's twelve executions overlap and need
    // several servers: pgwarden relays fast enough that twelve quick ones
    // arriving one after another can all run on the same server.
    text: 'SELECT pg_backend_pid() AS pid, count(*)::int AS n, sum(principal) AS total FROM loans'
      + ' WHERE status = $1 AND borrower_id <= $2'
      + ' AND (SELECT count(*) FROM generate_series(1, 50000)) > 0'
      + ` /* node-pg-check ${cfg.tag} */`,
    values: [STATUSES[(round + worker) % 3], 1 + ((worker * 37 + round * 11) % 500)],
  };
}

function namedBorrower(round, worker) {
  return {
    name: 'borrower',
    text: 'SELECT borrower_id, full_name, country, credit_score, created_at FROM borrowers'
      + ' WHERE borrower_id = $1',
    values: [1 + ((worker * 13 + round * 7) % 500)],
  };
}

function plain(rows) {
  return rows.map((r) => {
    const out = {};
    for (const [k, v] of Object.entries(r)) out[k] = v instanceof Date ? v.toISOString() : v;
    return out;
  });
}

async function main() {
  const out = { parameterised: [], workers: [], pids: [] };

  for (const q of PARAMETERISED) {
    const res = await bounded(pool.query(q), q.text);
    out.parameterised.push(plain(res.rows));
  }

  // One checked-out client per worker, all at once: more clients than
  // pgwarden has server connections. Rounds run in lockstep, so every round
  // all clients want a server at the same moment and each client's named
  // statements land on whichever server is free.
  const clients = await bounded(
    Promise.all(Array.from({ length: cfg.clients }, () => pool.connect())), 'pool.connect');
  const results = clients.map(() => ({ loans: [], borrowers: [] }));
  const pids = clients.map(() => []);
  for (let round = 0; round < cfg.rounds; round++) {
    await bounded(Promise.all(clients.map(async (c, w) => {
      const a = await c.query(namedLoans(round, w));
      pids[w].push(a.rows[0].pid);
      results[w].loans.push(`${a.rows[0].n}:${a.rows[0].total}`);
      const b = await c.query(namedBorrower(round, w));
      results[w].borrowers.push(plain(b.rows));
    })), `round ${round}`);
  }

  for (const [w, c] of clients.entries()) {
    // A transaction: its statements share one server connection.
    await c.query('BEGIN');
    const first = await c.query({ name: 'tx_pid', text: 'SELECT pg_backend_pid() AS pid, count(*)::int AS n FROM payments WHERE loan_id <= $1', values: [50 + w] });
    const second = await c.query({ name: 'tx_pid', text: 'SELECT pg_backend_pid() AS pid, count(*)::int AS n FROM payments WHERE loan_id <= $1', values: [60 + w] });
    await c.query('COMMIT');
    results[w].transaction = [first.rows[0].n, second.rows[0].n];
    results[w].transactionOnOneServer = first.rows[0].pid === second.rows[0].pid;

    // A named statement that writes is refused with 42501 (pgwarden's
    // guard, or the SELECT-only role when direct) and the client goes on.
    try {
      await c.query({ name: 'write', text: 'DELETE FROM loans WHERE loan_id = $1', values: [-1] });
      results[w].refused = 'no error';
    } catch (e) {
      results[w].refused = e.code;
    }
    const again = await c.query(namedLoans(0, w));
    results[w].afterRefusal = `${again.rows[0].n}:${again.rows[0].total}`;
    c.release();
  }
  out.workers = results;
  out.pids = pids;
  await bounded(pool.end(), 'pool.end');
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`node-pg check failed: ${e.code || ''} ${e.stack || e}\n`);
  process.exit(1);
});
