/* test_event: CloudEvents built by event_build are complete and match schema/event.schema.json. */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "event.h"
#include "jschema.h"
#include "util.h"
#include "unit_kafka.h"
#include "unit_run.h"

#define JOB "3d2e1f0a-9b8c-4d7e-8f6a-5b4c3d2e1f0a"

static jschema *event_schema(void)
{
    char file[1024], err[512];
    jschema *s = NULL;

    snprintf(file, sizeof(file), "%s/schema/event.schema.json", unit_source_dir());
    ck_assert_msg(jschema_load_file(file, &s, err, sizeof(err)) == 0, "%s", err);
    return s;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Every type, built as the worker builds it, passes the schema and event_validate; the
 * cleanup events carry what lib/jobstore_cleanup.c puts in them (host, guest, message). */
static const struct {
    const char *type;
    int has_step;
} types[] = {
    {EVENT_JOB_ACCEPTED, 0},         {EVENT_JOB_REJECTED, 0},    {EVENT_PREFLIGHT_PASSED, 0},
    {EVENT_PREFLIGHT_FAILED, 0},     {EVENT_STEP_STARTED, 1},    {EVENT_STEP_COMPLETED, 1},
    {EVENT_STEP_SKIPPED, 1},         {EVENT_STEP_FAILED, 1},     {EVENT_JOB_SUCCEEDED, 0},
    {EVENT_JOB_FAILED, 0},           {EVENT_CLEANUP_PENDING, 0}, {EVENT_CLEANUP_COMPLETED, 0},
    {EVENT_JOB_CANCEL_REQUESTED, 0}, {EVENT_JOB_CANCELLED, 0},
};

UNIT_TCASE("core", .timeout = 60);

UNIT_LOOP(test_every_type_valid, types)
{
    jschema *s = event_schema();
    char err[1024], want[64];
    json_t *data = json_object(), *ev;

    if (types[_i].has_step)
        json_object_set_new(data, "step", json_string("STOP_GUEST"));
    json_object_set_new(data, "host", json_string("exa01adm02.example.com"));
    json_object_set_new(data, "guest", json_string("exa01vm01.example.com"));
    json_object_set_new(data, "message", json_string("Step STOP_GUEST completed successfully"));
    json_object_set_new(data, "elapsed_ms", json_integer(23817));
    ev = event_build(types[_i].type, "worker-1", JOB, "exa01vm01.example.com", data);
    ck_assert_ptr_nonnull(ev);
    snprintf(want, sizeof(want), "io.kvmove.%s", types[_i].type);
    ck_assert_str_eq(str(ev, "type"), want);
    ck_assert_str_eq(event_short_type(str(ev, "type")), types[_i].type);
    ck_assert_int_eq(event_type_known(types[_i].type), 1);
    ck_assert_msg(jschema_validate(s, ev, err, sizeof(err)) == 0, "%s: %s", types[_i].type, err);
    ck_assert_msg(event_validate(ev, err, sizeof(err)) == 0, "%s", err);
    json_decref(ev);
    jschema_free(s);
}
END_TEST

UNIT_TEST(test_attributes)
{
    json_t *data = json_pack("{s:s}", "step", "MIGRATE_GUEST");
    json_t *ev = event_build(EVENT_STEP_COMPLETED, "w1", JOB, "exa01vm01.example.com", data);
    json_t *ev2 = event_build(EVENT_STEP_COMPLETED, "w1", JOB, "exa01vm01.example.com", NULL);
    regex_t re;

    ck_assert_ptr_nonnull(ev);
    ck_assert_str_eq(str(ev, "specversion"), "1.0");
    ck_assert(util_is_uuid(str(ev, "id")));
    ck_assert_str_ne(str(ev, "id"), str(ev2, "id"));
    ck_assert_str_eq(str(ev, "source"), "/kvmove/worker/w1");
    ck_assert_str_eq(str(ev, "subject"), "exa01vm01.example.com");
    ck_assert_str_eq(str(ev, "datacontenttype"), "application/json");
    ck_assert_int_eq(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\."
                             "[0-9]{3}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    ck_assert_msg(regexec(&re, str(ev, "time"), 0, NULL, 0) == 0, "%s", str(ev, "time"));
    regfree(&re);
    /* data is the caller's object, with job_id added */
    ck_assert_ptr_eq(json_object_get(ev, "data"), data);
    ck_assert_str_eq(str(data, "job_id"), JOB);
    ck_assert_str_eq(str(data, "step"), "MIGRATE_GUEST");
    /* NULL data gives an object holding just the job id */
    ck_assert_int_eq(json_object_size(json_object_get(ev2, "data")), 1);
    json_decref(ev);
    json_decref(ev2);
}
END_TEST

/* Data is stolen: after event_build the caller holds no reference, also on failure. */
UNIT_TEST(test_data_ownership)
{
    json_t *data = json_object(), *ev;

    json_incref(data); /* keep one to watch the count */
    ev = event_build(EVENT_JOB_ACCEPTED, "w", JOB, "vm1", data);
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_eq(data->refcount, 2);
    json_decref(ev);
    ck_assert_int_eq(data->refcount, 1);
    json_decref(data);

    data = json_array(); /* not an object: refused, and released */
    json_incref(data);
    ck_assert_ptr_null(event_build(EVENT_JOB_ACCEPTED, "w", JOB, "vm1", data));
    ck_assert_int_eq(data->refcount, 1);
    json_decref(data);

    ck_assert_ptr_null(event_build(NULL, "w", JOB, "vm1", NULL));
}
END_TEST

UNIT_TEST(test_optional_parts)
{
    jschema *s = event_schema();
    char err[1024];
    json_t *data = json_pack("{s:s}", "request_id", "6f1c2a52-3d0e-4b8e-9a51-0c7e4f2b9d10");
    json_t *ev = event_build(EVENT_JOB_REJECTED, NULL, NULL, NULL, data);

    ck_assert_ptr_nonnull(ev);
    ck_assert_str_eq(str(ev, "source"), "/kvmove/worker");
    ck_assert_ptr_null(json_object_get(ev, "subject"));
    ck_assert_ptr_null(json_object_get(data, "job_id"));
    ck_assert_msg(jschema_validate(s, ev, err, sizeof(err)) == 0, "%s", err);
    json_decref(ev);

    /* every other type needs its job id, and step events their step */
    ev = event_build(EVENT_JOB_FAILED, "w", NULL, "vm1", NULL);
    ck_assert_int_eq(jschema_validate(s, ev, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "job_id"));
    json_decref(ev);
    ev = event_build(EVENT_STEP_FAILED, "w", JOB, "vm1", NULL);
    ck_assert_int_eq(jschema_validate(s, ev, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "step"));
    json_decref(ev);
    jschema_free(s);
}
END_TEST

/* The cleanup events are checked as strictly as the others: a job id, hostnames as hostnames. */
UNIT_TEST(test_cleanup_events_refused)
{
    static const struct {
        const char *type, *job, *host, *needle;
    } bad[] = {
        {EVENT_CLEANUP_PENDING, NULL, "exa01adm02.example.com", "job_id"},
        {EVENT_CLEANUP_COMPLETED, NULL, "exa01adm02.example.com", "job_id"},
        {EVENT_CLEANUP_PENDING, JOB, "not a host;", "host"},
        {EVENT_CLEANUP_COMPLETED, JOB, "-leading.dash", "host"},
    };
    jschema *s = event_schema();
    char err[1024];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *ev = event_build(bad[i].type, "w", bad[i].job, "exa01vm01.example.com",
                                 json_pack("{s:s,s:s,s:s}", "host", bad[i].host, "guest",
                                           "exa01vm01.example.com", "message", "m"));
        ck_assert_ptr_nonnull(ev);
        ck_assert_msg(jschema_validate(s, ev, err, sizeof(err)) == -1, "case %zu accepted", i);
        ck_assert_msg(strstr(err, bad[i].needle) != NULL, "case %zu: %s", i, err);
        json_decref(ev);
    }
    jschema_free(s);
}
END_TEST

UNIT_TEST(test_dump_round_trip)
{
    json_t *ev = event_build(EVENT_JOB_SUCCEEDED, "w", JOB, "vm1", NULL), *back;
    char *s = event_dump(ev);

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(strchr(s, '\n'));
    ck_assert_ptr_nonnull(strstr(s, "\"type\":\"io.kvmove.job.succeeded\""));
    back = json_loads(s, 0, NULL);
    ck_assert(json_equal(ev, back));
    free(s);
    json_decref(back);
    json_decref(ev);
}
END_TEST

static const struct {
    const char *type;
    const char *short_type; /* NULL: not a kvmove type */
} short_cases[] = {
    {"io.kvmove.step.completed", "step.completed"},
    {"io.kvmove.job.rejected", "job.rejected"},
    {"io.kvmove.", NULL},
    {"io.kvmove", NULL},
    {"com.example.step.completed", NULL},
    {"", NULL},
    {NULL, NULL},
};

UNIT_LOOP(test_short_type, short_cases)
{
    const char *got = event_short_type(short_cases[_i].type);

    if (short_cases[_i].short_type == NULL)
        ck_assert_ptr_null(got);
    else
        ck_assert_str_eq(got, short_cases[_i].short_type);
}
END_TEST

/* event_validate: what a consumer of kvmove.events checks. */
static const struct {
    const char *json;
    const char *error; /* NULL: valid */
} validate_cases[] = {
    {"{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/kvmove/worker\",\"type\":\"io.kvmove."
     "job.failed\",\"time\":\"t\",\"datacontenttype\":\"application/json\",\"data\":{}}",
     NULL},
    {"[]", "not a JSON object"},
    {"{\"id\":\"x\"}", "specversion is missing"},
    {"{\"specversion\":\"0.3\"}", "specversion is \"0.3\""},
    {"{\"specversion\":\"1.0\",\"id\":\"\"}", "attribute id is not a non-empty string"},
    {"{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"io.kvmove.job.ok\"}",
     "is not a kvmove event type"},
    {"{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"io.kvmove.job.failed\","
     "\"time\":\"t\",\"datacontenttype\":\"text/plain\",\"data\":{}}",
     "expected \"application/json\""},
    {"{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"io.kvmove.job.failed\","
     "\"time\":\"t\",\"datacontenttype\":\"application/json\",\"data\":\"x\"}",
     "data is not an object"},
};

UNIT_LOOP(test_validate_table, validate_cases)
{
    json_t *v = json_loads(validate_cases[_i].json, JSON_DECODE_ANY, NULL);
    char err[512] = "";
    int rc;

    ck_assert_ptr_nonnull(v);
    rc = event_validate(v, err, sizeof(err));
    if (validate_cases[_i].error == NULL) {
        ck_assert_msg(rc == 0, "case %d: %s", _i, err);
    } else {
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strstr(err, validate_cases[_i].error) != NULL, "case %d: %s lacks %s", _i,
                      err, validate_cases[_i].error);
    }
    json_decref(v);
}
END_TEST

/* The Kafka protocol binding as the worker publishes (event_kafka_headers on every outbox
 * message), read back from a mock cluster: structured content mode, which a CloudEvents SDK
 * recognises by the content-type header alone, no ce_* headers, the job id as the key. */
UNIT_TEST(test_kafka_binding)
{
    static const unit_topic events = {BUS_TOPIC_EVENTS, 1};
    unit_kafka kafka;
    bus_producer *p = NULL;
    bus_consumer *c = NULL;
    bus_message msg;
    bus_out out;
    json_t *ev = event_build(EVENT_STEP_COMPLETED, "w1", JOB, "vm1", NULL), *back;
    char *payload = event_dump(ev), err[512] = "";
    const bus_header *h;
    size_t n, i;
    int got = 0, waited;

    unit_kafka_start(&kafka, &events, 1);
    h = event_kafka_headers(&n);
    out = (bus_out){BUS_TOPIC_EVENTS, JOB, payload, strlen(payload), 0, h, n, -1, -1};
    ck_assert_msg(bus_producer_new(kafka.brokers, NULL, &p, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(bus_produce_many(p, &out, 1, 10000, err, sizeof(err)), 1);
    ck_assert_msg(bus_consumer_new_from_start(kafka.brokers, NULL, BUS_TOPIC_EVENTS, &c, err,
                                              sizeof(err)) == 0,
                  "%s", err);
    for (waited = 0; got == 0 && waited < 30000; waited += 500)
        got = bus_consumer_poll(c, 500, &msg, err, sizeof(err));
    ck_assert_msg(got == 1, "poll: %d %s", got, err);
    ck_assert_str_eq(bus_message_header(&msg, "content-type"),
                     "application/cloudevents+json; charset=UTF-8");
    for (i = 0; i < msg.n_headers; i++)
        ck_assert_msg(strncmp(msg.headers[i].name, "ce_", 3) != 0, "binary-mode header %s",
                      msg.headers[i].name);
    ck_assert_str_eq(msg.key, JOB);
    back = json_loads(msg.value, 0, NULL);
    ck_assert_ptr_nonnull(back);
    ck_assert_msg(event_validate(back, err, sizeof(err)) == 0, "%s", err);
    ck_assert(json_equal(ev, back));
    json_decref(back);
    bus_consumer_close(c);
    bus_producer_close(p);
    unit_kafka_stop(&kafka);
    free(payload);
    json_decref(ev);
}
END_TEST

int main(void)
{
    return unit_main("event");
}
