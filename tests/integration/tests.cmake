# Integration tests: scripts under tests/integration that start real services (PostgreSQL,
# the embedded Kafka broker, sshd-backed simulated hosts) and check observable effects.
set(ITEST_DIR ${CMAKE_SOURCE_DIR}/tests/integration)
set(ITEST_ENV "KVMOVE_BUILD_DIR=${CMAKE_BINARY_DIR};KVMOVE_SOURCE_DIR=${CMAKE_SOURCE_DIR}")

add_test(NAME itest.pg.start COMMAND ${CMAKE_SOURCE_DIR}/scripts/devstack pg start
    --dir ${CMAKE_BINARY_DIR}/itest/pg --pg-port 54339)
set_tests_properties(itest.pg.start PROPERTIES FIXTURES_SETUP pg LABELS integration)
add_test(NAME itest.pg.stop COMMAND ${CMAKE_SOURCE_DIR}/scripts/devstack pg stop
    --dir ${CMAKE_BINARY_DIR}/itest/pg)
set_tests_properties(itest.pg.stop PROPERTIES FIXTURES_CLEANUP pg LABELS integration)

file(GLOB ITESTS CONFIGURE_DEPENDS ${ITEST_DIR}/test_*.sh)
foreach(script ${ITESTS})
    get_filename_component(name ${script} NAME_WE)
    add_test(NAME integration.${name} COMMAND bash ${script})
    set_tests_properties(integration.${name} PROPERTIES FIXTURES_REQUIRED pg
        LABELS integration ENVIRONMENT "${ITEST_ENV}" TIMEOUT 600)
endforeach()

add_test(NAME hostsim.selftest COMMAND bash ${CMAKE_SOURCE_DIR}/tests/hostsim/selftest.sh)
set_tests_properties(hostsim.selftest PROPERTIES LABELS integration TIMEOUT 300)

# Unit suites that need the PostgreSQL cluster (each creates its own database in it).
set_tests_properties(unit.test_jobstore PROPERTIES FIXTURES_REQUIRED pg)

# Every C file is formatted with the root .clang-format (CONVENTIONS.md).
add_test(NAME lint.format COMMAND bash -c
    "cd '${CMAKE_SOURCE_DIR}' && git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror")
set_tests_properties(lint.format PROPERTIES LABELS lint)
set_tests_properties(unit.test_sysconfig PROPERTIES FIXTURES_REQUIRED pg)
set_tests_properties(unit.test_jobstore_config PROPERTIES FIXTURES_REQUIRED pg)
