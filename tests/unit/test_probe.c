/* test_probe: the cleanup and dry_run requests (lib/probe.c): parsing, the rules shared with
 * migration requests, the round trip, and the rights they need (lib/authz.c). */
#include "probe.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "unit_run.h"

#define ID "6f1c2a52-3d0e-4b8e-9a51-0c7e4f2b9d10"
#define WHO "\"submitted_by\":\"alice\",\"submitted_at\":\"2025-07-30T16:12:03.500Z\""

static int parse(const char *msg, probe_request *p, char *err, size_t size)
{
    return probe_parse_json(msg, strlen(msg), p, err, size);
}

UNIT_TCASE("requests");

UNIT_TEST(test_kind_of_message)
{
    probe_kind k;

    ck_assert_int_eq(probe_message_kind("{\"action\":\"cleanup\"}", 20, &k), 0);
    ck_assert_int_eq(k, PROBE_CLEANUP);
    ck_assert_int_eq(probe_message_kind("{\"action\":\"dry_run\"}", 20, &k), 0);
    ck_assert_int_eq(k, PROBE_DRY_RUN);
    ck_assert_int_eq(probe_message_kind("{\"action\":\"migrate_guest\"}", 26, &k), -1);
    ck_assert_int_eq(probe_message_kind("not json", 8, &k), -1);
    ck_assert_int_eq(probe_message_kind("[1]", 3, &k), -1);
}
END_TEST

UNIT_TEST(test_cleanup_parsed)
{
    probe_request p;
    char err[512];

    ck_assert_msg(parse("{\"request_id\":\"" ID "\",\"action\":\"cleanup\",\"host\":\"exa01adm02."
                        "example.com\",\"reason\":\"host back\"," WHO "}",
                        &p, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_int_eq(p.kind, PROBE_CLEANUP);
    ck_assert_str_eq(p.request_id, ID);
    ck_assert_str_eq(p.host, "exa01adm02.example.com");
    ck_assert_str_eq(p.guest, "");
    ck_assert_str_eq(p.reason, "host back");
    ck_assert_str_eq(p.submitted_by, "alice");
    ck_assert_str_eq(p.submitted_at, "2025-07-30T16:12:03.500Z");
}
END_TEST

/* What is refused, with the id still read for the refusal's record. */
UNIT_TEST(test_cleanup_refused)
{
    static const struct {
        const char *msg, *why;
    } cases[] = {
        {"{\"request_id\":\"" ID "\",\"action\":\"cleanup\",\"mode\":\"OFFLINE\"," WHO "}",
         "unknown field \"mode\""},
        {"{\"request_id\":\"" ID "\",\"action\":\"cleanup\",\"host\":\"-bad\"," WHO "}",
         "field host: "},
        {"{\"request_id\":\"" ID "\",\"action\":\"cleanup\",\"guest\":7," WHO "}",
         "field guest must be a string"},
        {"{\"request_id\":\"" ID "\",\"action\":\"cleanup\",\"reason\":\"a\\u0001b\"," WHO "}",
         "field reason: contains a control character"},
        {"{\"request_id\":\"" ID "\",\"action\":\"cleanup\",\"submitted_by\":\"a b\","
         "\"submitted_at\":\"2025-07-30T16:12:03.500Z\"}",
         "field submitted_by: "},
        {"{\"request_id\":\"" ID "\",\"action\":\"cleanup\"}",
         "missing required field submitted_by"},
    };
    probe_request p;
    char err[512];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(parse(cases[i].msg, &p, err, sizeof(err)) == -1, "accepted: %s",
                      cases[i].msg);
        ck_assert_msg(strstr(err, cases[i].why) != NULL, "%s: got '%s', expected '%s'",
                      cases[i].msg, err, cases[i].why);
        ck_assert_str_eq(p.request_id, ID);
    }
    ck_assert_int_eq(
        parse("{\"request_id\":\"nope\",\"action\":\"cleanup\"," WHO "}", &p, err, sizeof(err)),
        -1);
    ck_assert_str_eq(p.request_id, "");
}
END_TEST

UNIT_TEST(test_dry_run_parsed)
{
    probe_request p;
    char err[512];

    ck_assert_msg(parse("{\"request_id\":\"" ID "\",\"action\":\"dry_run\",\"guest\":\"g1\","
                        "\"mode\":\"OFFLINEFORCE\",\"src_host\":\"h1\",\"tgt_host\":\"h2\","
                        "\"sequential\":true," WHO "}",
                        &p, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_int_eq(p.kind, PROBE_DRY_RUN);
    ck_assert_int_eq(p.migration.action, ACTION_MIGRATE_GUEST);
    ck_assert_str_eq(p.migration.guest, "g1");
    ck_assert_int_eq(p.migration.mode, MODE_OFFLINEFORCE);
    ck_assert_str_eq(p.migration.src_host, "h1");
    ck_assert_str_eq(p.migration.tgt_host, "h2");
    ck_assert_int_eq(p.migration.sequential, 1);
    ck_assert_str_eq(p.submitted_by, "alice");
    /* a migration's rules hold */
    ck_assert_int_eq(parse("{\"request_id\":\"" ID "\",\"action\":\"dry_run\",\"guest\":\"g1\","
                           "\"mode\":\"OFFLINE\",\"src_host\":\"h1\",\"tgt_host\":\"H1\"," WHO "}",
                           &p, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "src_host and tgt_host are both") != NULL, "%s", err);
    ck_assert_int_eq(parse("{\"request_id\":\"" ID "\",\"action\":\"dry_run\",\"guest\":\"g1\","
                           "\"src_host\":\"h1\",\"tgt_host\":\"h2\"," WHO "}",
                           &p, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "missing required field mode") != NULL, "%s", err);
    ck_assert_int_eq(parse("{\"request_id\":\"" ID "\",\"action\":\"dry_run\",\"host\":\"h1\","
                           "\"guest\":\"g1\",\"mode\":\"OFFLINE\",\"src_host\":\"h1\","
                           "\"tgt_host\":\"h2\"," WHO "}",
                           &p, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "unknown field \"host\"") != NULL, "%s", err);
}
END_TEST

UNIT_TEST(test_plan_parsed)
{
    probe_request p;
    char err[512], *s;

    ck_assert_msg(parse("{\"request_id\":\"" ID "\",\"action\":\"plan\",\"host\":\"h1\","
                        "\"targets\":\"h2,h3\"," WHO "}",
                        &p, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_int_eq(p.kind, PROBE_PLAN);
    ck_assert_str_eq(p.host, "h1");
    ck_assert_str_eq(p.targets, "h2,h3");
    s = probe_to_json(&p);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "\"action\":\"plan\"") && strstr(s, "\"targets\":\"h2,h3\""), "%s", s);
    free(s);
    ck_assert_int_eq(
        parse("{\"request_id\":\"" ID "\",\"action\":\"plan\"," WHO "}", &p, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "missing required field host") != NULL, "%s", err);
    ck_assert_int_eq(parse("{\"request_id\":\"" ID "\",\"action\":\"plan\",\"host\":\"h1\","
                           "\"targets\":\"h2,-x\"," WHO "}",
                           &p, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "field targets: ") != NULL, "%s", err);
    ck_assert_int_eq(parse("{\"request_id\":\"" ID "\",\"action\":\"plan\",\"host\":\"h1\","
                           "\"reason\":\"r\"," WHO "}",
                           &p, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "unknown field \"reason\" (a plan has") != NULL, "%s", err);
    /* targets belong to a plan only */
    ck_assert_int_eq(parse("{\"request_id\":\"" ID "\",\"action\":\"cleanup\","
                           "\"targets\":\"h2\"," WHO "}",
                           &p, err, sizeof(err)),
                     -1);
}
END_TEST

/* probe_to_json writes what probe_parse_json reads back. */
UNIT_TEST(test_round_trip)
{
    probe_request a, b;
    char err[512], *s;

    probe_init(&a, PROBE_CLEANUP);
    strcpy(a.guest, "exa01vm01.example.com");
    strcpy(a.reason, "host back from repair");
    s = probe_to_json(&a);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(parse(s, &b, err, sizeof(err)) == 0, "%s: %s", s, err);
    ck_assert_str_eq(b.request_id, a.request_id);
    ck_assert_str_eq(b.guest, a.guest);
    ck_assert_str_eq(b.host, "");
    ck_assert_str_eq(b.reason, a.reason);
    ck_assert_str_eq(b.submitted_by, a.submitted_by);
    free(s);

    probe_init(&a, PROBE_DRY_RUN);
    strcpy(a.migration.guest, "g1");
    strcpy(a.migration.src_host, "h1");
    strcpy(a.migration.tgt_host, "h2");
    a.migration.has_step = 1;
    a.migration.step = STEP_STOP_GUEST;
    s = probe_to_json(&a);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "\"action\":\"dry_run\"") != NULL, "%s", s);
    ck_assert_msg(parse(s, &b, err, sizeof(err)) == 0, "%s: %s", s, err);
    ck_assert_str_eq(b.request_id, a.request_id);
    ck_assert_str_eq(b.migration.request_id, a.request_id);
    ck_assert_str_eq(b.migration.tgt_host, "h2");
    ck_assert_int_eq(b.migration.has_step, 1);
    ck_assert_int_eq(b.migration.step, STEP_STOP_GUEST);
    free(s);
}
END_TEST

/* cleanup needs 'cleanup', dry_run 'dry_run', and a refusal says which. */
UNIT_TEST(test_rights)
{
    char err[512];
    authz_rights all = (1u << AUTHZ__COUNT) - 1;

    ck_assert_int_eq(authz_check_probe("alice", "exa01", all, PROBE_CLEANUP, err, sizeof(err)), 0);
    ck_assert_int_eq(
        authz_check_probe("alice", "exa01", 1u << AUTHZ_CLEANUP, PROBE_CLEANUP, err, sizeof(err)),
        0);
    ck_assert_int_eq(
        authz_check_probe("bob", "exa01", 1u << AUTHZ_MIGRATE, PROBE_CLEANUP, err, sizeof(err)),
        -1);
    ck_assert_str_eq(err, "bob may not run the pending cleanups on system exa01: ask an "
                          "administrator to grant 'cleanup'");
    ck_assert_int_eq(
        authz_check_probe("bob", "", 1u << AUTHZ_CLEANUP, PROBE_DRY_RUN, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "bob may not probe hosts for a dry run on every system: ask an "
                          "administrator to grant 'dry_run' on '*' (every system)");
    ck_assert_int_eq(
        authz_check_probe("bob", "exa01", 1u << AUTHZ_DRY_RUN, PROBE_DRY_RUN, err, sizeof(err)), 0);
    ck_assert_int_eq(
        authz_check_probe("bob", "exa01", 1u << AUTHZ_MIGRATE, PROBE_PLAN, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "bob may not plan evacuations on system exa01: ask an administrator to "
                          "grant 'evacuate'");
    ck_assert_int_eq(
        authz_check_probe("bob", "exa01", 1u << AUTHZ_EVACUATE, PROBE_PLAN, err, sizeof(err)), 0);
}
END_TEST

int main(void)
{
    return unit_main("probe");
}
