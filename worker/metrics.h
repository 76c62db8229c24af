/* metrics: the worker's Prometheus metrics and /healthz, served with libmicrohttpd. */
#ifndef KVMOVE_METRICS_H
#define KVMOVE_METRICS_H

#include <stddef.h>

#include "auth.h"
#include "bus.h"
#include "step.h"

/* Where the database and broker figures come from: jobs by status, outbox backlog and the
 * consumer lag of GROUP on kvmove.requests are cluster-wide, exported by the one worker that
 * holds a PostgreSQL advisory lock (kvmove_metrics_exporter 1), so that sum() over workers is
 * right; reachability is each worker's own. A thread of the metrics server refreshes them
 * every 2 s over one long-lived connection; a scrape or /healthz only reads what it found.
 * The strings are copied by metrics_start. */
typedef struct metrics_sources {
    const char *db;      /* libpq conninfo ("" = PG* variables) */
    const char *brokers; /* Kafka bootstrap servers */
    bus_props props;     /* extra librdkafka properties (security settings) */
    const char *group;   /* the workers' consumer group */
    const char *worker;  /* this worker's id, a label on kvmove_worker_info */
} metrics_sources;

/* Starts serving GET /metrics (Prometheus text format 0.0.4) and GET /healthz on LISTEN
 * ("HOST:PORT", "[V6ADDR]:PORT"; port 0 picks a free one) in a thread of its own, and the
 * refresher thread. /healthz answers 200 when the last refresh (at most a few seconds old)
 * reached PostgreSQL and the broker, 503 with the reasons otherwise. *PORT (may be NULL) gets
 * the port bound. An empty LISTEN starts nothing and returns 0 with *PORT = 0. Returns 0, or
 * -1 with errstr (address unusable or in use). The counters below work whether or not the
 * server runs. */
int metrics_start(const char *listen, const metrics_sources *src, int *port, char *errstr,
                  size_t errstr_size);
/* Stops the server and the refresher, whose connection (and exporter lock) it closes (no-op
 * if it is not running). */
void metrics_stop(void);

/* Counts one ended step (OUTCOME succeeded, failed or skipped) and its duration. Thread-safe,
 * as are the other counters. */
void metrics_step_done(step_id step, step_state outcome, long elapsed_ms);
/* Counts one failed preflight check named CHECK (copied; at most 64 distinct names are kept,
 * the rest count under "other"). */
void metrics_preflight_failed(const char *check);
/* Counts a request message intake refused (dead-lettered) for REASON: every verdict but
 * AUTH_OK (AUTH_INVALID: not a usable request). */
void metrics_request_refused(auth_verdict reason);
/* Adds N to the events this worker published from the outbox. */
void metrics_events_published(int n);
/* Counts a job this worker ended as STATUS (succeeded or failed). */
void metrics_job_finished(job_status status);
/* Adds DELTA (+1 when an executor takes a job, -1 when it lets go) to the jobs in progress. */
void metrics_jobs_active(int delta);

/* Writes the current metrics in the Prometheus text format to a new string (caller frees):
 * the in-process counters, kvmove_build_info and, while the server runs, what its refresher
 * last found. Never waits on the database or the broker. Returns NULL when out of memory. */
char *metrics_render(void);

#endif
