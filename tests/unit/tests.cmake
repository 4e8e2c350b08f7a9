# Unit tests: pure logic only (protocol, policy, config, crypto).
# Each helper appends its own line here.
pgwarden_unit_test(fernet pgwarden_catalog)
pgwarden_unit_test(conninfo pgwarden_catalog)
pgwarden_unit_test(protocol pgwarden_protocol)
pgwarden_unit_test(scram pgwarden_protocol)
pgwarden_unit_test(params pgwarden_daemon)
pgwarden_unit_test(config pgwarden_conf)
target_compile_definitions(config_test PRIVATE PGWARDEN_EXAMPLE_CONFIG="${PROJECT_SOURCE_DIR}/conf/pgwarden.example.toml")
# Test-only Fernet CLI: the Python test proves byte compatibility with cryptography.fernet.
add_executable(fernet_tool unit/fernet_tool.cpp)
target_link_libraries(fernet_tool PRIVATE pgwarden_catalog)
add_test(NAME compat.fernet COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${PROJECT_SOURCE_DIR}/tests/integration/test_fernet_compat.py)
set_tests_properties(compat.fernet PROPERTIES ENVIRONMENT FERNET_TOOL=$<TARGET_FILE:fernet_tool>)
pgwarden_unit_test(deallocate pgwarden_daemon)
