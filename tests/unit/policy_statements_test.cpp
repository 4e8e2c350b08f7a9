// Classifier cases for statement kinds (POLICY.md "Per statement"): queries,
// SELECT INTO and locking anywhere, data-modifying CTEs, EXPLAIN, transaction
// control, cursors, COPY, and everything that must be refused.
#define BOOST_TEST_MODULE policy_statements
#include "policy_cases.h"

using policy_test::allow;
using policy_test::Case;
using policy_test::check_cases;
using policy_test::deny;

// Proves ordinary read-only queries pass, including keywords used as names and
// statements hidden in strings and comments (never keyword-scanned).
BOOST_AUTO_TEST_CASE(queries_are_allowed) {
  static constexpr Case kCases[] = {
      allow("SELECT 1"),
      allow("select * from payments where amount > 10 order by id limit 5"),
      allow("TABLE payments"),
      allow("VALUES (1, 'a'), (2, 'b')"),
      allow("SELECT 1 UNION ALL SELECT 2 INTERSECT SELECT 3 EXCEPT SELECT 4"),
      allow("WITH t AS (SELECT 1 AS x) SELECT x FROM t"),
      allow("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) "
            "SELECT sum(n) FROM r"),
      allow("SELECT * FROM payments FOR READ ONLY"),
      allow("SELECT delete, update, insert FROM t"),
      allow("SELECT \"delete\", \"drop\" FROM \"insert\""),
      allow("SELECT 'DELETE FROM t; DROP TABLE x'"),
      allow("SELECT 1 -- ; DROP TABLE t"),
      allow("/* DELETE FROM t */ SELECT 1 /* nested /* DROP TABLE t; */ still comment */"),
      allow("SELECT $$; DELETE FROM t; $$"),
      allow("SELECT $body$ '; UPDATE t SET a = 1; $body$"),
      allow("SELECT E'\\'; DELETE FROM t; --'"),
      allow("SELECT 'x\\' , '; DELETE FROM t'"),
      allow("SELECT count(*) FILTER (WHERE x > 1) OVER (PARTITION BY y) FROM t"),
      allow("SELECT * FROM a JOIN b USING (id) LEFT JOIN LATERAL "
            "(SELECT * FROM c WHERE c.id = a.id LIMIT 1) l ON true"),
      allow("SELECT x FROM t GROUP BY GROUPING SETS ((x), ())"),
      allow("SELECT * FROM t TABLESAMPLE SYSTEM (10)"),
      allow("SELECT * FROM generate_series(1, 10) AS g(n)"),
      allow("SELECT * FROM ROWS FROM (generate_series(1, 2), unnest(ARRAY[1, 2]))"),
      allow("SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int PATH 'x')"),
      allow("SELECT * FROM json_to_record('{\"a\":1}') AS x(a int)"),
      allow("SELECT ARRAY(SELECT 1), EXISTS (SELECT 1), 1 IN (SELECT 1), 1 = ANY (SELECT 1)"),
      allow("SELECT CASE WHEN x THEN 1 ELSE 2 END, COALESCE(a, b), NULLIF(a, b), "
            "GREATEST(1, 2), LEAST(1, 2) FROM t"),
      allow("SELECT x::int, CAST(y AS text), z::timestamptz AT TIME ZONE 'UTC' FROM t"),
      allow("SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b DESC NULLS LAST"),
      allow("SELECT * FROM t WHERE x BETWEEN 1 AND 2 AND y LIKE 'a%' AND z ILIKE 'b' "
            "AND w IS DISTINCT FROM 1"),
      allow("SELECT * FROM t ORDER BY a OFFSET 10 ROWS FETCH FIRST 5 ROWS WITH TIES"),
      allow("SELECT 1; SELECT 2; SELECT 3"),
      allow("SELECT 1;;; SELECT 2;"),
      allow("(SELECT 1) UNION (SELECT 2) ORDER BY 1"),
      allow("SELECT $1::int, $2"),
  };
  check_cases(kCases);
}

// Proves SELECT INTO and row-locking clauses are found wherever the grammar
// puts them, including set-operation arms (larg/rarg, not wrapped) and
// subqueries.
BOOST_AUTO_TEST_CASE(select_into_and_locking_anywhere) {
  static constexpr Case kCases[] = {
      deny("SELECT * INTO new_t FROM t", "SELECT INTO is not allowed"),
      deny("SELECT 1 INTO TEMP x", "SELECT INTO"),
      deny("SELECT a INTO t FROM x UNION SELECT 1", "SELECT INTO"),
      deny("SELECT 1 UNION SELECT a INTO t FROM x", "SELECT INTO"),
      deny("SELECT 1 UNION ALL (SELECT 2 EXCEPT SELECT a INTO t FROM x)", "SELECT INTO"),
      deny("WITH w AS (SELECT 1) SELECT * INTO t FROM w", "SELECT INTO"),
      deny("SELECT * FROM (SELECT 1 INTO t) s", "SELECT INTO"),
      deny("SELECT * FROM t FOR UPDATE", "SELECT FOR UPDATE is not allowed"),
      deny("SELECT * FROM t FOR NO KEY UPDATE", "FOR NO KEY UPDATE"),
      deny("SELECT * FROM t FOR SHARE", "FOR SHARE"),
      deny("SELECT * FROM t FOR KEY SHARE", "FOR KEY SHARE"),
      deny("SELECT * FROM t FOR UPDATE NOWAIT", "FOR UPDATE"),
      deny("SELECT * FROM t FOR UPDATE SKIP LOCKED", "FOR UPDATE"),
      deny("SELECT * FROM t FOR UPDATE OF t", "FOR UPDATE"),
      deny("SELECT * FROM (SELECT * FROM t FOR UPDATE) s", "FOR UPDATE"),
      deny("SELECT * FROM t WHERE id IN (SELECT id FROM u FOR SHARE)", "FOR SHARE"),
      deny("WITH l AS (SELECT * FROM t FOR UPDATE) SELECT * FROM l", "FOR UPDATE"),
      deny("SELECT 1 UNION (SELECT 2 FROM t FOR UPDATE)", "FOR UPDATE"),
      deny("SELECT EXISTS (SELECT 1 FROM t FOR KEY SHARE)", "FOR KEY SHARE"),
      deny("(SELECT * FROM t) FOR UPDATE", "FOR UPDATE"),
      deny("SELECT * FROM t, LATERAL (SELECT * FROM u FOR NO KEY UPDATE) l", "FOR NO KEY UPDATE"),
  };
  check_cases(kCases);
}

// Proves data-modifying statements are refused at the top and at any depth
// inside a query (CTEs of subqueries, of CTEs, of sublinks).
BOOST_AUTO_TEST_CASE(dml_and_data_modifying_ctes) {
  static constexpr Case kCases[] = {
      deny("INSERT INTO t VALUES (1)", "INSERT is not allowed"),
      deny("INSERT INTO t SELECT * FROM s", "INSERT is not allowed"),
      deny("UPDATE t SET a = 1", "UPDATE is not allowed"),
      deny("DELETE FROM t", "DELETE is not allowed"),
      deny("DELETE FROM t WHERE id IN (SELECT 1)", "DELETE is not allowed"),
      deny("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE is not allowed"),
      deny("WITH x AS (SELECT 1) DELETE FROM t", "DELETE is not allowed"),
      deny("TRUNCATE t", "TRUNCATE is not allowed"),
      deny("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE in a WITH query"),
      deny("WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT 1", "INSERT in a WITH query"),
      deny("WITH u AS (UPDATE t SET a = 1 RETURNING a) SELECT a FROM u", "UPDATE in a WITH query"),
      deny("SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) s",
           "DELETE in a WITH query"),
      deny("SELECT (WITH u AS (UPDATE t SET a = 1 RETURNING a) SELECT a FROM u LIMIT 1)",
           "UPDATE in a WITH query"),
      deny("WITH a AS (WITH b AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM b) "
           "SELECT * FROM a",
           "INSERT in a WITH query"),
      deny("SELECT 1 WHERE EXISTS (SELECT * FROM (WITH d AS (DELETE FROM t RETURNING 1) "
           "SELECT * FROM d) x)",
           "DELETE in a WITH query"),
      deny("SELECT 1 UNION SELECT * FROM (WITH d AS (DELETE FROM t RETURNING 1) SELECT 1) s",
           "DELETE in a WITH query"),
      deny("SELECT 1; DELETE FROM t", "DELETE is not allowed"),
      deny("COMMIT; DELETE FROM t", "DELETE is not allowed"),
      deny("SHOW ALL; VACUUM", "VACUUM is not allowed"),
  };
  check_cases(kCases);
}

// Proves EXPLAIN is judged by the statement it explains, whatever the options.
BOOST_AUTO_TEST_CASE(explain_is_judged_by_its_statement) {
  static constexpr Case kCases[] = {
      allow("EXPLAIN SELECT 1"),
      allow("EXPLAIN ANALYZE SELECT * FROM t"),
      allow("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT 1"),
      allow("EXPLAIN VERBOSE WITH x AS (SELECT 1) SELECT * FROM x"),
      allow("EXPLAIN DECLARE c CURSOR FOR SELECT 1"),
      deny("EXPLAIN DELETE FROM t", "DELETE is not allowed"),
      deny("EXPLAIN ANALYZE DELETE FROM t", "DELETE is not allowed"),
      deny("EXPLAIN (ANALYZE) INSERT INTO t VALUES (1)", "INSERT is not allowed"),
      deny("EXPLAIN UPDATE t SET a = 1", "UPDATE is not allowed"),
      deny("EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", "CREATE TABLE AS is not allowed"),
      deny("EXPLAIN ANALYZE CREATE MATERIALIZED VIEW m AS SELECT 1", "CREATE MATERIALIZED VIEW"),
      deny("EXPLAIN ANALYZE REFRESH MATERIALIZED VIEW m", "REFRESH MATERIALIZED VIEW"),
      deny("EXPLAIN EXECUTE q", "EXECUTE is not allowed"),
      deny("EXPLAIN SELECT pg_sleep(10)", "function pg_sleep() is not allowed"),
      deny("EXPLAIN ANALYZE SELECT * INTO t FROM x", "SELECT INTO"),
      deny("EXPLAIN ANALYZE WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d",
           "DELETE in a WITH query"),
  };
  check_cases(kCases);
}

// Proves transaction control is allowed unless it would read-write or
// leave a prepared transaction behind.
BOOST_AUTO_TEST_CASE(transaction_control) {
  static constexpr Case kCases[] = {
      allow("BEGIN"),
      allow("BEGIN TRANSACTION"),
      allow("BEGIN WORK"),
      allow("BEGIN READ ONLY"),
      allow("BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE"),
      allow("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
      allow("BEGIN NOT DEFERRABLE"),
      allow("START TRANSACTION"),
      allow("START TRANSACTION READ ONLY"),
      allow("START TRANSACTION ISOLATION LEVEL REPEATABLE READ"),
      allow("COMMIT"),
      allow("END"),
      allow("COMMIT AND CHAIN"),
      allow("ROLLBACK"),
      allow("ABORT"),
      allow("SAVEPOINT s1"),
      allow("RELEASE SAVEPOINT s1"),
      allow("RELEASE s1"),
      allow("ROLLBACK TO SAVEPOINT s1"),
      allow("ROLLBACK TO s1"),
      allow("BEGIN; SELECT 1; COMMIT"),
      deny("BEGIN READ WRITE", "BEGIN READ WRITE is not allowed"),
      deny("START TRANSACTION READ WRITE", "START TRANSACTION READ WRITE is not allowed"),
      deny("BEGIN READ ONLY, READ WRITE", "BEGIN READ WRITE"),
      deny("BEGIN READ WRITE, READ ONLY", "BEGIN READ WRITE"),
      deny("BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE", "BEGIN READ WRITE"),
      deny("START TRANSACTION DEFERRABLE, READ WRITE", "START TRANSACTION READ WRITE"),
      deny("PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION is not allowed"),
      deny("COMMIT PREPARED 'x'", "COMMIT PREPARED is not allowed"),
      deny("ROLLBACK PREPARED 'x'", "ROLLBACK PREPARED is not allowed"),
      deny("BEGIN; UPDATE t SET a = 1; COMMIT", "UPDATE is not allowed"),
  };
  check_cases(kCases);
}

// Proves cursors over allowed queries and the session-housekeeping
// statements drivers send are allowed; cursors over refused queries are not.
BOOST_AUTO_TEST_CASE(cursors_and_session_housekeeping) {
  static constexpr Case kCases[] = {
      allow("DECLARE c CURSOR FOR SELECT * FROM t"),
      allow("DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT 1"),
      allow("DECLARE c BINARY NO SCROLL CURSOR WITHOUT HOLD FOR VALUES (1)"),
      allow("DECLARE c CURSOR FOR TABLE t"),
      allow("FETCH NEXT FROM c"),
      allow("FETCH 10 c"),
      allow("FETCH ALL IN c"),
      allow("FETCH BACKWARD 2 FROM c"),
      allow("MOVE LAST IN c"),
      allow("MOVE ABSOLUTE 5 FROM c"),
      allow("CLOSE c"),
      allow("CLOSE ALL"),
      allow("DEALLOCATE p"),
      allow("DEALLOCATE PREPARE p"),
      allow("DEALLOCATE ALL"),
      allow("DISCARD ALL"),
      allow("DISCARD PLANS"),
      allow("DISCARD SEQUENCES"),
      allow("DISCARD TEMP"),
      allow("UNLISTEN *"),
      allow("UNLISTEN chan"),
      allow("RESET ALL"),
      allow("SHOW ALL"),
      allow("SHOW search_path"),
      allow("SHOW TRANSACTION ISOLATION LEVEL"),
      allow("SHOW TIME ZONE"),
      deny("DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE", "FOR UPDATE"),
      deny("DECLARE c CURSOR FOR SELECT pg_sleep(1)", "pg_sleep()"),
      deny("DECLARE c CURSOR FOR WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d",
           "DELETE in a WITH query"),
      deny("DECLARE c CURSOR FOR SELECT * INTO x FROM t", "SELECT INTO"),
  };
  check_cases(kCases);
}

// Proves only COPY ... TO STDOUT of a table or an allowed query passes.
BOOST_AUTO_TEST_CASE(copy_to_stdout_only) {
  static constexpr Case kCases[] = {
      allow("COPY t TO STDOUT"),
      allow("COPY t (a, b) TO STDOUT WITH (FORMAT csv, HEADER)"),
      allow("COPY public.t TO STDOUT (FORMAT binary)"),
      allow("COPY (SELECT * FROM t WHERE a > 1) TO STDOUT"),
      allow("COPY (VALUES (1)) TO STDOUT"),
      allow("COPY (TABLE t) TO STDOUT WITH CSV HEADER"),
      deny("COPY t FROM STDIN", "COPY FROM is not allowed"),
      deny("COPY t FROM '/etc/passwd'", "COPY FROM is not allowed"),
      deny("COPY t FROM PROGRAM 'id'", "COPY FROM is not allowed"),
      deny("COPY t TO '/tmp/x'", "COPY to a server file is not allowed"),
      deny("COPY (SELECT 1) TO '/tmp/x'", "COPY to a server file"),
      deny("COPY t TO PROGRAM 'rm -rf /'", "COPY TO PROGRAM is not allowed"),
      deny("COPY (DELETE FROM t RETURNING *) TO STDOUT", "COPY of DELETE is not allowed"),
      deny("COPY (INSERT INTO t VALUES (1) RETURNING *) TO STDOUT", "COPY of INSERT"),
      deny("COPY (UPDATE t SET a = 1 RETURNING *) TO STDOUT", "COPY of UPDATE"),
      deny("COPY (SELECT pg_read_file('/etc/passwd')) TO STDOUT", "pg_read_file()"),
      deny("COPY (SELECT * FROM t FOR UPDATE) TO STDOUT", "FOR UPDATE"),
      deny("COPY (WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d) TO STDOUT",
           "DELETE in a WITH query"),
  };
  check_cases(kCases);
}

// Proves DDL, privileges, procedural code, server maintenance and every other
// statement kind is refused, named as the user wrote it.
BOOST_AUTO_TEST_CASE(everything_else_is_refused) {
  static constexpr Case kCases[] = {
      deny("CREATE TABLE x (a int)", "CREATE TABLE is not allowed"),
      deny("CREATE TEMP TABLE x (a int)", "CREATE TABLE"),
      deny("CREATE TABLE t2 (LIKE t)", "CREATE TABLE"),
      deny("CREATE TABLE x AS SELECT 1", "CREATE TABLE AS is not allowed"),
      deny("CREATE MATERIALIZED VIEW m AS SELECT 1", "CREATE MATERIALIZED VIEW is not allowed"),
      deny("REFRESH MATERIALIZED VIEW m", "REFRESH MATERIALIZED VIEW"),
      deny("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
      deny("CREATE OR REPLACE VIEW v AS SELECT 1", "CREATE VIEW"),
      deny("CREATE INDEX ON t (a)", "CREATE INDEX"),
      deny("DROP TABLE t", "DROP TABLE is not allowed"),
      deny("DROP VIEW v", "DROP VIEW"),
      deny("DROP MATERIALIZED VIEW m", "DROP MATERIALIZED VIEW"),
      deny("DROP FUNCTION f()", "DROP FUNCTION"),
      deny("DROP SCHEMA s CASCADE", "DROP SCHEMA"),
      deny("DROP EXTENSION e", "DROP EXTENSION"),
      deny("ALTER TABLE t ADD COLUMN b int", "ALTER TABLE"),
      deny("ALTER TABLE t RENAME TO u", "ALTER TABLE"),
      deny("ALTER TABLE t OWNER TO r", "ALTER TABLE"),
      deny("ALTER TABLE t SET SCHEMA s", "ALTER TABLE"),
      deny("ALTER INDEX i RENAME TO j", "ALTER INDEX"),
      deny("ALTER FUNCTION f() OWNER TO r", "ALTER FUNCTION"),
      deny("ALTER TYPE ty ADD VALUE 'b'", "ALTER TYPE"),
      deny("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION"),
      deny("CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1'", "CREATE PROCEDURE"),
      deny("CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", "CREATE RULE"),
      deny("CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
           "CREATE TRIGGER"),
      deny("CREATE EVENT TRIGGER et ON ddl_command_start EXECUTE FUNCTION f()",
           "CREATE EVENT TRIGGER"),
      deny("CREATE SCHEMA s", "CREATE SCHEMA"),
      deny("CREATE EXTENSION dblink", "CREATE EXTENSION"),
      deny("ALTER EXTENSION e UPDATE", "ALTER EXTENSION"),
      deny("CREATE ROLE r", "CREATE ROLE"),
      deny("CREATE USER u", "CREATE USER"),
      deny("ALTER ROLE r SUPERUSER", "ALTER ROLE"),
      deny("ALTER ROLE r SET default_transaction_read_only = off", "ALTER ROLE"),
      deny("DROP ROLE r", "DROP ROLE"),
      deny("CREATE DATABASE d", "CREATE DATABASE"),
      deny("DROP DATABASE d", "DROP DATABASE"),
      deny("ALTER DATABASE d SET default_transaction_read_only = off", "ALTER DATABASE"),
      deny("CREATE SEQUENCE s", "CREATE SEQUENCE"),
      deny("ALTER SEQUENCE s RESTART", "ALTER SEQUENCE"),
      deny("CREATE TYPE ty AS ENUM ('a')", "CREATE TYPE"),
      deny("CREATE TYPE ty AS (a int)", "CREATE TYPE"),
      deny("CREATE DOMAIN d AS int", "CREATE DOMAIN"),
      deny("CREATE AGGREGATE a (int) (sfunc = int4pl, stype = int)", "CREATE AGGREGATE"),
      deny("CREATE OPERATOR === (leftarg = int, rightarg = int, function = int4eq)",
           "CREATE OPERATOR"),
      deny("CREATE CAST (int AS text) WITH FUNCTION f(int)", "CREATE CAST"),
      deny("CREATE COLLATION c (locale = 'C')", "CREATE COLLATION"),
      deny("CREATE CONVERSION c FOR 'LATIN1' TO 'UTF8' FROM f", "CREATE CONVERSION"),
      deny("CREATE TEXT SEARCH CONFIGURATION c (PARSER = default)",
           "CREATE TEXT SEARCH CONFIGURATION"),
      deny("ALTER TEXT SEARCH DICTIONARY d (x = 1)", "ALTER TEXT SEARCH DICTIONARY"),
      deny("CREATE ACCESS METHOD am TYPE INDEX HANDLER h", "CREATE ACCESS METHOD"),
      deny("CREATE FOREIGN TABLE ft (a int) SERVER s", "CREATE FOREIGN TABLE"),
      deny("CREATE SERVER s FOREIGN DATA WRAPPER w", "CREATE SERVER"),
      deny("CREATE USER MAPPING FOR u SERVER s", "CREATE USER MAPPING"),
      deny("IMPORT FOREIGN SCHEMA a FROM SERVER s INTO b", "IMPORT FOREIGN SCHEMA"),
      deny("CREATE POLICY p ON t USING (true)", "CREATE POLICY"),
      deny("CREATE PUBLICATION p FOR ALL TABLES", "CREATE PUBLICATION"),
      deny("ALTER PUBLICATION p ADD TABLE t", "ALTER PUBLICATION"),
      deny("CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p", "CREATE SUBSCRIPTION"),
      deny("ALTER SUBSCRIPTION s DISABLE", "ALTER SUBSCRIPTION"),
      deny("DROP SUBSCRIPTION s", "DROP SUBSCRIPTION"),
      deny("CREATE STATISTICS st ON a, b FROM t", "CREATE STATISTICS"),
      deny("CREATE TABLESPACE ts LOCATION '/x'", "CREATE TABLESPACE"),
      deny("CREATE LANGUAGE plsample HANDLER plsample_call_handler", "CREATE LANGUAGE"),
      // PostgreSQL turns CREATE LANGUAGE without a handler into CREATE EXTENSION.
      deny("CREATE LANGUAGE plperlu", "CREATE EXTENSION"),
      deny("DROP TABLESPACE ts", "DROP TABLESPACE"),
      deny("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r", "ALTER DEFAULT PRIVILEGES"),
      deny("ALTER SYSTEM SET work_mem = '1GB'", "ALTER SYSTEM"),
      deny("DROP OWNED BY r", "DROP OWNED"),
      deny("REASSIGN OWNED BY a TO b", "REASSIGN OWNED"),
      deny("COMMENT ON TABLE t IS 'x'", "COMMENT ON"),
      deny("SECURITY LABEL ON TABLE t IS 'x'", "SECURITY LABEL"),
      deny("GRANT SELECT ON t TO r", "GRANT is not allowed"),
      deny("REVOKE SELECT ON t FROM r", "REVOKE is not allowed"),
      deny("GRANT r TO u", "GRANT"),
      deny("DO $$BEGIN DELETE FROM t; END$$", "DO is not allowed"),
      deny("CALL p()", "CALL is not allowed"),
      deny("PREPARE q AS SELECT 1", "PREPARE is not allowed"),
      deny("EXECUTE q", "EXECUTE is not allowed"),
      deny("LISTEN chan", "LISTEN is not allowed"),
      deny("NOTIFY chan", "NOTIFY is not allowed"),
      deny("NOTIFY chan, 'payload'", "NOTIFY"),
      deny("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "LOCK is not allowed"),
      deny("VACUUM t", "VACUUM is not allowed"),
      deny("VACUUM FULL", "VACUUM"),
      deny("ANALYZE t", "ANALYZE is not allowed"),
      deny("CLUSTER t USING i", "CLUSTER is not allowed"),
      deny("REINDEX TABLE t", "REINDEX is not allowed"),
      deny("CHECKPOINT", "CHECKPOINT is not allowed"),
      deny("LOAD 'plugin'", "LOAD is not allowed"),
      deny("SET CONSTRAINTS ALL DEFERRED", "SET CONSTRAINTS is not allowed"),
  };
  check_cases(kCases);
}
