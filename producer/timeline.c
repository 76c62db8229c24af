/* timeline: a migration's steps drawn on a time axis, one row per host, with the guest's
 * downtime marked (kvmove status JOB --timeline). */
#include "timeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "step.h"
#include "termtext.h"

#define MIN_WIDTH 40
#define MAX_WIDTH 400
#define MIN_AXIS 20
#define MAX_ROWS 32

/* A step's one-character code (the step's number in the spec's order, as kvmove watch counts
 * them) and its two-letter abbreviation, for bars too narrow for the name. */
static const char codes[STEP__COUNT + 1] = "123456789AB";
static const char *const abbrevs[STEP__COUNT] = {
    [STEP_STOP_GUEST] = "SG",
    [STEP_DETACH_INTERFACES] = "DI",
    [STEP_DETACH_VOLUMES] = "DV",
    [STEP_ATTACH_VOLUMES] = "AV",
    [STEP_CREATE_BRIDGES] = "CB",
    [STEP_MIGRATE_GUEST] = "MG",
    [STEP_REMOVE_BRIDGES] = "RB",
    [STEP_REMOVE_NAT_BRIDGE_SRC] = "RN",
    [STEP_CREATE_NAT_BRIDGE_TGT] = "CN",
    [STEP_ATTACH_INTERFACES] = "AI",
    [STEP_STARTUP_GUEST] = "SU",
};

typedef enum { A_NONE, A_FAILED, A_RUNNING, A_DOWN } attr;
static const char *const sgr[] = {"", "\033[31m", "\033[33m", "\033[1;31m"};

/* One drawn row: a label and the axis's cells. */
typedef struct row {
    char label[64];
    char cells[MAX_WIDTH];
    unsigned char attrs[MAX_WIDTH];
    int64_t lane_end; /* the end of the last step put on it */
    int last_col;     /* the last cell a step took (-1: none) */
    const char *host; /* the host it shows */
} row;

typedef struct layout {
    int64_t t0, span; /* ms */
    int axis;         /* cells */
} layout;

static int64_t end_of(const timeline_step *s, int64_t now)
{
    int64_t e = s->end_ms >= 0 ? s->end_ms : now;
    return e < s->start_ms ? s->start_ms : e;
}

static int drawn(const timeline_step *s)
{
    return s->start_ms >= 0 && strcmp(s->status, "skipped") != 0 &&
           strcmp(s->status, "pending") != 0;
}

/* The cell that holds time T. */
static int col_of(const layout *l, int64_t t)
{
    int64_t c = (t - l->t0) * l->axis / l->span;
    return c < 0 ? 0 : c >= l->axis ? l->axis - 1 : (int)c;
}

/* The cell after the one that holds the end E (a bar covers [col_of(start), end_col(end))). */
static int end_col(const layout *l, int64_t e)
{
    int64_t c = ((e - l->t0) * l->axis + l->span - 1) / l->span;
    return c > l->axis ? l->axis : (int)c;
}

static int step_index(const char *name)
{
    step_id id;
    return step_from_string(name, &id) == 0 ? (int)id : -1;
}

/* Seconds with one decimal, or whole seconds from 100 s on. */
static void secs(char *out, size_t size, int64_t ms)
{
    if (ms >= 100000)
        snprintf(out, size, "%llds", (long long)((ms + 500) / 1000));
    else
        snprintf(out, size, "%.1fs", (double)ms / 1000.0);
}

/* Writes the bar of step S (index I) into cells [C0, C1] of R. */
static void bar(row *r, const timeline_step *s, int c0, int c1, int color)
{
    int w = c1 - c0 + 1, i = step_index(s->step), k;
    const char *name = s->step;
    unsigned char a = strcmp(s->status, "failed") == 0    ? A_FAILED
                      : strcmp(s->status, "running") == 0 ? A_RUNNING
                                                          : A_NONE;
    char text[MAX_WIDTH + 1];

    if (i >= 0 && (int)strlen(name) + 2 > w)
        name = abbrevs[i];
    if ((int)strlen(name) + 2 <= w) {
        /* [NAME=====] */
        memset(text, '=', (size_t)w);
        text[0] = '[';
        memcpy(text + 1, name, strlen(name));
        text[w - 1] = ']';
    } else {
        memset(text, i >= 0 ? codes[i] : '#', (size_t)w);
    }
    for (k = 0; k < w; k++) {
        r->cells[c0 + k] = text[k];
        r->attrs[c0 + k] = color ? a : A_NONE;
    }
}

/* The label of HOST's row in at most W columns: "source HOST" (ROLE "source", "target" or ""),
 * then without the host's domain, then with "src"/"tgt", then cut. */
static void label_of(char *out, size_t size, const char *role, const char *host, int w)
{
    char h[64];
    const char *dot;

    snprintf(h, sizeof(h), "%s", host);
    if ((int)(strlen(role) + 1 + strlen(h)) > w && (dot = strchr(h, '.')) != NULL)
        h[dot - h] = '\0';
    if ((int)(strlen(role) + 1 + strlen(h)) > w && *role)
        role = strcmp(role, "source") == 0 ? "src" : "tgt";
    snprintf(out, size, "%s%s%s", role, *role ? " " : "", h);
    if (w >= 0 && w < (int)size)
        out[w] = '\0';
}

/* Appends R as a line: the label padded to LW, a blank, the cells without trailing blanks,
 * with colours when asked. */
static int emit_row(util_lines *out, const row *r, int lw, int axis, int color)
{
    char line[MAX_WIDTH * 8 + 128];
    int n = snprintf(line, sizeof(line), "%-*s ", lw, r->label), last = axis - 1, k;
    unsigned char cur = A_NONE;

    while (last >= 0 && r->cells[last] == ' ')
        last--;
    for (k = 0; k <= last; k++) {
        unsigned char a = r->attrs[k];
        if (color && a != cur) {
            n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%s", cur ? "\033[0m" : "", sgr[a]);
            cur = a;
        }
        line[n++] = r->cells[k];
    }
    if (color && cur)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "\033[0m");
    line[n] = '\0';
    while (n > 0 && line[n - 1] == ' ')
        line[--n] = '\0';
    return util_lines_add(out, line);
}

/* The time axis: tick labels over a ruler. The tick interval is 1, 2 or 5 times a power of ten
 * ms, the smallest that leaves 8 columns between ticks. */
static int emit_axis(util_lines *out, const layout *l, int lw)
{
    static const int64_t mult[] = {1, 2, 5};
    char labels[MAX_WIDTH + 1], ruler[MAX_WIDTH + 1], line[2 * MAX_WIDTH];
    int64_t tick = 1, p = 1;
    int k, next_free = 0, i;

    for (i = 0;; i = (i + 1) % 3) {
        tick = mult[i] * p;
        if (tick * l->axis >= 8 * l->span)
            break;
        if (i == 2)
            p *= 10;
    }
    memset(labels, ' ', (size_t)l->axis);
    memset(ruler, '-', (size_t)l->axis);
    for (int64_t t = 0; t <= l->span; t += tick) {
        char text[32];
        int c = (int)(t * l->axis / l->span), len;
        if (c >= l->axis)
            break;
        ruler[c] = '|';
        if (tick >= 1000 || t == 0)
            snprintf(text, sizeof(text), "%llds", (long long)(t / 1000));
        else
            snprintf(text, sizeof(text), "%.1fs", (double)t / 1000.0);
        len = (int)strlen(text);
        if (c >= next_free && c + len <= l->axis) {
            memcpy(labels + c, text, (size_t)len);
            next_free = c + len + 1;
        }
    }
    labels[l->axis] = ruler[l->axis] = '\0';
    for (k = l->axis - 1; k >= 0 && labels[k] == ' '; k--)
        labels[k] = '\0';
    snprintf(line, sizeof(line), "%-*s %s", lw, "", labels);
    if (util_lines_add(out, line) != 0)
        return -1;
    snprintf(line, sizeof(line), "%-*s %s", lw, "", ruler);
    return util_lines_add(out, line);
}

/* The row for a step on HOST beginning at START: the first of HOST's rows (lanes) free by
 * then, or a new one (labelled LABEL when it is HOST's first). NULL when there are too many. */
static row *row_for(row *rows, int *n_rows, int axis, const char *host, const char *label,
                    int64_t start)
{
    int i;

    for (i = 0; i < *n_rows; i++)
        if (strcasecmp(rows[i].host, host) == 0 && rows[i].lane_end <= start)
            return &rows[i];
    if (*n_rows >= MAX_ROWS)
        return NULL;
    for (i = 0; i < *n_rows; i++)
        if (strcasecmp(rows[i].host, host) == 0)
            label = ""; /* a second lane of a host is unlabelled */
    rows += (*n_rows)++;
    memset(rows, 0, sizeof(*rows));
    snprintf(rows->label, sizeof(rows->label), "%s", label);
    memset(rows->cells, ' ', (size_t)axis);
    rows->lane_end = INT64_MIN;
    rows->last_col = -1;
    rows->host = host;
    return rows;
}

/* Which rows a step's host goes to: 0 the source, 1 the target, 2 another host. */
static int group_of(const timeline_input *in, const timeline_step *s)
{
    if (in->src_host && strcasecmp(s->host, in->src_host) == 0)
        return 0;
    if (in->tgt_host && strcasecmp(s->host, in->tgt_host) == 0)
        return 1;
    return 2;
}

/* 1 when step A is placed before step B: by row group, host, start. */
static int placed_before(const timeline_input *in, size_t a, size_t b)
{
    const timeline_step *x = &in->steps[a], *y = &in->steps[b];
    int gx = group_of(in, x), gy = group_of(in, y), h;

    if (gx != gy)
        return gx < gy;
    if ((h = strcasecmp(x->host, y->host)) != 0)
        return h < 0;
    if (x->start_ms != y->start_ms)
        return x->start_ms < y->start_ms;
    return a < b;
}

/* The downtime row: <=== D ===> from STOP_GUEST's start to STARTUP_GUEST's end. */
static void downtime_row(row *r, const layout *l, int64_t d0, int64_t d1, int color)
{
    char text[40];
    int c0 = col_of(l, d0), c1 = end_col(l, d1) - 1, w, k, len;

    if (c1 < c0)
        c1 = c0;
    w = c1 - c0 + 1;
    memset(r->cells, ' ', (size_t)l->axis);
    for (k = c0; k <= c1; k++) {
        r->cells[k] = '=';
        r->attrs[k] = color ? A_DOWN : A_NONE;
    }
    if (w >= 2) {
        r->cells[c0] = '<';
        r->cells[c1] = '>';
    }
    secs(text + 1, sizeof(text) - 2, d1 - d0);
    text[0] = ' ';
    len = (int)strlen(text);
    text[len++] = ' ';
    text[len] = '\0';
    if (w >= len + 4)
        memcpy(r->cells + c0 + (w - len) / 2, text, (size_t)len);
}

/* One legend line per step, in the job's order. */
static int emit_legend(util_lines *out, const timeline_input *in, int64_t t0)
{
    char line[512], start[32], dur[32];
    size_t k;

    snprintf(line, sizeof(line), "  %c %-2s %-22s %-10s %7s %8s  %s", '#', "", "STEP", "HOST",
             "START", "TOOK", "STATUS");
    if (util_lines_add(out, line) != 0)
        return -1;
    for (k = 0; k < in->n_steps; k++) {
        const timeline_step *s = &in->steps[k];
        int i = step_index(s->step), g = group_of(in, s);
        char where[64];
        if (*s->host == '\0')
            snprintf(where, sizeof(where), "-");
        else if (g < 2)
            snprintf(where, sizeof(where), "%s", g == 0 ? "source" : "target");
        else
            label_of(where, sizeof(where), "", s->host, 10);
        snprintf(start, sizeof(start), "-");
        snprintf(dur, sizeof(dur), "-");
        if (s->start_ms >= 0 && t0 != INT64_MAX) {
            start[0] = '+';
            secs(start + 1, sizeof(start) - 1, s->start_ms - t0);
            secs(dur, sizeof(dur), end_of(s, in->now_ms) - s->start_ms);
        }
        snprintf(line, sizeof(line), "  %c %-2s %-22s %-10s %7s %8s  %s", i >= 0 ? codes[i] : '?',
                 i >= 0 ? abbrevs[i] : "", s->step, where, start, dur, s->status);
        if (util_lines_add(out, line) != 0)
            return -1;
    }
    return 0;
}

int timeline_draw(const timeline_input *in, util_lines *out)
{
    int width = in->width < MIN_WIDTH ? MIN_WIDTH : in->width > MAX_WIDTH ? MAX_WIDTH : in->width;
    int lw = 8, n_rows = 0, i, j;
    const char *startup = "";
    int64_t t1 = INT64_MIN, down0 = -1, down1 = -1;
    char line[1024], total[32], down[32];
    size_t k, n = 0, *order = NULL;
    row *rows = NULL, *downrow = NULL;
    layout l = {INT64_MAX, 0, 0};
    int rc = -1;

    for (k = 0; k < in->n_steps; k++) {
        const timeline_step *s = &in->steps[k];
        if (!drawn(s))
            continue;
        if (s->start_ms < l.t0)
            l.t0 = s->start_ms;
        if (end_of(s, in->now_ms) > t1)
            t1 = end_of(s, in->now_ms);
        if (strcmp(s->step, "STOP_GUEST") == 0)
            down0 = s->start_ms;
        if (strcmp(s->step, "STARTUP_GUEST") == 0) {
            down1 = end_of(s, in->now_ms);
            startup = s->status;
        }
        /* the label column: "source " and the host, at most a third of the width */
        if ((int)strlen(s->host) + 7 > lw)
            lw = (int)strlen(s->host) + 7;
    }
    if (l.t0 == INT64_MAX) {
        if (util_lines_add(out, "No step has started yet.") != 0)
            return -1;
        return emit_legend(out, in, l.t0);
    }
    l.span = t1 - l.t0 > 0 ? t1 - l.t0 : 1;
    if (lw > width / 3)
        lw = width / 3;
    l.axis = width - lw - 1 < MIN_AXIS ? MIN_AXIS : width - lw - 1;

    secs(total, sizeof(total), t1 - l.t0);
    snprintf(line, sizeof(line), "Steps:    %s from the first one's start to the last one's end",
             total);
    if (util_lines_add(out, line) != 0)
        return -1;
    if (down0 >= 0) {
        if (down1 < 0)
            down1 = t1;
        secs(down, sizeof(down), down1 - down0);
        /* the guest is up again only when STARTUP_GUEST succeeded */
        snprintf(
            line, sizeof(line), "Downtime: %s%s", down,
            strcmp(startup, "succeeded") == 0 ? " from STOP_GUEST's start to STARTUP_GUEST's end"
            : strcmp(startup, "failed") == 0  ? " so far (STARTUP_GUEST failed: the guest is down)"
                                              : " so far (STARTUP_GUEST has not ended)");
    } else {
        snprintf(line, sizeof(line), "Downtime: none yet (STOP_GUEST has not begun)");
    }
    if (util_lines_add(out, line) != 0)
        return -1;

    rows = calloc(MAX_ROWS + 1, sizeof(*rows));
    order = calloc(in->n_steps ? in->n_steps : 1, sizeof(*order));
    if (rows == NULL || order == NULL)
        goto out;
    for (k = 0; k < in->n_steps; k++)
        if (drawn(&in->steps[k]))
            order[n++] = k;
    for (i = 1; i < (int)n; i++) /* insertion sort: a job has eleven steps */
        for (j = i; j > 0 && placed_before(in, order[j], order[j - 1]); j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (k = 0; k < n; k++) {
        const timeline_step *s = &in->steps[order[k]];
        int g = group_of(in, s), c0, c1;
        char label[64];
        row *r;
        label_of(label, sizeof(label), g == 0 ? "source" : g == 1 ? "target" : "", s->host, lw);
        r = row_for(rows, &n_rows, l.axis, s->host, label, s->start_ms);
        if (r == NULL)
            break;
        c0 = col_of(&l, s->start_ms);
        c1 = end_col(&l, end_of(s, in->now_ms)) - 1;
        /* Steps one after the other may share the cell where one ends and the next begins. */
        if (c0 <= r->last_col)
            c0 = r->last_col + 1 < l.axis ? r->last_col + 1 : l.axis - 1;
        if (c1 < c0)
            c1 = c0;
        bar(r, s, c0, c1, in->color);
        r->last_col = c1;
        r->lane_end = end_of(s, in->now_ms);
    }
    if (emit_axis(out, &l, lw) != 0)
        goto out;
    for (i = 0; i < n_rows; i++)
        if (emit_row(out, &rows[i], lw, l.axis, in->color) != 0)
            goto out;
    if (down0 >= 0) {
        downrow = &rows[MAX_ROWS];
        snprintf(downrow->label, sizeof(downrow->label), "downtime");
        downtime_row(downrow, &l, down0, down1, in->color);
        if (emit_row(out, downrow, lw, l.axis, in->color) != 0)
            goto out;
    }
    rc = emit_legend(out, in, l.t0);
out:
    free(order);
    free(rows);
    return rc;
}

int timeline_parse_time(const char *text, int64_t *ms)
{
    struct tm tm;
    const char *p;
    int64_t frac = 0, scale = 1000, off = 0;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        p = strptime(text, "%Y-%m-%d %H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
        }
    }
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, hh = 0, mm = 0, n = 0;
        if (sscanf(p + 1, "%2d%n", &hh, &n) != 1 || n != 2)
            return -1;
        p += 1 + n;
        if (*p == ':')
            p++;
        if (*p && (sscanf(p, "%2d%n", &mm, &n) != 1 || n != 2))
            return -1;
        p += *p ? n : 0;
        off = sign * ((int64_t)hh * 3600 + mm * 60);
    } else if (*p == 'Z') {
        p++;
    }
    if (*p != '\0')
        return -1;
    t = timegm(&tm);
    *ms = ((int64_t)t - off) * 1000 + frac;
    return 0;
}

/* TEXT as a time in ms since the epoch, or -1 when absent or not a time. */
static int64_t ms_of(const json_t *v)
{
    int64_t ms;
    const char *text = json_string_value(v);
    return text && timeline_parse_time(text, &ms) == 0 ? ms : -1;
}

int timeline_from_job(const json_t *job, int64_t now_ms, int width, int color, util_lines *out)
{
    const json_t *steps = json_object_get(job, "steps"), *v;
    size_t n = json_array_size(steps), i;
    timeline_step *rows = calloc(n ? n : 1, sizeof(*rows));
    char **hosts = calloc(n ? n : 1, sizeof(*hosts));
    timeline_input in;
    int rc = -1;

    if (rows == NULL || hosts == NULL)
        goto out;
    json_array_foreach(steps, i, v)
    {
        const char *st = json_string_value(json_object_get(v, "status"));
        const char *host = json_string_value(json_object_get(v, "host"));
        rows[i].step = json_string_value(json_object_get(v, "step"));
        rows[i].status = st ? st : "";
        /* what a host wrote is shown, never obeyed (termtext) */
        hosts[i] = termtext_dup(host ? host : "", TERMTEXT_LINE);
        rows[i].host = hosts[i] ? hosts[i] : "";
        rows[i].start_ms = ms_of(json_object_get(v, "started_at"));
        rows[i].end_ms = ms_of(json_object_get(v, "finished_at"));
        if (rows[i].step == NULL)
            rows[i].step = "?";
        if (rows[i].start_ms >= 0 && rows[i].end_ms < 0 && strcmp(rows[i].status, "running") != 0 &&
            json_is_integer(json_object_get(v, "elapsed_ms")))
            rows[i].end_ms =
                rows[i].start_ms + (int64_t)json_integer_value(json_object_get(v, "elapsed_ms"));
    }
    memset(&in, 0, sizeof(in));
    in.src_host = json_string_value(json_object_get(job, "src_host"));
    in.tgt_host = json_string_value(json_object_get(job, "tgt_host"));
    in.steps = rows;
    in.n_steps = n;
    in.now_ms = now_ms;
    in.width = width;
    in.color = color;
    rc = timeline_draw(&in, out);
out:
    for (i = 0; hosts && i < n; i++)
        free(hosts[i]);
    free(hosts);
    free(rows);
    return rc;
}

int timeline_width(int fd)
{
    struct winsize ws;
    const char *cols = getenv("COLUMNS");
    char *end;
    long n;

    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    if (cols && *cols) {
        n = strtol(cols, &end, 10);
        if (*end == '\0' && n > 0 && n <= MAX_WIDTH)
            return (int)n;
    }
    return 80;
}
