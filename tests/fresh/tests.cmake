# Fresh-machine lane (ctest -L fresh): scripts/demo and the unit suites inside a Debian 12 root
# made by debootstrap, where nothing ever ran (tests/fresh/README.md). Skipped (77) when the
# Debian mirror is unreachable, unless KVMOVE_FRESH_REQUIRED=1 (.ci/run sets it).
add_test(NAME fresh.demo COMMAND bash ${CMAKE_SOURCE_DIR}/tests/fresh/run demo)
# RUN_SERIAL: it builds and runs the whole stack once more inside the root on the same 2 cores.
set_tests_properties(fresh.demo PROPERTIES LABELS fresh RUN_SERIAL TRUE TIMEOUT 1800
    SKIP_RETURN_CODE 77 ENVIRONMENT "KVMOVE_BUILD_DIR=${CMAKE_BINARY_DIR}")
