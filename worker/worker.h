/* worker: what the worker's parts share (intake, executors, main loop, logging). */
#ifndef KVMOVE_WORKER_H
#define KVMOVE_WORKER_H

#include <pthread.h>
#include <signal.h>

#include "bus.h"
#include "hostsession.h"
#include "jobstore.h"
#include "settings.h"

/* Cleared by SIGTERM/SIGINT: stop taking work, finish or hand back the current step. */
extern volatile sig_atomic_t worker_running;

typedef struct worker {
    settings s;
    char owner[160];  /* lease owner and event source */
    char source[200]; /* CloudEvents source */
    /* The jobs the executors are working on, one slot per executor ("" = none): the lease
     * thread renews these and no others (worker_hold). */
    pthread_mutex_t held_lock;
    char (*held)[REQUEST_UUID_LEN];
    int n_held;
    /* Idle executors (executor.c): LISTENER is the index + 1 of the one that waits for
     * PostgreSQL's kvmove_jobs notifications (0 = none); the others wait on IDLE_COND. */
    pthread_mutex_t idle_lock;
    pthread_cond_t idle_cond;
    int listener;
} worker;

/* SSH sessions an executor keeps to hosts it is not using at the moment. */
#define POOL_MAX 32

/* One job runner thread: its own database connection and SSH sessions. */
typedef struct executor {
    worker *w;
    int index;
    pthread_t thread;
    jobstore *js;
    hostsession *hosts; /* created at the first connect; NULL until then */
    char tag[320];      /* log prefix of the current job */
} executor;

/* Marks JOB_ID (NULL = none) as the job executor SLOT is working on: its lease is renewed while
 * it is held, and runs out (another worker takes the job over) once it is not. Returns 0, or -1
 * when another executor of this worker holds JOB_ID already (a lease of this worker that ran
 * out was claimed again here): nothing changes, that executor goes on with it. */
int worker_hold(worker *w, int slot, const char *job_id);

/* Lease renewal thread body (arg: worker *), with a connection of its own: a publisher stuck
 * on a broker that is down or an intake retrying must not let the leases of running jobs
 * expire, or another worker takes over a job still running here. It renews only the jobs an
 * executor holds (worker_hold): a job no executor works on any more runs out of lease instead
 * of staying running for ever. Runs until worker_renewing is cleared. */
extern volatile sig_atomic_t worker_renewing;
void *worker_renew_main(void *arg);

/* Logs one line (only the worker's loop and threads log; library code returns errors). */
void worker_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void worker_sleep_ms(int ms);
/* An idle thread's wait on JS (listening on its channels) for a reason to look for work: waits
 * up to SLICE_MS for a notification. Returns 1 to look now - one came; the connection broke
 * (logged with TAG and reconnected: what was notified meanwhile is lost); or POLL_MS passed
 * since LAST_LOOK (util_now_ms) - else 0 (wait again, after checking the thread's run flag). */
int worker_wait_work(jobstore *js, int slice_ms, int64_t last_look, int poll_ms, const char *tag);

typedef enum {
    WORKER_LOG_DEBUG,
    WORKER_LOG_INFO,
    WORKER_LOG_WARNING,
    WORKER_LOG_ERROR
} worker_log_level;

/* Chooses the log format (log.format): "text" (the spec-like lines, default) or "json" (one
 * object per line: time, level, job, guest, step, component, message). Call before the
 * threads start. Returns 0, or -1 with errstr for an unknown format. */
int worker_log_setup(const char *format, char *errstr, size_t errstr_size);
/* As worker_log, at LEVEL (worker_log logs at WORKER_LOG_INFO). The level shows in JSON, and
 * as a "<N>" syslog-priority prefix of every line when stdout is the journal. */
void worker_log_at(worker_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets the calling thread's job, guest and step (each copied; NULL or "" = none) for the JSON
 * fields of the lines it logs next. */
void worker_log_context(const char *job, const char *guest, const char *step);

/* Fencer thread body (arg: worker *): runs pending OFFLINEFORCE cleanups every 2 s until
 * fencer_run is cleared. */
extern volatile sig_atomic_t fencer_run;
void *fencer_main(void *arg);

/* Prober thread body (arg: worker *): runs the cleanup and dry_run requests the intake recorded
 * (table probes), one at a time under a lease, until prober_run is cleared. */
extern volatile sig_atomic_t prober_run;
void *prober_main(void *arg);

/* Executor thread body (arg: executor *): claims jobs and runs each with executor_run_job. */
void *executor_main(void *arg);
/* Runs job J, just claimed for EX->w->owner with jobstore_job_claim on EX->js, until this run
 * of it ends: finished (succeeded or failed), handed back (the worker stops), or let go (its
 * lease lost, or its end refused by the database: the lease runs out). Either way EX no
 * longer holds it (worker_hold) when this returns. */
void executor_run_job(executor *ex, job *j);

/* Handles one request message: dead-letters what cannot be used, records the rest as jobs.
 * Returns 0 when it is fully recorded (commit the offset), -1 when it must be retried. */
int intake_message(worker *w, jobstore *js, bus_producer *p, const bus_message *m);

#endif
