/* kvmove-worker: consumes migration requests, runs jobs from PostgreSQL, publishes events. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "keyfile.h"
#include "metrics.h"
#include "notify.h"
#include "util.h"
#include "worker.h"

static void on_signal(int sig)
{
    (void)sig;
    worker_running = 0;
}

typedef struct sender {
    bus_producer *p;
    char err[512];
} sender;

static int send_event(void *ctx, jobstore_event *events, size_t n)
{
    sender *sd = ctx;
    bus_out *out = calloc(n ? n : 1, sizeof(*out));
    size_t i, n_headers;
    const bus_header *headers = event_kafka_headers(&n_headers);
    int rc;

    if (out == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        out[i].topic = events[i].topic;
        out[i].key = events[i].key;
        out[i].value = events[i].payload;
        out[i].len = strlen(events[i].payload);
        out[i].headers = headers; /* every outbox row is a CloudEvent */
        out[i].n_headers = n_headers;
    }
    rc = bus_produce_many(sd->p, out, n, 10000, sd->err, sizeof(sd->err));
    for (i = 0; i < n; i++) {
        events[i].delivered = out[i].delivered;
        events[i].partition = out[i].partition;
        events[i].offset = out[i].offset;
    }
    free(out);
    return rc < 0 ? -1 : 0;
}

/* The publisher: a thread of its own with its own connection, woken by PostgreSQL (LISTEN
 * kvmove_outbox) as soon as a transaction that wrote events commits, so an event leaves without
 * waiting for a polling interval, and a publisher stuck on a broker that is down holds up nobody
 * else. Several events committed while a batch is on the wire leave together in the next one.
 * It also deletes events published more than outbox.retention_s ago. Runs until cmd_run clears
 * publisher_run (cmd_run flushes what is left after that). */
static volatile sig_atomic_t publisher_run = 1;

/* Publishing without a notification at least this often: a notification is lost while the
 * connection is down, and another worker's publisher may have given up its batch. */
#define PUBLISH_POLL_MS 1000
/* The longest the publisher waits without looking at publisher_run. */
#define PUBLISH_SLICE_MS 200
/* About to look, the publisher waits this long before it reads, so that the events of transactions
 * committing one after the other (a step's end and the next one's start) leave in one batch:
 * one lock, read and mark for several events instead of for each. */
#define PUBLISH_LINGER_MS 3
/* How often published events past their retention are deleted, and how many per statement. */
#define EXPIRE_EVERY_MS 60000
#define EXPIRE_BATCH 5000

typedef struct publisher {
    worker *w;
    sender sd;
} publisher;

/* Retention, a batch at a time: the pending cancels past their expiry, the published events
 * past outbox.retention_s and, with jobs.retention_s, the finished jobs past that (kvmove jobs
 * prune). */
static void publisher_expire(worker *w, jobstore *js)
{
    char err[1024];
    long deleted = 0, total = 0;

    /* The cancels of jobs whose request never came (jobstore_cancel_expire). */
    do {
        if (jobstore_cancel_expire(js, w->source, &deleted, err, sizeof(err)) != 0) {
            worker_log("[worker] pending cancels: %s", err);
            break;
        }
        if (deleted > 0)
            worker_log("[worker] rejected %ld pending cancels whose job did not arrive", deleted);
    } while (deleted == JOBSTORE_CANCEL_EXPIRE_BATCH && publisher_run);
    deleted = 0;
    while (w->s.outbox_retention_s > 0 && publisher_run) {
        if (jobstore_outbox_expire(js, w->s.outbox_retention_s, EXPIRE_BATCH, &deleted, err,
                                   sizeof(err)) != 0) {
            worker_log("[worker] outbox retention: %s", err);
            break;
        }
        total += deleted;
        if (deleted < EXPIRE_BATCH)
            break;
    }
    if (total > 0)
        worker_log("[worker] outbox: deleted %ld events published more than %d s ago", total,
                   w->s.outbox_retention_s);
    total = 0;
    while (w->s.jobs_retention_s > 0 && publisher_run) {
        if (jobstore_jobs_prune(js, w->s.jobs_retention_s, EXPIRE_BATCH, &deleted, err,
                                sizeof(err)) != 0) {
            worker_log("[worker] jobs retention: %s", err);
            break;
        }
        total += deleted;
        if (deleted == 0)
            break;
    }
    if (total > 0)
        worker_log("[worker] pruned %ld jobs that ended more than %d s ago", total,
                   w->s.jobs_retention_s);
}

static void *publisher_main(void *arg)
{
    publisher *pb = arg;
    worker *w = pb->w;
    jobstore *js = NULL;
    char err[1024];
    int64_t last_publish = 0, last_expire = 0; /* retention runs at start, then every minute */
    int rc, published, look = 1;

    while (publisher_run) {
        if (js == NULL && (jobstore_connect(w->s.db, &js, err, sizeof(err)) != 0 ||
                           jobstore_listen(js, JOBSTORE_CHANNEL_OUTBOX, err, sizeof(err)) != 0)) {
            worker_log("[worker] publisher: %s", err);
            jobstore_close(js);
            js = NULL;
            worker_sleep_ms(1000);
            continue;
        }
        if (!look) {
            look =
                worker_wait_work(js, PUBLISH_SLICE_MS, last_publish, PUBLISH_POLL_MS, "publisher");
            if (look)
                worker_sleep_ms(PUBLISH_LINGER_MS);
            continue;
        }
        /* The notifications that came so far are for events this read sees (committed before
         * it): taken now, they do not wake a read that finds nothing. */
        (void)jobstore_wait(js, 0, err, sizeof(err));
        last_publish = util_now_ms();
        published = 0;
        rc = jobstore_outbox_publish(js, send_event, &pb->sd, 200, &published, err, sizeof(err));
        metrics_events_published(published);
        if (rc < 0) {
            worker_log("[worker] outbox: %s", err);
            jobstore_ensure(js, err, sizeof(err));
            worker_sleep_ms(200);
            continue;
        }
        if (rc == JOBSTORE_OUTBOX_BUSY) {
            worker_sleep_ms(20); /* another publisher: what it did not read is taken next */
            continue;
        }
        look = published == 200; /* a full batch: there is more */
        if (util_now_ms() - last_expire >= EXPIRE_EVERY_MS) {
            last_expire = util_now_ms();
            publisher_expire(w, js);
        }
    }
    jobstore_close(js);
    return NULL;
}

static int cmd_run(worker *w)
{
    char err[1024];
    jobstore *js = NULL;
    bus_producer *p = NULL;
    bus_consumer *c = NULL;
    bus_props props = {(const char *const *)w->s.kafka_props, w->s.n_kafka_props};
    executor *ex = NULL;
    publisher pb;
    sender sd;
    int i, rc = 3, port, n_joined = 0, *joined = NULL;
    int64_t deadline;
    pthread_t lease_thread, fencer_thread, prober_thread, publisher_thread;
    metrics_sources msrc = {w->s.db, w->s.brokers, props, w->s.group, w->owner};

    /* The SSH identity opens every KVM host as root: a copy others can read is said out loud,
     * as OpenSSH would refuse it (libssh does not check). */
    if (w->s.ssh_identity[0] != '\0') {
        int fd = keyfile_open(w->s.ssh_identity, err, sizeof(err));
        if (fd < 0)
            worker_log_at(WORKER_LOG_WARNING, "[worker] ssh.identity: %s", err);
        else
            close(fd);
    }
    if (metrics_start(w->s.metrics_listen, &msrc, &port, err, sizeof(err)) != 0)
        worker_log_at(WORKER_LOG_WARNING, "[worker] %s; serving no metrics", err);
    else if (port > 0)
        worker_log("[worker] serving /metrics and /healthz on %s (port %d)", w->s.metrics_listen,
                   port);
    notify_status("connecting to PostgreSQL");
    while (worker_running && (i = jobstore_connect(w->s.db, &js, err, sizeof(err))) != 0) {
        if (i == -JOBSTORE_EDATA) {
            /* Refused (password, role, database, pg_hba.conf): waiting fixes nothing. */
            worker_log_at(WORKER_LOG_ERROR,
                          "[worker] %s; not retrying: fix the db setting or "
                          "the server's roles and pg_hba.conf",
                          err);
            notify_status("PostgreSQL refused the worker: %s", err);
            goto out;
        }
        worker_log("[worker] %s; retrying", err);
        /* Waiting out a database outage is not a hung start: each retry extends systemd's
         * start timeout by a little, so only a start that stops retrying is killed. */
        notify_send("EXTEND_TIMEOUT_USEC=10000000");
        notify_status("PostgreSQL unreachable, retrying: %s", err);
        worker_sleep_ms(1000);
    }
    if (!worker_running)
        goto out;
    if (bus_producer_new(w->s.brokers, &props, &p, err, sizeof(err)) != 0 ||
        bus_consumer_new(w->s.brokers, &props, w->s.group, BUS_TOPIC_REQUESTS, &c, err,
                         sizeof(err)) != 0) {
        worker_log("[worker] %s", err);
        goto out;
    }
    bus_producer_warm(p, BUS_TOPIC_EVENTS, 2000);
    /* lives as long as the process: executors abandoned after the grace period still use it */
    w->held = calloc((size_t)w->s.jobs, sizeof(*w->held));
    w->n_held = w->held ? w->s.jobs : 0;
    pthread_create(&lease_thread, NULL, worker_renew_main, w);
    pthread_create(&fencer_thread, NULL, fencer_main, w);
    pthread_create(&prober_thread, NULL, prober_main, w);
    memset(&pb, 0, sizeof(pb));
    pb.w = w;
    pb.sd.p = p;
    pthread_create(&publisher_thread, NULL, publisher_main, &pb);
    ex = calloc((size_t)w->s.jobs, sizeof(*ex));
    for (i = 0; i < w->s.jobs; i++) {
        ex[i].w = w;
        ex[i].index = i;
        pthread_create(&ex[i].thread, NULL, executor_main, &ex[i]);
    }
    worker_log("[worker] %s consuming %s from %s (group %s), running up to %d jobs", w->owner,
               BUS_TOPIC_REQUESTS, w->s.brokers, w->s.group, w->s.jobs);
    notify_send("READY=1\nSTATUS=consuming %s from %s (group %s), running up to %d jobs",
                BUS_TOPIC_REQUESTS, w->s.brokers, w->s.group, w->s.jobs);
    sd.p = p;
    while (worker_running) {
        bus_message m;
        int64_t t_poll = util_now_ms(), t_intake;
        int got;

        notify_watchdog();
        got = bus_consumer_poll(c, 50, &m, err, sizeof(err));
        t_intake = util_now_ms();
        if (got < 0) {
            worker_log("[worker] consumer: %s", err);
            worker_sleep_ms(500);
        } else if (got == 1) {
            int backoff = 200;
            while (intake_message(w, js, p, &m) != 0 && worker_running) {
                notify_watchdog(); /* waiting on the database, not stuck */
                notify_status("request at %s [%d] offset %lld not recorded yet; retrying", m.topic,
                              (int)m.partition, (long long)m.offset);
                worker_sleep_ms(backoff);
                backoff = backoff < 5000 ? backoff * 2 : 5000;
                jobstore_ensure(js, err, sizeof(err));
            }
            if (worker_running && bus_consumer_commit(c, &m, err, sizeof(err)) != 0)
                worker_log("[worker] offset commit: %s", err);
        }
        /* A main loop that stalls delays every request: say where. */
        if (util_now_ms() - t_poll > 500)
            worker_log_at(WORKER_LOG_WARNING,
                          "[worker] main loop stalled %lld ms (consumer poll %lld, intake %lld)",
                          (long long)(util_now_ms() - t_poll), (long long)(t_intake - t_poll),
                          (long long)(util_now_ms() - t_intake));
    }
    /* Graceful stop: take no new requests or jobs, give the running steps worker.grace_s to
     * end (their leases renewed and their events published meanwhile), then hand every job
     * back and flush the outbox. A step still running after the grace period is abandoned
     * (its job resumes elsewhere at that step: steps observe before they act). */
    worker_log("[worker] stopping: no new jobs; running steps get %d s to finish, then their "
               "jobs are handed back",
               w->s.grace_s);
    notify_send("STOPPING=1\nSTATUS=stopping: running steps get %d s to finish", w->s.grace_s);
    bus_consumer_close(c); /* leave the group now: the partitions move to the other workers */
    c = NULL;
    joined = calloc((size_t)w->s.jobs, sizeof(*joined));
    deadline = util_now_ms() + (int64_t)w->s.grace_s * 1000;
    while (joined != NULL) { /* the publisher thread publishes their events meanwhile */
        for (i = 0; i < w->s.jobs; i++)
            if (!joined[i] && pthread_tryjoin_np(ex[i].thread, NULL) == 0) {
                joined[i] = 1;
                n_joined++;
            }
        if (n_joined == w->s.jobs || util_now_ms() >= deadline)
            break;
        notify_watchdog();
        worker_sleep_ms(50);
    }
    if (n_joined < w->s.jobs)
        worker_log_at(WORKER_LOG_WARNING,
                      "[worker] grace period of %d s over: handing back %d running step(s)",
                      w->s.grace_s, w->s.jobs - n_joined);
    worker_renewing = 0;
    pthread_join(lease_thread, NULL);
    fencer_run = 0;
    pthread_join(fencer_thread, NULL);
    prober_run = 0;
    pthread_join(prober_thread, NULL);
    publisher_run = 0;
    pthread_join(publisher_thread, NULL);
    if (jobstore_ensure(js, err, sizeof(err)) == 0) {
        int published = 0;
        if (jobstore_lease_release(js, w->owner, NULL, err, sizeof(err)) != 0)
            worker_log_at(WORKER_LOG_ERROR, "[worker] releasing leases: %s", err);
        if (jobstore_outbox_publish(js, send_event, &sd, 1000, &published, err, sizeof(err)) < 0)
            worker_log_at(WORKER_LOG_ERROR, "[worker] flushing events: %s", err);
        metrics_events_published(published);
    }
    if (n_joined < w->s.jobs)
        ex = NULL; /* still used by the abandoned executors until the process exits */
    worker_log("[worker] stopped");
    notify_status("stopped");
    rc = 0;
out:
    metrics_stop();
    free(joined);
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
          "      --log-format=F  text (default: the spec's log lines) or json (one object a\n"
          "                      line: time, level, job, guest, step, message)\n"
          "\n"
          "Metrics and shutdown (see -o):\n"
          "  metrics.listen      HOST:PORT of /metrics and /healthz (127.0.0.1:9464; \"\" = off)\n"
          "  worker.grace_s      on SIGTERM, seconds running steps get before their jobs are\n"
          "                      handed back (30)\n"
          "  -h, --help          show this help and exit\n"
          "      --version       show the version and exit\n"
          "\n"
          "Settings are taken from defaults < configuration file < environment < options.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},     {"brokers", required_argument, NULL, 'b'},
        {"db", required_argument, NULL, 'd'},         {"set", required_argument, NULL, 'o'},
        {"id", required_argument, NULL, 'i'},         {"jobs", required_argument, NULL, 'j'},
        {"log-format", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},          {NULL, 0, NULL, 0}};
    worker w;
    char *flags[128];
    size_t n_flags = 0;
    const char *config = NULL, *command = "run";
    char err[1024], host[128];
    int ch, rc;
    struct sigaction sa;

    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.held_lock, NULL);
    pthread_mutex_init(&w.idle_lock, NULL);
    pthread_cond_init(&w.idle_cond, NULL);
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
        case 'L':
            rc = asprintf(&f, "log.format=%s", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("kvmove-worker %s\n", KVMOVE_VERSION);
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
        fprintf(stderr,
                "kvmove-worker: unexpected argument '%s'\n"
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
    if (worker_log_setup(w.s.log_format, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove-worker: %s\nTry 'kvmove-worker --help' for more information.\n",
                err);
        return 2;
    }
    for (const char *p = w.s.warnings.buf, *nl; p && (nl = strchr(p, '\n')) != NULL; p = nl + 1)
        worker_log_at(WORKER_LOG_WARNING, "[worker] %.*s", (int)(nl - p), p);
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
        fprintf(stderr,
                "kvmove-worker: unknown command '%s'\n"
                "Try 'kvmove-worker --help' for more information.\n",
                command);
        rc = 2;
    }
    while (n_flags > 0)
        free(flags[--n_flags]);
    settings_clear(&w.s);
    return rc;
}
