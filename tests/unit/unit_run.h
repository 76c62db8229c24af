/* unit_run.h: runs a Check suite and turns its outcome into main's exit status (test code). */
#ifndef KVMOVE_UNIT_RUN_H
#define KVMOVE_UNIT_RUN_H

#include <check.h>
#include <stdlib.h>

/* Runs S (the runner takes it over) and returns EXIT_SUCCESS when no test failed. */
static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The source tree: $KVMOVE_SOURCE_DIR (ctest sets it), else the one CMake compiled in, else ".". */
static inline const char *unit_source_dir(void)
{
    const char *d = getenv("KVMOVE_SOURCE_DIR");
#ifdef KVMOVE_SOURCE_DIR
    if (d == NULL || *d == '\0')
        d = KVMOVE_SOURCE_DIR;
#endif
    return d != NULL && *d ? d : ".";
}

#endif
