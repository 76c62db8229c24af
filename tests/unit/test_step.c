/* test_step: the step, job status, step state and mode tables match the database values. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "step.h"
#include "unit_run.h"

/* The spec's log order; the enum values are stored, so they must not move. */
static const char *const steps_in_order[] = {
    "STOP_GUEST",        "DETACH_INTERFACES",     "DETACH_VOLUMES",
    "ATTACH_VOLUMES",    "CREATE_BRIDGES",        "MIGRATE_GUEST",
    "REMOVE_BRIDGES",    "REMOVE_NAT_BRIDGE_SRC", "CREATE_NAT_BRIDGE_TGT",
    "ATTACH_INTERFACES", "STARTUP_GUEST",
};

/* The rollback steps in the order a rollback runs them (stored too). */
static const char *const rollback_in_order[] = {
    "ROLLBACK_DETACH_VOLUMES_TGT", "ROLLBACK_CREATE_BRIDGES_SRC", "ROLLBACK_CREATE_NAT_BRIDGE_SRC",
    "ROLLBACK_ATTACH_VOLUMES_SRC", "ROLLBACK_MIGRATE_GUEST",      "ROLLBACK_ATTACH_INTERFACES_SRC",
    "ROLLBACK_STARTUP_GUEST_SRC",  "ROLLBACK_REMOVE_BRIDGES_TGT", "ROLLBACK_REMOVE_NAT_BRIDGE_TGT",
};

static const char *const statuses[] = {"queued", "running",  "succeeded",
                                       "failed", "rejected", "cancelled"};
static const char *const states[] = {"pending", "running", "succeeded", "failed", "skipped"};
static const char *const modes[] = {"OFFLINE", "OFFLINEFORCE"};

/* One of step.h's name tables through int: ENUM's TO and FROM converters. */
#define NAME_TABLE_CONVERTERS(name, type, to, from)                                                \
    static const char *name##_to(int v)                                                            \
    {                                                                                              \
        return to((type)v);                                                                        \
    }                                                                                              \
    static int name##_from(const char *text, int *out)                                             \
    {                                                                                              \
        type v;                                                                                    \
        int rc = from(text, &v);                                                                   \
        if (rc == 0)                                                                               \
            *out = (int)v;                                                                         \
        return rc;                                                                                 \
    }
NAME_TABLE_CONVERTERS(step, step_id, step_to_string, step_from_string)
NAME_TABLE_CONVERTERS(status, job_status, job_status_to_string, job_status_from_string)
NAME_TABLE_CONVERTERS(state, step_state, step_state_to_string, step_state_from_string)
NAME_TABLE_CONVERTERS(mode, migrate_mode, mode_to_string, mode_from_string)

/* The tables (T_STEP ... T_MODE): the names in enum order, the enum's count. */
enum { T_STEP, T_STATUS, T_STATE, T_MODE };
static const struct {
    const char *const *names;
    int count, enum_count;
    const char *(*to)(int);
    int (*from)(const char *, int *);
} tables[] = {
    [T_STEP] = {steps_in_order, 11, STEP__COUNT, step_to, step_from},
    [T_STATUS] = {statuses, 6, JOB__COUNT, status_to, status_from},
    [T_STATE] = {states, 5, STEPSTATE__COUNT, state_to, state_from},
    [T_MODE] = {modes, 2, MODE__COUNT, mode_to, mode_from},
};

/* One run per name of every table (11 + 6 + 5 + 2): its enum value and name agree both ways. */
UNIT_RANGE(test_names_round_trip, 0, 11 + 6 + 5 + 2)
{
    int t = 0, i = _i, v = -7;

    while (i >= tables[t].count)
        i -= tables[t++].count;
    ck_assert_int_eq(tables[t].enum_count, tables[t].count);
    ck_assert_str_eq(tables[t].to(i), tables[t].names[i]);
    ck_assert_int_eq(tables[t].from(tables[t].names[i], &v), 0);
    ck_assert_int_eq(v, i);
}
END_TEST

UNIT_RANGE(test_rollback_steps_after_the_eleven, 0, 9)
{
    step_id s;

    ck_assert_int_eq(STEP__ALL, STEP__COUNT + 9);
    ck_assert_str_eq(step_to_string((step_id)(STEP__COUNT + _i)), rollback_in_order[_i]);
    ck_assert_int_eq(step_from_string(rollback_in_order[_i], &s), 0);
    ck_assert_int_eq(s, STEP__COUNT + _i);
    ck_assert_int_eq(step_is_rollback(s), 1);
    ck_assert_int_eq(step_is_rollback((step_id)(_i)), 0); /* the migration's are not */
}
END_TEST

/* Parsing cases: {table, input, expected index or -1}. */

static const struct {
    int table;
    const char *input;
    int expected;
} parse_cases[] = {
    {T_STEP, "startup_guest", STEP_STARTUP_GUEST}, /* typed by people: any case */
    {T_STEP, "Migrate_Guest", STEP_MIGRATE_GUEST},
    {T_STEP, "STARTUP_GUEST ", -1},
    {T_STEP, "STARTUP", -1},
    {T_STEP, "", -1},
    {T_STEP, NULL, -1},
    {T_MODE, "offline", MODE_OFFLINE}, /* the spec's deploy log writes mode=offline */
    {T_MODE, "OfflineForce", MODE_OFFLINEFORCE},
    {T_MODE, "ONLINE", -1},
    {T_MODE, "OFFLINE_FORCE", -1},
    {T_STATUS, "QUEUED", -1}, /* database values: exact */
    {T_STATUS, "done", -1},
    {T_STATUS, NULL, -1},
    {T_STATE, "Skipped", -1},
    {T_STATE, "queued", -1},
};

UNIT_LOOP(test_parse_table, parse_cases)
{
    int out = -7, rc = tables[parse_cases[_i].table].from(parse_cases[_i].input, &out);

    if (parse_cases[_i].expected < 0) {
        ck_assert_msg(rc == -1, "case %d: \"%s\" must be refused", _i,
                      parse_cases[_i].input ? parse_cases[_i].input : "NULL");
    } else {
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(out, parse_cases[_i].expected);
    }
}
END_TEST

UNIT_TEST(test_out_of_range)
{
    ck_assert_ptr_null(step_to_string(STEP__ALL));
    ck_assert_int_eq(step_is_rollback(STEP__ALL), 0);
    ck_assert_ptr_null(step_to_string((step_id)-1));
    ck_assert_ptr_null(job_status_to_string(JOB__COUNT));
    ck_assert_ptr_null(step_state_to_string(STEPSTATE__COUNT));
    ck_assert_ptr_null(mode_to_string(MODE__COUNT));
}
END_TEST

UNIT_TEST(test_names_joined)
{
    char buf[STEP_NAMES_MAX], want[STEP_NAMES_MAX] = "", small[16];
    size_t i;

    for (i = 0; i < sizeof(steps_in_order) / sizeof(steps_in_order[0]); i++) {
        if (i)
            strcat(want, ", ");
        strcat(want, steps_in_order[i]);
    }
    ck_assert_str_eq(step_names(", ", buf, sizeof(buf)), want);
    /* the migration's steps only: a rollback's are never named by a person */
    ck_assert_ptr_null(strstr(buf, "ROLLBACK"));
    /* cut, never overrun, always terminated */
    ck_assert_str_eq(step_names(", ", small, sizeof(small)), "STOP_GUEST, DET");
    ck_assert_str_eq(step_names(" ", buf, 1), "");
}
END_TEST

/* Every (from, to) pair of job statuses: which changes are allowed. */
static const struct {
    job_status from, to;
    int allowed;
    const char *why;
} transitions[] = {
    {JOB_QUEUED, JOB_RUNNING, 1, "claimed"},
    {JOB_QUEUED, JOB_QUEUED, 0, "nothing to change"},
    {JOB_QUEUED, JOB_SUCCEEDED, 0, "never ran"},
    {JOB_QUEUED, JOB_FAILED, 0, "never ran"},
    {JOB_QUEUED, JOB_REJECTED, 0, "rejection happens at intake only"},
    {JOB_QUEUED, JOB_CANCELLED, 1, "cancelled before it ever started"},
    {JOB_RUNNING, JOB_RUNNING, 1, "expired lease taken over"},
    {JOB_RUNNING, JOB_QUEUED, 1, "lease handed back"},
    {JOB_RUNNING, JOB_SUCCEEDED, 1, "finished"},
    {JOB_RUNNING, JOB_FAILED, 1, "failed"},
    {JOB_RUNNING, JOB_REJECTED, 0, "it was accepted"},
    {JOB_RUNNING, JOB_CANCELLED, 1, "stopped at a step boundary"},
    {JOB_SUCCEEDED, JOB_RUNNING, 0, "final"},
    {JOB_SUCCEEDED, JOB_QUEUED, 0, "final (a replay is a new job)"},
    {JOB_SUCCEEDED, JOB_FAILED, 0, "final"},
    {JOB_SUCCEEDED, JOB_SUCCEEDED, 0, "final"},
    {JOB_SUCCEEDED, JOB_REJECTED, 0, "final"},
    {JOB_SUCCEEDED, JOB_CANCELLED, 0, "final"},
    {JOB_FAILED, JOB_RUNNING, 0, "final"},
    {JOB_FAILED, JOB_QUEUED, 0, "final"},
    {JOB_FAILED, JOB_SUCCEEDED, 0, "final"},
    {JOB_FAILED, JOB_FAILED, 0, "final"},
    {JOB_FAILED, JOB_REJECTED, 0, "final"},
    {JOB_FAILED, JOB_CANCELLED, 0, "final"},
    {JOB_REJECTED, JOB_RUNNING, 0, "final"},
    {JOB_REJECTED, JOB_QUEUED, 0, "final"},
    {JOB_REJECTED, JOB_SUCCEEDED, 0, "final"},
    {JOB_REJECTED, JOB_FAILED, 0, "final"},
    {JOB_REJECTED, JOB_REJECTED, 0, "final"},
    {JOB_REJECTED, JOB_CANCELLED, 0, "final"},
    {JOB_CANCELLED, JOB_RUNNING, 0, "final (a rollback is a new job)"},
    {JOB_CANCELLED, JOB_QUEUED, 0, "final"},
    {JOB_CANCELLED, JOB_SUCCEEDED, 0, "final"},
    {JOB_CANCELLED, JOB_FAILED, 0, "final"},
    {JOB_CANCELLED, JOB_REJECTED, 0, "final"},
    {JOB_CANCELLED, JOB_CANCELLED, 0, "final"},
};

UNIT_LOOP(test_job_status_transitions, transitions)
{
    ck_assert_msg(job_status_can_follow(transitions[_i].from, transitions[_i].to) ==
                      transitions[_i].allowed,
                  "%s -> %s: expected %s (%s)", job_status_to_string(transitions[_i].from),
                  job_status_to_string(transitions[_i].to),
                  transitions[_i].allowed ? "allowed" : "refused", transitions[_i].why);
}
END_TEST

UNIT_TEST(test_job_status_final)
{
    ck_assert_int_eq(job_status_is_final(JOB_QUEUED), 0);
    ck_assert_int_eq(job_status_is_final(JOB_RUNNING), 0);
    ck_assert_int_eq(job_status_is_final(JOB_SUCCEEDED), 1);
    ck_assert_int_eq(job_status_is_final(JOB_FAILED), 1);
    ck_assert_int_eq(job_status_is_final(JOB_REJECTED), 1);
    ck_assert_int_eq(job_status_is_final(JOB_CANCELLED), 1);
    ck_assert_int_eq(job_status_can_follow(JOB__COUNT, JOB_RUNNING), 0);
    ck_assert_int_eq(job_status_can_follow(JOB_RUNNING, (job_status)-1), 0);
    /* the table above covers every pair */
    ck_assert_int_eq(sizeof(transitions) / sizeof(transitions[0]), JOB__COUNT * JOB__COUNT);
}
END_TEST

int main(void)
{
    return unit_main("step");
}
