# Soak (ctest -L soak): 3 workers, 6 simulated hosts, 24 guests migrated around while faults are
# injected on a random, seeded schedule (tests/soak/soak.sh). About 3 minutes; longer with
# KVMOVE_SOAK_SECONDS (how long the faults go on), the same schedule with KVMOVE_SOAK_SEED.
# It runs alone: it loads both cores and restarts its own PostgreSQL, broker and hosts.
add_test(NAME soak.fleet COMMAND bash ${CMAKE_SOURCE_DIR}/tests/soak/soak.sh)
set_tests_properties(soak.fleet PROPERTIES LABELS soak RUN_SERIAL TRUE TIMEOUT 3600
    ENVIRONMENT "KVMOVE_BUILD_DIR=${CMAKE_BINARY_DIR};KVMOVE_SOURCE_DIR=${CMAKE_SOURCE_DIR}")

# The executor's unit suite needs the PostgreSQL cluster of the integration tests.
set_tests_properties(unit.test_executor PROPERTIES FIXTURES_REQUIRED pg)
