/* board: kvmove watch without a job: every job as one progress line (an evacuation at a
 * glance), redrawn in place on a terminal, a line per change otherwise. */
#ifndef KVMOVE_BOARD_H
#define KVMOVE_BOARD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "jschema.h"
#include "request.h"

/* One job's line. */
typedef struct board_job {
    char id[REQUEST_UUID_LEN];
    char guest[REQUEST_NAME_MAX];
    char src[REQUEST_NAME_MAX], tgt[REQUEST_NAME_MAX]; /* "" when not known */
    char state[16];     /* queued, preflight, running, succeeded, failed, rejected */
    char step[32];      /* the step running, or the one that failed */
    int done;           /* steps finished (completed or skipped) */
    int total;          /* steps the job runs (0 when not known) */
    int64_t since_ms;   /* when the current step began (ms since the epoch), 0 when none */
    int64_t elapsed_ms; /* the job's, once it ended */
    char message[256];  /* why it failed */
} board_job;

typedef struct board {
    board_job *jobs; /* in the order they appeared */
    size_t n, cap;
    const char *host; /* only jobs from or to this host (any case); NULL: every job */
} board;

/* An empty board showing the jobs from or to HOST (borrowed; NULL: every job). */
void board_init(board *b, const char *host);
void board_free(board *b);

/* Applies the kvmove event EV (a CloudEvent, borrowed) of short TYPE (event_short_type), seen
 * at NOW_MS (ms since the epoch; the event's own time is preferred). Returns the index of the
 * job whose line changed, or -1 when the event is not shown (another host's job, a job the
 * board never saw accepted while a host is watched, not a job event). */
int board_event(board *b, const char *type, const json_t *ev, int64_t now_ms);
/* Adds the job JOB (jobstore_job_get_json's object, borrowed) as it stands in PostgreSQL: the
 * jobs running when watch starts. Returns its index, or -1 (another host's; out of memory). */
int board_seed(board *b, const json_t *job);
/* Job I's line, at most WIDTH columns, into OUT: short id, guest, hosts, progress [done/total],
 * the running step and its time, or the outcome. */
void board_line(const board *b, size_t i, int64_t now_ms, int width, char *out, size_t size);
/* The board's first line: how many jobs are queued, running, succeeded and failed. */
void board_summary(const board *b, char *out, size_t size);

/* kvmove watch's loop for a board: reads CONS (kvmove.events from now on) until interrupted
 * or TIMEOUT_S (0: none), checking events against SCHEMA (may be NULL), seeded with the jobs
 * queued and running in PostgreSQL. TTY: redraw every line in place; else a line per change.
 * Returns an exit code. */
int board_watch(cli *c, bus_consumer *cons, jschema *schema, const char *host, int timeout_s,
                int tty);

#endif
