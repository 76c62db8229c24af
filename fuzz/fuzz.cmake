# Fuzzing: fuzz/run.sh builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# KVMOVE_FUZZ_SECONDS seconds as one ctest (label fuzz; `ctest -L fuzz`, or -LE fuzz to skip).
# The test is registered whether or not clang is found: without it fuzz.run fails and says so
# (scripts/deps installs clang), so that `ctest -L fuzz` never passes having fuzzed nothing.
set(KVMOVE_FUZZ_SECONDS 30 CACHE STRING "seconds each fuzz target runs under ctest")
find_program(KVMOVE_CLANG clang)
if(NOT KVMOVE_CLANG)
    message(WARNING "clang not found: the fuzz.run test will fail until it is installed "
        "(scripts/deps installs clang and libclang-rt-14-dev)")
    set(KVMOVE_CLANG clang)
endif()
add_test(NAME fuzz.run COMMAND bash ${CMAKE_SOURCE_DIR}/fuzz/run.sh ${KVMOVE_FUZZ_SECONDS})
math(EXPR KVMOVE_FUZZ_TIMEOUT "${KVMOVE_FUZZ_SECONDS} * 3 + 120")
set_tests_properties(fuzz.run PROPERTIES LABELS fuzz TIMEOUT ${KVMOVE_FUZZ_TIMEOUT}
    ENVIRONMENT "KVMOVE_BUILD_DIR=${CMAKE_BINARY_DIR};FUZZ_CC=${KVMOVE_CLANG}")
