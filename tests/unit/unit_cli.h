/* unit_cli.h: runs kvmove's subcommands (producer/) in a unit suite, output captured (test code).
 */
#ifndef KVMOVE_UNIT_CLI_H
#define KVMOVE_UNIT_CLI_H

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "cli.h"
#include "sign.h"
#include "unit_kafka.h"
#include "util.h"

#define UNIT_CLI_UNUSED __attribute__((unused))

/* What a subcommand did: its exit code and everything it printed (malloc'd). */
typedef struct cli_run {
    int rc;
    char *out;
    char *err;
} cli_run;

static UNIT_CLI_UNUSED void cli_run_free(cli_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* The contents of FD from the start, malloc'd. */
static UNIT_CLI_UNUSED char *unit_cli_slurp(int fd)
{
    FILE *f = fdopen(dup(fd), "r");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;

    ck_assert_ptr_nonnull(f);
    rewind(f);
    do {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        got = fread(buf + n, 1, 4096, f);
        n += got;
    } while (got > 0);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs FN (a cmd_* of producer/cli.h) on C with the NULL-terminated arguments after FN (the
 * verb first, as main passes them), stdout and stderr captured. */
static UNIT_CLI_UNUSED cli_run cli_call(int (*fn)(cli *, int, char **), cli *c, ...)
{
    char *argv[64], outp[] = "/tmp/kvmove-unit-cli.out.XXXXXX",
                    errp[] = "/tmp/kvmove-unit-cli.err.XXXXXX";
    int argc = 0, ofd = mkstemp(outp), efd = mkstemp(errp), so, se;
    const char *a;
    va_list ap;
    cli_run r;

    ck_assert_int_ge(ofd, 0);
    ck_assert_int_ge(efd, 0);
    va_start(ap, c);
    while ((a = va_arg(ap, const char *)) != NULL && argc < 63)
        argv[argc++] = strdup(a);
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    so = dup(STDOUT_FILENO);
    se = dup(STDERR_FILENO);
    dup2(ofd, STDOUT_FILENO);
    dup2(efd, STDERR_FILENO);
    r.rc = fn(c, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, STDOUT_FILENO);
    dup2(se, STDERR_FILENO);
    close(so);
    close(se);
    r.out = unit_cli_slurp(ofd);
    r.err = unit_cli_slurp(efd);
    close(ofd);
    close(efd);
    unlink(outp);
    unlink(errp);
    while (argc > 0)
        free(argv[--argc]);
    return r;
}

/* 1 if TEXT has LINE as a whole line. */
static UNIT_CLI_UNUSED int cli_has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;

    while (p && *p) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return 1;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return 0;
}

/* The repository (for schema/, fixtures). */
static UNIT_CLI_UNUSED const char *cli_srcdir(void)
{
    const char *env = getenv("KVMOVE_SOURCE_DIR");
    return env && *env ? env : KVMOVE_SOURCE_DIR;
}

/* The operator key the suite's requests are signed with: made once per process (mode 0600),
 * removed at exit. */
static char unit_cli_key_path[64];

static void unit_cli_key_remove(void)
{
    unlink(unit_cli_key_path);
}

static UNIT_CLI_UNUSED const char *unit_cli_key(void)
{
    char err[256];
    sign_key *k = NULL;

    if (unit_cli_key_path[0])
        return unit_cli_key_path;
    snprintf(unit_cli_key_path, sizeof(unit_cli_key_path), "/tmp/kvmove-unit-key.%d",
             (int)getpid());
    unlink(unit_cli_key_path);
    ck_assert_msg(sign_key_generate(&k, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(sign_key_save(k, unit_cli_key_path, err, sizeof(err)) == 0, "%s", err);
    sign_key_free(k);
    atexit(unit_cli_key_remove);
    return unit_cli_key_path;
}

/* A cli as main makes it: defaults, the repository's schemas, DB and BROKERS (copied), and a
 * signing key of its own. */
static UNIT_CLI_UNUSED void cli_for(cli *c, const char *db, const char *brokers)
{
    memset(c, 0, sizeof(*c));
    settings_defaults(&c->s);
    util_strlcpy(c->s.key_file, unit_cli_key(), sizeof(c->s.key_file));
    snprintf(c->s.schema_dir, sizeof(c->s.schema_dir), "%.1000s/schema", cli_srcdir());
    util_strlcpy(c->s.db, db ? db : "host=127.0.0.1 port=1 connect_timeout=1", sizeof(c->s.db));
    util_strlcpy(c->s.brokers, brokers ? brokers : "127.0.0.1:1", sizeof(c->s.brokers));
}

/* ---- a mock Kafka cluster with kvmove's topics, per test ------------------------------------ */

static unit_kafka unit_mock_kafka;

/* Starts the mock cluster (kvmove.requests with one partition, so that order is kept);
 * returns its bootstrap servers. */
static UNIT_CLI_UNUSED const char *mock_start(void)
{
    static const unit_topic topics[] = {
        {BUS_TOPIC_REQUESTS, 1}, {BUS_TOPIC_EVENTS, 1}, {BUS_TOPIC_DLQ, 1}};

    unit_kafka_start(&unit_mock_kafka, topics, sizeof(topics) / sizeof(topics[0]));
    return unit_mock_kafka.brokers;
}

static UNIT_CLI_UNUSED void mock_stop(void)
{
    unit_kafka_stop(&unit_mock_kafka);
}

/* The number of messages on partition 0 of TOPIC (the high watermark: what was produced and
 * acknowledged, so this is exact, without waiting for messages that might still come). */
static UNIT_CLI_UNUSED int mock_count(const char *brokers, const char *topic)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    int64_t lo = 0, hi = 0;

    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)), 0);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)), 0);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);
    ck_assert_int_eq(rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 10000), 0);
    rd_kafka_destroy(rk);
    return (int)(hi - lo);
}

/* The values on TOPIC (one partition) of the mock cluster at BROKERS, in order, one a line
 * (malloc'd); *COUNT (may be NULL) gets how many. */
static UNIT_CLI_UNUSED char *mock_read(const char *brokers, const char *topic, int *count)
{
    bus_consumer *cons = NULL;
    bus_message m;
    util_lines l = {0};
    char err[512];
    int want = mock_count(brokers, topic), n = 0, polls = 0, got;

    ck_assert_msg(bus_consumer_new_from_start(brokers, NULL, topic, &cons, err, sizeof(err)) == 0,
                  "%s", err);
    while (n < want && polls++ < 100) {
        got = bus_consumer_poll(cons, 300, &m, err, sizeof(err));
        ck_assert_msg(got >= 0, "%s", err);
        if (got == 1) {
            n++;
            ck_assert_int_eq(util_lines_add(&l, m.value ? m.value : ""), 0);
        }
    }
    ck_assert_msg(n == want, "read %d of the %d messages on %s", n, want, topic);
    bus_consumer_close(cons);
    if (count)
        *count = n;
    return l.buf ? l.buf : strdup("");
}

/* Produces VALUE to TOPIC (key KEY) on the mock cluster at BROKERS; waits for delivery. */
static UNIT_CLI_UNUSED void mock_produce(const char *brokers, const char *topic, const char *key,
                                         const char *value)
{
    bus_producer *p = NULL;
    char err[512];

    ck_assert_msg(bus_producer_new(brokers, NULL, &p, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(bus_produce_sync(p, topic, key, value, strlen(value), NULL, 0, 10000, err,
                                   sizeof(err)) == 0,
                  "%s", err);
    bus_producer_close(p);
}

#endif
