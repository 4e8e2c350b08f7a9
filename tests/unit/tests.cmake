# Unit tests: pure logic only (protocol, policy, config, crypto).
# Each helper appends its own line here.
pgwarden_unit_test(fernet pgwarden_catalog)
pgwarden_unit_test(conninfo pgwarden_catalog)
