/* bus: Kafka producer and consumer for kvmove's topics (librdkafka). */
#include "bus.h"

#include "util.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long constructors wait for metadata and watermarks before giving up. */
#define BUS_SETUP_TIMEOUT_MS 10000
/* Slice of a blocking wait spent inside one rd_kafka_poll() call. */
#define BUS_POLL_SLICE_MS 20
/* How long bus_producer_close waits for outstanding deliveries. */
#define BUS_CLOSE_FLUSH_MS 10000

/* Messages this process queued for the brokers and the produce calls that carried them (one
 * bus_produce_many batch or bus_produce_sync message each): bus_counters. */
static atomic_ulong n_messages, n_batches;

void bus_counters(unsigned long *messages, unsigned long *batches)
{
    if (messages)
        *messages = atomic_load(&n_messages);
    if (batches)
        *batches = atomic_load(&n_batches);
}

/* The most recent client-level error (error_cb), shared by producer and consumer. */
typedef struct bus_lasterr {
    pthread_mutex_t lock;
    char text[512];
    int set;
} bus_lasterr;

struct bus_producer {
    rd_kafka_t *rk;
    pthread_mutex_t lock; /* guards every bus_delivery's done/abandoned/err */
    bus_lasterr lasterr;
};

/* One produce_sync call waiting for its delivery report. Freed by the waiter, or by the
 * delivery-report callback if the waiter gave up (abandoned). */
typedef struct bus_delivery {
    int done;
    int abandoned;
    rd_kafka_resp_err_t err;
    int32_t partition; /* where the broker stored it */
    int64_t offset;
    bus_producer *p;
} bus_delivery;

struct bus_consumer {
    rd_kafka_t *rk;
    int has_group;
    rd_kafka_message_t *cur; /* message returned by the last poll, owned */
    char *key;               /* copies for the current message, owned */
    char *value;
    bus_header *headers; /* n_headers entries; names/values owned */
    size_t n_headers;
    bus_lasterr lasterr;
    char *topic;    /* group-less consumers: their topic (owned) */
    int partitions; /* and its partition count */
};

/* One librdkafka property. */
typedef struct bus_kv {
    const char *key;
    const char *value;
} bus_kv;

#define BUS_NKV(a) (sizeof(a) / sizeof((a)[0]))

/* Default properties, applied before the caller's. Loopback-friendly but sane for a real
 * cluster: short reconnect backoff so a restarted broker is found quickly. */
static const bus_kv bus_common_defaults[] = {
    {"client.id", "kvmove"},
    {"socket.timeout.ms", "10000"},
    {"reconnect.backoff.ms", "50"},
    {"reconnect.backoff.max.ms", "1000"},
};

/* partitioner: librdkafka's default (consistent_random, CRC32) puts a key on another partition
 * than Java's and kafkajs's default (murmur2); murmur2_random is theirs, so one guest's requests
 * stay ordered on one partition whichever client published them. */
static const bus_kv bus_producer_defaults[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"linger.ms", "1"},
    {"partitioner", "murmur2_random"},
};

/* fetch.wait.max.ms: a real broker answers a fetch as soon as data arrives, so this only
 * bounds idle polling; the mock cluster answers after it, so it is also the mock's delivery
 * latency. session.timeout.ms: how fast a dead worker's partitions move to another one. */
static const bus_kv bus_group_defaults[] = {
    {"enable.auto.commit", "false"},   {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "earliest"}, {"enable.partition.eof", "false"},
    {"session.timeout.ms", "10000"},   {"heartbeat.interval.ms", "1000"},
    {"fetch.wait.max.ms", "50"},
};

static const bus_kv bus_standalone_defaults[] = {
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "false"},
    {"fetch.wait.max.ms", "50"},
};

static void lasterr_init(bus_lasterr *le)
{
    pthread_mutex_init(&le->lock, NULL);
    le->text[0] = '\0';
    le->set = 0;
}

static int lasterr_get(bus_lasterr *le, char *errstr, size_t errstr_size)
{
    int set;

    pthread_mutex_lock(&le->lock);
    set = le->set;
    if (set)
        util_errf(errstr, errstr_size, "%s", le->text);
    pthread_mutex_unlock(&le->lock);
    return set;
}

static void lasterr_set(bus_lasterr *le, rd_kafka_resp_err_t err, const char *reason)
{
    pthread_mutex_lock(&le->lock);
    snprintf(le->text, sizeof(le->text), "%s (%s)", reason ? reason : rd_kafka_err2str(err),
             rd_kafka_err2name(err));
    le->set = 1;
    pthread_mutex_unlock(&le->lock);
}

/* error_cb: errors are kept for the caller, never printed (library code does not log). */
static void bus_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    lasterr_set(opaque, (rd_kafka_resp_err_t)err, reason);
}

/* log_cb installed unless the caller asked for librdkafka debug output: the errors that
 * matter reach error_cb and the caller's errstr. */
static void bus_quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static int conf_set_pairs(rd_kafka_conf_t *conf, const bus_kv *pairs, size_t n, char *errstr,
                          size_t errstr_size)
{
    char why[256];
    size_t i;

    for (i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, pairs[i].key, pairs[i].value, why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
            util_errf(errstr, errstr_size, "cannot set Kafka property %s=%s: %s", pairs[i].key,
                      pairs[i].value, why);
            return -1;
        }
    }
    return 0;
}

/* Applies the caller's "key=value" properties. Sets *DEBUG if one of them is "debug". */
static int conf_set_props(rd_kafka_conf_t *conf, const bus_props *props, int *debug, char *errstr,
                          size_t errstr_size)
{
    char why[256];
    size_t i;

    *debug = 0;
    if (props == NULL)
        return 0;
    for (i = 0; i < props->n; i++) {
        const char *kv = props->kv[i];
        const char *eq = kv ? strchr(kv, '=') : NULL;
        char *key;
        rd_kafka_conf_res_t res;

        if (eq == NULL || eq == kv) {
            util_errf(errstr, errstr_size,
                      "invalid Kafka property '%s': expected key=value (e.g. -X "
                      "socket.timeout.ms=5000)",
                      kv ? kv : "(null)");
            return -1;
        }
        key = strndup(kv, (size_t)(eq - kv));
        if (key == NULL) {
            util_errf(errstr, errstr_size, "out of memory");
            return -1;
        }
        res = rd_kafka_conf_set(conf, key, eq + 1, why, sizeof(why));
        if (res == RD_KAFKA_CONF_OK && strcmp(key, "debug") == 0)
            *debug = 1;
        free(key);
        if (res != RD_KAFKA_CONF_OK) {
            util_errf(errstr, errstr_size, "invalid Kafka property '%s': %s", kv, why);
            return -1;
        }
    }
    return 0;
}

/* Builds a configuration: bootstrap servers, common defaults, role DEFAULTS, then PROPS.
 * Returns the new conf (caller owns) or NULL with errstr. */
static rd_kafka_conf_t *conf_build(const char *brokers, const bus_kv *defaults, size_t n_defaults,
                                   const bus_props *props, bus_lasterr *lasterr, char *errstr,
                                   size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int debug = 0;

    if (brokers != NULL && *brokers != '\0' &&
        conf_set_pairs(conf, &(bus_kv){"bootstrap.servers", brokers}, 1, errstr, errstr_size) < 0)
        goto fail;
    if (conf_set_pairs(conf, bus_common_defaults, BUS_NKV(bus_common_defaults), errstr,
                       errstr_size) < 0)
        goto fail;
    if (conf_set_pairs(conf, defaults, n_defaults, errstr, errstr_size) < 0)
        goto fail;
    if (conf_set_props(conf, props, &debug, errstr, errstr_size) < 0)
        goto fail;
    rd_kafka_conf_set_opaque(conf, lasterr);
    rd_kafka_conf_set_error_cb(conf, bus_error_cb);
    if (!debug)
        rd_kafka_conf_set_log_cb(conf, bus_quiet_log_cb);
    return conf;

fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- producer ---- */

static void bus_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    bus_delivery *d = m->_private;
    bus_producer *p;
    int free_it;

    (void)rk;
    (void)opaque;
    if (d == NULL)
        return;
    p = d->p;
    pthread_mutex_lock(&p->lock);
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
    d->done = 1;
    free_it = d->abandoned;
    pthread_mutex_unlock(&p->lock);
    if (free_it)
        free(d);
}

int bus_producer_new(const char *brokers, const bus_props *props, bus_producer **out, char *errstr,
                     size_t errstr_size)
{
    bus_producer *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = NULL;
    char why[512];

    *out = NULL;
    if (p == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    lasterr_init(&p->lasterr);
    conf = conf_build(brokers, bus_producer_defaults, BUS_NKV(bus_producer_defaults), props,
                      &p->lasterr, errstr, errstr_size);
    if (conf == NULL)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, bus_dr_msg_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (p->rk == NULL) {
        util_errf(errstr, errstr_size, "cannot create Kafka producer for %s: %s",
                  brokers ? brokers : "(bootstrap.servers)", why);
        goto fail;
    }
    conf = NULL; /* now owned by rk */
    *out = p;
    return 0;

fail:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return -1;
}

/* Builds librdkafka headers from ours. Returns NULL (no headers) when N is 0. */
static rd_kafka_headers_t *headers_build(const bus_header *headers, size_t n)
{
    rd_kafka_headers_t *hdrs;
    size_t i;

    if (n == 0)
        return NULL;
    hdrs = rd_kafka_headers_new(n);
    for (i = 0; i < n; i++) {
        const char *v = headers[i].value;
        ssize_t len = v == NULL ? 0 : headers[i].value_len ? (ssize_t)headers[i].value_len : -1;

        rd_kafka_header_add(hdrs, headers[i].name, -1, v, len);
    }
    return hdrs;
}

void bus_producer_warm(bus_producer *p, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;

    if (rkt == NULL)
        return;
    if (rd_kafka_metadata(p->rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
}

int bus_produce_many(bus_producer *p, bus_out *msgs, size_t n, int timeout_ms, char *errstr,
                     size_t errstr_size)
{
    int64_t deadline = util_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    bus_delivery **d = calloc(n ? n : 1, sizeof(*d));
    size_t i, queued = 0;
    int delivered = 0;

    if (d == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (i = 0; i < n; i++) {
        rd_kafka_resp_err_t err;
        msgs[i].delivered = 0;
        if ((d[i] = calloc(1, sizeof(**d))) == NULL)
            break;
        d[i]->p = p;
        for (;;) {
            rd_kafka_headers_t *hdrs = headers_build(msgs[i].headers, msgs[i].n_headers);

            err = rd_kafka_producev(
                p->rk, RD_KAFKA_V_TOPIC(msgs[i].topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(msgs[i].key, msgs[i].key ? strlen(msgs[i].key) : 0),
                RD_KAFKA_V_VALUE((void *)msgs[i].value, msgs[i].len), RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_OPAQUE(d[i]), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != NULL)
                rd_kafka_headers_destroy(hdrs); /* on success the message owns them */
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || util_now_ms() >= deadline)
                break;
            rd_kafka_poll(p->rk, BUS_POLL_SLICE_MS);
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            util_errf(errstr, errstr_size, "cannot produce to %s: %s", msgs[i].topic,
                      rd_kafka_err2str(err));
            free(d[i]); /* never queued: no delivery report will come */
            d[i] = NULL;
            break; /* keep order: nothing after a message that was not queued */
        }
        queued++;
    }
    atomic_fetch_add(&n_messages, queued);
    if (queued > 0)
        atomic_fetch_add(&n_batches, 1);
    for (;;) {
        size_t done = 0;
        pthread_mutex_lock(&p->lock);
        for (i = 0; i < queued; i++)
            done += d[i]->done;
        pthread_mutex_unlock(&p->lock);
        if (done == queued || util_now_ms() >= deadline)
            break;
        rd_kafka_poll(p->rk, BUS_POLL_SLICE_MS);
    }
    pthread_mutex_lock(&p->lock);
    for (i = 0; i < queued; i++) {
        if (d[i]->done) {
            msgs[i].delivered = d[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR;
            msgs[i].partition = msgs[i].delivered ? d[i]->partition : -1;
            msgs[i].offset = msgs[i].delivered ? d[i]->offset : -1;
            delivered += msgs[i].delivered;
            free(d[i]);
        } else {
            d[i]->abandoned = 1; /* the callback frees it */
        }
    }
    pthread_mutex_unlock(&p->lock);
    free(d);
    if (queued == 0 && n > 0)
        return -1;
    return delivered;
}

int bus_produce_sync(bus_producer *p, const char *topic, const char *key, const void *value,
                     size_t len, const bus_header *headers, size_t n_headers, int timeout_ms,
                     char *errstr, size_t errstr_size)
{
    int64_t deadline = util_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    rd_kafka_headers_t *hdrs = NULL;
    bus_delivery *d = calloc(1, sizeof(*d));
    rd_kafka_resp_err_t err;
    int done = 0, rc = -1;
    char last[256];

    if (d == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    d->p = p;
    for (;;) {
        hdrs = headers_build(headers, n_headers);
        err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            hdrs = NULL; /* now owned by the message */
            atomic_fetch_add(&n_messages, 1);
            atomic_fetch_add(&n_batches, 1);
            break;
        }
        if (hdrs != NULL)
            rd_kafka_headers_destroy(hdrs);
        hdrs = NULL;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || util_now_ms() >= deadline) {
            char fatal[256];
            if (rd_kafka_fatal_error(p->rk, fatal, sizeof(fatal)))
                util_errf(errstr, errstr_size,
                          "cannot produce to %s: producer has a fatal error: %s (create a "
                          "new producer)",
                          topic, fatal);
            else
                util_errf(errstr, errstr_size, "cannot produce to %s: %s", topic,
                          rd_kafka_err2str(err));
            free(d); /* never queued: no delivery report will come */
            return -1;
        }
        rd_kafka_poll(p->rk, BUS_POLL_SLICE_MS);
    }

    for (;;) {
        int gave_up = 0;

        pthread_mutex_lock(&p->lock);
        done = d->done;
        if (!done && util_now_ms() >= deadline)
            gave_up = d->abandoned = 1; /* from here on the callback frees d */
        pthread_mutex_unlock(&p->lock);
        if (done || gave_up)
            break;
        rd_kafka_poll(p->rk, BUS_POLL_SLICE_MS);
    }

    if (!done) {
        if (lasterr_get(&p->lasterr, last, sizeof(last)))
            util_errf(errstr, errstr_size,
                      "no delivery report for the message to %s within %d ms; last client "
                      "error: %s",
                      topic, timeout_ms, last);
        else
            util_errf(errstr, errstr_size, "no delivery report for the message to %s within %d ms",
                      topic, timeout_ms);
        return -1; /* d belongs to the callback now */
    }
    if (d->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = 0;
    } else if (d->err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[256] = "";
        rd_kafka_fatal_error(p->rk, fatal, sizeof(fatal));
        util_errf(errstr, errstr_size,
                  "delivery to %s failed: producer fatal error: %s (create a new producer)", topic,
                  fatal);
    } else {
        util_errf(errstr, errstr_size, "delivery to %s failed: %s (%s)", topic,
                  rd_kafka_err2str(d->err), rd_kafka_err2name(d->err));
    }
    free(d);
    return rc;
}

int bus_producer_last_error(bus_producer *p, char *errstr, size_t errstr_size)
{
    return p ? lasterr_get(&p->lasterr, errstr, errstr_size) : 0;
}

void bus_producer_close(bus_producer *p)
{
    if (p == NULL)
        return;
    if (rd_kafka_flush(p->rk, BUS_CLOSE_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Purged messages get a delivery report, which frees abandoned waits. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 1000);
    }
    rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->lasterr.lock);
    free(p);
}

/* ---- consumer ---- */

static bus_consumer *consumer_alloc(void)
{
    bus_consumer *c = calloc(1, sizeof(*c));

    if (c != NULL)
        lasterr_init(&c->lasterr);
    return c;
}

/* Frees the copies and the librdkafka message of the last poll. */
static void consumer_release_current(bus_consumer *c)
{
    size_t i;

    if (c->cur != NULL)
        rd_kafka_message_destroy(c->cur);
    c->cur = NULL;
    free(c->key);
    free(c->value);
    c->key = c->value = NULL;
    for (i = 0; i < c->n_headers; i++) {
        free((char *)c->headers[i].name);
        free((char *)c->headers[i].value);
    }
    free(c->headers);
    c->headers = NULL;
    c->n_headers = 0;
}

static void consumer_free(bus_consumer *c)
{
    if (c == NULL)
        return;
    consumer_release_current(c);
    if (c->rk != NULL) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    pthread_mutex_destroy(&c->lasterr.lock);
    free(c->topic);
    free(c);
}

static rd_kafka_t *consumer_rk_new(rd_kafka_conf_t *conf, const char *brokers, char *errstr,
                                   size_t errstr_size)
{
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));

    if (rk == NULL) {
        util_errf(errstr, errstr_size, "cannot create Kafka consumer for %s: %s",
                  brokers ? brokers : "(bootstrap.servers)", why);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk); /* errors and rebalances come through consumer_poll */
    return rk;
}

int bus_consumer_new(const char *brokers, const bus_props *props, const char *group,
                     const char *topic, bus_consumer **out, char *errstr, size_t errstr_size)
{
    bus_consumer *c = consumer_alloc();
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_resp_err_t err;

    *out = NULL;
    if (c == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    conf = conf_build(brokers, bus_group_defaults, BUS_NKV(bus_group_defaults), props, &c->lasterr,
                      errstr, errstr_size);
    if (conf == NULL)
        goto fail;
    if (conf_set_pairs(conf, &(bus_kv){"group.id", group}, 1, errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    c->rk = consumer_rk_new(conf, brokers, errstr, errstr_size); /* conf now owned */
    if (c->rk == NULL)
        goto fail;
    c->has_group = 1;
    subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(c->rk, subs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(errstr, errstr_size, "cannot subscribe group %s to %s: %s", group, topic,
                  rd_kafka_err2str(err));
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(subs);
    *out = c;
    return 0;

fail:
    if (subs != NULL)
        rd_kafka_topic_partition_list_destroy(subs);
    consumer_free(c);
    return -1;
}

/* Reads the partition count of TOPIC, retrying while the cluster is still settling. */
static int topic_partition_count(rd_kafka_t *rk, const char *topic, int *count, char *errstr,
                                 size_t errstr_size)
{
    int64_t deadline = util_now_ms() + BUS_SETUP_TIMEOUT_MS;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int rc = -1;

    if (rkt == NULL) {
        util_errf(errstr, errstr_size, "cannot use topic %s: %s", topic,
                  rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    while (util_now_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        int remaining = (int)(deadline - util_now_ms());

        err = rd_kafka_metadata(rk, 0, rkt, &md, remaining > 0 ? remaining : 1);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[0].partition_cnt > 0) {
                *count = md->topics[0].partition_cnt;
                rc = 0;
            } else if (md->topic_cnt == 1) {
                err = md->topics[0].err;
            }
            rd_kafka_metadata_destroy(md);
            if (rc == 0)
                break;
            if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
                break;
        }
        rd_kafka_poll(rk, BUS_POLL_SLICE_MS * 5);
    }
    if (rc != 0) {
        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            util_errf(errstr, errstr_size,
                      "topic %s does not exist on the Kafka cluster (create it, or start "
                      "kvmove-devbroker which creates kvmove's topics)",
                      topic);
        else
            util_errf(errstr, errstr_size, "cannot read metadata of topic %s: %s", topic,
                      rd_kafka_err2str(err));
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

int bus_consumer_new_idle(const char *brokers, const bus_props *props, const char *topic,
                          bus_consumer **out, char *errstr, size_t errstr_size)
{
    bus_consumer *c = consumer_alloc();
    rd_kafka_conf_t *conf;
    char uuid[37], group[64];

    *out = NULL;
    if (c == NULL || (c->topic = strdup(topic)) == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    conf = conf_build(brokers, bus_standalone_defaults, BUS_NKV(bus_standalone_defaults), props,
                      &c->lasterr, errstr, errstr_size);
    if (conf == NULL)
        goto fail;
    /* librdkafka 2.0.2 refuses assign() without a group.id ("Unknown group"). A unique,
     * never-joined group satisfies it: assign() does not join, and nothing is committed
     * (has_group stays 0). */
    util_uuid(uuid);
    snprintf(group, sizeof(group), "kvmove-standalone-%s", uuid);
    if (conf_set_pairs(conf, &(bus_kv){"group.id", group}, 1, errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    c->rk = consumer_rk_new(conf, brokers, errstr, errstr_size); /* conf now owned */
    if (c->rk == NULL ||
        topic_partition_count(c->rk, topic, &c->partitions, errstr, errstr_size) < 0)
        goto fail;
    *out = c;
    return 0;

fail:
    consumer_free(c);
    return -1;
}

int bus_consumer_partitions(const bus_consumer *c)
{
    return c->partitions;
}

int bus_consumer_ends(bus_consumer *c, int64_t *end, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(c->partitions);
    int i, got = 0;

    /* One ListOffsets request for all partitions (the end is the offset "for" time -1), rather
     * than a watermark query per partition; any partition it does not answer is asked alone. */
    for (i = 0; i < c->partitions; i++) {
        end[i] = -1;
        rd_kafka_topic_partition_list_add(parts, c->topic, i)->offset = RD_KAFKA_OFFSET_END;
    }
    if (rd_kafka_offsets_for_times(c->rk, parts, BUS_SETUP_TIMEOUT_MS) ==
        RD_KAFKA_RESP_ERR_NO_ERROR)
        for (i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *e = &parts->elems[i];
            if (e->err == RD_KAFKA_RESP_ERR_NO_ERROR && e->offset >= 0 && e->partition >= 0 &&
                e->partition < c->partitions) {
                end[e->partition] = e->offset;
                got++;
            }
        }
    rd_kafka_topic_partition_list_destroy(parts);
    for (i = 0; got < c->partitions && i < c->partitions; i++) {
        int64_t lo = 0;
        rd_kafka_resp_err_t err;
        if (end[i] >= 0)
            continue;
        err = rd_kafka_query_watermark_offsets(c->rk, c->topic, i, &lo, &end[i],
                                               BUS_SETUP_TIMEOUT_MS);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            util_errf(errstr, errstr_size, "cannot read the end offset of %s [%d]: %s", c->topic, i,
                      rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

int bus_consumer_offsets_for_time(bus_consumer *c, int64_t since_ms, int64_t *at, char *errstr,
                                  size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(c->partitions);
    rd_kafka_resp_err_t err;
    int i;

    for (i = 0; i < c->partitions; i++)
        rd_kafka_topic_partition_list_add(parts, c->topic, i)->offset = since_ms;
    err = rd_kafka_offsets_for_times(c->rk, parts, BUS_SETUP_TIMEOUT_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(errstr, errstr_size, "cannot look up offsets of %s by time: %s", c->topic,
                  rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(parts);
        return -1;
    }
    /* A partition without a message that late answers -1 (its end, which AT holds already); so
     * does a broker that cannot look up by time (librdkafka's mock cluster). */
    for (i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &parts->elems[i];
        if (e->err == RD_KAFKA_RESP_ERR_NO_ERROR && e->offset >= 0 && e->partition >= 0 &&
            e->partition < c->partitions && e->offset < at[e->partition])
            at[e->partition] = e->offset;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return 0;
}

int bus_consumer_start(bus_consumer *c, const int64_t *at, const int64_t *ends, char *errstr,
                       size_t errstr_size)
{
    int round, i;

    /* librdkafka sends a broker its first Fetch as soon as some of the broker's partitions are
     * ready; one that names only partitions with nothing to read waits fetch.wait.max.ms before
     * the next names the rest. So the partitions with something to read (AT before their END)
     * are assigned first, and the others after them. */
    for (round = 0; round < 2; round++) {
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(c->partitions);
        rd_kafka_error_t *error = NULL;

        for (i = 0; i < c->partitions; i++) {
            int first = at == NULL || ends == NULL || at[i] < ends[i];
            if (first == (round == 0))
                rd_kafka_topic_partition_list_add(parts, c->topic, i)->offset =
                    at ? at[i] : RD_KAFKA_OFFSET_BEGINNING;
        }
        if (parts->cnt > 0)
            error = rd_kafka_incremental_assign(c->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (error != NULL) {
            util_errf(errstr, errstr_size, "cannot assign the partitions of %s: %s", c->topic,
                      rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            return -1;
        }
    }
    return 0;
}

/* Group-less consumer on every partition of TOPIC, at the high watermark (TAIL) or at the
 * beginning. */
static int consumer_new_standalone(const char *brokers, const bus_props *props, const char *topic,
                                   int tail, bus_consumer **out, char *errstr, size_t errstr_size)
{
    bus_consumer *c = NULL;
    int64_t *at = NULL;

    *out = NULL;
    if (bus_consumer_new_idle(brokers, props, topic, &c, errstr, errstr_size) < 0)
        return -1;
    if (tail && (at = calloc((size_t)c->partitions, sizeof(*at))) == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if ((tail && bus_consumer_ends(c, at, errstr, errstr_size) < 0) ||
        bus_consumer_start(c, at, NULL, errstr, errstr_size) < 0)
        goto fail;
    free(at);
    *out = c;
    return 0;

fail:
    free(at);
    consumer_free(c);
    return -1;
}

int bus_consumer_new_tail(const char *brokers, const bus_props *props, const char *topic,
                          bus_consumer **out, char *errstr, size_t errstr_size)
{
    return consumer_new_standalone(brokers, props, topic, 1, out, errstr, errstr_size);
}

int bus_consumer_new_from_start(const char *brokers, const bus_props *props, const char *topic,
                                bus_consumer **out, char *errstr, size_t errstr_size)
{
    return consumer_new_standalone(brokers, props, topic, 0, out, errstr, errstr_size);
}

/* Returns a NUL-terminated copy of LEN bytes at DATA, or NULL if DATA is NULL. Sets *OOM. */
static char *copy_bytes(const void *data, size_t len, int *oom)
{
    char *s;

    if (data == NULL)
        return NULL;
    s = malloc(len + 1);
    if (s == NULL) {
        *oom = 1;
        return NULL;
    }
    memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

/* Fills MSG from c->cur, copying key, value and headers. Returns 0 or -1 (out of memory). */
static int consumer_fill(bus_consumer *c, bus_message *msg)
{
    rd_kafka_message_t *m = c->cur;
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_timestamp_type_t tstype;
    int oom = 0;

    c->key = copy_bytes(m->key, m->key_len, &oom);
    c->value = copy_bytes(m->payload, m->len, &oom);
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != NULL) {
        size_t n = rd_kafka_header_cnt(hdrs), i;

        c->headers = calloc(n ? n : 1, sizeof(*c->headers));
        if (c->headers == NULL)
            oom = 1;
        for (i = 0; c->headers != NULL && i < n; i++) {
            const char *name;
            const void *val;
            size_t vlen;

            if (rd_kafka_header_get_all(hdrs, i, &name, &val, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            c->headers[i].name = copy_bytes(name, strlen(name), &oom);
            c->headers[i].value = copy_bytes(val ? val : "", val ? vlen : 0, &oom);
            c->headers[i].value_len = val ? vlen : 0;
            c->n_headers = i + 1;
        }
    }
    if (oom)
        return -1;
    memset(msg, 0, sizeof(*msg));
    msg->topic = rd_kafka_topic_name(m->rkt);
    msg->partition = m->partition;
    msg->offset = m->offset;
    msg->key = c->key;
    msg->key_len = m->key_len;
    msg->value = c->value;
    msg->len = m->len;
    msg->headers = c->headers;
    msg->n_headers = c->n_headers;
    msg->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    msg->timestamp_type = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? "CreateTime"
                          : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? "LogAppendTime"
                                                                         : NULL;
    return 0;
}

/* Errors after which the consumer cannot make progress on its own. */
static int consumer_err_is_fatal(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__INVALID_ARG ||
           err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_INVALID_GROUP_ID;
}

int bus_consumer_poll(bus_consumer *c, int timeout_ms, bus_message *msg, char *errstr,
                      size_t errstr_size)
{
    int64_t deadline = util_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

    consumer_release_current(c);
    for (;;) {
        int64_t left = deadline - util_now_ms();
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left > 0 ? (int)left : 0);

        if (m != NULL && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            c->cur = m;
            if (consumer_fill(c, msg) < 0) {
                consumer_release_current(c);
                util_errf(errstr, errstr_size, "out of memory copying a Kafka message");
                return -1;
            }
            return 1;
        }
        if (m != NULL) {
            rd_kafka_resp_err_t err = m->err;
            char fatal[256];

            if (err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                lasterr_set(&c->lasterr, err, rd_kafka_message_errstr(m));
            if (rd_kafka_fatal_error(c->rk, fatal, sizeof(fatal)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                util_errf(errstr, errstr_size, "Kafka consumer fatal error: %s", fatal);
                rd_kafka_message_destroy(m);
                return -1;
            }
            if (consumer_err_is_fatal(err)) {
                util_errf(errstr, errstr_size, "Kafka consumer error%s%s: %s", m->rkt ? " on " : "",
                          m->rkt ? rd_kafka_topic_name(m->rkt) : "", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                return -1;
            }
            rd_kafka_message_destroy(m);
        }
        if (util_now_ms() >= deadline)
            return 0;
    }
}

int bus_consumer_commit(bus_consumer *c, const bus_message *msg, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *offs;
    rd_kafka_resp_err_t err;
    int rc = -1;

    if (!c->has_group) {
        util_errf(errstr, errstr_size,
                  "cannot commit %s [%d] offset %lld: this consumer has no group", msg->topic,
                  (int)msg->partition, (long long)msg->offset);
        return -1;
    }
    offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offs, msg->topic, msg->partition)->offset = msg->offset + 1;
    err = rd_kafka_commit(c->rk, offs, 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        err = offs->elems[0].err;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        util_errf(errstr, errstr_size, "cannot commit %s [%d] offset %lld: %s", msg->topic,
                  (int)msg->partition, (long long)msg->offset + 1, rd_kafka_err2str(err));
    else
        rc = 0;
    rd_kafka_topic_partition_list_destroy(offs);
    return rc;
}

void bus_consumer_close(bus_consumer *c)
{
    consumer_free(c);
}

int bus_consumer_last_error(bus_consumer *c, char *errstr, size_t errstr_size)
{
    return c ? lasterr_get(&c->lasterr, errstr, errstr_size) : 0;
}

const char *bus_message_header(const bus_message *msg, const char *name)
{
    size_t i = msg->n_headers;

    while (i-- > 0) {
        if (strcmp(msg->headers[i].name, name) == 0)
            return msg->headers[i].value;
    }
    return NULL;
}

int bus_dead_letter(bus_producer *p, const bus_message *msg, const char *group, const char *reason,
                    const char *worker, int timeout_ms, char *errstr, size_t errstr_size)
{
    char part[16], off[32], ts[32];
    bus_header *h = calloc(msg->n_headers + 20, sizeof(*h));
    size_t n;
    int rc;

    if (h == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(part, sizeof(part), "%d", (int)msg->partition);
    snprintf(off, sizeof(off), "%lld", (long long)msg->offset);
    snprintf(ts, sizeof(ts), "%lld", (long long)msg->timestamp_ms);
    /* The original headers first, as Connect and Spring keep them: a reader that takes the
     * last header of a name sees the dead-letter ones. */
    memcpy(h, msg->headers, msg->n_headers * sizeof(*h));
    n = msg->n_headers;
    h[n++] = (bus_header){"kvmove.original.topic", msg->topic, 0};
    h[n++] = (bus_header){"kvmove.original.partition", part, 0};
    h[n++] = (bus_header){"kvmove.original.offset", off, 0};
    if (msg->timestamp_ms >= 0) {
        h[n++] = (bus_header){"kvmove.original.timestamp", ts, 0};
        h[n++] = (bus_header){"kvmove.original.timestamp.type", msg->timestamp_type, 0};
    }
    h[n++] = (bus_header){"kvmove.original.consumer.group", group, 0};
    h[n++] = (bus_header){"kvmove.error", reason, 0};
    h[n++] = (bus_header){"kvmove.worker", worker, 0};
    h[n++] = (bus_header){"__connect.errors.topic", msg->topic, 0};
    h[n++] = (bus_header){"__connect.errors.partition", part, 0};
    h[n++] = (bus_header){"__connect.errors.offset", off, 0};
    h[n++] = (bus_header){"__connect.errors.exception.message", reason, 0};
    h[n++] = (bus_header){"kafka_dlt-original-topic", msg->topic, 0};
    if (msg->timestamp_ms >= 0)
        h[n++] = (bus_header){"kafka_dlt-original-timestamp-type", msg->timestamp_type, 0};
    h[n++] = (bus_header){"kafka_dlt-original-consumer-group", group, 0};
    h[n++] = (bus_header){"kafka_dlt-exception-message", reason, 0};
    rc = bus_produce_sync(p, BUS_TOPIC_DLQ, msg->key, msg->value ? msg->value : "", msg->len, h, n,
                          timeout_ms, errstr, errstr_size);
    free(h);
    return rc;
}
