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

UNIT_RANGE(test_steps_order_and_round_trip, 0, 11)
{
    step_id s;

    ck_assert_int_eq(STEP__COUNT, 11);
    ck_assert_str_eq(step_to_string((step_id)_i), steps_in_order[_i]);
    ck_assert_int_eq(step_from_string(steps_in_order[_i], &s), 0);
    ck_assert_int_eq(s, _i);
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

UNIT_RANGE(test_job_status_round_trip, 0, 6)
{
    job_status st;

    ck_assert_int_eq(JOB__COUNT, 6);
    ck_assert_str_eq(job_status_to_string((job_status)_i), statuses[_i]);
    ck_assert_int_eq(job_status_from_string(statuses[_i], &st), 0);
    ck_assert_int_eq(st, _i);
}
END_TEST

UNIT_RANGE(test_step_state_round_trip, 0, 5)
{
    step_state st;

    ck_assert_int_eq(STEPSTATE__COUNT, 5);
    ck_assert_str_eq(step_state_to_string((step_state)_i), states[_i]);
    ck_assert_int_eq(step_state_from_string(states[_i], &st), 0);
    ck_assert_int_eq(st, _i);
}
END_TEST

UNIT_RANGE(test_mode_round_trip, 0, 2)
{
    migrate_mode m;

    ck_assert_int_eq(MODE__COUNT, 2);
    ck_assert_str_eq(mode_to_string((migrate_mode)_i), modes[_i]);
    ck_assert_int_eq(mode_from_string(modes[_i], &m), 0);
    ck_assert_int_eq(m, _i);
}
END_TEST

/* Parsing cases: {table, input, expected index or -1}. */
enum { T_STEP, T_STATUS, T_STATE, T_MODE };

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
    int out = -7, rc;

    switch (parse_cases[_i].table) {
    case T_STEP: {
        step_id v;
        rc = step_from_string(parse_cases[_i].input, &v);
        if (rc == 0)
            out = (int)v;
        break;
    }
    case T_STATUS: {
        job_status v;
        rc = job_status_from_string(parse_cases[_i].input, &v);
        if (rc == 0)
            out = (int)v;
        break;
    }
    case T_STATE: {
        step_state v;
        rc = step_state_from_string(parse_cases[_i].input, &v);
        if (rc == 0)
            out = (int)v;
        break;
    }
    default: {
        migrate_mode v;
        rc = mode_from_string(parse_cases[_i].input, &v);
        if (rc == 0)
            out = (int)v;
        break;
    }
    }
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
