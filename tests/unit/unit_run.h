/* unit_run.h: Check tests that register themselves, and the one main that runs them (test code).
 *
 * A test is declared with UNIT_TEST(name) (UNIT_TEST_IN("case", name) for a test case other
 * than the file's first) and ended with END_TEST, as with Check's START_TEST; a loop test over
 * a table with UNIT_LOOP(name, table) (one run per row, _i the row), over a range with
 * UNIT_RANGE(name, start, end). A test case's fixtures and timeout are declared with
 * UNIT_TCASE("case", .setup = f, ...) where the fixtures are in scope. Constructors fill the
 * registry before main runs, and main is `return unit_main("suite");`. Tests run in the order
 * of the file; test cases in the order of their UNIT_TCASE lines, then of their first test
 * ("core" when the file declares none). */
#ifndef KVMOVE_UNIT_RUN_H
#define KVMOVE_UNIT_RUN_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* One test case's settings: fixtures run once around the case (setup_once/teardown_once,
 * Check's unchecked fixture) and around each test (setup/teardown, checked), the timeout in
 * seconds (0: CK_DEFAULT_TIMEOUT). */
struct unit_tcase {
    const char *name;
    SFun setup_once, teardown_once, setup, teardown;
    double timeout;
    int line; /* where UNIT_TCASE stands */
};

struct unit_entry {
    const char *tcase; /* NULL: the file's first test case */
    const TTest *test;
    int start, end;
};

enum { UNIT_MAX_TESTS = 256 };
static struct unit_entry unit_entries[UNIT_MAX_TESTS];
static int unit_nentries;

static const struct unit_tcase *unit_tcases[UNIT_MAX_TESTS];
static int unit_ntcases;

static inline void unit_add_tcase(const struct unit_tcase *tc)
{
    if (unit_ntcases == UNIT_MAX_TESTS)
        abort();
    unit_tcases[unit_ntcases++] = tc;
}

#define UNIT_CAT_(a, b) a##b
#define UNIT_CAT(a, b) UNIT_CAT_(a, b)
#define UNIT_TCASE(tname, ...)                                                                     \
    static const struct unit_tcase UNIT_CAT(unit_tcase_, __LINE__) = {tname, .line = __LINE__,     \
                                                                      __VA_ARGS__};                \
    __attribute__((constructor)) static void UNIT_CAT(unit_tcase_register_, __LINE__)(void)        \
    {                                                                                              \
        unit_add_tcase(&UNIT_CAT(unit_tcase_, __LINE__));                                          \
    }                                                                                              \
    struct unit_tcase

static inline void unit_add(const char *tcase, const TTest *test, int start, int end)
{
    if (unit_nentries == UNIT_MAX_TESTS)
        abort();
    unit_entries[unit_nentries++] = (struct unit_entry){tcase, test, start, end};
}

#define UNIT_LOOP_RANGE_IN(tc, tname, s, e)                                                        \
    static void tname##_fn(int _i CK_ATTRIBUTE_UNUSED);                                            \
    static const TTest tname##_ttest = {#tname, tname##_fn, __FILE__, __LINE__};                   \
    __attribute__((constructor)) static void tname##_register(void)                                \
    {                                                                                              \
        unit_add((tc), &tname##_ttest, (s), (e));                                                  \
    }                                                                                              \
    static void tname##_fn(int _i CK_ATTRIBUTE_UNUSED)

#define UNIT_TEST_IN(tc, tname) UNIT_LOOP_RANGE_IN(tc, tname, 0, 1)
#define UNIT_TEST(tname) UNIT_TEST_IN(NULL, tname)
#define UNIT_RANGE(tname, s, e) UNIT_LOOP_RANGE_IN(NULL, tname, s, e)
#define UNIT_LOOP_IN(tc, tname, table)                                                             \
    UNIT_LOOP_RANGE_IN(tc, tname, 0, (int)(sizeof(table) / sizeof((table)[0])))
#define UNIT_LOOP(tname, table) UNIT_LOOP_IN(NULL, tname, table)

/* Runs S (the runner takes it over) and returns EXIT_SUCCESS when no test failed. */
static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static inline int unit_entry_cmp(const void *a, const void *b)
{
    return ((const struct unit_entry *)a)->test->line - ((const struct unit_entry *)b)->test->line;
}

static inline int unit_tcase_cmp(const void *a, const void *b)
{
    return (*(const struct unit_tcase *const *)a)->line -
           (*(const struct unit_tcase *const *)b)->line;
}

static inline int unit_same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Builds one test case: its settings (when the table has them) and its tests, file order. */
static inline TCase *unit_tcase_build(const char *name, const struct unit_tcase *set)
{
    TCase *tc = tcase_create(set != NULL ? set->name : name != NULL ? name : "core");

    if (set != NULL && (set->setup_once != NULL || set->teardown_once != NULL))
        tcase_add_unchecked_fixture(tc, set->setup_once, set->teardown_once);
    if (set != NULL && (set->setup != NULL || set->teardown != NULL))
        tcase_add_checked_fixture(tc, set->setup, set->teardown);
    if (set != NULL && set->timeout > 0)
        tcase_set_timeout(tc, set->timeout);
    return tc;
}

/* The file's main: the suite NAME of every registered test, in the registered test cases (the
 * first is the one of UNIT_TEST), each test case built once. */
static inline int unit_main(const char *name)
{
    const struct unit_tcase *cases[UNIT_MAX_TESTS];
    size_t n = (size_t)unit_ntcases;
    Suite *s = suite_create(name);
    const char *done[UNIT_MAX_TESTS];
    int ndone = 0;

    qsort(unit_entries, (size_t)unit_nentries, sizeof(unit_entries[0]), unit_entry_cmp);
    /* Constructors run in no promised order: the test cases as they stand in the file. */
    memcpy(cases, unit_tcases, n * sizeof(cases[0]));
    qsort(cases, n, sizeof(cases[0]), unit_tcase_cmp);
    for (int i = 0; i < unit_nentries; i++)
        if (unit_entries[i].tcase == NULL && n > 0)
            unit_entries[i].tcase = cases[0]->name;
    /* The table's cases first, then any other a test named, each in the order first seen. */
    for (size_t c = 0; c < n; c++)
        done[ndone++] = cases[c]->name;
    for (int i = 0; i < unit_nentries; i++) {
        int seen = 0;
        for (int d = 0; d < ndone && !seen; d++)
            seen = unit_same(done[d], unit_entries[i].tcase);
        if (!seen)
            done[ndone++] = unit_entries[i].tcase;
    }
    for (int d = 0; d < ndone; d++) {
        const struct unit_tcase *set = NULL;
        TCase *tc;

        for (size_t c = 0; c < n && set == NULL; c++)
            if (unit_same(cases[c]->name, done[d]))
                set = cases[c];
        tc = unit_tcase_build(done[d], set);
        for (int i = 0; i < unit_nentries; i++)
            if (unit_same(unit_entries[i].tcase, done[d]))
                _tcase_add_test(tc, unit_entries[i].test, 0, 0, unit_entries[i].start,
                                unit_entries[i].end);
        suite_add_tcase(s, tc);
    }
    return unit_run(s);
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
