/* test_jobstore_probe: the cleanup and dry_run requests in PostgreSQL (lib/jobstore_probe.c):
 * recorded once, claimed under a lease, taken over when the lease ran out, given up after
 * repeated deaths, finished only by the lease holder, refused with the reason; each end has its
 * probe.completed event. */
#include "jobstore.h"
#include "unit_pg.h"
#include "unit_run.h"

#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unit_db db; /* per test */

#define ID1 "6f1c2a52-3d0e-4b8e-9a51-0c7e4f2b9d10"
#define ID2 "6f1c2a52-3d0e-4b8e-9a51-0c7e4f2b9d11"
#define MSG "{\"action\":\"cleanup\"}"

static void setup(void)
{
    unit_db_open(&db, unit_source_dir(), "jobstore_probe");
}

static void teardown(void)
{
    unit_db_close(&db);
}

UNIT_TCASE("probes", .setup = setup, .teardown = teardown, .timeout = 60);

#define ck_q(expected, ...)                                                                        \
    unit_ck_value(unit_pg_value(db.pg, "NULL", __VA_ARGS__), expected, #__VA_ARGS__)

static void add(const char *id)
{
    char err[1024];

    ck_assert_msg(jobstore_probe_add(db.js, id, "cleanup", "alice", MSG, err, sizeof(err)) == 0,
                  "%s", err);
}

UNIT_TEST(test_add_once_claim_finish)
{
    jobstore_probe c;
    json_t *result = json_pack("{s:i}", "done", 1), *row = NULL;
    char err[1024];
    int n = -1;

    add(ID1);
    add(ID1); /* a redelivered message is the same probe */
    ck_q("1|queued", "SELECT count(*) || '|' || min(status) FROM probes");
    ck_assert_int_eq(jobstore_probe_claim(db.js, "w1", 30, 3, "w1", &c, err, sizeof(err)), 1);
    ck_assert_str_eq(c.request_id, ID1);
    ck_assert_str_eq(c.kind, "cleanup");
    ck_assert_str_eq(c.request, "{\"action\": \"cleanup\"}"); /* as jsonb writes it */
    ck_assert_int_eq(c.attempts, 1);
    free(c.request);
    ck_q("running|w1", "SELECT status || '|' || lease_owner FROM probes");
    /* nothing else to take: a running probe under a lease is its owner's */
    ck_assert_int_eq(jobstore_probe_claim(db.js, "w2", 30, 3, "w2", &c, err, sizeof(err)), 0);
    ck_assert_int_eq(jobstore_probe_renew(db.js, ID1, "w1", 30, err, sizeof(err)), 0);
    ck_assert_int_eq(jobstore_probe_renew(db.js, ID1, "w2", 30, err, sizeof(err)),
                     -JOBSTORE_ELEASE);
    ck_assert_int_eq(
        jobstore_probe_finish(db.js, ID1, "w2", 1, result, NULL, "w2", err, sizeof(err)),
        -JOBSTORE_ELEASE);
    ck_assert_int_eq(
        jobstore_probe_finish(db.js, ID1, "w1", 1, result, NULL, "w1", err, sizeof(err)), 0);
    ck_q("succeeded|1", "SELECT status || '|' || (result->>'done') FROM probes");
    ck_q("1",
         "SELECT count(*) FROM outbox WHERE job_id = '%s' AND payload->>'type' = "
         "'io.kvmove.probe.completed' AND payload->'data'->>'status' = 'succeeded' AND "
         "payload->'data'->>'kind' = 'cleanup'",
         ID1);
    ck_assert_int_eq(jobstore_probe_json(db.js, ID1, &row, err, sizeof(err)), 0);
    ck_assert_str_eq(json_string_value(json_object_get(row, "status")), "succeeded");
    ck_assert_str_eq(json_string_value(json_object_get(row, "submitted_by")), "alice");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(row, "result"), "done")),
                     1);
    json_decref(row);
    ck_assert_int_eq(jobstore_probe_json(db.js, ID2, &row, err, sizeof(err)), 0);
    ck_assert(json_is_null(row));
    /* nothing to wait for: returns at once, leaving no transaction open */
    ck_assert_msg(jobstore_probe_cleanups_settle(db.js, "h1", NULL, &n, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(jobstore_probe_renew(db.js, ID1, "w1", 30, err, sizeof(err)),
                     -JOBSTORE_ELEASE);
    json_decref(row);
    json_decref(result);
}
END_TEST

/* A worker that dies while it runs one: once its lease ran out another takes it over, and after
 * MAX runs that all died it ends failed. */
UNIT_TEST(test_lease_runs_out)
{
    jobstore_probe c;
    char err[1024];

    add(ID1);
    ck_assert_int_eq(jobstore_probe_claim(db.js, "w1", 30, 2, "w1", &c, err, sizeof(err)), 1);
    free(c.request);
    PQclear(PQexec(db.pg, "UPDATE probes SET lease_until = now() - interval '1 second'"));
    ck_assert_int_eq(jobstore_probe_claim(db.js, "w2", 30, 2, "w2", &c, err, sizeof(err)), 1);
    ck_assert_str_eq(c.request_id, ID1);
    ck_assert_int_eq(c.attempts, 2);
    free(c.request);
    ck_q("running|w2", "SELECT status || '|' || lease_owner FROM probes");
    /* the first worker's late end is refused */
    ck_assert_int_eq(jobstore_probe_finish(db.js, ID1, "w1", 0, NULL, "x", "w1", err, sizeof(err)),
                     -JOBSTORE_ELEASE);
    PQclear(PQexec(db.pg, "UPDATE probes SET lease_until = now() - interval '1 second'"));
    ck_assert_int_eq(jobstore_probe_claim(db.js, "w3", 30, 2, "w3", &c, err, sizeof(err)), 0);
    ck_q("failed|given up: the workers running it stopped 2 times without finishing (last: w2)",
         "SELECT status || '|' || error FROM probes");
    ck_q("failed", "SELECT payload->'data'->>'status' FROM outbox WHERE job_id = '%s'", ID1);
}
END_TEST

UNIT_TEST(test_reject)
{
    char err[1024];
    jobstore_probe c;

    ck_assert_int_eq(jobstore_probe_reject(db.js, ID2, "dry_run", "bob",
                                           "unauthorized: bob may not", "w1", err, sizeof(err)),
                     0);
    ck_q("rejected|unauthorized: bob may not|bob", "SELECT status || '|' || error || '|' || "
                                                   "submitted_by FROM probes");
    ck_q("rejected|unauthorized: bob may not",
         "SELECT (payload->'data'->>'status') || '|' || (payload->'data'->>'message') FROM outbox");
    /* refused is final: never claimed; a second refusal of the id records nothing more */
    ck_assert_int_eq(jobstore_probe_claim(db.js, "w1", 30, 3, "w1", &c, err, sizeof(err)), 0);
    ck_assert_int_eq(
        jobstore_probe_reject(db.js, ID2, "dry_run", "bob", "again", "w1", err, sizeof(err)), 0);
    ck_q("1", "SELECT count(*) FROM outbox");
}
END_TEST

int main(void)
{
    return unit_main("jobstore_probe");
}
