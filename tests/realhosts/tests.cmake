# Real-host lane (ctest -L realhosts): real libvirtd + QEMU in host namespaces made by the test,
# migrated by the whole kvmove pipeline with the libvirt host profile. See tests/realhosts/README.md.
set(RHTEST_DIR ${CMAKE_SOURCE_DIR}/tests/realhosts)
file(GLOB RHTESTS CONFIGURE_DEPENDS ${RHTEST_DIR}/test_*.sh)
foreach(script ${RHTESTS})
    get_filename_component(name ${script} NAME_WE)
    add_test(NAME realhosts.${name} COMMAND bash ${script})
    # RUN_SERIAL: two QEMU guests under TCG plus the integration lane on two cores would make
    # boot times, not kvmove, the thing under test. The pg fixture is the integration lane's.
    set_tests_properties(realhosts.${name} PROPERTIES LABELS realhosts RUN_SERIAL TRUE
        FIXTURES_REQUIRED pg TIMEOUT 900
        ENVIRONMENT "KVMOVE_BUILD_DIR=${CMAKE_BINARY_DIR};KVMOVE_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endforeach()
