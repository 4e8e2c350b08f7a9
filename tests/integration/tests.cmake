# Integration tests: pytest files run against a real PostgreSQL 15 and a real
# pgwarden, both started by tests/integration/harness.py. Included from
# tests/CMakeLists.txt (after daemon/, so the pgwarden target exists).
#
# Debian's python3-pytest/-psycopg/-asyncpg are only importable by
# /usr/bin/python3, not by another python3 that may come first on PATH.
set(PGWARDEN_TEST_PYTHON "/usr/bin/python3" CACHE FILEPATH
    "Python with pytest, psycopg, asyncpg and cryptography for the integration tests")

# One ctest entry (= one pytest session = one PostgreSQL + one pgwarden) per file.
set(_pgwarden_integration_files
  test_core.py
  test_protocol_edge.py
  test_cli.py
  test_pooling_protocol.py
  test_upstream_tls.py
  test_client_tls.py
  test_session_state.py
  test_asyncpg.py
  test_rolling_restart.py
  test_admin_console.py
  test_guard.py
  test_operations.py
  test_psql_interactive.py
  test_node_pg.py
  test_pgjdbc.py
  test_faults.py
  test_hostile.py
  test_pool_health.py
)

# One ctest entry per pytest file, named after it unless SUFFIX is given;
# ENV "NAME=value"... adds environment entries.
function(pgwarden_integration_test file)
  cmake_parse_arguments(PARSE_ARGV 1 _arg "" "SUFFIX" "ENV")
  get_filename_component(_name "${file}" NAME_WE)
  string(REGEX REPLACE "^test_" "" _name "${_name}${_arg_SUFFIX}")
  add_test(
    NAME integration.${_name}
    COMMAND ${PGWARDEN_TEST_PYTHON} -m pytest -q -rfEsxX -p no:cacheprovider
            ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${file}
    WORKING_DIRECTORY ${CMAKE_CURRENT_FUNCTION_LIST_DIR})
  set(_env "PGWARDEN_BIN=$<TARGET_FILE:pgwarden>" "PYTHONDONTWRITEBYTECODE=1" ${_arg_ENV})
  set_tests_properties(integration.${_name} PROPERTIES
    ENVIRONMENT "${_env}"
    LABELS integration
    # Each file starts PostgreSQL, pgwarden and up to 20 clients: on a
    # 2-core machine they must not run next to each other or the unit tests.
    RUN_SERIAL ON
    TIMEOUT 900)
endfunction()

foreach(_file IN LISTS _pgwarden_integration_files)
  pgwarden_integration_test(${_file})
endforeach()
# Every daemon above runs two workers (sessions on strands); with one worker
# sessions run on the io_context's executor itself: the pooling protocol
# tests again, that way.
pgwarden_integration_test(test_pooling_protocol.py SUFFIX _one_worker ENV PGWARDEN_WORKERS=1)

# bench/run --quick (under a minute): the benchmark harness still sets up
# PostgreSQL, PgBouncer and pgwarden, drives every target and writes its report.
# Nothing about speed is asserted; bench/run exits non-zero when a target
# produced no numbers (PgBouncer failing -M prepared is recorded as expected).
add_test(
  NAME bench.quick
  COMMAND ${PGWARDEN_TEST_PYTHON} ${PROJECT_SOURCE_DIR}/bench/run --quick
          --out ${CMAKE_CURRENT_BINARY_DIR}/bench-quick)
set_tests_properties(bench.quick PROPERTIES
  ENVIRONMENT "PGWARDEN_BIN=$<TARGET_FILE:pgwarden>;PYTHONDONTWRITEBYTECODE=1"
  LABELS bench
  RUN_SERIAL ON
  TIMEOUT 300)

# The admin HTTP API on its own (catalog store + stub daemon hooks), driven by
# test_admin.py until the daemon serves it.
add_executable(admin_server_test_main integration/admin_fixture.cpp)
target_link_libraries(admin_server_test_main PRIVATE pgwarden_admin)
foreach(_file IN ITEMS test_admin.py test_admin_catalog.py)
  pgwarden_integration_test(${_file} ENV "ADMIN_FIXTURE_BIN=$<TARGET_FILE:admin_server_test_main>")
endforeach()
