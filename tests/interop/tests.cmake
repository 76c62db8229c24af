# Interop lane (ctest -L interop): clients kvmove did not write, installed from the npm registry
# at test time (tests/interop/package-lock.json pins them), against kvmove's broker, topics and
# schemas. See tests/interop/README.md. Not optional: a missing node or npm fails
# interop.install, and every interop test needs it.
set(INTEROP_DIR ${CMAKE_SOURCE_DIR}/tests/interop)
set(INTEROP_ENV "KVMOVE_BUILD_DIR=${CMAKE_BINARY_DIR};KVMOVE_SOURCE_DIR=${CMAKE_SOURCE_DIR};NODE_PATH=${CMAKE_BINARY_DIR}/interop/node_modules;PATH=${CMAKE_BINARY_DIR}/interop/bin:$ENV{PATH}")

# lib/jschema.c's verdicts, for comparison with ajv.
add_executable(kvmove-jschema-verdict ${INTEROP_DIR}/jschema_verdict.c)
target_link_libraries(kvmove-jschema-verdict PRIVATE kvmove)

add_test(NAME interop.install COMMAND bash ${INTEROP_DIR}/install.sh)
set_tests_properties(interop.install PROPERTIES FIXTURES_SETUP interop_npm LABELS interop
    TIMEOUT 900 ENVIRONMENT "${INTEROP_ENV}")

add_test(NAME interop.asyncapi COMMAND bash ${INTEROP_DIR}/asyncapi.sh)
add_test(NAME interop.schemas COMMAND env node ${INTEROP_DIR}/schemas.js)
add_test(NAME interop.clients COMMAND bash ${INTEROP_DIR}/test_clients.sh)
set_tests_properties(interop.asyncapi interop.schemas interop.clients PROPERTIES
    FIXTURES_REQUIRED interop_npm LABELS interop TIMEOUT 600 ENVIRONMENT "${INTEROP_ENV}")
set_tests_properties(interop.clients PROPERTIES FIXTURES_REQUIRED "interop_npm;pg")
