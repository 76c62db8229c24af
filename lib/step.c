/* step: the migration steps, job statuses and step states as tables matching the database. */
#include "step.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Each table is indexed by its enum; the strings are the values stored in PostgreSQL and
 * carried in messages, so they never change. */
static const char *const step_names_table[STEP__ALL] = {
    [STEP_STOP_GUEST] = "STOP_GUEST",
    [STEP_DETACH_INTERFACES] = "DETACH_INTERFACES",
    [STEP_DETACH_VOLUMES] = "DETACH_VOLUMES",
    [STEP_ATTACH_VOLUMES] = "ATTACH_VOLUMES",
    [STEP_CREATE_BRIDGES] = "CREATE_BRIDGES",
    [STEP_MIGRATE_GUEST] = "MIGRATE_GUEST",
    [STEP_REMOVE_BRIDGES] = "REMOVE_BRIDGES",
    [STEP_REMOVE_NAT_BRIDGE_SRC] = "REMOVE_NAT_BRIDGE_SRC",
    [STEP_CREATE_NAT_BRIDGE_TGT] = "CREATE_NAT_BRIDGE_TGT",
    [STEP_ATTACH_INTERFACES] = "ATTACH_INTERFACES",
    [STEP_STARTUP_GUEST] = "STARTUP_GUEST",
    [STEP_ROLLBACK_DETACH_VOLUMES_TGT] = "ROLLBACK_DETACH_VOLUMES_TGT",
    [STEP_ROLLBACK_CREATE_BRIDGES_SRC] = "ROLLBACK_CREATE_BRIDGES_SRC",
    [STEP_ROLLBACK_CREATE_NAT_BRIDGE_SRC] = "ROLLBACK_CREATE_NAT_BRIDGE_SRC",
    [STEP_ROLLBACK_ATTACH_VOLUMES_SRC] = "ROLLBACK_ATTACH_VOLUMES_SRC",
    [STEP_ROLLBACK_MIGRATE_GUEST] = "ROLLBACK_MIGRATE_GUEST",
    [STEP_ROLLBACK_ATTACH_INTERFACES_SRC] = "ROLLBACK_ATTACH_INTERFACES_SRC",
    [STEP_ROLLBACK_STARTUP_GUEST_SRC] = "ROLLBACK_STARTUP_GUEST_SRC",
    [STEP_ROLLBACK_REMOVE_BRIDGES_TGT] = "ROLLBACK_REMOVE_BRIDGES_TGT",
    [STEP_ROLLBACK_REMOVE_NAT_BRIDGE_TGT] = "ROLLBACK_REMOVE_NAT_BRIDGE_TGT",
};

static const char *const job_status_names[JOB__COUNT] = {
    [JOB_QUEUED] = "queued", [JOB_RUNNING] = "running",   [JOB_SUCCEEDED] = "succeeded",
    [JOB_FAILED] = "failed", [JOB_REJECTED] = "rejected", [JOB_CANCELLED] = "cancelled",
};

static const char *const step_state_names[STEPSTATE__COUNT] = {
    [STEP_PENDING] = "pending", [STEP_RUNNING] = "running", [STEP_SUCCEEDED] = "succeeded",
    [STEP_FAILED] = "failed",   [STEP_SKIPPED] = "skipped",
};

static const char *const mode_names[MODE__COUNT] = {
    [MODE_OFFLINE] = "OFFLINE",
    [MODE_OFFLINEFORCE] = "OFFLINEFORCE",
};

static const char *table_name(const char *const *table, int count, int value)
{
    if (value < 0 || value >= count)
        return NULL;
    return table[value];
}

/* Looks NAME up in TABLE; CASELESS for the names a person types (steps, modes), exact for the
 * database values. Returns the index or -1. */
static int table_find(const char *const *table, int count, const char *name, int caseless)
{
    int i;

    if (name == NULL)
        return -1;
    for (i = 0; i < count; i++) {
        if (caseless ? strcasecmp(table[i], name) == 0 : strcmp(table[i], name) == 0)
            return i;
    }
    return -1;
}

/* TYPE's two converters over TABLE (COUNT names): TO, a value's name (NULL when out of range),
 * and FROM, a name's value (0, or -1 when NAME is none of them; CASELESS as table_find). */
#define NAME_CONVERTERS(type, to, from, table, count, caseless)                                    \
    const char *to(type value)                                                                     \
    {                                                                                              \
        return table_name(table, count, (int)value);                                               \
    }                                                                                              \
    int from(const char *name, type *out)                                                          \
    {                                                                                              \
        int i = table_find(table, count, name, caseless);                                          \
                                                                                                   \
        if (i < 0)                                                                                 \
            return -1;                                                                             \
        *out = (type)i;                                                                            \
        return 0;                                                                                  \
    }

NAME_CONVERTERS(step_id, step_to_string, step_from_string, step_names_table, STEP__ALL, 1)
NAME_CONVERTERS(job_status, job_status_to_string, job_status_from_string, job_status_names,
                JOB__COUNT, 0)
NAME_CONVERTERS(step_state, step_state_to_string, step_state_from_string, step_state_names,
                STEPSTATE__COUNT, 0)
NAME_CONVERTERS(migrate_mode, mode_to_string, mode_from_string, mode_names, MODE__COUNT, 1)

int step_is_rollback(step_id step)
{
    return step >= STEP__COUNT && step < STEP__ALL;
}

const char *step_names(const char *sep, char *buf, size_t size)
{
    size_t len = 0;
    int i, n;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (i = 0; i < STEP__COUNT && len < size; i++) {
        n = snprintf(buf + len, size - len, "%s%s", i ? sep : "", step_names_table[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    return buf;
}

/* ---- job status transitions ---- */

/* next[FROM][TO]: 1 when a job in FROM may change to TO. */
static const unsigned char job_status_next[JOB__COUNT][JOB__COUNT] = {
    [JOB_QUEUED] = {[JOB_RUNNING] = 1, [JOB_CANCELLED] = 1},
    [JOB_RUNNING] = {[JOB_RUNNING] = 1,
                     [JOB_QUEUED] = 1,
                     [JOB_SUCCEEDED] = 1,
                     [JOB_FAILED] = 1,
                     [JOB_CANCELLED] = 1},
};

int job_status_can_follow(job_status from, job_status to)
{
    if ((int)from < 0 || from >= JOB__COUNT || (int)to < 0 || to >= JOB__COUNT)
        return 0;
    return job_status_next[from][to];
}

int job_status_is_final(job_status status)
{
    int to;

    for (to = 0; to < JOB__COUNT; to++)
        if (job_status_can_follow(status, (job_status)to))
            return 0;
    return (int)status >= 0 && status < JOB__COUNT;
}
