# Unit tests: pure logic only (protocol, policy, config, crypto).
# Each helper appends its own line here.
pgwarden_unit_test(fernet pgwarden_catalog)
pgwarden_unit_test(conninfo pgwarden_catalog)
pgwarden_unit_test(config pgwarden_conf)
target_compile_definitions(config_test PRIVATE PGWARDEN_EXAMPLE_CONFIG="${PROJECT_SOURCE_DIR}/conf/pgwarden.example.toml")
