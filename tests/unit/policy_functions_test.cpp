// Classifier cases for functions (POLICY.md "Functions"): the deny list in
// every position and spelling, built-ins from SQL syntax, and customer
// functions allowed only through FunctionRules.
#define BOOST_TEST_MODULE policy_functions
#include "policy_cases.h"

using pgwarden::policy::FunctionRules;
using pgwarden::policy::is_builtin_function;
using policy_test::allow;
using policy_test::Case;
using policy_test::check_cases;
using policy_test::Classifier;
using policy_test::deny;

// Proves every family of the deny list is refused, and the harmless
// neighbours of those families are not.
BOOST_AUTO_TEST_CASE(deny_list_families) {
  static constexpr Case kCases[] = {
      deny("SELECT pg_sleep(1)", "function pg_sleep() is not allowed"),
      deny("SELECT pg_sleep_for('1 minute')", "pg_sleep_for()"),
      deny("SELECT pg_sleep_until(now() + interval '1 minute')", "pg_sleep_until()"),
      deny("SELECT pg_terminate_backend(123)", "function pg_terminate_backend() is not allowed"),
      deny("SELECT pg_cancel_backend(pid) FROM pg_stat_activity", "pg_cancel_backend()"),
      deny("SELECT pg_reload_conf()", "pg_reload_conf()"),
      deny("SELECT pg_rotate_logfile()", "pg_rotate_logfile()"),
      deny("SELECT pg_log_backend_memory_contexts(1)", "pg_log_backend_memory_contexts()"),
      deny("SELECT nextval('s')", "function nextval() is not allowed"),
      deny("SELECT setval('s', 1)", "setval()"),
      deny("SELECT lo_import('/etc/passwd')", "lo_import()"),
      deny("SELECT lo_export(1, '/tmp/x')", "lo_export()"),
      deny("SELECT lo_creat(-1)", "lo_creat()"),
      deny("SELECT lo_unlink(1)", "lo_unlink()"),
      deny("SELECT lo_from_bytea(0, 'x')", "lo_from_bytea()"),
      deny("SELECT lowrite(0, 'x')", "lowrite()"),
      deny("SELECT loread(0, 1)", "loread()"),
      deny("SELECT pg_read_file('/etc/passwd')", "pg_read_file()"),
      deny("SELECT pg_read_binary_file('x')", "pg_read_binary_file()"),
      deny("SELECT pg_ls_dir('.')", "pg_ls_dir()"),
      deny("SELECT * FROM pg_ls_waldir()", "pg_ls_waldir()"),
      deny("SELECT pg_stat_file('x')", "pg_stat_file()"),
      deny("SELECT pg_file_write('x', 'y', false)", "pg_file_write()"),
      deny("SELECT dblink('host=x', 'DELETE FROM t')", "dblink()"),
      deny("SELECT dblink_exec('x', 'y')", "dblink_exec()"),
      deny("SELECT pg_advisory_lock(1)", "pg_advisory_lock()"),
      deny("SELECT pg_advisory_lock_shared(1)", "pg_advisory_lock_shared()"),
      deny("SELECT pg_advisory_xact_lock(1)", "pg_advisory_xact_lock()"),
      deny("SELECT pg_try_advisory_lock(1)", "pg_try_advisory_lock()"),
      deny("SELECT pg_try_advisory_xact_lock_shared(1)", "pg_try_advisory_xact_lock_shared()"),
      deny("SELECT pg_notify('c', 'x')", "pg_notify()"),
      deny("SELECT txid_current()", "txid_current()"),
      deny("SELECT pg_current_xact_id()", "pg_current_xact_id()"),
      deny("SELECT pg_switch_wal()", "pg_switch_wal()"),
      deny("SELECT pg_create_restore_point('x')", "pg_create_restore_point()"),
      deny("SELECT pg_backup_start('x')", "pg_backup_start()"),
      deny("SELECT pg_create_physical_replication_slot('s')",
           "pg_create_physical_replication_slot"),
      deny("SELECT pg_create_logical_replication_slot('s', 'test_decoding')",
           "pg_create_logical_replication_slot"),
      deny("SELECT pg_drop_replication_slot('s')", "pg_drop_replication_slot()"),
      deny("SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)",
           "pg_logical_slot_get_changes()"),
      deny("SELECT pg_replication_slot_advance('s', '0/0')", "pg_replication_slot_advance()"),
      deny("SELECT pg_replication_origin_create('x')", "pg_replication_origin_create()"),
      deny("SELECT pg_logical_emit_message(true, 'p', 'x')", "pg_logical_emit_message()"),
      deny("SELECT pg_wal_replay_pause()", "pg_wal_replay_pause()"),
      deny("SELECT pg_promote()", "pg_promote()"),
      deny("SELECT pg_stat_reset()", "pg_stat_reset()"),
      deny("SELECT pg_stat_reset_shared('bgwriter')", "pg_stat_reset_shared()"),
      deny("SELECT pg_stat_statements_reset()", "pg_stat_statements_reset()"),
      deny("SELECT pg_import_system_collations('pg_catalog')", "pg_import_system_collations()"),
      deny("SELECT query_to_xml('DELETE FROM t RETURNING 1', true, false, '')", "query_to_xml()"),
      deny("SELECT query_to_xml_and_xmlschema('x', true, false, '')",
           "query_to_xml_and_xmlschema()"),
      deny("SELECT * FROM ts_stat('SELECT vector FROM t')", "ts_stat()"),
      deny("SELECT ts_rewrite('a'::tsquery, 'SELECT t, s FROM aliases')", "ts_rewrite()"),
      deny("SELECT brin_summarize_new_values('i')", "brin_summarize_new_values()"),
      deny("SELECT gin_clean_pending_list('i')", "gin_clean_pending_list()"),
      allow("SELECT pg_advisory_unlock_all()"),
      allow("SELECT pg_advisory_unlock(1), pg_advisory_unlock_shared(1)"),
      allow("SELECT currval('s'), lastval()"),
      allow("SELECT txid_current_if_assigned(), pg_current_xact_id_if_assigned()"),
      allow("SELECT pg_current_wal_lsn(), pg_backend_pid(), pg_postmaster_start_time()"),
      allow("SELECT table_to_xml('t', true, false, '')"),
  };
  check_cases(kCases);
}

// Proves a denied function is found in every position a query can hold one.
BOOST_AUTO_TEST_CASE(denied_functions_in_every_position) {
  static constexpr Case kCases[] = {
      deny("SELECT * FROM pg_sleep(1)", "pg_sleep()"),
      deny("SELECT * FROM ROWS FROM (generate_series(1, 2), pg_sleep(1))", "pg_sleep()"),
      deny("SELECT * FROM t WHERE pg_sleep(1) IS NULL", "pg_sleep()"),
      deny("SELECT * FROM t ORDER BY pg_sleep(0.1)", "pg_sleep()"),
      deny("SELECT 1 FROM t GROUP BY pg_sleep(1)", "pg_sleep()"),
      deny("SELECT 1 FROM t GROUP BY x HAVING pg_advisory_lock(1) IS NULL", "pg_advisory_lock()"),
      deny("SELECT CASE WHEN x > 0 THEN pg_terminate_backend(x) ELSE false END FROM t",
           "pg_terminate_backend()"),
      deny("SELECT CASE WHEN x > 0 THEN 1 ELSE pg_cancel_backend(x)::int END FROM t",
           "pg_cancel_backend()"),
      deny("SELECT CASE pg_sleep(1) WHEN NULL THEN 1 END", "pg_sleep()"),
      deny("SELECT string_agg(x, ',' ORDER BY pg_sleep(0.1)) FROM t", "pg_sleep()"),
      deny("SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM t", "pg_sleep()"),
      deny("SELECT row_number() OVER (ORDER BY nextval('s')) FROM t", "nextval()"),
      deny("SELECT sum(x) OVER (PARTITION BY setval('s', 1)) FROM t", "setval()"),
      deny("SELECT * FROM t, LATERAL (SELECT pg_cancel_backend(t.pid)) x", "pg_cancel_backend()"),
      deny("SELECT * FROM t CROSS JOIN LATERAL pg_sleep(1)", "pg_sleep()"),
      deny("WITH x AS (SELECT pg_sleep(1)) SELECT * FROM x", "pg_sleep()"),
      deny("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r "
           "WHERE pg_sleep(1) IS NULL) SELECT * FROM r",
           "pg_sleep()"),
      deny("SELECT (SELECT pg_sleep(1))", "pg_sleep()"),
      deny("SELECT EXISTS (SELECT pg_sleep(1))", "pg_sleep()"),
      deny("SELECT 1 WHERE 1 IN (SELECT 1 WHERE pg_sleep(1) IS NULL)", "pg_sleep()"),
      deny("SELECT * FROM a JOIN b ON pg_sleep(1) IS NULL", "pg_sleep()"),
      deny("SELECT coalesce(NULL, pg_sleep(1))", "pg_sleep()"),
      deny("SELECT length(pg_read_file('x'))", "pg_read_file()"),
      deny("VALUES (pg_sleep(1))", "pg_sleep()"),
      deny("SELECT 1 LIMIT (SELECT nextval('s'))", "nextval()"),
      deny("SELECT 1 OFFSET nextval('s')", "nextval()"),
      deny("SELECT DISTINCT ON (pg_sleep(1)) 1", "pg_sleep()"),
      deny("SELECT 1 UNION SELECT pg_backend_pid() WHERE pg_sleep(1) IS NULL", "pg_sleep()"),
      deny("SELECT ARRAY[pg_sleep(1)]", "pg_sleep()"),
      deny("SELECT ROW(pg_sleep(1))", "pg_sleep()"),
      deny("SELECT pg_sleep(1)::text", "pg_sleep()"),
      deny("SELECT * FROM t TABLESAMPLE SYSTEM (pg_sleep(1))", "pg_sleep()"),
      deny("SELECT * FROM XMLTABLE('/a' PASSING query_to_xml('select 1', true, false, '') "
           "COLUMNS x int)",
           "query_to_xml()"),
      deny("SELECT * FROM json_populate_record(NULL::t, pg_read_file('x')::json)",
           "pg_read_file()"),
      deny("SELECT x FROM t WINDOW w AS (ORDER BY pg_sleep(1))", "pg_sleep()"),
      deny("SELECT 1 FROM t WHERE x = ANY (ARRAY[nextval('s')])", "nextval()"),
      deny("SELECT pg_sleep(1) IS NULL OR true", "pg_sleep()"),
  };
  check_cases(kCases);
}

// Proves quoting, qualification, case, U&"..." escapes, named arguments,
// comments and whitespace do not hide a denied name.
BOOST_AUTO_TEST_CASE(denied_functions_in_every_spelling) {
  static constexpr Case kCases[] = {
      deny("SELECT PG_SLEEP(1)", "pg_sleep()"),
      deny("SELECT \"pg_sleep\"(1)", "pg_sleep()"),
      deny("SELECT \"PG_SLEEP\"(1)", "pg_sleep()"),
      deny("SELECT pg_catalog.pg_sleep(1)", "pg_sleep()"),
      deny("SELECT postgres.pg_catalog.pg_sleep(1)", "pg_sleep()"),
      deny("SELECT \"pg_catalog\".\"pg_sleep\"(1)", "pg_sleep()"),
      deny("SELECT public.pg_sleep(1)", "pg_sleep()"),
      deny("SELECT U&\"pg\\005fsleep\"(1)", "pg_sleep()"),
      deny("SELECT U&\"!0070g_sleep\" UESCAPE '!'(1)", "pg_sleep()"),
      deny("SELECT pg_catalog.U&\"pg\\005Fterminate\\005Fbackend\"(1)", "pg_terminate_backend()"),
      deny("SELECT pg_sleep(seconds => 1)", "pg_sleep()"),
      deny("SELECT pg_advisory_lock(key => 1)", "pg_advisory_lock()"),
      deny("SELECT pg_catalog . pg_sleep ( 1 )", "pg_sleep()"),
      deny("SELECT/**/pg_sleep/**/(1)", "pg_sleep()"),
      deny("SELECT pg_sleep\n(1)", "pg_sleep()"),
      deny("SELECT pg_sleep(VARIADIC ARRAY[1])", "pg_sleep()"),
  };
  check_cases(kCases);
}

// Proves functions that come from SQL syntax (pg_catalog names in the tree)
// and ordinary built-ins are allowed.
BOOST_AUTO_TEST_CASE(builtins_from_syntax_and_ordinary_builtins) {
  static constexpr Case kCases[] = {
      allow("SELECT EXTRACT(YEAR FROM now())"),
      allow("SELECT extract(epoch FROM interval '1 day')"),
      allow("SELECT TRIM(BOTH 'x' FROM 'xax'), TRIM(LEADING FROM ' a'), trim(trailing 'x' from "
            "'ax')"),
      allow("SELECT now() AT TIME ZONE 'UTC'"),
      allow("SELECT 'abc' SIMILAR TO 'a%', 'abc' SIMILAR TO 'a#%' ESCAPE '#'"),
      allow("SELECT OVERLAY('abc' PLACING 'x' FROM 2 FOR 1)"),
      allow("SELECT POSITION('b' IN 'abc')"),
      allow("SELECT SUBSTRING('abc' FROM 2 FOR 1), substring('abc' similar 'a' escape '#')"),
      allow("SELECT COLLATION FOR ('a'), 'a' IS NORMALIZED, NORMALIZE('a', NFC)"),
      allow("SELECT xmlexists('/a' PASSING '<a/>')"),
      allow("SELECT CURRENT_DATE, CURRENT_TIMESTAMP, LOCALTIME, CURRENT_USER, SESSION_USER, "
            "CURRENT_SCHEMA"),
      allow("SELECT count(*), sum(x), avg(x), min(x), max(x), string_agg(s, ','), "
            "array_agg(x ORDER BY x) FROM t"),
      allow("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t"),
      allow("SELECT row_number() OVER w, rank() OVER w, lag(x) OVER w FROM t "
            "WINDOW w AS (ORDER BY x)"),
      allow("SELECT to_char(now(), 'YYYY'), date_trunc('day', now()), age(now()), "
            "jsonb_build_object('a', 1), regexp_replace('a', 'a', 'b'), md5('x')"),
      allow("SELECT gen_random_uuid(), format('%I', 'x'), generate_series(1, 3)"),
      allow("SELECT pg_catalog.lower('X'), \"lower\"('Y'), LOWER(x => 'Z')"),
      allow("SELECT current_setting('search_path'), version()"),
      allow("SELECT pg_table_size('t'), pg_size_pretty(pg_database_size(current_database()))"),
      allow("SELECT has_table_privilege('t', 'SELECT'), pg_get_viewdef('v'::regclass)"),
      allow("SELECT json_agg(t) FROM t"),
  };
  check_cases(kCases);
}

// Proves functions that are not built in (the customer's own, contrib
// extensions', schema-qualified lookalikes) are refused with a way to allow
// them.
BOOST_AUTO_TEST_CASE(customer_functions_refused_by_default) {
  static constexpr Case kCases[] = {
      deny("SELECT archive_old_payments()",
           "customer function archive_old_payments() is not known to be read-only"),
      deny("SELECT public.archive_old_payments()", "customer function archive_old_payments()"),
      deny("SELECT * FROM public.report(1)", "customer function report()"),
      deny("SELECT my_schema.lower('x')", "customer function lower()"),
      deny("SELECT public.now()", "customer function now()"),
      deny("SELECT pg_catalog.archive_old_payments()", "customer function archive_old_payments()"),
      deny("SELECT \"Archive\"()", "customer function archive()"),
      deny("SELECT _pg_truetypid(a, t) FROM x", "customer function _pg_truetypid()"),
      deny("SELECT information_schema.archive() FROM x", "customer function archive()"),
      deny("SELECT plpgsql_call_handler()", "customer function plpgsql_call_handler()"),
      deny("SELECT uuid_generate_v4()", "customer function uuid_generate_v4()"),
      deny("SELECT crypt('x', gen_salt('bf'))", "customer function crypt()"),
      deny("SELECT similarity('a', 'b')", "customer function similarity()"),
      deny("SELECT * FROM pg_stat_statements(true)", "customer function pg_stat_statements()"),
      deny("SELECT * FROM t WHERE my_filter(t.a)", "customer function my_filter()"),
      deny("SELECT sum(x) FROM t GROUP BY bucket(x)", "customer function bucket()"),
  };
  check_cases(kCases);
  const Classifier classifier;
  const auto d = classifier.classify("SELECT archive_old_payments()");
  BOOST_TEST(d.hint.find("allow_functions") != std::string::npos);
}

// Proves FunctionRules allow customer functions by name (case-insensitive,
// any schema), that shadowing overloads of built-in names are refused when
// called unqualified, and that the deny list beats every rule.
BOOST_AUTO_TEST_CASE(customer_functions_with_rules) {
  FunctionRules rules;
  rules.allowed = {"archive_old_payments", "Report", "pg_sleep", "bucket"};
  rules.shadowing = {"lower", "length", "bucket"};
  static constexpr Case kCases[] = {
      allow("SELECT archive_old_payments()"),
      allow("SELECT public.archive_old_payments()"),
      allow("SELECT * FROM analytics.report(1)"),
      allow("SELECT pg_catalog.lower('x')"),
      allow("SELECT sum(x) FROM t GROUP BY bucket(x)"),
      allow("SELECT upper('x')"),
      deny("SELECT other_fn()", "customer function other_fn()"),
      deny("SELECT lower('x')", "customer function lower()"),
      deny("SELECT length('x')", "customer function length()"),
      deny("SELECT public.lower('x')", "customer function lower()"),
      deny("SELECT pg_sleep(1)", "function pg_sleep() is not allowed"),
  };
  check_cases(kCases, rules);
}

// Proves the generated built-in list holds PostgreSQL 15's pg_catalog names
// and not contrib's.
BOOST_AUTO_TEST_CASE(builtin_list) {
  BOOST_TEST(is_builtin_function("lower"));
  BOOST_TEST(is_builtin_function("extract"));
  BOOST_TEST(is_builtin_function("btrim"));
  BOOST_TEST(is_builtin_function("timezone"));
  BOOST_TEST(is_builtin_function("similar_to_escape"));
  BOOST_TEST(is_builtin_function("set_config"));
  BOOST_TEST(is_builtin_function("pg_sleep"));
  BOOST_TEST(!is_builtin_function("dblink"));
  BOOST_TEST(!is_builtin_function("uuid_generate_v4"));
  BOOST_TEST(!is_builtin_function("plpgsql_call_handler"));
  BOOST_TEST(!is_builtin_function("LOWER"));
  BOOST_TEST(!is_builtin_function(""));
}

// Proves information_schema's own helpers, qualified as the catalog queries of
// drivers write them (pgjdbc's getPrimaryKeys, getIndexInfo), are built-ins:
// found failing through pgwarden with pgjdbc's DatabaseMetaData.
BOOST_AUTO_TEST_CASE(information_schema_helpers_are_builtin) {
  static constexpr Case kCases[] = {
      allow("SELECT (information_schema._pg_expandarray(i.indkey)).n FROM pg_catalog.pg_index i"),
      allow("SELECT information_schema._pg_truetypid(a.*, t.*) FROM pg_attribute a, pg_type t"),
      allow("SELECT INFORMATION_SCHEMA._PG_CHAR_MAX_LENGTH(1, 2)"),
  };
  check_cases(kCases);
}
