/* worker: what the worker's parts share (intake, executors, main loop, logging). */
#ifndef KVMOVE_WORKER_H
#define KVMOVE_WORKER_H

#include <pthread.h>
#include <signal.h>

#include "bus.h"
#include "hostconn.h"
#include "jobstore.h"
#include "settings.h"

/* Cleared by SIGTERM/SIGINT: stop taking work, finish or hand back the current step. */
extern volatile sig_atomic_t worker_running;

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

/* Logs one line (only the worker's loop and threads log; library code returns errors). */
void worker_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void worker_sleep_ms(int ms);

/* Executor thread body (arg: executor *). */
void *executor_main(void *arg);

/* Handles one request message: dead-letters what cannot be used, records the rest as jobs.
 * Returns 0 when it is fully recorded (commit the offset), -1 when it must be retried. */
int intake_message(worker *w, jobstore *js, bus_producer *p, const bus_message *m);

#endif
