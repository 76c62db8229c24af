/* test_board: kvmove watch's board (producer/board.c): events in, one line per job out, at a
 * fixed width and clock. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "event.h"
#include "unit_run.h"

#define J1 "11111111-1111-4111-8111-111111111111"
#define J2 "22222222-2222-4222-8222-222222222222"
#define J3 "33333333-3333-4333-8333-333333333333"
#define NOW 1753891906000LL /* 2025-07-30T16:11:46Z */

/* A CloudEvent of short TYPE for job ID with DATA (JSON members after job_id) at "16:11:SS". */
static json_t *event(const char *type, const char *id, const char *subject, int ss,
                     const char *data)
{
    char text[2048];
    json_t *ev;

    snprintf(text, sizeof(text),
             "{\"type\": \"io.kvmove.%s\", \"subject\": \"%s\", \"time\": "
             "\"2025-07-30T16:11:%02d.000Z\", \"data\": {\"job_id\": \"%s\"%s%s}}",
             type, subject, ss, id, *data ? ", " : "", data);
    ev = json_loads(text, 0, NULL);
    ck_assert_msg(ev != NULL, "bad test event %s", text);
    return ev;
}

#define ACCEPT(id, g, s, t)                                                                        \
    {                                                                                              \
        EVENT_JOB_ACCEPTED, id, g, 0,                                                              \
            "\"src_host\": \"" s "\", \"tgt_host\": \"" t "\", \"steps\": [\"STOP_GUEST\", "       \
            "\"DETACH_VOLUMES\", \"ATTACH_VOLUMES\", \"MIGRATE_GUEST\", \"STARTUP_GUEST\"]"        \
    }

typedef struct step_event {
    const char *type, *id, *subject;
    int ss;
    const char *data;
} step_event;

typedef struct board_case {
    const char *name;
    const char *host; /* the --host filter */
    int width;
    step_event events[12];
    int shown[12];        /* board_event's answer per event: the line, or -1 */
    const char *lines[4]; /* the board's lines at NOW, then NULL */
    const char *summary;
} board_case;

static const board_case cases[] = {
    {"a job's progress",
     NULL,
     0,
     {ACCEPT(J1, "g1.example.com", "a1.example.com", "b1.example.com"),
      {EVENT_PREFLIGHT_PASSED, J1, "g1.example.com", 1, ""},
      {EVENT_STEP_STARTED, J1, "g1.example.com", 2, "\"step\": \"STOP_GUEST\""},
      {EVENT_STEP_COMPLETED, J1, "g1.example.com", 5, "\"step\": \"STOP_GUEST\""},
      {EVENT_STEP_STARTED, J1, "g1.example.com", 6, "\"step\": \"DETACH_VOLUMES\""}},
     {0, 0, 0, 0, 0},
     {"11111111 g1.example.com           a1 -> b1 [ 1/5] DETACH_VOLUMES         running   40.0s",
      NULL},
     "1 job: 0 queued, 1 running, 0 succeeded, 0 failed"},
    {"an evacuation of a1: the other host's job and an unknown job are not shown",
     "A1.example.com",
     0,
     {ACCEPT(J1, "g1.example.com", "a1.example.com", "b1.example.com"),
      ACCEPT(J2, "g2.example.com", "c1.example.com", "b1.example.com"),
      {EVENT_STEP_STARTED, J3, "g3.example.com", 2, "\"step\": \"STOP_GUEST\""},
      {EVENT_STEP_STARTED, J2, "g2.example.com", 2, "\"step\": \"STOP_GUEST\""},
      ACCEPT(J3, "g4.example.com", "b1.example.com", "a1.example.com"),
      {EVENT_JOB_SUCCEEDED, J1, "g1.example.com", 9, "\"elapsed_ms\": 45250"}},
     {0, -1, -1, -1, 1, 0},
     {"11111111 g1.example.com           a1 -> b1 [ 0/5] succeeded in 45.2s",
      "33333333 g4.example.com           b1 -> a1 [ 0/5] queued", NULL},
     "2 jobs: 1 queued, 0 running, 1 succeeded, 0 failed"},
    {"a failure names the step and says why",
     NULL,
     0,
     {ACCEPT(J1, "g1.example.com", "a1.example.com", "b1.example.com"),
      {EVENT_STEP_STARTED, J1, "g1.example.com", 2, "\"step\": \"STARTUP_GUEST\""},
      {EVENT_STEP_FAILED, J1, "g1.example.com", 4,
       "\"step\": \"STARTUP_GUEST\", \"message\": \"vm_maker failed\""},
      {EVENT_JOB_FAILED, J1, "g1.example.com", 4,
       "\"message\": \"STARTUP_GUEST failed: vm_maker failed\""},
      {EVENT_JOB_REJECTED, J2, "g2.example.com", 5, "\"message\": \"guest busy\""}},
     {0, 0, 0, 0, -1},
     {"11111111 g1.example.com           a1 -> b1 [ 0/5] FAILED at STARTUP_GUEST: STARTUP_GUEST "
      "failed: vm_maker failed",
      NULL},
     "1 job: 0 queued, 0 running, 0 succeeded, 1 failed"},
    {"a job first seen mid-way (no host watched): hosts unknown, line cut to the width",
     NULL,
     40,
     {{EVENT_STEP_STARTED, J2, "g2.example.com", 2, "\"step\": \"MIGRATE_GUEST\""},
      {EVENT_CLEANUP_PENDING, J3, "g3.example.com", 3, ""}},
     {0, -1},
     {"22222222 g2.example.com           ? -> ", NULL},
     "1 job: 0 queued, 1 running, 0 succeeded, 0 failed"},
};

UNIT_LOOP(test_events, cases)
{
    const board_case *tc = &cases[_i];
    char line[1024];
    board b;
    size_t i;

    board_init(&b, tc->host);
    for (i = 0; i < 12 && tc->events[i].type; i++) {
        const step_event *e = &tc->events[i];
        json_t *ev = event(e->type, e->id, e->subject, e->ss, e->data);
        int got = board_event(&b, e->type, ev, NOW);
        ck_assert_msg(got == tc->shown[i], "%s: event %zu (%s) gave line %d, expected %d", tc->name,
                      i + 1, e->type, got, tc->shown[i]);
        json_decref(ev);
    }
    for (i = 0; tc->lines[i]; i++) {
        ck_assert_msg(i < b.n, "%s: no line %zu", tc->name, i + 1);
        board_line(&b, i, NOW, tc->width, line, sizeof(line));
        ck_assert_msg(strcmp(line, tc->lines[i]) == 0, "%s: line %zu is\n'%s', expected\n'%s'",
                      tc->name, i + 1, line, tc->lines[i]);
    }
    ck_assert_int_eq(b.n, i);
    board_summary(&b, line, sizeof(line));
    ck_assert_str_eq(line, tc->summary);
    board_free(&b);
}
END_TEST

/* A job running when watch starts, from PostgreSQL's view of it. */
UNIT_TEST(test_seed)
{
    const char *job =
        "{\"id\": \"" J1 "\", \"guest\": \"g1.example.com\", \"src_host\": \"a1.example.com\","
        " \"tgt_host\": \"b1.example.com\", \"status\": \"running\", \"steps\": ["
        "{\"step\": \"CREATE_BRIDGES\", \"status\": \"succeeded\"},"
        "{\"step\": \"STOP_GUEST\", \"status\": \"succeeded\"},"
        "{\"step\": \"DETACH_VOLUMES\", \"status\": \"running\", \"started_at\": "
        "\"2025-07-30T16:11:40.500+00:00\"},"
        "{\"step\": \"STARTUP_GUEST\", \"status\": \"pending\"}]}";
    json_t *j = json_loads(job, 0, NULL), *ev;
    char line[512];
    board b;

    ck_assert_ptr_nonnull(j);
    board_init(&b, "b1.example.com");
    ck_assert_int_eq(board_seed(&b, j), 0);
    board_line(&b, 0, NOW, 0, line, sizeof(line));
    ck_assert_str_eq(
        line,
        "11111111 g1.example.com           a1 -> b1 [ 2/4] DETACH_VOLUMES         running    5.5s");
    /* its next event updates the same line */
    ev = event(EVENT_STEP_COMPLETED, J1, "g1.example.com", 47, "\"step\": \"DETACH_VOLUMES\"");
    ck_assert_int_eq(board_event(&b, EVENT_STEP_COMPLETED, ev, NOW), 0);
    json_decref(ev);
    board_line(&b, 0, NOW, 0, line, sizeof(line));
    ck_assert_str_eq(line, "11111111 g1.example.com           a1 -> b1 [ 3/4] running");
    /* another host's job is not seeded */
    board_free(&b);
    board_init(&b, "c1.example.com");
    ck_assert_int_eq(board_seed(&b, j), -1);
    board_free(&b);
    json_decref(j);
}
END_TEST

int main(void)
{
    return unit_main("board");
}
