/* test_jobstore_cancel: a cancel of a job whose request is not recorded yet
 * (lib/jobstore_cancel.c): kept pending until the maximum request age, carried out when the job's
 * request arrives (the job recorded and ended cancelled in one transaction, before any claim),
 * rejected when it expired; and the two orders of a cancel and its job's request at the same time
 * on two connections (two workers). */
#include "jobstore.h"
#include "unit_intake.h"
#include "unit_pg.h"
#include "unit_request.h"
#include "unit_run.h"

#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static unit_db db; /* per test */

#define GUEST "exa01vm01.example.com"
#define SRC "exa01adm02.example.com"
#define TGT "exa01adm03.example.com"

static void setup(void)
{
    unit_db_open(&db, unit_source_dir(), "jobstore_cancel");
}

static void teardown(void)
{
    unit_db_close(&db);
}

UNIT_TCASE("cancel", .setup = setup, .teardown = teardown, .timeout = 60);

#define ck_q(expected, ...)                                                                        \
    unit_ck_value(unit_pg_value(db.pg, "NULL", __VA_ARGS__), expected, #__VA_ARGS__)

/* The migration of GUEST whose request id (its job's id) goes to ID. */
static void move_req(request *r, char id[REQUEST_UUID_LEN])
{
    unit_move_request(r, GUEST, SRC, TGT, MODE_OFFLINE);
    util_strlcpy(id, r->request_id, REQUEST_UUID_LEN);
}

static void cancel_req(request *r, const char *job_id, const char *reason)
{
    request_init(r);
    r->action = ACTION_CANCEL;
    util_strlcpy(r->job_id, job_id, sizeof(r->job_id));
    util_strlcpy(r->reason, reason, sizeof(r->reason));
}

/* REQ through the intake on JS; asserts it was recorded and returns how (reason in ERR). */
static jobstore_intake intake(jobstore *js, const request *req, char *err, size_t err_size)
{
    jobstore_intake res = (jobstore_intake)-1;
    int rc = jobstore_intake_request(js, req, 0, 0, "test", &res, err, err_size);

    ck_assert_msg(rc == 0, "intake: %d %s", rc, err);
    return res;
}

/* The short event types of subject KEY (a job id or a request id), in order. */
#define ck_events(expected, key)                                                                   \
    ck_q(expected,                                                                                 \
         "SELECT coalesce(string_agg(substr(payload->>'type', 11), ',' ORDER BY id), '') FROM "    \
         "outbox WHERE job_id = '%s'",                                                             \
         key)

/* What a queued job that was cancelled before its request came looks like: ended cancelled, no
 * step ran, nothing to claim, its events those of a cancel of a queued job. */
static void ck_cancelled_on_arrival(const char *job_id, const char *cancel)
{
    char err[512];
    job j;

    ck_q("cancelled", "SELECT status FROM jobs WHERE id = '%s'", job_id);
    ck_q("0", "SELECT count(*) FROM job_steps WHERE job_id = '%s' AND status <> 'pending'", job_id);
    ck_q("cancelled", "SELECT outcome FROM cancel_requests WHERE request_id = '%s'", cancel);
    ck_q("t", "SELECT cancel_requested_at IS NOT NULL FROM jobs WHERE id = '%s'", job_id);
    ck_events("job.accepted,job.cancel_requested,job.cancelled", job_id);
    ck_q(cancel,
         "SELECT payload->'data'->>'request_id' FROM outbox WHERE job_id = '%s' AND "
         "payload->>'type' = 'io.kvmove.job.cancel_requested'",
         job_id);
    ck_assert_int_eq(jobstore_job_claim(db.js, "w1", 60, 0, &j, err, sizeof(err)), 0);
}

/* A cancel of an id no job has is recorded pending, until the maximum request age from now,
 * with no event yet; when the job's request arrives the job is recorded and ended cancelled at
 * once, and the cancel's outcome says so. */
UNIT_TEST(test_cancel_waits_for_its_job)
{
    request mv, cn;
    char job[REQUEST_UUID_LEN], err[1024];
    json_t *o = NULL;

    move_req(&mv, job);
    cancel_req(&cn, job, "wrong target");
    jobstore_set_request_max_age(db.js, 120);
    ck_assert_int_eq(intake(db.js, &cn, err, sizeof(err)), JOBSTORE_CREATED);
    ck_assert_msg(strstr(err, "cancel recorded; job ") && strstr(err, job) &&
                      strstr(err, "is not recorded yet and will be cancelled when its request "
                                  "arrives (until "),
                  "%s", err);
    ck_q("pending|120|wrong target",
         "SELECT outcome || '|' || extract(epoch FROM expires_at - created_at)::int || '|' || "
         "reason FROM cancel_requests WHERE request_id = '%s'",
         cn.request_id);
    ck_q("0", "SELECT count(*) FROM outbox");
    ck_assert_int_eq(jobstore_cancel_get_json(db.js, cn.request_id, &o, err, sizeof(err)), 1);
    ck_assert_str_eq(json_string_value(json_object_get(o, "outcome")), "pending");
    ck_assert(json_is_string(json_object_get(o, "expires_at")));
    json_decref(o);

    ck_assert_int_eq(intake(db.js, &mv, err, sizeof(err)), JOBSTORE_CREATED);
    ck_cancelled_on_arrival(job, cn.request_id);
    ck_q("wrong target",
         "SELECT payload->'data'->>'reason' FROM outbox WHERE job_id = '%s' AND payload->>'type' = "
         "'io.kvmove.job.cancelled'",
         job);
    ck_assert_int_eq(jobstore_cancel_get_json(db.js, cn.request_id, &o, err, sizeof(err)), 1);
    ck_assert_str_eq(json_string_value(json_object_get(o, "outcome")), "cancelled");
    ck_assert_str_eq(json_string_value(json_object_get(o, "job_status")), "cancelled");
    json_decref(o);
    /* Redeliveries change nothing. */
    ck_assert_int_eq(intake(db.js, &cn, err, sizeof(err)), JOBSTORE_DUPLICATE);
    ck_assert_int_eq(intake(db.js, &mv, err, sizeof(err)), JOBSTORE_DUPLICATE);
    ck_events("job.accepted,job.cancel_requested,job.cancelled", job);
}
END_TEST

/* Two cancels before the job: the first cancels it, the second finds it ended (as a second
 * cancel of a recorded job does). A cancel for a job whose request is rejected is rejected. */
UNIT_TEST(test_two_pending_cancels_and_a_rejected_job)
{
    request mv, c1, c2, other, holder;
    char job[REQUEST_UUID_LEN], other_job[REQUEST_UUID_LEN], err[1024];

    move_req(&mv, job);
    cancel_req(&c1, job, "first");
    cancel_req(&c2, job, "second");
    ck_assert_int_eq(intake(db.js, &c1, err, sizeof(err)), JOBSTORE_CREATED);
    ck_assert_int_eq(intake(db.js, &c2, err, sizeof(err)), JOBSTORE_CREATED);
    ck_assert_int_eq(intake(db.js, &mv, err, sizeof(err)), JOBSTORE_CREATED);
    ck_cancelled_on_arrival(job, c1.request_id);
    ck_q("rejected", "SELECT outcome FROM cancel_requests WHERE request_id = '%s'", c2.request_id);
    ck_events("job.rejected", c2.request_id);

    /* The guest has an active job: the next request for it is rejected, and so its cancel. */
    unit_move_request(&holder, GUEST, SRC, TGT, MODE_OFFLINE);
    ck_assert_int_eq(intake(db.js, &holder, err, sizeof(err)), JOBSTORE_CREATED);
    move_req(&other, other_job);
    cancel_req(&c1, other_job, "");
    ck_assert_int_eq(intake(db.js, &c1, err, sizeof(err)), JOBSTORE_CREATED);
    ck_assert_int_eq(intake(db.js, &other, err, sizeof(err)), JOBSTORE_REJECTED);
    ck_assert_msg(strstr(err, "already has an active job") != NULL, "%s", err);
    ck_q("rejected|1",
         "SELECT outcome || '|' || (message LIKE '%%has ended (rejected)%%')::int FROM "
         "cancel_requests "
         "WHERE request_id = '%s'",
         c1.request_id);
    ck_events("job.rejected", c1.request_id);
    ck_q("queued", "SELECT status FROM jobs WHERE id = '%s'", holder.request_id);
}
END_TEST

/* A pending cancel whose job did not come within the maximum request age is rejected by the
 * sweep, saying so, with its job.rejected; a job that still comes later runs. */
UNIT_TEST(test_pending_cancel_expires)
{
    request mv, cn;
    char job[REQUEST_UUID_LEN], err[1024];
    long n = -1;

    move_req(&mv, job);
    cancel_req(&cn, job, "");
    jobstore_set_request_max_age(db.js, 120);
    ck_assert_int_eq(intake(db.js, &cn, err, sizeof(err)), JOBSTORE_CREATED);
    ck_assert_int_eq(jobstore_cancel_expire(db.js, "test", &n, err, sizeof(err)), 0);
    ck_assert_int_eq(n, 0); /* not due yet */
    ck_q("pending", "SELECT outcome FROM cancel_requests");
    /* As if it had been recorded 121 s ago. */
    unit_pg_exec(db.pg, "UPDATE cancel_requests SET created_at = created_at - interval '121 s', "
                        "expires_at = expires_at - interval '121 s'");
    ck_assert_int_eq(jobstore_cancel_expire(db.js, "test", &n, err, sizeof(err)), 0);
    ck_assert_int_eq(n, 1);
    ck_q("rejected", "SELECT outcome FROM cancel_requests");
    ck_q("t",
         "SELECT message LIKE 'no job %s arrived within 120 s of the cancel%%' FROM "
         "cancel_requests",
         job);
    ck_events("job.rejected", cn.request_id);
    ck_assert_int_eq(jobstore_cancel_expire(db.js, "test", &n, err, sizeof(err)), 0);
    ck_assert_int_eq(n, 0);

    ck_assert_int_eq(intake(db.js, &mv, err, sizeof(err)), JOBSTORE_CREATED);
    ck_q("queued", "SELECT status FROM jobs WHERE id = '%s'", job);
    ck_events("job.accepted", job);
}
END_TEST

/* Expired but not swept yet when the job comes: the intake rejects it then, and the job runs. */
UNIT_TEST(test_expired_cancel_at_arrival)
{
    request mv, cn;
    char job[REQUEST_UUID_LEN], err[1024];

    move_req(&mv, job);
    cancel_req(&cn, job, "");
    jobstore_set_request_max_age(db.js, 60);
    ck_assert_int_eq(intake(db.js, &cn, err, sizeof(err)), JOBSTORE_CREATED);
    unit_pg_exec(db.pg, "UPDATE cancel_requests SET created_at = created_at - interval '61 s', "
                        "expires_at = expires_at - interval '61 s'");
    ck_assert_int_eq(intake(db.js, &mv, err, sizeof(err)), JOBSTORE_CREATED);
    ck_q("queued", "SELECT status FROM jobs WHERE id = '%s'", job);
    ck_events("job.accepted", job);
    ck_q("rejected|1",
         "SELECT outcome || '|' || (message LIKE 'no job %%arrived within 60 s%%')::int FROM "
         "cancel_requests");
    ck_events("job.rejected", cn.request_id);
}
END_TEST

/* A rollback of a job that is not recorded stays rejected: there is nothing to roll back. */
UNIT_TEST(test_rollback_of_unknown_job)
{
    request rb;
    char err[1024];

    request_init(&rb);
    rb.action = ACTION_ROLLBACK;
    util_uuid(rb.job_id);
    ck_assert_int_eq(intake(db.js, &rb, err, sizeof(err)), JOBSTORE_REJECTED);
    ck_assert_msg(strstr(err, "is not recorded") && strstr(err, "nothing to roll back"), "%s", err);
    ck_q("0", "SELECT count(*) FROM cancel_requests");
}
END_TEST

/* ---- the two orders on two connections ---- */

/* Joins intake C, which must have recorded its request. */
static void finish(unit_intake *c)
{
    unit_intake_join(c);
    ck_assert_msg(c->rc == 0, "intake: %d %s", c->rc, c->err);
    ck_assert_int_eq(c->result, JOBSTORE_CREATED);
}

/* Waits (up to 10 s) until N statements of the test's database wait on a lock; asserts it. Each
 * look is a new connection's: the test's own is in a transaction, which would see one snapshot
 * of pg_stat_activity. */
static void wait_lock_waits(int n)
{
    char want[16], *got = NULL;
    int i;

    snprintf(want, sizeof(want), "%d", n);
    for (i = 0; i < 200; i++) {
        PGconn *look = PQconnectdb(db.conninfo);
        free(got);
        got = unit_pg_value(look, "?",
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND wait_event_type = 'Lock'");
        PQfinish(look);
        if (strcmp(got, want) == 0)
            break;
        usleep(50 * 1000);
    }
    ck_assert_str_eq(got, want);
    free(got);
}

/* The job's request arrives while its cancel is being recorded: the cancel, having found no
 * job, is held back at its INSERT (by the test's uncommitted row with the same request id, which
 * the unique index makes it wait for, then rolled back). The job's intake waits for the cancel,
 * then finds it pending and ends the job cancelled. */
UNIT_TEST(test_race_request_while_cancel_records)
{
    request mv, cn;
    char job[REQUEST_UUID_LEN];
    unit_intake a, b;

    move_req(&mv, job);
    cancel_req(&cn, job, "race");
    unit_pg_exec(db.pg,
                 "BEGIN; INSERT INTO cancel_requests (request_id, job_id, outcome, message) "
                 "VALUES ('%s', gen_random_uuid(), 'rejected', 'held back')",
                 cn.request_id);
    unit_intake_start(&a, db.conninfo, &cn);
    wait_lock_waits(1); /* the cancel, at its INSERT */
    unit_intake_start(&b, db.conninfo, &mv);
    wait_lock_waits(2); /* the job's intake, at the job id's lock the cancel holds */
    unit_pg_exec(db.pg, "ROLLBACK");
    finish(&a);
    finish(&b);
    ck_cancelled_on_arrival(job, cn.request_id);
}
END_TEST

/* The cancel arrives while the job's request is being recorded (held back, by the test's lock
 * on outbox, before its job.accepted): the cancel waits for the job's intake, then finds the job
 * queued and cancels it as any queued job. */
UNIT_TEST(test_race_cancel_while_request_records)
{
    request mv, cn;
    char job[REQUEST_UUID_LEN];
    unit_intake a, b;

    move_req(&mv, job);
    cancel_req(&cn, job, "race");
    unit_pg_exec(db.pg, "BEGIN; LOCK TABLE outbox IN EXCLUSIVE MODE");
    unit_intake_start(&b, db.conninfo, &mv);
    wait_lock_waits(1); /* the job's intake, at its job.accepted */
    unit_intake_start(&a, db.conninfo, &cn);
    wait_lock_waits(2); /* the cancel, at the job id's lock the intake holds */
    unit_pg_exec(db.pg, "COMMIT");
    finish(&b);
    finish(&a);
    ck_cancelled_on_arrival(job, cn.request_id);
}
END_TEST

int main(void)
{
    return unit_main("jobstore_cancel");
}
