/* kvmove-worker: consumes migration requests, runs jobs from PostgreSQL, publishes events. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "esxml.h"
#include "event.h"
#include "hostconn.h"
#include "jobstore.h"
#include "migrate.h"
#include "request.h"
#include "settings.h"
#include "util.h"

static volatile sig_atomic_t running = 1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_signal(int sig)
{
    (void)sig;
    running = 0;
}

/* Only main and the worker loop log; one line at a time across threads. */
static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&log_lock);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&log_lock);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct worker {
    settings s;
    char owner[160];  /* lease owner and event source */
    char source[200]; /* CloudEvents source */
} worker;

#define POOL_MAX 32

/* One job runner thread: its own database connection and SSH sessions. */
typedef struct executor {
    worker *w;
    int index;
    pthread_t thread;
    jobstore *js;
    struct {
        char address[256];
        hostconn *c;
    } pool[POOL_MAX];
    size_t n_pool;
    char tag[320]; /* log prefix of the current job */
} executor;

static int pool_connect(void *ctx, const esxml_host *host, hostconn **out, char *errstr,
                        size_t errstr_size)
{
    executor *ex = ctx;
    const settings *s = &ex->w->s;
    const char *address = host->admin_ip ? host->admin_ip : host->hostname;
    hostconn_opts opts = {0};
    hostconn *c = NULL;
    size_t i;
    int rc;

    for (i = 0; i < ex->n_pool; i++) {
        if (strcmp(ex->pool[i].address, address) == 0) {
            *out = ex->pool[i].c;
            return 0;
        }
    }
    opts.user = s->ssh_user;
    opts.port = s->ssh_port;
    opts.identity = s->ssh_identity[0] ? s->ssh_identity : NULL;
    opts.known_hosts = s->ssh_known_hosts[0] ? s->ssh_known_hosts : NULL;
    opts.connect_timeout_ms = s->ssh_connect_timeout_ms;
    rc = hostconn_open(address, &opts, &c, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (ex->n_pool == POOL_MAX) { /* drop the oldest session */
        hostconn_close(ex->pool[0].c);
        memmove(&ex->pool[0], &ex->pool[1], sizeof(ex->pool[0]) * (POOL_MAX - 1));
        ex->n_pool--;
    }
    util_strlcpy(ex->pool[ex->n_pool].address, address, sizeof(ex->pool[0].address));
    ex->pool[ex->n_pool++].c = c;
    *out = c;
    return 0;
}

static void pool_close(executor *ex)
{
    size_t i;

    for (i = 0; i < ex->n_pool; i++)
        hostconn_close(ex->pool[i].c);
    ex->n_pool = 0;
}

static void job_log(void *ctx, const char *line)
{
    executor *ex = ctx;
    logf_("[%s] %s", ex->tag, line);
}

/* Retries a job-store call while the database is unreachable (it keeps all state, so waiting
 * for it loses nothing). Gives up when the worker stops. */
#define STORE(ex, call)                                                                        \
    ({                                                                                         \
        int rc_, backoff_ = 200;                                                               \
        while ((rc_ = (call)) == -JOBSTORE_EDB && running) {                                   \
            logf_("[%s] database unavailable, retrying in %d ms: %s", (ex)->tag, backoff_,     \
                  err);                                                                        \
            sleep_ms(backoff_);                                                                \
            backoff_ = backoff_ < 5000 ? backoff_ * 2 : 5000;                                  \
            jobstore_ensure((ex)->js, err, sizeof(err));                                       \
        }                                                                                      \
        rc_;                                                                                   \
    })

/* Preflight that es.xml alone can answer. Returns 1 passed, 0 failed, negative on store error.
 * A fresh migration also needs the guest placed on the source host. */
static int preflight(executor *ex, job *j, const esxml *doc, long config_version)
{
    worker *w = ex->w;
    char err[1024], msg[1024];
    const esxml_guest *g = esxml_guest_find(doc, j->guest);
    const esxml_host *src = esxml_host_find(doc, j->src_host);
    const esxml_host *tgt = esxml_host_find(doc, j->tgt_host);
    const esxml_host *placed = g ? esxml_guest_host(doc, g) : NULL;
    int fresh = j->attempt == 1 && !j->takeover, all_ok = 1, seq = 0, rc;
    json_t *failed = json_array();
    struct {
        const char *name;
        int ok;
        int applies;
    } checks[4];
    size_t i;

    checks[0].name = "guest_defined";
    checks[0].ok = g != NULL;
    checks[0].applies = 1;
    checks[1].name = "source_host_defined";
    checks[1].ok = src != NULL;
    checks[1].applies = 1;
    checks[2].name = "target_host_defined";
    checks[2].ok = tgt != NULL;
    checks[2].applies = 1;
    checks[3].name = "guest_on_source";
    checks[3].ok = placed != NULL && src != NULL && placed == src;
    checks[3].applies = fresh && g != NULL && src != NULL;
    for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        const char *status;
        if (!checks[i].applies)
            continue;
        switch (i) {
        case 0:
            snprintf(msg, sizeof(msg),
                     checks[i].ok ? "guest %s is defined in es.xml version %ld"
                                  : "guest %s is not defined in es.xml version %ld (load the "
                                    "current es.xml with 'kvmove config load')",
                     j->guest, config_version);
            break;
        case 1:
        case 2:
            snprintf(msg, sizeof(msg),
                     checks[i].ok ? "KVM host %s is defined in es.xml version %ld"
                                  : "KVM host %s is not defined in es.xml version %ld",
                     i == 1 ? j->src_host : j->tgt_host, config_version);
            break;
        default:
            snprintf(msg, sizeof(msg),
                     checks[i].ok ? "guest %s is placed on %s" : "guest %s is placed on %s in "
                                                                "es.xml, not on source %s",
                     j->guest, placed ? placed->hostname : "no host", j->src_host);
        }
        status = checks[i].ok ? "passed" : "failed";
        if (!checks[i].ok) {
            all_ok = 0;
            json_array_append_new(failed, json_pack("{s:s,s:s}", "check", checks[i].name,
                                                    "message", msg));
            logf_("[%s] Preflight check %s failed: %s", ex->tag, checks[i].name, msg);
        }
        rc = STORE(ex, jobstore_preflight_record(ex->js, j, w->owner, ++seq, checks[i].name,
                                                 status, msg, err, sizeof(err)));
        if (rc < 0) {
            json_decref(failed);
            return rc;
        }
    }
    rc = STORE(ex, jobstore_preflight_done(ex->js, j, w->owner, w->source, all_ok,
                                           json_pack("{s:O}", "failed_checks", failed), err,
                                           sizeof(err)));
    json_decref(failed);
    return rc < 0 ? rc : all_ok;
}

/* Builds the es.xml version that records the deployed migration. NULL if it cannot. */
static char *deployed_document(executor *ex, esxml *doc, const job *j)
{
    char err[512], sub[1200], *buf = NULL;
    size_t len;
    int id;

    snprintf(sub, sizeof(sub), "MIGRATE GUEST HOSTNAME=%s MODE=%s SRCHOST=%s TGTHOST=%s",
             j->guest, mode_to_string(j->mode), j->src_host, j->tgt_host);
    if (esxml_guest_move(doc, j->guest, j->tgt_host, err, sizeof(err)) != 0 ||
        esxml_action_add(doc, sub, &id, err, sizeof(err)) != 0 ||
        esxml_action_set_deployed(doc, id, err, sizeof(err)) != 0 ||
        esxml_dump(doc, &buf, &len, err, sizeof(err)) != 0) {
        logf_("[%s] could not record the deployment in es.xml: %s", ex->tag, err);
        return NULL;
    }
    return buf;
}

static void run_job(executor *ex, job *j)
{
    worker *w = ex->w;
    char err[1024], xsd[1100], *docbuf = NULL, *deployed = NULL;
    esxml *doc = NULL;
    long version = 0;
    int64_t t0 = util_now_ms();
    int s, rc, failed = 0;
    migrate_env env;
    char failure[1200] = "";

    snprintf(ex->tag, sizeof(ex->tag), "%.8s %s", j->id, j->guest);
    logf_("[%s] %s job %s (attempt %d): %s from %s to %s, MODE=%s", ex->tag,
          j->takeover ? "Taking over" : "Starting", j->id, j->attempt, j->guest, j->src_host,
          j->tgt_host, mode_to_string(j->mode));
    rc = STORE(ex, jobstore_config_get(ex->js, j->config_version, &docbuf, &version, NULL, err,
                                       sizeof(err)));
    snprintf(xsd, sizeof(xsd), "%s/es.xsd", w->s.schema_dir);
    if (rc == 0 && esxml_load_buffer(docbuf, strlen(docbuf), xsd, &doc, err, sizeof(err)) != 0)
        rc = -JOBSTORE_EINVALID;
    if (rc < 0) {
        if (rc == -JOBSTORE_ELEASE || !running)
            goto out;
        snprintf(failure, sizeof(failure), "cannot use the es.xml: %s", err);
        failed = 1;
        goto finish;
    }
    rc = preflight(ex, j, doc, version);
    if (rc < 0)
        goto out;
    if (rc == 0) {
        snprintf(failure, sizeof(failure), "preflight failed; no host was changed (see 'kvmove "
                                           "status %s')",
                 j->id);
        failed = 1;
        goto finish;
    }
    memset(&env, 0, sizeof(env));
    env.doc = doc;
    env.guest = esxml_guest_find(doc, j->guest);
    env.src = esxml_host_find(doc, j->src_host);
    env.tgt = esxml_host_find(doc, j->tgt_host);
    env.mode = j->mode;
    env.command_timeout_ms = w->s.command_timeout_ms;
    env.connect = pool_connect;
    env.log = job_log;
    env.ctx = ex;
    if (!j->takeover && j->attempt == 1)
        logf_("[%s] Starting Guest Migration : %s", ex->tag, j->guest);
    for (s = 0; s < STEP__COUNT && running; s++) {
        migrate_result res;
        const esxml_host *h;
        int64_t ts;
        int tries;
        if (!j->included[s] || j->state[s] == STEP_SUCCEEDED || j->state[s] == STEP_SKIPPED)
            continue;
        h = migrate_step_host(&env, (step_id)s);
        rc = STORE(ex, jobstore_step_begin(ex->js, j, (step_id)s, h->hostname, w->owner,
                                           w->source, err, sizeof(err)));
        if (rc < 0)
            goto out;
        ts = util_now_ms();
        for (tries = 0;; tries++) {
            migrate_step(&env, (step_id)s, &res);
            if (res.state != STEP_FAILED || !res.transient || tries >= w->s.step_retries ||
                !running)
                break;
            logf_("[%s] Step %s hit a transient failure (%s); retrying (%d of %d)", ex->tag,
                  step_to_string((step_id)s), res.message, tries + 1, w->s.step_retries);
            migrate_result_free(&res);
            pool_close(ex); /* a broken session is not reused */
            sleep_ms(500 << (tries < 4 ? tries : 4));
        }
        rc = STORE(ex, jobstore_step_end(ex->js, j, (step_id)s, h->hostname, res.state,
                                         res.message, res.output, (long)(util_now_ms() - ts),
                                         w->owner, w->source, err, sizeof(err)));
        if (rc == 0 && res.state != STEP_FAILED) {
            char line[1200];
            migrate_summary_line(&env, (step_id)s, line, sizeof(line));
            logf_("[%s] %s", ex->tag, line);
        }
        if (res.state == STEP_FAILED)
            snprintf(failure, sizeof(failure), "step %s failed: %s", step_to_string((step_id)s),
                     res.message);
        migrate_result_free(&res);
        if (rc < 0)
            goto out;
        if (failure[0]) {
            failed = 1;
            goto finish;
        }
    }
    if (!running)
        goto out; /* stopping: the lease is handed back, another worker resumes */
    if ((j->included[STEP_MIGRATE_GUEST] || j->included[STEP_STARTUP_GUEST]) && env.guest &&
        esxml_guest_host(doc, env.guest) != env.tgt)
        deployed = deployed_document(ex, doc, j);
finish:
    rc = STORE(ex, jobstore_job_finish(ex->js, j, failed ? JOB_FAILED : JOB_SUCCEEDED,
                                       failed ? failure : NULL, (long)(util_now_ms() - t0),
                                       deployed, doc ? esxml_system_name(doc) : "", w->owner, w->source,
                                       err, sizeof(err)));
    if (rc == 0 && failed)
        logf_("[%s] Job %s failed: %s", ex->tag, j->id, failure);
    else if (rc == 0)
        logf_("[%s] Done [Elapsed = %lld mS]", ex->tag, (long long)(util_now_ms() - t0));
out:
    if (rc == -JOBSTORE_ELEASE)
        logf_("[%s] %s", ex->tag, err);
    free(deployed);
    free(docbuf);
    esxml_free(doc);
}

static void *executor_main(void *arg)
{
    executor *ex = arg;
    worker *w = ex->w;
    char err[1024];
    int idle_ms = 50;

    snprintf(ex->tag, sizeof(ex->tag), "executor %d", ex->index);
    while (running) {
        job j;
        int rc;
        if (ex->js == NULL && jobstore_connect(w->s.db, &ex->js, err, sizeof(err)) != 0) {
            logf_("[%s] %s", ex->tag, err);
            sleep_ms(1000);
            continue;
        }
        rc = jobstore_job_claim(ex->js, w->owner, w->s.lease_s, &j, err, sizeof(err));
        if (rc < 0) {
            logf_("[%s] %s", ex->tag, err);
            jobstore_ensure(ex->js, err, sizeof(err));
            sleep_ms(1000);
            continue;
        }
        if (rc == 0) {
            sleep_ms(idle_ms);
            continue;
        }
        run_job(ex, &j);
        snprintf(ex->tag, sizeof(ex->tag), "executor %d", ex->index);
    }
    pool_close(ex);
    jobstore_close(ex->js);
    ex->js = NULL;
    return NULL;
}

/* ---- intake ---- */

typedef struct sender {
    bus_producer *p;
    char err[512];
} sender;

static int send_event(void *ctx, const char *topic, const char *key, const char *payload)
{
    sender *sd = ctx;
    return bus_produce_sync(sd->p, topic, key, payload, strlen(payload), NULL, 0, 10000, sd->err,
                            sizeof(sd->err));
}

/* Guest memory and cores from the newest es.xml, for the target's reservation. */
static void guest_size(worker *w, jobstore *js, const char *guest, long *memory_mb, int *vcpus)
{
    char err[512], xsd[1100], *buf = NULL;
    esxml *doc = NULL;
    const esxml_guest *g;

    *memory_mb = 0;
    *vcpus = 0;
    snprintf(xsd, sizeof(xsd), "%s/es.xsd", w->s.schema_dir);
    if (jobstore_config_get(js, 0, &buf, NULL, NULL, err, sizeof(err)) == 0 &&
        esxml_load_buffer(buf, strlen(buf), xsd, &doc, err, sizeof(err)) == 0 &&
        (g = esxml_guest_find(doc, guest)) != NULL) {
        *memory_mb = g->memory_mb;
        *vcpus = g->cores;
    }
    esxml_free(doc);
    free(buf);
}

/* Sends a request that cannot be used to the dead-letter topic, with where it came from and
 * why. Returns 0 when the broker took it. */
static int dead_letter(worker *w, bus_producer *p, const bus_message *m, const char *reason)
{
    char part[16], off[32], err[512];
    bus_header h[5];
    int rc;

    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    h[0] = (bus_header){"kvmove.original.topic", m->topic};
    h[1] = (bus_header){"kvmove.original.partition", part};
    h[2] = (bus_header){"kvmove.original.offset", off};
    h[3] = (bus_header){"kvmove.error", reason};
    h[4] = (bus_header){"kvmove.worker", w->owner};
    rc = bus_produce_sync(p, BUS_TOPIC_DLQ, m->key, m->value ? m->value : "", m->len, h, 5, 10000,
                          err, sizeof(err));
    if (rc != 0)
        logf_("[intake] cannot write to %s: %s", BUS_TOPIC_DLQ, err);
    return rc;
}

/* Handles one request message. Returns 0 when it is fully recorded (commit the offset), -1
 * when it must be retried. */
static int intake(worker *w, jobstore *js, bus_producer *p, const bus_message *m)
{
    request req;
    char err[1024], why[1100];
    jobstore_intake result;
    long mem;
    int cpus, rc;

    if (m->value == NULL ||
        request_parse_json(m->value, m->len, &req, err, sizeof(err)) != 0) {
        snprintf(why, sizeof(why), "%s", m->value ? err : "empty message");
        logf_("[intake] rejected message at %s/%d/%lld: %s", m->topic, (int)m->partition,
              (long long)m->offset, why);
        if (dead_letter(w, p, m, why) != 0)
            return -1;
        if (m->value && req.request_id[0] &&
            jobstore_reject_unparsed(js, req.request_id, why, w->source, err, sizeof(err)) != 0)
            return -1;
        return 0;
    }
    if (req.action == ACTION_MIGRATE_GUEST)
        guest_size(w, js, req.guest, &mem, &cpus);
    else
        mem = 0, cpus = 0;
    rc = jobstore_job_create(js, &req, mem, cpus, w->source, &result, err, sizeof(err));
    if (rc < 0) {
        logf_("[intake] request %s not recorded yet: %s", req.request_id, err);
        return -1;
    }
    switch (result) {
    case JOBSTORE_CREATED:
        logf_("[intake] accepted request %s: %s %s", req.request_id,
              req.action == ACTION_REPLAY ? "replay of job" : "migrate guest",
              req.action == ACTION_REPLAY ? req.job_id : req.guest);
        break;
    case JOBSTORE_DUPLICATE:
        logf_("[intake] request %s seen before; nothing to do", req.request_id);
        break;
    case JOBSTORE_REJECTED:
        logf_("[intake] rejected request %s: %s", req.request_id, err);
        break;
    }
    return 0;
}

static int cmd_run(worker *w)
{
    char err[1024];
    jobstore *js = NULL;
    bus_producer *p = NULL;
    bus_consumer *c = NULL;
    bus_props props = {(const char *const *)w->s.kafka_props, w->s.n_kafka_props};
    executor *ex = NULL;
    sender sd;
    int i, rc = 3, renewed;
    int64_t last_renew = 0;

    while (running && jobstore_connect(w->s.db, &js, err, sizeof(err)) != 0) {
        logf_("[worker] %s; retrying", err);
        sleep_ms(1000);
    }
    if (!running)
        goto out;
    if (bus_producer_new(w->s.brokers, &props, &p, err, sizeof(err)) != 0 ||
        bus_consumer_new(w->s.brokers, &props, w->s.group, BUS_TOPIC_REQUESTS, &c, err,
                         sizeof(err)) != 0) {
        logf_("[worker] %s", err);
        goto out;
    }
    ex = calloc((size_t)w->s.jobs, sizeof(*ex));
    for (i = 0; i < w->s.jobs; i++) {
        ex[i].w = w;
        ex[i].index = i;
        pthread_create(&ex[i].thread, NULL, executor_main, &ex[i]);
    }
    logf_("[worker] %s consuming %s from %s (group %s), running up to %d jobs", w->owner,
          BUS_TOPIC_REQUESTS, w->s.brokers, w->s.group, w->s.jobs);
    sd.p = p;
    while (running) {
        bus_message m;
        int got = bus_consumer_poll(c, 50, &m, err, sizeof(err)), published = 0;
        if (got < 0) {
            logf_("[worker] consumer: %s", err);
            sleep_ms(500);
        } else if (got == 1) {
            int backoff = 200;
            while (intake(w, js, p, &m) != 0 && running) {
                sleep_ms(backoff);
                backoff = backoff < 5000 ? backoff * 2 : 5000;
                jobstore_ensure(js, err, sizeof(err));
            }
            if (running && bus_consumer_commit(c, &m, err, sizeof(err)) != 0)
                logf_("[worker] offset commit: %s", err);
        }
        if (jobstore_outbox_publish(js, send_event, &sd, 200, &published, err, sizeof(err)) !=
            0) {
            logf_("[worker] outbox: %s", err);
            jobstore_ensure(js, err, sizeof(err));
        }
        if (util_now_ms() - last_renew > w->s.lease_s * 1000 / 3) {
            if (jobstore_lease_renew(js, w->owner, w->s.lease_s, &renewed, err, sizeof(err)) ==
                0)
                last_renew = util_now_ms();
            else
                jobstore_ensure(js, err, sizeof(err));
        }
    }
    logf_("[worker] stopping: finishing current steps, handing jobs back");
    for (i = 0; i < w->s.jobs; i++)
        pthread_join(ex[i].thread, NULL);
    if (jobstore_ensure(js, err, sizeof(err)) == 0) {
        int published;
        jobstore_lease_release(js, w->owner, err, sizeof(err));
        jobstore_outbox_publish(js, send_event, &sd, 1000, &published, err, sizeof(err));
    }
    rc = 0;
out:
    free(ex);
    bus_consumer_close(c);
    bus_producer_close(p);
    jobstore_close(js);
    return rc;
}

static int cmd_migrate(worker *w)
{
    char err[1024];
    jobstore *js = NULL;
    int applied = 0, rc;

    if (jobstore_connect(w->s.db, &js, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove-worker: %s\n", err);
        return 3;
    }
    rc = jobstore_migrate(js, w->s.migrations_dir, &applied, err, sizeof(err));
    jobstore_close(js);
    if (rc != 0) {
        fprintf(stderr, "kvmove-worker: %s\n", err);
        return 1;
    }
    printf("database schema up to date (%d migration%s applied from %s)\n", applied,
           applied == 1 ? "" : "s", w->s.migrations_dir);
    return 0;
}

static void usage(FILE *f)
{
    fputs("Usage: kvmove-worker [OPTION]... [COMMAND]\n"
          "Run a kvmove worker: consume migration requests from Kafka, run the migration steps\n"
          "over SSH on the KVM hosts, keep every step's state in PostgreSQL and publish events.\n"
          "\n"
          "Commands:\n"
          "  run                 run the worker until SIGTERM/SIGINT (default)\n"
          "  migrate             apply the database migrations and exit\n"
          "\n"
          "Connection options:\n"
          "  -c, --config=FILE   configuration file (default $KVMOVE_CONFIG or\n"
          "                      /etc/kvmove/kvmove.conf)\n"
          "  -b, --brokers=LIST  Kafka bootstrap servers (KVMOVE_BROKERS)\n"
          "  -X KEY=VALUE        librdkafka property (repeatable), e.g. -X security.protocol=ssl\n"
          "      --db=CONNINFO   PostgreSQL conninfo (KVMOVE_DB; PG* variables are honoured)\n"
          "  -o, --set=KEY=VALUE any configuration key, e.g. -o ssh.port=2222\n"
          "\n"
          "Worker options:\n"
          "      --id=ID         worker id used for leases (default hostname:pid)\n"
          "  -j, --jobs=N        jobs run at once (default 4)\n"
          "  -h, --help          show this help and exit\n"
          "\n"
          "Settings are taken from defaults < configuration file < environment < options.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"brokers", required_argument, NULL, 'b'},
        {"db", required_argument, NULL, 'd'},     {"set", required_argument, NULL, 'o'},
        {"id", required_argument, NULL, 'i'},     {"jobs", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    worker w;
    char *flags[128];
    size_t n_flags = 0;
    const char *config = NULL, *command = "run";
    char err[1024], host[128];
    int ch, rc;
    struct sigaction sa;

    memset(&w, 0, sizeof(w));
    while ((ch = getopt_long(argc, argv, "c:b:X:o:j:h", opts, NULL)) != -1) {
        char *f = NULL;
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'b':
            rc = asprintf(&f, "brokers=%s", optarg);
            break;
        case 'd':
            rc = asprintf(&f, "db=%s", optarg);
            break;
        case 'X':
            rc = asprintf(&f, "kafka.%s", optarg);
            break;
        case 'o':
            f = strdup(optarg);
            break;
        case 'i':
            rc = asprintf(&f, "worker.id=%s", optarg);
            break;
        case 'j':
            rc = asprintf(&f, "worker.jobs=%s", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'kvmove-worker --help' for more information.\n");
            return 2;
        }
        (void)rc;
        if (f && n_flags < sizeof(flags) / sizeof(flags[0]))
            flags[n_flags++] = f;
    }
    if (optind < argc)
        command = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "kvmove-worker: unexpected argument '%s'\n"
                        "Try 'kvmove-worker --help' for more information.\n",
                argv[optind]);
        return 2;
    }
    if (settings_resolve(&w.s, config, (const char *const *)flags, n_flags, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "kvmove-worker: %s\nTry 'kvmove-worker --help' for more information.\n",
                err);
        return 2;
    }
    if (w.s.worker_id[0])
        util_strlcpy(w.owner, w.s.worker_id, sizeof(w.owner));
    else {
        gethostname(host, sizeof(host));
        host[sizeof(host) - 1] = '\0';
        snprintf(w.owner, sizeof(w.owner), "%s:%d", host, (int)getpid());
    }
    util_strlcpy(w.source, w.owner, sizeof(w.source));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(command, "migrate") == 0)
        rc = cmd_migrate(&w);
    else if (strcmp(command, "run") == 0)
        rc = cmd_run(&w);
    else {
        fprintf(stderr, "kvmove-worker: unknown command '%s'\n"
                        "Try 'kvmove-worker --help' for more information.\n",
                command);
        rc = 2;
    }
    while (n_flags > 0)
        free(flags[--n_flags]);
    settings_clear(&w.s);
    return rc;
}
