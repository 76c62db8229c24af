/* test_intake: the worker's intake (worker/intake.c) against PostgreSQL and a mock Kafka cluster.
 */
#include <check.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "cli.h"
#include "jobstore.h"
#include "unit_pg.h"
#include "unit_kafka.h"
#include "unit_run.h"
#include "util.h"
#include "worker.h"

#define G "exa01vm01.example.com"
#define S "exa01adm02.example.com"
#define T "exa01adm06.example.com"
#define RID "6f1c2a52-3d0e-4b8e-9a51-0c7e4f2b9d10"
#define RID2 "7a2d3b63-4e1f-4c9f-8b62-1d8f5a3c0e21"

static char srcdir[PATH_MAX], dbname[64], conninfo[1024];
static int db_ready;

/* Per test (checked, in the test's process): the mock cluster, the worker, the store. */
static unit_kafka kafka;
static rd_kafka_mock_cluster_t *mcluster;
static const char *brokers;
static worker w;
static jobstore *js;
static bus_producer *prod;
static PGconn *pg;

/* ---- fixtures ------------------------------------------------------------------------------ */

static void db_setup(void)
{
    const char *env = getenv("KVMOVE_SOURCE_DIR");

    util_strlcpy(srcdir, env && *env ? env : KVMOVE_SOURCE_DIR, sizeof(srcdir));
    db_ready = unit_pg_make(srcdir, "intake", dbname, sizeof(dbname), conninfo, sizeof(conninfo));
}

static void db_teardown(void)
{
    unit_pg_run(srcdir, "drop", dbname, NULL, 0);
}

/* A fresh database state with exa01.xml stored (the guests' sizes come from it), the worker's
 * settings, a producer on a fresh mock cluster. */
static void setup(void)
{
    static const unit_topic dlq = {BUS_TOPIC_DLQ, 1};
    char err[512], xml[PATH_MAX + 64];
    cli c;
    long version = 0;

    ck_assert_msg(db_ready, "the database could not be made");
    unit_kafka_start(&kafka, &dlq, 1);
    mcluster = kafka.mc;
    brokers = kafka.brokers;

    memset(&w, 0, sizeof(w));
    settings_defaults(&w.s);
    w.s.auth_required = 0; /* what is read and recorded; signatures: test_auth, test_auth.sh */
    snprintf(w.s.schema_dir, sizeof(w.s.schema_dir), "%.1000s/schema", srcdir);
    util_strlcpy(w.s.db, conninfo, sizeof(w.s.db));
    util_strlcpy(w.s.brokers, brokers, sizeof(w.s.brokers));
    util_strlcpy(w.owner, "unit-w1", sizeof(w.owner));
    util_strlcpy(w.source, "unit-w1", sizeof(w.source));

    pg = PQconnectdb(conninfo);
    ck_assert_int_eq(PQstatus(pg), CONNECTION_OK);
    unit_pg_exec(pg, "SET client_min_messages = warning; TRUNCATE " UNIT_PG_TABLES
                     " RESTART IDENTITY CASCADE; DROP TRIGGER IF EXISTS unit_refuse ON jobs; "
                     "DROP TRIGGER IF EXISTS unit_refuse ON rejected_requests");
    memset(&c, 0, sizeof(c));
    c.s = w.s;
    snprintf(xml, sizeof(xml), "%s/tests/fixtures/exa01.xml", srcdir);
    ck_assert_int_eq(cli_config_load(&c, xml, &version), 0);
    ck_assert_int_eq(jobstore_connect(conninfo, &js, err, sizeof(err)), 0);
    ck_assert_msg(bus_producer_new(brokers, NULL, &prod, err, sizeof(err)) == 0, "%s", err);
}

static void teardown(void)
{
    bus_producer_close(prod);
    prod = NULL;
    jobstore_close(js);
    js = NULL;
    PQfinish(pg);
    pg = NULL;
    unit_kafka_stop(&kafka);
}

UNIT_TCASE("intake", .setup_once = db_setup, .teardown_once = db_teardown, .setup = setup,
           .teardown = teardown, .timeout = 60);

/* ---- helpers ------------------------------------------------------------------------------- */

/* The single value of a test-made query on the suite's connection ("" for no row, "" for
 * NULL), malloc'd; ck_sql_eq asserts it. */
#define q1(...) unit_pg_value(pg, "", __VA_ARGS__)
#define ck_sql_eq(expected, ...) unit_ck_value(q1(__VA_ARGS__), (expected), #__VA_ARGS__)

static void exec_ok(const char *sql)
{
    unit_pg_exec(pg, "%s", sql);
}

/* A migrate_guest request (one line of JSON) with request id ID. */
static char *migrate_msg(const char *id, const char *guest, const char *src, const char *tgt)
{
    char *s = NULL;

    ck_assert_int_gt(asprintf(&s,
                              "{\"request_id\": \"%s\", \"action\": \"migrate_guest\", \"guest\": "
                              "\"%s\", \"mode\": \"OFFLINE\", \"src_host\": \"%s\", \"tgt_host\": "
                              "\"%s\", \"submitted_by\": \"unit\", \"submitted_at\": "
                              "\"2025-07-30T16:11:46Z\"}",
                              id, guest, src, tgt),
                     0);
    return s;
}

/* Hands VALUE (NULL: a message without a value) to intake_message as message OFFSET of
 * kvmove.requests [0]; returns intake_message's result. */
static int intake(const char *value, long offset)
{
    bus_message m;

    memset(&m, 0, sizeof(m));
    m.topic = BUS_TOPIC_REQUESTS;
    m.partition = 0;
    m.offset = offset;
    m.key = G;
    m.key_len = strlen(G);
    m.value = value;
    m.len = value ? strlen(value) : 0;
    m.timestamp_ms = 1753891906000;
    m.timestamp_type = "CreateTime";
    return intake_message(&w, js, prod, &m);
}

/* The dead letters on the mock cluster: their count, and the kvmove.error of the last one in
 * WHY (WHY_SIZE bytes; "" when there is none). */
static int dead_letters(char *why, size_t why_size)
{
    bus_consumer *c = NULL;
    bus_message m;
    char err[512];
    int n = 0, idle = 0, got;

    why[0] = '\0';
    ck_assert_msg(bus_consumer_new_from_start(brokers, NULL, BUS_TOPIC_DLQ, &c, err, sizeof(err)) ==
                      0,
                  "%s", err);
    while (idle < 3) { /* the dead letters are delivered before intake returns: 0.9 s without one
                        * means the topic has been read */
        got = bus_consumer_poll(c, 300, &m, err, sizeof(err));
        ck_assert_msg(got >= 0, "%s", err);
        if (got == 0) {
            idle++;
            continue;
        }
        n++;
        util_strlcpy(why,
                     bus_message_header(&m, "kvmove.error") ? bus_message_header(&m, "kvmove.error")
                                                            : "",
                     why_size);
    }
    bus_consumer_close(c);
    return n;
}

/* ---- happy paths ----------------------------------------------------------------------------- */

/* A valid request becomes a queued job at once, with the guest's size from the stored es.xml as
 * its reservation, its eleven pending steps and its job.accepted event; nothing is
 * dead-lettered. */
UNIT_TEST(test_valid_request_recorded)
{
    char *msg = migrate_msg(RID, G, S, T), why[512];

    ck_assert_int_eq(intake(msg, 1), 0);
    ck_sql_eq("queued " G " " S " " T " 16384 4",
              "SELECT status || ' ' || guest || ' ' || src_host || ' ' || tgt_host || ' ' || "
              "memory_mb || ' ' || vcpus FROM jobs WHERE id = '" RID "'");
    ck_sql_eq("11",
              "SELECT count(*) FROM job_steps WHERE job_id = '" RID "' AND status = 'pending'");
    ck_sql_eq("io.kvmove.job.accepted", "SELECT string_agg(payload->>'type', ',') FROM outbox");
    ck_assert_int_eq(dead_letters(why, sizeof(why)), 0);
    free(msg);
}
END_TEST

/* The same request delivered again (a redelivery, another worker's copy) is one job. */
UNIT_TEST(test_redelivery_is_one_job)
{
    char *msg = migrate_msg(RID, G, S, T), why[512];

    ck_assert_int_eq(intake(msg, 1), 0);
    ck_assert_int_eq(intake(msg, 2), 0);
    ck_assert_int_eq(intake(msg, 3), 0);
    ck_sql_eq("1", "SELECT count(*) FROM jobs");
    ck_sql_eq("1", "SELECT count(*) FROM outbox WHERE payload->>'type' = 'io.kvmove.job.accepted'");
    ck_assert_int_eq(dead_letters(why, sizeof(why)), 0);
    free(msg);
}
END_TEST

/* A second request for a guest with an active job is recorded as rejected, naming the holder
 * (a job row, so that its redelivery stays a duplicate, and job.rejected); not dead-lettered. */
UNIT_TEST(test_second_active_job_rejected)
{
    char *a = migrate_msg(RID, G, S, T), *b = migrate_msg(RID2, G, S, "exa01adm04.example.com");
    char why[512];

    ck_assert_int_eq(intake(a, 1), 0);
    ck_assert_int_eq(intake(b, 2), 0);
    ck_sql_eq("rejected", "SELECT status FROM jobs WHERE id = '" RID2 "'");
    ck_sql_eq("guest " G " already has an active job " RID "; wait for it to end",
              "SELECT error FROM jobs WHERE id = '" RID2 "'");
    ck_sql_eq(RID, "SELECT payload->'data'->>'holder_job_id' FROM outbox WHERE job_id = '" RID2
                   "' AND payload->>'type' = 'io.kvmove.job.rejected'");
    ck_assert_int_eq(intake(b, 3), 0); /* redelivered: still one row */
    ck_sql_eq("1", "SELECT count(*) FROM jobs WHERE id = '" RID2 "'");
    ck_assert_int_eq(dead_letters(why, sizeof(why)), 0);
    free(a);
    free(b);
}
END_TEST

/* A replay of a failed job is a new attempt linked to it. */
UNIT_TEST(test_replay_recorded)
{
    char *a = migrate_msg(RID, G, S, T), msg[512], why[512];

    ck_assert_int_eq(intake(a, 1), 0);
    exec_ok("UPDATE jobs SET status = 'failed', finished_at = now() WHERE id = '" RID "'");
    exec_ok("UPDATE job_steps SET status = 'succeeded' WHERE job_id = '" RID
            "' AND step = 'STOP_GUEST'");
    snprintf(msg, sizeof(msg),
             "{\"request_id\": \"%s\", \"action\": \"replay\", \"job_id\": \"%s\", "
             "\"submitted_by\": \"unit\", \"submitted_at\": \"2025-07-30T16:11:46Z\"}",
             RID2, RID);
    ck_assert_int_eq(intake(msg, 2), 0);
    ck_sql_eq("queued 2 " RID, "SELECT status || ' ' || attempt || ' ' || replay_of FROM jobs "
                               "WHERE id = '" RID2 "'");
    ck_sql_eq("0", "SELECT count(*) FROM job_steps WHERE job_id = '" RID2
                   "' AND step = 'STOP_GUEST'"); /* done by attempt 1 */
    ck_assert_int_eq(dead_letters(why, sizeof(why)), 0);
    free(a);
}
END_TEST

/* Without a readable request schema the intake still records valid requests (the C checks of
 * request_parse_json apply). */
UNIT_TEST(test_no_schema_still_records)
{
    char *msg = migrate_msg(RID, G, S, T);

    snprintf(w.s.schema_dir, sizeof(w.s.schema_dir), "/nonexistent");
    ck_assert_int_eq(intake(msg, 1), 0);
    ck_sql_eq("queued", "SELECT status FROM jobs WHERE id = '" RID "'");
    free(msg);
}
END_TEST

/* ---- error paths: dead letters, rejections, retries --------------------------------------- */

/* Messages the intake cannot use: dead-lettered with the reason, offset committed (0), no job;
 * job.rejected once when the request id can be read. */
static const struct {
    const char *value; /* NULL: no value */
    const char *why;   /* in kvmove.error */
    int rejected;      /* 1: the request id was readable: job.rejected recorded */
} unusable[] = {
    {NULL, "empty message", 0},
    {"this is not JSON {", "not valid JSON", 0},
    {"[1, 2, 3]", "object", 0},
    {"{\"action\": \"migrate_guest\"}", "request_id", 0},
    {"{\"request_id\": \"" RID "\", \"action\": \"migrate_guest\", \"guest\": \"" G
     "\", \"mode\": \"SOMETIMES\", \"src_host\": \"" S "\", \"tgt_host\": \"" T
     "\", \"submitted_by\": \"u\", \"submitted_at\": \"2025-07-30T16:11:46Z\"}",
     "mode", 1},
    {"{\"request_id\": \"" RID "\", \"action\": \"migrate_guest\", \"guest\": \"a;reboot\", "
     "\"mode\": \"OFFLINE\", \"src_host\": \"" S "\", \"tgt_host\": \"" T
     "\", \"submitted_by\": \"u\", \"submitted_at\": \"2025-07-30T16:11:46Z\"}",
     "guest", 1},
    {"{\"request_id\": \"" RID "\", \"action\": \"migrate_guest\", \"guest\": \"" G
     "\", \"mode\": \"OFFLINE\", \"src_host\": \"" S "\", \"tgt_host\": \"" S
     "\", \"submitted_by\": \"u\", \"submitted_at\": \"2025-07-30T16:11:46Z\"}",
     "must be another KVM host", 1},
    {"{\"request_id\": \"" RID "\", \"action\": \"frob\", \"submitted_by\": \"u\", "
     "\"submitted_at\": \"2025-07-30T16:11:46Z\"}",
     "action", 1},
};

UNIT_LOOP(test_unusable_dead_lettered, unusable)
{
    char why[512];

    ck_assert_int_eq(intake(unusable[_i].value, 7), 0);
    ck_assert_int_eq(dead_letters(why, sizeof(why)), 1);
    ck_assert_msg(strstr(why, unusable[_i].why) != NULL, "case %d: kvmove.error '%s' lacks '%s'",
                  _i, why, unusable[_i].why);
    ck_sql_eq("0", "SELECT count(*) FROM jobs");
    ck_sql_eq(unusable[_i].rejected ? "1" : "0",
              "SELECT count(*) FROM outbox WHERE payload->>'type' = 'io.kvmove.job.rejected'");
    if (unusable[_i].rejected) {
        ck_sql_eq(RID, "SELECT payload->'data'->>'job_id' FROM outbox");
        /* delivered again: dead-lettered again, its rejection recorded once */
        ck_assert_int_eq(intake(unusable[_i].value, 8), 0);
        ck_assert_int_eq(dead_letters(why, sizeof(why)), 2);
        ck_sql_eq("1", "SELECT count(*) FROM outbox");
    }
}
END_TEST

/* The database refuses the job for good (a permanent error): the request is dead-lettered
 * ("cannot be recorded") instead of blocking its partition with retries. */
UNIT_TEST(test_refused_for_good_dead_lettered)
{
    char *msg = migrate_msg(RID, G, S, T), why[512];

    exec_ok("CREATE OR REPLACE FUNCTION unit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'unit refusal'; END $$; CREATE TRIGGER unit_refuse BEFORE "
            "INSERT ON jobs FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION "
            "unit_refuse()");
    ck_assert_int_eq(intake(msg, 1), 0);
    ck_assert_int_eq(dead_letters(why, sizeof(why)), 1);
    ck_assert_msg(strstr(why, "cannot be recorded") != NULL && strstr(why, "unit refusal"), "%s",
                  why);
    ck_sql_eq("0", "SELECT count(*) FROM jobs WHERE status = 'queued'");
    free(msg);
}
END_TEST

/* Not even the rejection can be recorded: the dead letter is the record; not retried. */
UNIT_TEST(test_rejection_unrecordable_still_dead_lettered)
{
    char why[512];

    exec_ok("CREATE OR REPLACE FUNCTION unit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'unit refusal'; END $$; CREATE TRIGGER unit_refuse BEFORE "
            "INSERT ON rejected_requests FOR EACH ROW EXECUTE FUNCTION unit_refuse()");
    ck_assert_int_eq(intake(unusable[4].value, 1), 0);
    ck_assert_int_eq(dead_letters(why, sizeof(why)), 1);
    ck_sql_eq("0", "SELECT count(*) FROM outbox");
}
END_TEST

/* The database unreachable: not recorded yet, so retried (-1): neither a job nor a dead letter
 * (a request is never dropped because PostgreSQL was away). */
UNIT_TEST(test_database_away_retried)
{
    char *msg = migrate_msg(RID, G, S, T), why[512];

    ck_sql_eq("1", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                   "application_name = 'kvmove' AND datname = current_database()");
    ck_assert_int_eq(intake(msg, 1), -1);
    ck_assert_int_eq(dead_letters(why, sizeof(why)), 0);
    ck_sql_eq("0", "SELECT count(*) FROM jobs");
    free(msg);
}
END_TEST

/* The broker does not take the dead letter: retried (-1), nothing recorded meanwhile. */
UNIT_TEST(test_dead_letter_undeliverable_retried)
{
    ck_assert_int_eq(rd_kafka_mock_broker_set_down(mcluster, 1), 0);
    ck_assert_int_eq(intake("this is not JSON {", 1), -1);
    ck_sql_eq("0", "SELECT count(*) FROM outbox");
}
END_TEST

/* A replay of a job that does not exist, or of one still running, is rejected with the reason
 * (a job row and job.rejected), never run. */
UNIT_TEST(test_replay_refused)
{
    char msg[512], *a = migrate_msg(RID, G, S, T);

    snprintf(msg, sizeof(msg),
             "{\"request_id\": \"%s\", \"action\": \"replay\", \"job_id\": \"%s\", "
             "\"submitted_by\": \"unit\", \"submitted_at\": \"2025-07-30T16:11:46Z\"}",
             RID2, "00000000-0000-4000-8000-000000000000");
    ck_assert_int_eq(intake(msg, 1), 0);
    ck_sql_eq("rejected", "SELECT status FROM jobs WHERE id = '" RID2 "'");
    ck_sql_eq("1", "SELECT count(*) FROM outbox WHERE job_id = '" RID2
                   "' AND payload->>'type' = 'io.kvmove.job.rejected'");
    exec_ok("TRUNCATE jobs, job_steps, outbox, rejected_requests CASCADE");
    ck_assert_int_eq(intake(a, 2), 0); /* queued, not failed: nothing to replay */
    snprintf(msg, sizeof(msg),
             "{\"request_id\": \"%s\", \"action\": \"replay\", \"job_id\": \"%s\", "
             "\"submitted_by\": \"unit\", \"submitted_at\": \"2025-07-30T16:11:46Z\"}",
             RID2, RID);
    ck_assert_int_eq(intake(msg, 3), 0);
    ck_sql_eq("rejected", "SELECT status FROM jobs WHERE id = '" RID2 "'");
    free(a);
}
END_TEST

int main(void)
{
    return unit_main("intake");
}
