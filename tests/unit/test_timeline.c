/* test_timeline: kvmove status --timeline's drawing (producer/timeline.c), table-driven at
 * fixed widths, and the timestamps it reads. TIMELINE_PRINT=1 prints what each case draws as C
 * strings (to write a new case's expectation after checking it by eye). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeline.h"
#include "unit_run.h"

#define S "exa01adm02.example.com"
#define T "exa01adm06.example.com"
#define T0 1753891906000LL /* 2025-07-30T16:11:46Z; case times are ms after it */
#define MAX_STEPS 12
#define MAX_LINES 24

typedef struct draw_case {
    const char *name;
    int width, color;
    const char *src, *tgt;
    int64_t now;
    timeline_step steps[MAX_STEPS]; /* ends at a step NULL */
    const char *want[MAX_LINES];    /* ends at NULL */
} draw_case;

/* The default plan as kvmove runs it: target preparation before STOP_GUEST, source cleanup
 * after STARTUP_GUEST, the NAT steps skipped (not a cloud deployment). */
#define DEFAULT_PLAN                                                                               \
    {"CREATE_BRIDGES", T, "succeeded", 0, 400}, {"CREATE_NAT_BRIDGE_TGT", T, "skipped", -1, -1},   \
        {"STOP_GUEST", S, "succeeded", 500, 3600},                                                 \
        {"DETACH_INTERFACES", S, "succeeded", 3600, 3700},                                         \
        {"DETACH_VOLUMES", S, "succeeded", 3700, 4300},                                            \
        {"ATTACH_VOLUMES", T, "succeeded", 4300, 5000},                                            \
        {"MIGRATE_GUEST", T, "succeeded", 5000, 5600},                                             \
        {"ATTACH_INTERFACES", T, "succeeded", 5600, 5800},                                         \
        {"STARTUP_GUEST", T, "succeeded", 5800, 11900},                                            \
        {"REMOVE_BRIDGES", S, "succeeded", 12000, 12400},                                          \
        {"REMOVE_NAT_BRIDGE_SRC", S, "skipped", -1, -1},                                           \
    {                                                                                              \
        NULL                                                                                       \
    }

/* The step table under DEFAULT_PLAN's timeline, whatever the width. */
#define DEFAULT_PLAN_TABLE                                                                         \
    "  #    STEP                   HOST         START     TOOK  STATUS",                           \
        "  5 CB CREATE_BRIDGES         target       +0.0s     0.4s  succeeded",                    \
        "  9 CN CREATE_NAT_BRIDGE_TGT  target           -        -  skipped",                      \
        "  1 SG STOP_GUEST             source       +0.5s     3.1s  succeeded",                    \
        "  2 DI DETACH_INTERFACES      source       +3.6s     0.1s  succeeded",                    \
        "  3 DV DETACH_VOLUMES         source       +3.7s     0.6s  succeeded",                    \
        "  4 AV ATTACH_VOLUMES         target       +4.3s     0.7s  succeeded",                    \
        "  6 MG MIGRATE_GUEST          target       +5.0s     0.6s  succeeded",                    \
        "  A AI ATTACH_INTERFACES      target       +5.6s     0.2s  succeeded",                    \
        "  B SU STARTUP_GUEST          target       +5.8s     6.1s  succeeded",                    \
        "  7 RB REMOVE_BRIDGES         source      +12.0s     0.4s  succeeded",                    \
        "  8 RN REMOVE_NAT_BRIDGE_SRC  source           -        -  skipped"

/* The head of a 60-column drawing 9 s in whose steps span 4 s, STOP_GUEST the first 2 s. */
#define FOUR_SECONDS_SO_FAR                                                                        \
    "Steps:    4.0s from the first one's start to the last one's end",                             \
        "Downtime: 4.0s so far (STARTUP_GUEST has not ended)",                                     \
        "                     0s       1s        2s        3s",                                    \
        "                     |--------|---------|---------|---------",                            \
        "source exa01adm02    [STOP_GUEST========]"

static const draw_case cases[] = {
    {"default plan, 80 columns",
     80,
     0,
     S,
     T,
     20000,
     {DEFAULT_PLAN},
     {"Steps:    12.4s from the first one's start to the last one's end",
      "Downtime: 11.4s from STOP_GUEST's start to STARTUP_GUEST's end",
      "                           0s      2s       4s      6s       8s      10s",
      "                           |-------|--------|-------|--------|-------|--------|-",
      "source exa01adm02            [STOP_GUEST==]233                                77",
      "target exa01adm06          55                [AV]66A[STARTUP_GUEST===========]",
      "downtime                     <==================== 11.4s ====================>",
      DEFAULT_PLAN_TABLE, NULL}},
    {"default plan, 50 columns",
     50,
     0,
     S,
     T,
     20000,
     {DEFAULT_PLAN},
     {"Steps:    12.4s from the first one's start to the last one's end",
      "Downtime: 11.4s from STOP_GUEST's start to STARTUP_GUEST's end",
      "                 0s           5s           10s",
      "                 |------------|------------|------",
      "src exa01adm02    [SG=====]23                   77",
      "tgt exa01adm06   55         4446A[STARTUP_GUEST=]",
      "downtime          <=========== 11.4s ===========>", DEFAULT_PLAN_TABLE, NULL}},
    {"narrower than 40 columns draws 40",
     20,
     0,
     S,
     T,
     20000,
     {DEFAULT_PLAN},
     {"Steps:    12.4s from the first one's start to the last one's end",
      "Downtime: 11.4s from STOP_GUEST's start to STARTUP_GUEST's end",
      "              0s        5s        10s", "              |---------|---------|-----",
      "src exa01adm0  [SG===]23               7", "tgt exa01adm0 5        446A[SU========]",
      "downtime       <======= 11.4s ========>", DEFAULT_PLAN_TABLE, NULL}},
    {"running: the downtime so far, the running step to now",
     60,
     0,
     S,
     T,
     6000,
     {{"STOP_GUEST", S, "succeeded", 0, 3000},
      {"DETACH_VOLUMES", S, "running", 3000, -1},
      {"STARTUP_GUEST", T, "pending", -1, -1},
      {NULL}},
     {"Steps:    6.0s from the first one's start to the last one's end",
      "Downtime: 6.0s so far (STARTUP_GUEST has not ended)",
      "                     0s           2s           4s",
      "                     |------------|------------|------------",
      "source exa01adm02    [STOP_GUEST========][DETACH_VOLUMES===]",
      "downtime             <=============== 6.0s ================>",
      "  #    STEP                   HOST         START     TOOK  STATUS",
      "  1 SG STOP_GUEST             source       +0.0s     3.0s  succeeded",
      "  3 DV DETACH_VOLUMES         source       +3.0s     3.0s  running",
      "  B SU STARTUP_GUEST          target           -        -  pending", NULL}},
    {"failed in colour: red bar, downtime bold red",
     60,
     1,
     S,
     T,
     9000,
     {{"STOP_GUEST", S, "succeeded", 0, 3000}, {"STARTUP_GUEST", T, "failed", 3000, 6000}, {NULL}},
     {"Steps:    6.0s from the first one's start to the last one's end",
      "Downtime: 6.0s so far (STARTUP_GUEST failed: the guest is down)",
      "                     0s           2s           4s",
      "                     |------------|------------|------------",
      "source exa01adm02    [STOP_GUEST========]",
      "target exa01adm06                       \033[31m[STARTUP_GUEST=====]\033[0m",
      "downtime             \033[1;31m<=============== 6.0s ================>\033[0m",
      "  #    STEP                   HOST         START     TOOK  STATUS",
      "  1 SG STOP_GUEST             source       +0.0s     3.0s  succeeded",
      "  B SU STARTUP_GUEST          target       +3.0s     3.0s  failed", NULL}},
    {"overlapping steps on one host take two rows",
     60,
     0,
     S,
     T,
     9000,
     {{"ATTACH_VOLUMES", T, "succeeded", 0, 4000},
      {"CREATE_BRIDGES", T, "succeeded", 1000, 3000},
      {"STOP_GUEST", S, "succeeded", 0, 2000},
      {NULL}},
     {FOUR_SECONDS_SO_FAR, "target exa01adm06    [ATTACH_VOLUMES=======================]",
      "                              [CREATE_BRIDGES=====]",
      "downtime             <=============== 4.0s ================>",
      "  #    STEP                   HOST         START     TOOK  STATUS",
      "  4 AV ATTACH_VOLUMES         target       +0.0s     4.0s  succeeded",
      "  5 CB CREATE_BRIDGES         target       +1.0s     2.0s  succeeded",
      "  1 SG STOP_GUEST             source       +0.0s     2.0s  succeeded", NULL}},
    {"a host that is neither source nor target",
     60,
     0,
     S,
     T,
     9000,
     {{"STOP_GUEST", S, "succeeded", 0, 2000},
      {"MIGRATE_GUEST", "exa01adm09.example.com", "succeeded", 2000, 4000},
      {NULL}},
     {FOUR_SECONDS_SO_FAR, "exa01adm09                              [MIGRATE_GUEST=====]",
      "downtime             <=============== 4.0s ================>",
      "  #    STEP                   HOST         START     TOOK  STATUS",
      "  1 SG STOP_GUEST             source       +0.0s     2.0s  succeeded",
      "  6 MG MIGRATE_GUEST          exa01adm09   +2.0s     2.0s  succeeded", NULL}},
    {"nothing started yet",
     60,
     0,
     S,
     T,
     0,
     {{"STOP_GUEST", S, "pending", -1, -1}, {"STARTUP_GUEST", T, "pending", -1, -1}, {NULL}},
     {"No step has started yet.",
      "  #    STEP                   HOST         START     TOOK  STATUS",
      "  1 SG STOP_GUEST             source           -        -  pending",
      "  B SU STARTUP_GUEST          target           -        -  pending", NULL}},
    {"the guest not stopped yet",
     60,
     0,
     S,
     T,
     2000,
     {{"CREATE_BRIDGES", T, "succeeded", 0, 1500}, {"STOP_GUEST", S, "pending", -1, -1}, {NULL}},
     {"Steps:    1.5s from the first one's start to the last one's end",
      "Downtime: none yet (STOP_GUEST has not begun)",
      "                     0s           0.5s         1.0s",
      "                     |------------|------------|------------",
      "target exa01adm06    [CREATE_BRIDGES=======================]",
      "  #    STEP                   HOST         START     TOOK  STATUS",
      "  5 CB CREATE_BRIDGES         target       +0.0s     1.5s  succeeded",
      "  1 SG STOP_GUEST             source           -        -  pending", NULL}},
    {"a long migration: hundreds of seconds on the axis",
     70,
     0,
     S,
     T,
     0,
     {{"STOP_GUEST", S, "succeeded", 0, 95000},
      {"STARTUP_GUEST", T, "succeeded", 95000, 600000},
      {NULL}},
     {"Steps:    600s from the first one's start to the last one's end",
      "Downtime: 600s from STOP_GUEST's start to STARTUP_GUEST's end",
      "                        0s             200s           400s",
      "                        |--------------|--------------|---------------",
      "source exa01adm02       [SG====]",
      "target exa01adm06              [STARTUP_GUEST========================]",
      "downtime                <=================== 600s ===================>",
      "  #    STEP                   HOST         START     TOOK  STATUS",
      "  1 SG STOP_GUEST             source       +0.0s    95.0s  succeeded",
      "  B SU STARTUP_GUEST          target      +95.0s     505s  succeeded", NULL}},
};

/* Prints LINES as C string literals (TIMELINE_PRINT). */
static void print_lines(const char *name, const char *lines)
{
    const char *p;

    printf("    /* %s */\n", name);
    for (p = lines; p && *p;) {
        const char *nl = strchr(p, '\n');
        printf("     \"");
        for (; p < nl; p++) {
            if (*p == '"' || *p == '\\')
                putchar('\\');
            if (*p == '\033')
                fputs("\\033", stdout);
            else
                putchar(*p);
        }
        printf("\",\n");
        p = nl + 1;
    }
}

UNIT_LOOP(test_draw, cases)
{
    const draw_case *tc = &cases[_i];
    timeline_step steps[MAX_STEPS];
    timeline_input in = {tc->src, tc->tgt, steps, 0, T0 + tc->now, tc->width, tc->color};
    util_lines out = {NULL, 0, 0};
    const char *p;
    size_t i;
    int legend = 0;

    for (i = 0; i < MAX_STEPS && tc->steps[i].step; i++) {
        steps[i] = tc->steps[i];
        if (steps[i].start_ms >= 0)
            steps[i].start_ms += T0;
        if (steps[i].end_ms >= 0)
            steps[i].end_ms += T0;
    }
    in.n_steps = i;
    ck_assert_int_eq(timeline_draw(&in, &out), 0);
    ck_assert_ptr_nonnull(out.buf);
    if (getenv("TIMELINE_PRINT"))
        print_lines(tc->name, out.buf);
    for (i = 0, p = out.buf; *p; i++) {
        const char *nl = strchr(p, '\n');
        ck_assert_msg(nl != NULL, "%s: the last line has no newline", tc->name);
        ck_assert_msg(i < MAX_LINES && tc->want[i] != NULL, "%s: line %zu is extra: '%.*s'",
                      tc->name, i + 1, (int)(nl - p), p);
        ck_assert_msg(strlen(tc->want[i]) == (size_t)(nl - p) &&
                          strncmp(tc->want[i], p, (size_t)(nl - p)) == 0,
                      "%s: line %zu is\n'%.*s', expected\n'%s'", tc->name, i + 1, (int)(nl - p), p,
                      tc->want[i]);
        /* the drawing (not the summary and the legend, which are prose and a table) fits */
        if (strncmp(p, "  #", 3) == 0)
            legend = 1;
        if (!tc->color && !legend && strncmp(p, "Steps:", 6) != 0 &&
            strncmp(p, "Downtime:", 9) != 0 && strncmp(p, "No step", 7) != 0)
            ck_assert_msg(nl - p <= (tc->width < 40 ? 40 : tc->width),
                          "%s: line %zu is wider than %d", tc->name, i + 1, tc->width);
        if (!tc->color)
            ck_assert_msg(memchr(p, '\033', (size_t)(nl - p)) == NULL,
                          "%s: an escape without colour", tc->name);
        p = nl + 1;
    }
    ck_assert_msg(tc->want[i] == NULL, "%s: line %zu missing: '%s'", tc->name, i + 1, tc->want[i]);
    free(out.buf);
}
END_TEST

static const struct {
    const char *text;
    int ok;
    int64_t ms;
} times[] = {
    {"2025-07-30T16:11:46.123456+00:00", 1, T0 + 123},
    {"2025-07-30T16:11:46+00:00", 1, T0},
    {"2025-07-30T16:11:46Z", 1, T0},
    {"2025-07-30T16:11:46.5Z", 1, T0 + 500},
    {"2025-07-30T18:11:46.001+02:00", 1, T0 + 1},
    {"2025-07-30T14:41:46-0130", 1, T0},
    {"2025-07-30T17:11:46+01", 1, T0},
    {"2025-07-30 16:11:46.123+00", 1, T0 + 123},
    {"2025-07-30", 0, 0},
    {"16:11:46", 0, 0},
    {"2025-07-30T16:11:46+0", 0, 0},
    {"2025-07-30T16:11:46 UTC", 0, 0},
    {"", 0, 0},
};

UNIT_LOOP(test_parse_time, times)
{
    int64_t ms = -7;
    int rc = timeline_parse_time(times[_i].text, &ms);

    if (times[_i].ok) {
        ck_assert_msg(rc == 0, "'%s' refused", times[_i].text);
        ck_assert_msg(ms == times[_i].ms, "'%s' is %lld, expected %lld", times[_i].text,
                      (long long)ms, (long long)times[_i].ms);
    } else {
        ck_assert_msg(rc == -1, "'%s' taken as %lld", times[_i].text, (long long)ms);
    }
}
END_TEST

/* A job as jobstore_job_get_json returns it: the steps' times and hosts read from its JSON,
 * a host's control characters escaped. */
UNIT_TEST(test_from_job)
{
    const char *job =
        "{\"src_host\": \"a.example.com\", \"tgt_host\": \"b.example.com\", \"steps\": ["
        "{\"step\": \"STOP_GUEST\", \"host\": \"a.example.com\", \"status\": \"succeeded\","
        " \"started_at\": \"2025-07-30T16:11:46+00:00\", \"finished_at\": "
        "\"2025-07-30T16:11:49+00:00\", \"elapsed_ms\": 3000},"
        "{\"step\": \"STARTUP_GUEST\", \"host\": \"b\\u001b[2J\", \"status\": \"running\","
        " \"started_at\": \"2025-07-30T16:11:49+00:00\", \"finished_at\": null}]}";
    json_t *j = json_loads(job, 0, NULL);
    util_lines out = {NULL, 0, 0};

    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(timeline_from_job(j, T0 + 6000, 60, 0, &out), 0);
    ck_assert_ptr_nonnull(out.buf);
    ck_assert_msg(strstr(out.buf, "Downtime: 6.0s so far") != NULL, "%s", out.buf);
    ck_assert_msg(strstr(out.buf, "b\\x1b[2J") != NULL, "%s", out.buf);
    ck_assert_ptr_null(strchr(out.buf, '\033'));
    free(out.buf);
    json_decref(j);
}
END_TEST

int main(void)
{
    return unit_main("timeline");
}
