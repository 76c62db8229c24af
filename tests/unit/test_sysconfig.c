/* test_sysconfig: the stored es.xml fetched and loaded in one call (real PostgreSQL). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "esxml.h"
#include "jobstore.h"
#include "sysconfig.h"
#include "unit_pg.h"

static char conninfo[1024], dbname[64], srcdir[1024], schema[1100];
static jobstore *js;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void setup(void)
{
    char err[1024], mig[1100];
    int applied;
    const char *s = getenv("KVMOVE_SOURCE_DIR");

    snprintf(srcdir, sizeof(srcdir), "%s", s ? s : ".");
    snprintf(schema, sizeof(schema), "%s/schema", srcdir);
    snprintf(mig, sizeof(mig), "%s/migrations", srcdir);
    snprintf(dbname, sizeof(dbname), "unit_sysconfig_%d", (int)getpid());
    ck_assert_int_eq(unit_pg_run(srcdir, "create", dbname, conninfo, sizeof(conninfo)), 0);
    ck_assert_msg(jobstore_connect(conninfo, &js, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(jobstore_migrate(js, mig, &applied, err, sizeof(err)) == 0, "%s", err);
}

static void teardown(void)
{
    jobstore_close(js);
    unit_pg_run(srcdir, "drop", dbname, NULL, 0);
}

START_TEST(test_nothing_stored)
{
    char err[512] = "";
    esxml *doc = (esxml *)1;

    ck_assert_int_eq(sysconfig_load(js, 0, schema, &doc, NULL, err, sizeof(err)),
                     -JOBSTORE_ENOTFOUND);
    ck_assert_ptr_null(doc);
    ck_assert_ptr_nonnull(strstr(err, "kvmove config load"));
}
END_TEST

START_TEST(test_versions)
{
    char err[512] = "", path[1200];
    char *fixture;
    esxml *doc = NULL;
    long v1 = 0, v2 = 0, got = 0;

    snprintf(path, sizeof(path), "%s/tests/fixtures/exa01.xml", srcdir);
    fixture = slurp(path);
    ck_assert_int_eq(
        jobstore_config_store(js, "exa01", "loaded", fixture, "v1", &v1, err, sizeof(err)), 0);
    ck_assert_int_eq(
        jobstore_config_store(js, "exa01", "loaded", "<notxml", "broken", &v2, err, sizeof(err)),
        0);
    /* The newest is the broken one: a load error, not a database error, and no document. */
    ck_assert_int_eq(sysconfig_load(js, 0, schema, &doc, &got, err, sizeof(err)),
                     -JOBSTORE_EINVALID);
    ck_assert_ptr_null(doc);
    /* A named version loads, validated, and says which version it is. */
    ck_assert_msg(sysconfig_load(js, v1, schema, &doc, &got, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(got, v1);
    ck_assert_ptr_nonnull(esxml_guest_find(doc, "exa01vm01.example.com"));
    esxml_free(doc);
    doc = NULL;
    ck_assert_int_eq(sysconfig_load(js, v2 + 100, schema, &doc, &got, err, sizeof(err)),
                     -JOBSTORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "kvmove config list"));
    free(fixture);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sysconfig");
    TCase *tc = tcase_create("stored es.xml");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_nothing_stored);
    tcase_add_test(tc, test_versions);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
