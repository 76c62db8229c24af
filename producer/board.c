/* board: kvmove watch without a job: every job as one progress line (an evacuation at a
 * glance), redrawn in place on a terminal, a line per change otherwise. */
#include "board.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "termtext.h"
#include "timeline.h"
#include "util.h"

/* How often a terminal's running times are redrawn without news. */
#define BOARD_TICK_MS 1000

void board_init(board *b, const char *host)
{
    memset(b, 0, sizeof(*b));
    b->host = host;
}

void board_free(board *b)
{
    free(b->jobs);
    memset(b, 0, sizeof(*b));
}

static int shows(const board *b, const char *src, const char *tgt)
{
    return b->host == NULL || strcasecmp(src, b->host) == 0 || strcasecmp(tgt, b->host) == 0;
}

static int find(const board *b, const char *id)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        if (strcmp(b->jobs[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* A new line for job ID. Returns its index or -1 when out of memory. */
static int add(board *b, const char *id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        board_job *j = realloc(b->jobs, cap * sizeof(*j));
        if (j == NULL)
            return -1;
        b->jobs = j;
        b->cap = cap;
    }
    memset(&b->jobs[b->n], 0, sizeof(b->jobs[0]));
    util_strlcpy(b->jobs[b->n].id, id, sizeof(b->jobs[0].id));
    util_strlcpy(b->jobs[b->n].state, "queued", sizeof(b->jobs[0].state));
    return (int)b->n++;
}

/* The event's time (ms since the epoch), or NOW_MS when it has none. */
static int64_t time_of(const json_t *ev, int64_t now_ms)
{
    int64_t ms;
    return timeline_parse_time(jstr(ev, "time"), &ms) == 0 ? ms : now_ms;
}

int board_event(board *b, const char *type, const json_t *ev, int64_t now_ms)
{
    const json_t *data = json_object_get(ev, "data");
    const char *id = jstr(data, "job_id");
    int i = *id ? find(b, id) : -1;
    board_job *j;

    if (*id == '\0' || type == NULL)
        return -1;
    if (strcmp(type, EVENT_JOB_ACCEPTED) == 0) {
        if (!shows(b, jstr(data, "src_host"), jstr(data, "tgt_host")))
            return -1;
        if (i < 0 && (i = add(b, id)) < 0)
            return -1;
        j = &b->jobs[i];
        util_strlcpy(j->src, jstr(data, "src_host"), sizeof(j->src));
        util_strlcpy(j->tgt, jstr(data, "tgt_host"), sizeof(j->tgt));
        util_strlcpy(j->guest, jstr(ev, "subject"), sizeof(j->guest));
        j->total = (int)json_array_size(json_object_get(data, "steps"));
        return i;
    }
    /* A job first seen now: shown unless a host is watched (its hosts are not known). */
    if (i < 0 && (b->host != NULL || strcmp(type, EVENT_JOB_REJECTED) == 0 ||
                  strncmp(type, "cleanup.", 8) == 0 || (i = add(b, id)) < 0))
        return -1;
    j = &b->jobs[i];
    if (j->guest[0] == '\0')
        util_strlcpy(j->guest, jstr(ev, "subject"), sizeof(j->guest));
    if (strcmp(type, EVENT_PREFLIGHT_PASSED) == 0) {
        util_strlcpy(j->state, "preflight", sizeof(j->state));
    } else if (strcmp(type, EVENT_STEP_STARTED) == 0) {
        util_strlcpy(j->state, "running", sizeof(j->state));
        util_strlcpy(j->step, jstr(data, "step"), sizeof(j->step));
        j->since_ms = time_of(ev, now_ms);
    } else if (strcmp(type, EVENT_STEP_COMPLETED) == 0 || strcmp(type, EVENT_STEP_SKIPPED) == 0) {
        j->done++;
        j->since_ms = 0;
    } else if (strcmp(type, EVENT_STEP_FAILED) == 0) {
        util_strlcpy(j->step, jstr(data, "step"), sizeof(j->step));
        util_strlcpy(j->message, jstr(data, "message"), sizeof(j->message));
        j->since_ms = 0;
    } else if (strcmp(type, EVENT_JOB_SUCCEEDED) == 0 || strcmp(type, EVENT_JOB_FAILED) == 0 ||
               strcmp(type, EVENT_JOB_REJECTED) == 0 || strcmp(type, EVENT_PREFLIGHT_FAILED) == 0) {
        const char *state = strcmp(type, EVENT_JOB_SUCCEEDED) == 0  ? "succeeded"
                            : strcmp(type, EVENT_JOB_REJECTED) == 0 ? "rejected"
                                                                    : "failed";
        util_strlcpy(j->state, state, sizeof(j->state));
        if (*jstr(data, "message"))
            util_strlcpy(j->message, jstr(data, "message"), sizeof(j->message));
        if (strcmp(type, EVENT_PREFLIGHT_FAILED) == 0)
            util_strlcpy(j->message, "preflight checks failed", sizeof(j->message));
        j->elapsed_ms = json_integer_value(json_object_get(data, "elapsed_ms"));
        j->since_ms = 0;
    } else {
        return -1;
    }
    return i;
}

int board_seed(board *b, const json_t *job)
{
    const json_t *steps = json_object_get(job, "steps"), *s;
    size_t k;
    int i;
    board_job *j;

    if (!shows(b, jstr(job, "src_host"), jstr(job, "tgt_host")))
        return -1;
    if ((i = find(b, jstr(job, "id"))) < 0 && (i = add(b, jstr(job, "id"))) < 0)
        return -1;
    j = &b->jobs[i];
    util_strlcpy(j->guest, jstr(job, "guest"), sizeof(j->guest));
    util_strlcpy(j->src, jstr(job, "src_host"), sizeof(j->src));
    util_strlcpy(j->tgt, jstr(job, "tgt_host"), sizeof(j->tgt));
    util_strlcpy(j->state, jstr(job, "status"), sizeof(j->state));
    j->total = (int)json_array_size(steps);
    j->done = 0;
    json_array_foreach(steps, k, s)
    {
        const char *st = jstr(s, "status");
        if (strcmp(st, "succeeded") == 0 || strcmp(st, "skipped") == 0)
            j->done++;
        if (strcmp(st, "running") == 0) {
            util_strlcpy(j->step, jstr(s, "step"), sizeof(j->step));
            if (timeline_parse_time(jstr(s, "started_at"), &j->since_ms) != 0)
                j->since_ms = 0;
        }
    }
    return i;
}

/* HOST without its domain (a line has room for two hosts only that way). */
static void short_host(char *out, size_t size, const char *host)
{
    const char *dot = strchr(host, '.');
    size_t n = dot ? (size_t)(dot - host) : strlen(host);

    if (*host == '\0') {
        util_strlcpy(out, "?", size);
        return;
    }
    snprintf(out, size, "%.*s", (int)n, host);
}

void board_line(const board *b, size_t i, int64_t now_ms, int width, char *out, size_t size)
{
    const board_job *j = &b->jobs[i];
    char src[64], tgt[64], progress[32] = "", what[512];
    int n;

    short_host(src, sizeof(src), j->src);
    short_host(tgt, sizeof(tgt), j->tgt);
    if (j->total > 0)
        snprintf(progress, sizeof(progress), "[%2d/%d]", j->done, j->total);
    else
        snprintf(progress, sizeof(progress), "[%2d/?]", j->done);
    if (strcmp(j->state, "succeeded") == 0)
        snprintf(what, sizeof(what), "succeeded in %.1fs", (double)j->elapsed_ms / 1000.0);
    else if (strcmp(j->state, "failed") == 0 || strcmp(j->state, "rejected") == 0)
        snprintf(what, sizeof(what), "%s%s%s: %s",
                 strcmp(j->state, "failed") == 0 ? "FAILED" : "REJECTED", *j->step ? " at " : "",
                 j->step, j->message);
    else if (strcmp(j->state, "running") == 0 && *j->step && j->since_ms > 0)
        snprintf(what, sizeof(what), "%-22s running %6.1fs", j->step,
                 (double)(now_ms > j->since_ms ? now_ms - j->since_ms : 0) / 1000.0);
    else if (strcmp(j->state, "preflight") == 0)
        snprintf(what, sizeof(what), "preflight passed");
    else
        snprintf(what, sizeof(what), "%s", j->state);
    n = snprintf(out, size, "%.8s %-24s %s -> %s %s %s", j->id, j->guest, src, tgt, progress, what);
    /* one screen line each: a line the terminal wraps would break the redraw */
    if (width > 0 && n >= width && (size_t)width < size)
        out[width - 1 > 0 ? width - 1 : 0] = '\0';
}

void board_summary(const board *b, char *out, size_t size)
{
    int queued = 0, running = 0, ok = 0, failed = 0;
    size_t i;

    for (i = 0; i < b->n; i++) {
        const char *s = b->jobs[i].state;
        if (strcmp(s, "succeeded") == 0)
            ok++;
        else if (strcmp(s, "failed") == 0 || strcmp(s, "rejected") == 0)
            failed++;
        else if (strcmp(s, "queued") == 0)
            queued++;
        else
            running++;
    }
    snprintf(out, size, "%zu job%s: %d queued, %d running, %d succeeded, %d failed", b->n,
             b->n == 1 ? "" : "s", queued, running, ok, failed);
}

/* ---- the loop ---- */

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The jobs queued and running now, from PostgreSQL. A database kvmove cannot reach only costs
 * the jobs that started before watch did: they appear with their next event. */
static void seed(cli *c, board *b)
{
    static const char *const statuses[] = {"running", "queued"};
    char err[1024];
    jobstore *js = NULL;
    json_t *list, *v, *job;
    size_t i, k;

    if (jobstore_connect(c->s.db, &js, err, sizeof(err)) != 0) {
        fprintf(stderr,
                "kvmove: watch: cannot list the jobs running now (%s); the others appear "
                "as their events arrive\n",
                err);
        return;
    }
    for (k = 0; k < 2; k++) {
        if (jobstore_jobs_list_json(js, statuses[k], NULL, NULL, 1000, &list, err, sizeof(err)) !=
            0)
            break;
        for (i = json_array_size(list); i-- > 0;) { /* oldest first */
            v = json_array_get(list, i);
            if (!shows(b, jstr(v, "src_host"), jstr(v, "tgt_host")))
                continue;
            if (jobstore_job_get_json(js, jstr(v, "id"), &job, err, sizeof(err)) == 0) {
                board_seed(b, job);
                json_decref(job);
            }
        }
        json_decref(list);
    }
    jobstore_close(js);
}

/* Redraws the board: up over the lines drawn before, then every line again, each cleared. */
static void redraw(const board *b, size_t *drawn, int width)
{
    char line[1024];
    size_t i;
    int64_t now = wall_ms();

    if (*drawn > 0)
        printf("\033[%zuA", *drawn);
    board_summary(b, line, sizeof(line));
    printf("\r\033[K%s\n", shown(line));
    for (i = 0; i < b->n; i++) {
        board_line(b, i, now, width, line, sizeof(line));
        printf("\r\033[K%s\n", shown(line));
    }
    *drawn = b->n + 1;
    fflush(stdout);
}

int board_watch(cli *c, bus_consumer *cons, jschema *schema, const char *host, int timeout_s,
                int tty)
{
    board b;
    size_t drawn = 0;
    int64_t t0 = util_now_ms(), last_draw = 0;
    int width = tty ? timeline_width(STDOUT_FILENO) : 0, rc = EXIT_DONE;
    char err[1024], line[1024];

    board_init(&b, host);
    seed(c, &b);
    if (tty) {
        redraw(&b, &drawn, width);
    } else {
        /* a comment line first: says what is watched, and that watch is reading now */
        board_summary(&b, line, sizeof(line));
        printf("# kvmove watch: %s%s; %s\n", host ? "the jobs from or to " : "every job",
               host ? shown(host) : "", line);
        for (size_t i = 0; i < b.n; i++) {
            board_line(&b, i, wall_ms(), 0, line, sizeof(line));
            printf("%s\n", shown(line));
        }
    }
    fflush(stdout);
    while (cli_running) {
        bus_message m;
        json_t *ev;
        int got, i;

        if (timeout_s > 0 && util_now_ms() - t0 >= (int64_t)timeout_s * 1000)
            break;
        got = bus_consumer_poll(cons, 200, &m, err, sizeof(err));
        if (got < 0) {
            rc = cli_broker_error(c, "cannot read kvmove.events", err);
            break;
        }
        if (tty && util_now_ms() - last_draw >= BOARD_TICK_MS) {
            width = timeline_width(STDOUT_FILENO);
            redraw(&b, &drawn, width);
            last_draw = util_now_ms();
        }
        if (got == 0 || m.value == NULL)
            continue;
        ev = json_loadb(m.value, m.len, 0, NULL);
        if (ev == NULL || (schema && jschema_validate(schema, ev, err, sizeof(err)) != 0)) {
            json_decref(ev);
            continue; /* not a kvmove event: nothing to show on a board */
        }
        i = board_event(&b, event_short_type(jstr(ev, "type")), ev, wall_ms());
        json_decref(ev);
        if (i < 0)
            continue;
        if (tty) {
            redraw(&b, &drawn, width);
            last_draw = util_now_ms();
        } else {
            board_line(&b, (size_t)i, wall_ms(), 0, line, sizeof(line));
            printf("%s\n", shown(line));
            fflush(stdout);
        }
    }
    board_free(&b);
    return rc;
}
