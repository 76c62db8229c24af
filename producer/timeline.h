/* timeline: a migration's steps drawn on a time axis, one row per host, with the guest's
 * downtime marked (kvmove status JOB --timeline). Drawing is a pure function of the step rows. */
#ifndef KVMOVE_TIMELINE_H
#define KVMOVE_TIMELINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* One step as job_steps records it. */
typedef struct timeline_step {
    const char *step;   /* "STOP_GUEST" */
    const char *host;   /* where it ran ("" when not known) */
    const char *status; /* pending, running, succeeded, failed, skipped */
    int64_t start_ms;   /* ms since the epoch; -1 when it has not started */
    int64_t end_ms;     /* ms since the epoch; -1 while running or before it started */
} timeline_step;

typedef struct timeline_input {
    const char *src_host, *tgt_host; /* the job's hosts: their rows come first, labelled so */
    const timeline_step *steps;      /* in the job's order (job_steps.seq) */
    size_t n_steps;
    int64_t now_ms; /* where a running step ends for now */
    int width;      /* columns to fill (at least 40 are used) */
    int color;      /* 1: ANSI colours for a terminal (failed red, running yellow, downtime) */
} timeline_input;

/* Draws IN as text lines appended to OUT: a summary (the span and the downtime: STOP_GUEST
 * begins to STARTUP_GUEST ends), the time axis, a row per host (and per overlap on a host),
 * the downtime row, and a legend with each step's code, host, start, duration and status.
 * Without COLOR the lines are plain ASCII, none wider than WIDTH (the legend's host names
 * aside). Returns 0, or -1 when out of memory. */
int timeline_draw(const timeline_input *in, util_lines *out);

/* Parses a PostgreSQL timestamp as its json functions write it ("2025-07-30T16:11:46.123456+00:00";
 * also "Z", "+0200", no fraction) into ms since the epoch. Returns 0, or -1 when TEXT is not
 * one. */
int timeline_parse_time(const char *text, int64_t *ms);

/* Draws the steps of JOB (jobstore_job_get_json's object, borrowed) with timeline_draw.
 * Returns 0, or -1 when out of memory. */
int timeline_from_job(const json_t *job, int64_t now_ms, int width, int color, util_lines *out);

/* The columns to draw for on FD: a terminal's width (TIOCGWINSZ), else $COLUMNS, else 80. */
int timeline_width(int fd);

#endif
