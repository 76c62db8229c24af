/* metrics: the worker's Prometheus metrics and /healthz, served with libmicrohttpd. */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostconn.h"
#include "jobstore.h"
#include "util.h"

#define PROBE_TIMEOUT_MS 2000
#define MAX_CHECKS 64
/* How often the refresher thread asks the database and the broker. */
#define REFRESH_MS 2000
/* /healthz fails when the last refresh is older than this: a refresh takes at most a few
 * probe timeouts, so the refresher is stuck. */
#define STALE_MS (3 * REFRESH_MS + 6 * PROBE_TIMEOUT_MS)
/* The session-level advisory lock held by the one worker that exports the cluster-wide
 * gauges (jobstore.c's transaction-level locks are 0x6b766d01-03). */
#define LOCK_METRICS 0x6b766d04

/* Upper bounds (seconds) of the step duration histogram: host commands take from milliseconds
 * (observations) to many minutes (a guest shutdown). */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                 5,     10,   30,    60,   120, 300,  600, 1800};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* The outcomes a step ends with, the only ones counted. */
static const step_state outcomes[] = {STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED};
#define N_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

/* One registry per process: the executors count from their threads without plumbing, and
 * there is one worker (and one HTTP server) per process. */
static struct {
    pthread_mutex_t lock;
    unsigned long long steps[STEP__COUNT][N_OUTCOMES];
    unsigned long long bucket[STEP__COUNT][N_BUCKETS + 1]; /* last: above every bound */
    double duration_sum[STEP__COUNT];
    struct {
        char name[64];
        unsigned long long n;
    } checks[MAX_CHECKS + 1]; /* last: "other" */
    size_t n_checks;
    unsigned long long events;
    unsigned long long refused[AUTH__COUNT];
    unsigned long long finished[JOB__COUNT];
    long active;
    /* server state: set by metrics_start/stop */
    struct MHD_Daemon *daemon;
    rd_kafka_t *rk; /* the refresher's */
    char *db, *group, *worker;
    pthread_t refresher;
    int refresher_started;
    /* the refresher thread's own */
    PGconn *conn;
    int exporter; /* this worker holds LOCK_METRICS on conn */
    /* what the last refresh found (under lock), served by scrapes and /healthz */
    char *cluster; /* the cluster-wide gauges, rendered, when this worker exports them */
    int db_up, broker_up, is_exporter;
    char db_err[512], broker_err[512];
    int64_t refreshed_ms;
    unsigned long long refreshes;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

void metrics_step_done(step_id step, step_state outcome, long elapsed_ms)
{
    double secs = elapsed_ms / 1000.0;
    size_t o, b;

    if ((int)step < 0 || step >= STEP__COUNT)
        return;
    for (o = 0; o < N_OUTCOMES && outcomes[o] != outcome; o++)
        ;
    if (o == N_OUTCOMES)
        return;
    for (b = 0; b < N_BUCKETS && secs > buckets[b]; b++)
        ;
    pthread_mutex_lock(&reg.lock);
    reg.steps[step][o]++;
    reg.bucket[step][b]++;
    reg.duration_sum[step] += secs;
    pthread_mutex_unlock(&reg.lock);
}

void metrics_preflight_failed(const char *check)
{
    size_t i;

    pthread_mutex_lock(&reg.lock);
    for (i = 0; i < reg.n_checks && strcmp(reg.checks[i].name, check) != 0; i++)
        ;
    if (i == reg.n_checks && reg.n_checks < MAX_CHECKS)
        util_strlcpy(reg.checks[reg.n_checks++].name, check, sizeof(reg.checks[0].name));
    else if (i == reg.n_checks)
        i = MAX_CHECKS;
    reg.checks[i].n++;
    pthread_mutex_unlock(&reg.lock);
}

void metrics_request_refused(auth_verdict reason)
{
    if ((int)reason <= AUTH_OK || reason >= AUTH__COUNT)
        return;
    pthread_mutex_lock(&reg.lock);
    reg.refused[reason]++;
    pthread_mutex_unlock(&reg.lock);
}

void metrics_events_published(int n)
{
    if (n <= 0)
        return;
    pthread_mutex_lock(&reg.lock);
    reg.events += (unsigned long long)n;
    pthread_mutex_unlock(&reg.lock);
}

void metrics_job_finished(job_status status)
{
    if ((int)status < 0 || status >= JOB__COUNT)
        return;
    pthread_mutex_lock(&reg.lock);
    reg.finished[status]++;
    pthread_mutex_unlock(&reg.lock);
}

void metrics_jobs_active(int delta)
{
    pthread_mutex_lock(&reg.lock);
    reg.active += delta;
    pthread_mutex_unlock(&reg.lock);
}

/* Writes VALUE as a label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *value)
{
    for (; *value; value++) {
        if (*value == '\\' || *value == '"')
            fputc('\\', f);
        if (*value == '\n')
            fputs("\\n", f);
        else
            fputc(*value, f);
    }
}

/* The work this worker asked of PostgreSQL, Kafka and the hosts (counted where it is done:
 * jobstore, bus, hostconn), so that the cost of a migration can be read off two scrapes. */
static void render_work(FILE *f)
{
    unsigned long statements, transactions, messages, batches;

    jobstore_counters(&statements, &transactions);
    bus_counters(&messages, &batches);
    fprintf(f,
            "# HELP kvmove_db_statements_total SQL statements this worker sent PostgreSQL (the "
            "metrics' own queries aside).\n"
            "# TYPE kvmove_db_statements_total counter\n"
            "kvmove_db_statements_total %lu\n"
            "# HELP kvmove_db_transactions_total Transactions this worker ended (a statement "
            "outside a transaction counts as one).\n"
            "# TYPE kvmove_db_transactions_total counter\n"
            "kvmove_db_transactions_total %lu\n"
            "# HELP kvmove_kafka_messages_produced_total Messages this worker queued for Kafka.\n"
            "# TYPE kvmove_kafka_messages_produced_total counter\n"
            "kvmove_kafka_messages_produced_total %lu\n"
            "# HELP kvmove_kafka_produce_calls_total Produce calls (batches waited for) that "
            "carried them.\n"
            "# TYPE kvmove_kafka_produce_calls_total counter\n"
            "kvmove_kafka_produce_calls_total %lu\n"
            "# HELP kvmove_host_commands_total Commands this worker sent to KVM hosts (one SSH "
            "channel each).\n"
            "# TYPE kvmove_host_commands_total counter\n"
            "kvmove_host_commands_total %lu\n",
            statements, transactions, messages, batches, hostconn_commands());
}

static void render_counters(FILE *f)
{
    size_t s, o, b, i;

    pthread_mutex_lock(&reg.lock);
    fputs("# HELP kvmove_steps_total Migration steps this worker ended, by step and outcome.\n"
          "# TYPE kvmove_steps_total counter\n",
          f);
    for (s = 0; s < STEP__COUNT; s++)
        for (o = 0; o < N_OUTCOMES; o++)
            fprintf(f, "kvmove_steps_total{step=\"%s\",outcome=\"%s\"} %llu\n",
                    step_to_string((step_id)s), step_state_to_string(outcomes[o]), reg.steps[s][o]);
    fputs("# HELP kvmove_step_duration_seconds Time a step took (every outcome).\n"
          "# TYPE kvmove_step_duration_seconds histogram\n",
          f);
    for (s = 0; s < STEP__COUNT; s++) {
        unsigned long long cum = 0;
        const char *name = step_to_string((step_id)s);
        for (b = 0; b <= N_BUCKETS; b++) {
            cum += reg.bucket[s][b];
            if (b < N_BUCKETS)
                fprintf(f, "kvmove_step_duration_seconds_bucket{step=\"%s\",le=\"%g\"} %llu\n",
                        name, buckets[b], cum);
            else
                fprintf(f, "kvmove_step_duration_seconds_bucket{step=\"%s\",le=\"+Inf\"} %llu\n",
                        name, cum);
        }
        fprintf(f, "kvmove_step_duration_seconds_sum{step=\"%s\"} %.3f\n", name,
                reg.duration_sum[s]);
        fprintf(f, "kvmove_step_duration_seconds_count{step=\"%s\"} %llu\n", name, cum);
    }
    fputs("# HELP kvmove_preflight_failures_total Failed preflight checks, by check.\n"
          "# TYPE kvmove_preflight_failures_total counter\n",
          f);
    for (i = 0; i <= MAX_CHECKS; i++) {
        if (i < MAX_CHECKS && i >= reg.n_checks)
            continue;
        if (i == MAX_CHECKS && reg.checks[i].n == 0)
            continue;
        fputs("kvmove_preflight_failures_total{check=\"", f);
        put_label(f, i < MAX_CHECKS ? reg.checks[i].name : "other");
        fprintf(f, "\"} %llu\n", reg.checks[i].n);
    }
    fputs("# HELP kvmove_requests_refused_total Request messages this worker dead-lettered, by "
          "reason (auth.h verdicts; invalid: not a usable request).\n"
          "# TYPE kvmove_requests_refused_total counter\n",
          f);
    for (i = AUTH_OK + 1; i < AUTH__COUNT; i++)
        fprintf(f, "kvmove_requests_refused_total{reason=\"%s\"} %llu\n",
                auth_verdict_name((auth_verdict)i), reg.refused[i]);
    fprintf(f,
            "# HELP kvmove_events_published_total Events this worker published from the outbox.\n"
            "# TYPE kvmove_events_published_total counter\n"
            "kvmove_events_published_total %llu\n",
            reg.events);
    render_work(f);
    fputs("# HELP kvmove_worker_jobs_finished_total Jobs this worker ended, by status.\n"
          "# TYPE kvmove_worker_jobs_finished_total counter\n",
          f);
    fprintf(f, "kvmove_worker_jobs_finished_total{status=\"succeeded\"} %llu\n",
            reg.finished[JOB_SUCCEEDED]);
    fprintf(f, "kvmove_worker_jobs_finished_total{status=\"failed\"} %llu\n",
            reg.finished[JOB_FAILED]);
    fprintf(f,
            "# HELP kvmove_worker_jobs_active Jobs this worker's executors hold right now.\n"
            "# TYPE kvmove_worker_jobs_active gauge\n"
            "kvmove_worker_jobs_active %ld\n",
            reg.active);
    pthread_mutex_unlock(&reg.lock);
    fprintf(f,
            "# HELP kvmove_build_info The kvmove version (CMake's project version) and the "
            "librdkafka it runs with.\n"
            "# TYPE kvmove_build_info gauge\n"
            "kvmove_build_info{version=\"%s\",librdkafka=\"%s\"} 1\n",
            KVMOVE_VERSION, rd_kafka_version_str());
}

/* ---- the cache: what the refresher thread last found ---- */

static void metrics_notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Opens the refresher's connection if it has none (2 s connect, 2 s statement timeout): one
 * connection for the worker's lifetime, never one per scrape. 0, or -1 with errstr. */
static int db_connect(char *errstr, size_t errstr_size)
{
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
    const char *vals[] = {reg.db, "2", "-c statement_timeout=2000", "kvmove-worker-metrics", NULL};

    if (reg.conn != NULL && PQstatus(reg.conn) == CONNECTION_OK)
        return 0;
    PQfinish(reg.conn);
    reg.exporter = 0; /* a session lock does not outlive its connection */
    reg.conn = PQconnectdbParams(keys, vals, 1);
    if (reg.conn != NULL) /* no raw libpq notices among the JSON log lines */
        PQsetNoticeProcessor(reg.conn, metrics_notice_ignore, NULL);
    if (reg.conn == NULL || PQstatus(reg.conn) != CONNECTION_OK) {
        util_errf(errstr, errstr_size, "%s",
                  reg.conn ? PQerrorMessage(reg.conn) : "out of memory for a connection");
        errstr[strcspn(errstr, "\n")] = '\0';
        PQfinish(reg.conn);
        reg.conn = NULL;
        return -1;
    }
    return 0;
}

/* Drops the refresher's connection after a failed query (it reconnects next time). */
static void db_failed(char *errstr, size_t errstr_size)
{
    util_errf(errstr, errstr_size, "%s", reg.conn ? PQerrorMessage(reg.conn) : "no connection");
    errstr[strcspn(errstr, "\n")] = '\0';
    PQfinish(reg.conn);
    reg.conn = NULL;
    reg.exporter = 0;
}

/* Makes this worker the exporter of the cluster-wide gauges if no other worker is: a
 * session-level advisory lock, held for as long as the connection lives, so that when the
 * exporter dies another worker takes over at its next refresh. 0 (reg.exporter says whether
 * this worker is it), or -1 when the query failed. */
static int claim_exporter(void)
{
    char key[32];
    const char *p[1] = {key};
    PGresult *r;
    int ok;

    snprintf(key, sizeof(key), "%d", LOCK_METRICS);
    r = PQexecParams(reg.conn,
                     reg.exporter ? "SELECT true" : "SELECT pg_try_advisory_lock($1::bigint)",
                     reg.exporter ? 0 : 1, NULL, reg.exporter ? NULL : p, NULL, NULL, 0);
    ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok && strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        reg.exporter = 1;
    PQclear(r);
    return ok ? 0 : -1;
}

/* Asks the broker for its metadata. 0 when it answered within the probe timeout. */
static int broker_probe(char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;

    rd_kafka_poll(reg.rk, 0); /* drain errors queued since the last request */
    err = rd_kafka_metadata(reg.rk, 0, NULL, &md, PROBE_TIMEOUT_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Jobs by status (every status, zeros included) and the outbox backlog. 0, or -1 when a
 * query failed. */
static int render_database(FILE *f)
{
    long counts[JOB__COUNT] = {0};
    PGresult *r = PQexec(reg.conn, "SELECT status, count(*) FROM jobs GROUP BY status");
    int i, ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    job_status st;

    for (i = 0; ok && i < PQntuples(r); i++)
        if (job_status_from_string(PQgetvalue(r, i, 0), &st) == 0)
            counts[st] = atol(PQgetvalue(r, i, 1));
    PQclear(r);
    if (!ok)
        return -1;
    fputs("# HELP kvmove_jobs Jobs in the database, by status (cluster-wide: exported by the one "
          "worker with kvmove_metrics_exporter 1).\n"
          "# TYPE kvmove_jobs gauge\n",
          f);
    for (i = 0; i < JOB__COUNT; i++)
        fprintf(f, "kvmove_jobs{status=\"%s\"} %ld\n", job_status_to_string((job_status)i),
                counts[i]);
    r = PQexec(reg.conn, "SELECT count(*) FROM outbox WHERE published_at IS NULL");
    ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok)
        fprintf(f,
                "# HELP kvmove_outbox_backlog Events written but not yet published "
                "(cluster-wide).\n"
                "# TYPE kvmove_outbox_backlog gauge\n"
                "kvmove_outbox_backlog %s\n",
                PQgetvalue(r, 0, 0));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Consumer lag of the workers' group on kvmove.requests: per partition, the high watermark
 * minus the committed offset (minus the low watermark when nothing is committed yet). */
static void render_lag(FILE *f)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(reg.rk, BUS_TOPIC_REQUESTS, NULL);
    rd_kafka_topic_partition_list_t *parts = NULL;
    int i;

    if (rkt == NULL || rd_kafka_metadata(reg.rk, 0, rkt, &md, PROBE_TIMEOUT_MS) != 0 ||
        md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
        goto out;
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, BUS_TOPIC_REQUESTS,
                                          md->topics[0].partitions[i].id);
    if (rd_kafka_committed(reg.rk, parts, PROBE_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        goto out;
    fputs("# HELP kvmove_consumer_lag Requests not yet consumed by the worker group "
          "(cluster-wide).\n"
          "# TYPE kvmove_consumer_lag gauge\n",
          f);
    for (i = 0; i < parts->cnt; i++) {
        int64_t lo, hi, committed = parts->elems[i].offset;
        if (rd_kafka_query_watermark_offsets(reg.rk, BUS_TOPIC_REQUESTS, parts->elems[i].partition,
                                             &lo, &hi,
                                             PROBE_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        fprintf(f, "kvmove_consumer_lag{topic=\"%s\",partition=\"%d\"} %lld\n", BUS_TOPIC_REQUESTS,
                (int)parts->elems[i].partition,
                (long long)(hi - (committed >= 0 ? committed : lo)));
    }
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
}

/* One refresh: asks the database and the broker what the scrapes and /healthz then serve. */
static void refresh_once(void)
{
    char dberr[512] = "", kerr[512] = "", *cluster = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&cluster, &len);
    int db_up = 0, broker_up;

    if (db_connect(dberr, sizeof(dberr)) == 0) {
        if (claim_exporter() != 0 || (reg.exporter && f && render_database(f) != 0))
            db_failed(dberr, sizeof(dberr));
        else
            db_up = 1;
    }
    broker_up = broker_probe(kerr, sizeof(kerr)) == 0;
    if (reg.exporter && broker_up && f)
        render_lag(f);
    if (f == NULL || fclose(f) != 0) {
        free(cluster);
        cluster = NULL;
    }
    pthread_mutex_lock(&reg.lock);
    free(reg.cluster);
    reg.cluster = db_up && reg.exporter ? cluster : NULL;
    if (reg.cluster != cluster)
        free(cluster);
    reg.db_up = db_up;
    reg.broker_up = broker_up;
    reg.is_exporter = reg.exporter;
    util_strlcpy(reg.db_err, dberr, sizeof(reg.db_err));
    util_strlcpy(reg.broker_err, kerr, sizeof(reg.broker_err));
    reg.refreshed_ms = util_now_ms();
    reg.refreshes++;
    pthread_mutex_unlock(&reg.lock);
}

static volatile sig_atomic_t refresher_run;

/* The refresher thread: a refresh every REFRESH_MS while the server runs. */
static void *refresher_main(void *arg)
{
    int slept;

    (void)arg;
    while (refresher_run) {
        refresh_once();
        for (slept = 0; refresher_run && slept < REFRESH_MS; slept += 50)
            usleep(50 * 1000);
    }
    PQfinish(reg.conn); /* and so the exporter's lock goes */
    reg.conn = NULL;
    reg.exporter = 0;
    return NULL;
}

char *metrics_render(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        return NULL;
    render_counters(f);
    if (reg.daemon != NULL) { /* the server runs: what the refresher last found */
        pthread_mutex_lock(&reg.lock);
        if (reg.cluster)
            fputs(reg.cluster, f);
        fprintf(f,
                "# HELP kvmove_database_up 1 when PostgreSQL answered the last refresh.\n"
                "# TYPE kvmove_database_up gauge\n"
                "kvmove_database_up %d\n"
                "# HELP kvmove_broker_up 1 when the Kafka broker answered the last refresh.\n"
                "# TYPE kvmove_broker_up gauge\n"
                "kvmove_broker_up %d\n"
                "# HELP kvmove_metrics_exporter 1 on the one worker that exports the "
                "cluster-wide gauges (kvmove_jobs, kvmove_outbox_backlog, kvmove_consumer_lag), "
                "so that sum() over workers is right.\n"
                "# TYPE kvmove_metrics_exporter gauge\n"
                "kvmove_metrics_exporter %d\n"
                "# HELP kvmove_metrics_refreshes_total Refreshes of the database and broker "
                "figures (every %d ms, by a thread of their own; scrapes only read them).\n"
                "# TYPE kvmove_metrics_refreshes_total counter\n"
                "kvmove_metrics_refreshes_total %llu\n",
                reg.db_up, reg.broker_up, reg.is_exporter, REFRESH_MS, reg.refreshes);
        pthread_mutex_unlock(&reg.lock);
        fputs("# HELP kvmove_worker_info The worker serving these metrics.\n"
              "# TYPE kvmove_worker_info gauge\n"
              "kvmove_worker_info{worker=\"",
              f);
        put_label(f, reg.worker);
        fputs("\"} 1\n", f);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* /healthz body and status, from the last refresh: 200 when it reached both dependencies
 * and is recent, 503 naming what is wrong otherwise. */
static char *health(unsigned int *status)
{
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    int64_t age;
    int ok;

    if (f == NULL)
        return NULL;
    pthread_mutex_lock(&reg.lock);
    age = util_now_ms() - reg.refreshed_ms;
    ok = reg.db_up && reg.broker_up && reg.refreshes > 0 && age <= STALE_MS;
    if (reg.refreshes == 0)
        fputs("database: not checked yet\nbroker: not checked yet\n", f);
    else {
        if (reg.db_up)
            fputs("database: ok\n", f);
        else
            fprintf(f, "database: unreachable: %s\n", reg.db_err);
        if (reg.broker_up)
            fputs("broker: ok\n", f);
        else
            fprintf(f, "broker: unreachable: %s\n", reg.broker_err);
        if (age > STALE_MS)
            fprintf(f, "metrics: last refresh %lld ms ago (the refresher is stuck)\n",
                    (long long)age);
    }
    pthread_mutex_unlock(&reg.lock);
    if (fclose(f) != 0) {
        free(body);
        return NULL;
    }
    *status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    return body;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    static const char index[] = "kvmove-worker: /metrics /healthz\n";
    static const char not_found[] = "not found (try /metrics or /healthz)\n";
    struct MHD_Response *resp;
    enum MHD_Result rc;
    unsigned int status = MHD_HTTP_OK;
    const char *type = "text/plain; charset=utf-8";
    char *body = NULL;

    (void)cls, (void)version, (void)upload, (void)upload_size, (void)state;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        rc = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    if (strcmp(url, "/metrics") == 0) {
        body = metrics_render();
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(url, "/healthz") == 0)
        body = health(&status);
    if (body)
        resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    else if (strcmp(url, "/") == 0)
        resp = MHD_create_response_from_buffer(sizeof(index) - 1, (void *)index,
                                               MHD_RESPMEM_PERSISTENT);
    else {
        status = strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0
                     ? MHD_HTTP_INTERNAL_SERVER_ERROR
                     : MHD_HTTP_NOT_FOUND;
        resp = MHD_create_response_from_buffer(sizeof(not_found) - 1, (void *)not_found,
                                               MHD_RESPMEM_PERSISTENT);
    }
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Binds and listens on LISTEN ("host:port" or "[v6]:port"). The socket, or -1 with errstr. */
static int listen_on(const char *addr, int *port, char *errstr, size_t errstr_size)
{
    char host[256], *colon;
    const char *service;
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    int fd = -1, one = 1, rc;

    if (util_strlcpy(host, addr, sizeof(host)) != 0 || (colon = strrchr(host, ':')) == NULL ||
        colon == host || colon[1] == '\0') {
        util_errf(errstr, errstr_size, "metrics.listen '%s': expected HOST:PORT", addr);
        return -1;
    }
    *colon = '\0';
    service = colon + 1;
    if (host[0] == '[' && colon[-1] == ']') {
        colon[-1] = '\0';
        memmove(host, host + 1, strlen(host));
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0) {
        util_errf(errstr, errstr_size, "metrics.listen '%s': %s", addr, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        util_errf(errstr, errstr_size, "cannot listen on %s for metrics: %s", addr,
                  strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    } else
        *port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    freeaddrinfo(ai);
    return fd;
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* The probes report the broker's state in /healthz; its connection noise is not logged. */
    (void)rk, (void)level, (void)fac, (void)buf;
}

int metrics_start(const char *listen, const metrics_sources *src, int *port, char *errstr,
                  size_t errstr_size)
{
    rd_kafka_conf_t *conf = NULL;
    char kerr[512];
    int fd = -1, bound = 0;
    size_t i;

    if (port)
        *port = 0;
    if (listen == NULL || listen[0] == '\0')
        return 0;
    fd = listen_on(listen, &bound, errstr, errstr_size);
    if (fd < 0)
        return -1;
    /* A consumer handle that never subscribes: it answers metadata probes and reads the
     * group's committed offsets without joining the group. */
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", src->brokers, kerr, sizeof(kerr)) != 0 ||
        rd_kafka_conf_set(conf, "group.id", src->group, kerr, sizeof(kerr)) != 0 ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", kerr, sizeof(kerr)) != 0)
        goto kafka_fail;
    for (i = 0; i < src->props.n; i++) {
        char kv[1024], *eq;
        if (util_strlcpy(kv, src->props.kv[i], sizeof(kv)) != 0 || (eq = strchr(kv, '=')) == NULL)
            continue;
        *eq = '\0';
        if (rd_kafka_conf_set(conf, kv, eq + 1, kerr, sizeof(kerr)) == RD_KAFKA_CONF_INVALID)
            goto kafka_fail;
    }
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    reg.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    if (reg.rk == NULL)
        goto kafka_fail;
    conf = NULL; /* now owned by reg.rk */
    reg.db = strdup(src->db ? src->db : "");
    reg.group = strdup(src->group);
    reg.worker = strdup(src->worker ? src->worker : "");
    reg.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL,
                                  MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
                                  (unsigned int)10, MHD_OPTION_END);
    if (reg.daemon == NULL) {
        util_errf(errstr, errstr_size, "cannot start the metrics server on %s", listen);
        close(fd);
        metrics_stop();
        return -1;
    }
    refresher_run = 1;
    if (pthread_create(&reg.refresher, NULL, refresher_main, NULL) != 0) {
        util_errf(errstr, errstr_size, "cannot start the metrics refresher thread");
        metrics_stop();
        return -1;
    }
    reg.refresher_started = 1;
    if (port)
        *port = bound;
    return 0;
kafka_fail:
    util_errf(errstr, errstr_size, "metrics: Kafka client: %s", kerr);
    if (conf)
        rd_kafka_conf_destroy(conf);
    close(fd);
    return -1;
}

void metrics_stop(void)
{
    if (reg.daemon)
        MHD_stop_daemon(reg.daemon);
    reg.daemon = NULL;
    refresher_run = 0;
    if (reg.refresher_started)
        pthread_join(reg.refresher, NULL);
    reg.refresher_started = 0;
    free(reg.cluster);
    reg.cluster = NULL;
    if (reg.rk) {
        rd_kafka_consumer_close(reg.rk);
        rd_kafka_destroy(reg.rk);
    }
    reg.rk = NULL;
    free(reg.db);
    free(reg.group);
    free(reg.worker);
    reg.db = reg.group = reg.worker = NULL;
}
