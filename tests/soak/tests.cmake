# Soak: workers, hosts and guests under a random schedule of faults (tests/soak/soak.sh);
# about 3 minutes, longer with KVMOVE_SOAK_SECONDS. Also the executor's unit suite, which needs
# the PostgreSQL cluster of the integration tests.
set_tests_properties(unit.test_executor PROPERTIES FIXTURES_REQUIRED pg)
