/* Unit tests for bus: producer and consumers against an in-process librdkafka mock cluster. */
#include "bus.h"

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_kafka.h"
#include "unit_run.h"

#define T_ONE "t.one"   /* 1 partition */
#define T_TWO "t.two"   /* 2 partitions */
#define T_FOUR "t.four" /* 4 partitions */
#define POLL_MS 500
/* Upper bound on how long a test waits for something that must happen; not an assertion
 * on speed. */
#define PATIENCE_MS 30000

static unit_kafka kafka;
static rd_kafka_mock_cluster_t *mcluster;
static const char *brokers;

static void cluster_setup(void)
{
    static const unit_topic topics[] = {{T_ONE, 1}, {T_TWO, 2}, {T_FOUR, 4}, {BUS_TOPIC_DLQ, 1}};

    unit_kafka_start(&kafka, topics, sizeof(topics) / sizeof(topics[0]));
    mcluster = kafka.mc;
    brokers = kafka.brokers;
}

static void cluster_teardown(void)
{
    unit_kafka_stop(&kafka);
}

UNIT_TCASE("mock cluster", .setup = cluster_setup, .teardown = cluster_teardown, .timeout = 60);

static bus_producer *producer(void)
{
    bus_producer *p = NULL;
    char err[512] = "";

    ck_assert_msg(bus_producer_new(brokers, NULL, &p, err, sizeof(err)) == 0, "%s", err);
    return p;
}

static void produce(bus_producer *p, const char *topic, const char *key, const char *value)
{
    char err[512] = "";

    ck_assert_msg(bus_produce_sync(p, topic, key, value, strlen(value), NULL, 0, 10000, err,
                                   sizeof(err)) == 0,
                  "%s", err);
}

/* Polls C until a message arrives or PATIENCE_MS passes; fails the test on error/timeout. */
static void poll_one(bus_consumer *c, bus_message *msg)
{
    char err[512] = "";
    int waited = 0, r = 0;

    while (waited < PATIENCE_MS && (r = bus_consumer_poll(c, POLL_MS, msg, err, sizeof(err))) == 0)
        waited += POLL_MS;
    ck_assert_msg(r == 1, "poll returned %d: %s", r, err);
}

/* ---- round trip with key and headers ---- */

static const struct {
    const char *key;
    const char *value;
    bus_header headers[3];
    size_t n_headers;
} roundtrip_cases[] = {
    {"guest1.example.com", "{\"a\":1}", {{"origin-topic", "kvmove.requests", 0}}, 1},
    {NULL, "no key", {{0}}, 0},
    {"k", "", {{"reason", "bad json", 0}, {"empty", NULL, 0}, {"reason", "last wins", 0}}, 3},
};
#define N_ROUNDTRIP (sizeof(roundtrip_cases) / sizeof(roundtrip_cases[0]))

UNIT_TEST(test_roundtrip_from_start)
{
    bus_producer *p = producer();
    bus_consumer *c = NULL;
    bus_message msg;
    char err[512] = "";
    size_t i;

    for (i = 0; i < N_ROUNDTRIP; i++)
        ck_assert_msg(bus_produce_sync(p, T_ONE, roundtrip_cases[i].key, roundtrip_cases[i].value,
                                       strlen(roundtrip_cases[i].value), roundtrip_cases[i].headers,
                                       roundtrip_cases[i].n_headers, 10000, err, sizeof(err)) == 0,
                      "%s", err);
    ck_assert_msg(bus_consumer_new_from_start(brokers, NULL, T_ONE, &c, err, sizeof(err)) == 0,
                  "%s", err);
    for (i = 0; i < N_ROUNDTRIP; i++) {
        size_t h;

        poll_one(c, &msg);
        ck_assert_str_eq(msg.topic, T_ONE);
        ck_assert_int_eq(msg.partition, 0);
        ck_assert_int_eq(msg.offset, (int64_t)i);
        if (roundtrip_cases[i].key == NULL) {
            ck_assert_ptr_null(msg.key);
        } else {
            ck_assert_str_eq(msg.key, roundtrip_cases[i].key);
            ck_assert_uint_eq(msg.key_len, strlen(roundtrip_cases[i].key));
        }
        ck_assert_uint_eq(msg.len, strlen(roundtrip_cases[i].value));
        ck_assert_mem_eq(msg.value, roundtrip_cases[i].value, msg.len);
        ck_assert_int_eq(msg.value[msg.len], '\0');
        ck_assert_uint_eq(msg.n_headers, roundtrip_cases[i].n_headers);
        for (h = 0; h < msg.n_headers; h++) {
            const char *want = roundtrip_cases[i].headers[h].value;
            ck_assert_str_eq(msg.headers[h].name, roundtrip_cases[i].headers[h].name);
            ck_assert_str_eq(msg.headers[h].value, want ? want : "");
        }
    }
    /* The third message: repeated name reads as the last one, null value as "". */
    ck_assert_str_eq(bus_message_header(&msg, "reason"), "last wins");
    ck_assert_str_eq(bus_message_header(&msg, "empty"), "");
    ck_assert_ptr_null(bus_message_header(&msg, "origin-topic"));
    /* Nothing more. */
    ck_assert_int_eq(bus_consumer_poll(c, 200, &msg, err, sizeof(err)), 0);
    bus_consumer_close(c);
    bus_producer_close(p);
}
END_TEST

/* ---- consumer group: commit, close, resume ---- */

/* The mock re-forms a group session.timeout.ms - 1 s after a member leaves, and joins only
 * after its 3 s initial rebalance delay, so the session must outlast that: 5 s keeps the
 * test short. */
static const char *const group_kv[] = {"session.timeout.ms=5000"};
static const bus_props group_props = {group_kv, 1};

#define GROUP_MSGS 6
#define GROUP_FIRST 3

/* Adds the value of MSG (one of "m0".."m5") to SEEN, failing on a repeat. */
static void mark_seen(int *seen, const bus_message *msg)
{
    int idx;

    ck_assert_msg(sscanf(msg->value, "m%d", &idx) == 1 && idx >= 0 && idx < GROUP_MSGS,
                  "unexpected message '%s'", msg->value);
    ck_assert_msg(!seen[idx], "message %s delivered twice", msg->value);
    seen[idx] = 1;
}

UNIT_TEST(test_group_commit_resume)
{
    bus_producer *p = producer();
    bus_consumer *c = NULL;
    bus_message msg;
    int seen[GROUP_MSGS] = {0}, i, waited;
    char err[512] = "", key[8], value[8];

    for (i = 0; i < GROUP_MSGS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "m%d", i);
        produce(p, T_TWO, key, value);
    }

    ck_assert_msg(bus_consumer_new(brokers, &group_props, "g1", T_TWO, &c, err, sizeof(err)) == 0,
                  "%s", err);
    for (i = 0; i < GROUP_FIRST; i++) {
        poll_one(c, &msg);
        mark_seen(seen, &msg);
        ck_assert_msg(bus_consumer_commit(c, &msg, err, sizeof(err)) == 0, "%s", err);
    }
    bus_consumer_close(c);

    /* A new member of the same group gets exactly the messages not committed. */
    c = NULL;
    ck_assert_msg(bus_consumer_new(brokers, &group_props, "g1", T_TWO, &c, err, sizeof(err)) == 0,
                  "%s", err);
    for (i = GROUP_FIRST; i < GROUP_MSGS; i++) {
        poll_one(c, &msg);
        mark_seen(seen, &msg);
        ck_assert_msg(bus_consumer_commit(c, &msg, err, sizeof(err)) == 0, "%s", err);
    }
    for (i = 0; i < GROUP_MSGS; i++)
        ck_assert_msg(seen[i], "message m%d never delivered", i);
    /* And nothing is redelivered afterwards. */
    for (waited = 0; waited < 1000; waited += 250)
        ck_assert_int_eq(bus_consumer_poll(c, 250, &msg, err, sizeof(err)), 0);
    bus_consumer_close(c);

    /* A different group starts from the earliest offset and sees all of them. */
    memset(seen, 0, sizeof(seen));
    ck_assert_msg(bus_consumer_new(brokers, &group_props, "g2", T_TWO, &c, err, sizeof(err)) == 0,
                  "%s", err);
    for (i = 0; i < GROUP_MSGS; i++) {
        poll_one(c, &msg);
        mark_seen(seen, &msg);
    }
    bus_consumer_close(c);
    bus_producer_close(p);
}
END_TEST

/* ---- tail consumer ---- */

UNIT_TEST(test_tail_sees_only_new)
{
    bus_producer *p = producer();
    bus_consumer *c = NULL;
    bus_message msg;
    char err[512] = "";
    int seen_new1 = 0, seen_new2 = 0, i;

    produce(p, T_FOUR, "a", "old1");
    produce(p, T_FOUR, "b", "old2");
    produce(p, T_FOUR, "c", "old3");
    ck_assert_msg(bus_consumer_new_tail(brokers, NULL, T_FOUR, &c, err, sizeof(err)) == 0, "%s",
                  err);
    /* Produced right after creation, before any poll: must not be missed. */
    produce(p, T_FOUR, "a", "new1");
    produce(p, T_FOUR, "d", "new2");
    for (i = 0; i < 2; i++) {
        poll_one(c, &msg);
        ck_assert_msg(strncmp(msg.value, "new", 3) == 0, "tail consumer got old message %s",
                      msg.value);
        seen_new1 |= strcmp(msg.value, "new1") == 0;
        seen_new2 |= strcmp(msg.value, "new2") == 0;
    }
    ck_assert(seen_new1 && seen_new2);
    ck_assert_int_eq(bus_consumer_poll(c, 300, &msg, err, sizeof(err)), 0);
    /* Group-less: committing is refused with a reason. */
    msg.topic = T_FOUR;
    ck_assert_int_eq(bus_consumer_commit(c, &msg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "no group"));
    bus_consumer_close(c);
    bus_producer_close(p);
}
END_TEST

UNIT_TEST(test_produce_many_in_order)
{
    static const char *const values[] = {"e1", "e2", "e3", "e4", "e5", "e6"};
    bus_producer *p = producer();
    bus_consumer *c = NULL;
    bus_out out[6];
    bus_message msg;
    char err[512] = "";
    size_t i;

    bus_producer_warm(p, T_ONE, 5000);
    for (i = 0; i < 6; i++) {
        out[i] = (bus_out){T_ONE, "job", values[i], strlen(values[i]), 0, NULL, 0, -1, -1};
    }
    ck_assert_int_eq(bus_produce_many(p, out, 6, 10000, err, sizeof(err)), 6);
    for (i = 0; i < 6; i++)
        ck_assert_int_eq(out[i].delivered, 1);
    ck_assert_msg(bus_consumer_new_from_start(brokers, NULL, T_ONE, &c, err, sizeof(err)) == 0,
                  "%s", err);
    for (i = 0; i < 6; i++) { /* one partition: the batch arrives in the order given */
        poll_one(c, &msg);
        ck_assert_str_eq(msg.value, values[i]);
        ck_assert_str_eq(msg.key, "job");
        /* Each delivery report says where the message was stored. */
        ck_assert_int_eq(out[i].partition, msg.partition);
        ck_assert_int_eq(out[i].offset, msg.offset);
    }
    /* An empty batch is no error and delivers nothing. */
    ck_assert_int_eq(bus_produce_many(p, out, 0, 1000, err, sizeof(err)), 0);
    bus_consumer_close(c);
    bus_producer_close(p);
}
END_TEST

/* Headers given to bus_produce_many arrive with each message, binary values byte for byte. */
UNIT_TEST(test_produce_many_headers)
{
    static const char bin[] = {0x00, 0x01, 0x00, (char)0xff};
    static const bus_header h1[] = {{"content-type", "application/cloudevents+json", 0},
                                    {"bin", bin, sizeof(bin)}};
    bus_producer *p = producer();
    bus_consumer *c = NULL;
    bus_out out[2] = {{T_ONE, "a", "v1", 2, 0, h1, 2, -1, -1},
                      {T_ONE, "b", "v2", 2, 0, NULL, 0, -1, -1}};
    bus_message msg;
    char err[512] = "";

    ck_assert_int_eq(bus_produce_many(p, out, 2, 10000, err, sizeof(err)), 2);
    ck_assert_msg(bus_consumer_new_from_start(brokers, NULL, T_ONE, &c, err, sizeof(err)) == 0,
                  "%s", err);
    poll_one(c, &msg);
    ck_assert_uint_eq(msg.n_headers, 2);
    ck_assert_str_eq(bus_message_header(&msg, "content-type"), "application/cloudevents+json");
    ck_assert_uint_eq(msg.headers[1].value_len, sizeof(bin));
    ck_assert_mem_eq(msg.headers[1].value, bin, sizeof(bin));
    ck_assert_int_ge(msg.timestamp_ms, 0);
    ck_assert_str_eq(msg.timestamp_type, "CreateTime");
    poll_one(c, &msg);
    ck_assert_uint_eq(msg.n_headers, 0);
    bus_consumer_close(c);
    bus_producer_close(p);
}
END_TEST

/* A dead letter keeps key, value and the original headers, and says where it came from and
 * why under kvmove's, Kafka Connect's and (where Spring writes text) Spring Kafka's names. */
UNIT_TEST(test_dead_letter_headers)
{
    static const char bin[] = {0x00, 0x2a};
    static const bus_header orig[] = {{"traceparent",
                                       "00-0af7651916cd43dd8448eb211c80319c-"
                                       "b7ad6b7169203331-01",
                                       0},
                                      {"spring_json_header_types", bin, sizeof(bin)}};
    static const struct {
        const char *name, *value;
    } text[] = {
        {"kvmove.original.topic", T_FOUR},
        {"kvmove.original.consumer.group", "kvmove-workers"},
        {"kvmove.original.timestamp.type", "CreateTime"},
        {"kvmove.error", "request has no guest"},
        {"kvmove.worker", "worker-1"},
        {"__connect.errors.topic", T_FOUR},
        {"__connect.errors.exception.message", "request has no guest"},
        {"kafka_dlt-original-topic", T_FOUR},
        {"kafka_dlt-original-consumer-group", "kvmove-workers"},
        {"kafka_dlt-original-timestamp-type", "CreateTime"},
        {"kafka_dlt-exception-message", "request has no guest"},
    };
    bus_producer *p = producer();
    bus_consumer *c = NULL, *dlq = NULL;
    bus_message msg, dl;
    char err[512] = "", part[16], off[32], ts[32];
    size_t i;

    for (i = 0; i < 3; i++) /* a few first, so that the offset is not 0 */
        ck_assert_msg(bus_produce_sync(p, T_FOUR, "guest9.example.com", "{}", 2, orig, 2, 10000,
                                       err, sizeof(err)) == 0,
                      "%s", err);
    ck_assert_msg(bus_consumer_new_from_start(brokers, NULL, T_FOUR, &c, err, sizeof(err)) == 0,
                  "%s", err);
    for (i = 0; i < 3; i++)
        poll_one(c, &msg);
    ck_assert_msg(bus_dead_letter(p, &msg, "kvmove-workers", "request has no guest", "worker-1",
                                  10000, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_msg(
        bus_consumer_new_from_start(brokers, NULL, BUS_TOPIC_DLQ, &dlq, err, sizeof(err)) == 0,
        "%s", err);
    poll_one(dlq, &dl);
    ck_assert_str_eq(dl.key, "guest9.example.com");
    ck_assert_str_eq(dl.value, "{}");
    /* The original headers come first and unchanged (binary ones byte for byte). */
    ck_assert_uint_gt(dl.n_headers, 2);
    ck_assert_str_eq(dl.headers[0].name, "traceparent");
    ck_assert_str_eq(dl.headers[0].value, orig[0].value);
    ck_assert_str_eq(dl.headers[1].name, "spring_json_header_types");
    ck_assert_uint_eq(dl.headers[1].value_len, sizeof(bin));
    ck_assert_mem_eq(dl.headers[1].value, bin, sizeof(bin));
    for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        const char *v = bus_message_header(&dl, text[i].name);
        ck_assert_msg(v != NULL, "no header %s", text[i].name);
        ck_assert_str_eq(v, text[i].value);
    }
    snprintf(part, sizeof(part), "%d", (int)msg.partition);
    snprintf(off, sizeof(off), "%lld", (long long)msg.offset);
    snprintf(ts, sizeof(ts), "%lld", (long long)msg.timestamp_ms);
    ck_assert_str_eq(bus_message_header(&dl, "kvmove.original.partition"), part);
    ck_assert_str_eq(bus_message_header(&dl, "kvmove.original.offset"), off);
    ck_assert_str_eq(bus_message_header(&dl, "kvmove.original.timestamp"), ts);
    ck_assert_str_eq(bus_message_header(&dl, "__connect.errors.partition"), part);
    ck_assert_str_eq(bus_message_header(&dl, "__connect.errors.offset"), off);
    /* Every header added is text (kcat prints headers raw, one message a line). */
    for (i = 2; i < dl.n_headers; i++)
        ck_assert_msg(strlen(dl.headers[i].value) == dl.headers[i].value_len &&
                          strchr(dl.headers[i].value, '\n') == NULL,
                      "header %s is not one line of text", dl.headers[i].name);
    ck_assert_ptr_null(bus_message_header(&dl, "kafka_dlt-original-offset"));
    ck_assert_int_eq(msg.offset, 2);
    bus_consumer_close(dlq);
    bus_consumer_close(c);
    bus_producer_close(p);
}
END_TEST

/* A topic the cluster does not have (the mock would create it on request, a real cluster may
 * not: the mock is told to answer as one that does not): neither consumer is made, and the error
 * names the topic and what to do. */
UNIT_TEST(test_unknown_topic_named)
{
    static const char *const topics[] = {"t.absent.tail", "t.absent.start"};
    bus_consumer *c = NULL;
    char err[512] = "";
    int i, rc;

    for (i = 0; i < 2; i++) {
        rd_kafka_mock_topic_set_error(mcluster, topics[i], RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
        rc = i == 0 ? bus_consumer_new_tail(brokers, NULL, topics[i], &c, err, sizeof(err))
                    : bus_consumer_new_from_start(brokers, NULL, topics[i], &c, err, sizeof(err));
        ck_assert_int_eq(rc, -1);
        ck_assert_ptr_null(c);
        ck_assert_msg(strstr(err, topics[i]) != NULL && strstr(err, "does not exist") != NULL &&
                          strstr(err, "kvmove-devbroker") != NULL,
                      "%s", err);
    }
}
END_TEST

/* ---- properties ---- */

static const struct {
    const char *prop;
    const char *must_mention;
} bad_props[] = {
    {"no.such.property=1", "no.such.property"},
    {"socket.timeout.ms=banana", "socket.timeout.ms"},
    {"missing-equals", "missing-equals"},
    {"=value", "=value"},
};

UNIT_LOOP(test_bad_property, bad_props)
{
    const char *kv[] = {"client.id=test", bad_props[_i].prop};
    bus_props props = {kv, 2};
    bus_producer *p = NULL;
    bus_consumer *c = NULL;
    char err[512] = "";

    ck_assert_int_eq(bus_producer_new(brokers, &props, &p, err, sizeof(err)), -1);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err, bad_props[_i].must_mention) != NULL, "'%s' lacks '%s'", err,
                  bad_props[_i].must_mention);
    err[0] = '\0';
    ck_assert_int_eq(bus_consumer_new(brokers, &props, "g", T_ONE, &c, err, sizeof(err)), -1);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err, bad_props[_i].must_mention));
    err[0] = '\0';
    ck_assert_int_eq(bus_consumer_new_tail(brokers, &props, T_ONE, &c, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, bad_props[_i].must_mention));
}
END_TEST

UNIT_TEST(test_good_property_applied)
{
    /* A valid override is accepted and the producer still works. */
    const char *kv[] = {"client.id=kvmove-test", "linger.ms=0"};
    bus_props props = {kv, 2};
    bus_producer *p = NULL;
    char err[512] = "";

    ck_assert_msg(bus_producer_new(brokers, &props, &p, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(bus_produce_sync(p, T_ONE, "k", "v", 1, NULL, 0, 10000, err, sizeof(err)) == 0,
                  "%s", err);
    bus_producer_close(p);
}
END_TEST

/* ---- broker down: timeout, then recovery ---- */

UNIT_TEST(test_produce_broker_down)
{
    bus_producer *p = producer();
    bus_consumer *c = NULL;
    bus_message msg;
    char err[512] = "";
    int got_late = 0, got_after = 0, i;

    produce(p, T_ONE, "k", "before");
    ck_assert_int_eq(rd_kafka_mock_broker_set_down(mcluster, 1), 0);
    ck_assert_int_eq(bus_produce_sync(p, T_ONE, "k", "late", 4, NULL, 0, 1500, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "no delivery report") != NULL, "%s", err);
    ck_assert_int_eq(rd_kafka_mock_broker_set_up(mcluster, 1), 0);
    /* The timed-out message is still delivered (idempotent retries), once, before this one. */
    produce(p, T_ONE, "k", "after");

    ck_assert_msg(bus_consumer_new_from_start(brokers, NULL, T_ONE, &c, err, sizeof(err)) == 0,
                  "%s", err);
    for (i = 0; i < 3; i++) {
        poll_one(c, &msg);
        if (i == 0)
            ck_assert_str_eq(msg.value, "before");
        got_late += strcmp(msg.value, "late") == 0;
        got_after += strcmp(msg.value, "after") == 0;
    }
    ck_assert_int_eq(got_late, 1);
    ck_assert_int_eq(got_after, 1);
    ck_assert_int_eq(bus_consumer_poll(c, 300, &msg, err, sizeof(err)), 0);
    bus_consumer_close(c);
    bus_producer_close(p);
}
END_TEST

int main(void)
{
    return unit_main("bus");
}
