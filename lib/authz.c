/* authz: the rights, the one table of which a request needs, and the verdict. */
#include "authz.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *const right_names[AUTHZ__COUNT] = {
    [AUTHZ_MIGRATE] = "migrate", [AUTHZ_FORCE] = "force",     [AUTHZ_EVACUATE] = "evacuate",
    [AUTHZ_CLEANUP] = "cleanup", [AUTHZ_DRY_RUN] = "dry_run",
};

#define R(x) (1u << (x))
#define ANY_MODE (-1)

/* Which rights a request needs: the first row that matches its action and mode. Another action
 * adds its rows here. Cancelling or rolling back a job changes hosts as a migration does
 * (migrate); moving an evacuation's guests back is an evacuation's work (evacuate). The probes
 * (cleanup, dry_run) have their rows in probe_rules below. */
static const struct {
    request_action action;
    int mode; /* migrate_mode, or ANY_MODE */
    authz_rights needs;
    const char *what; /* "ALICE may not WHAT on system S" */
} rules[] = {
    {ACTION_MIGRATE_GUEST, MODE_OFFLINEFORCE, R(AUTHZ_MIGRATE) | R(AUTHZ_FORCE),
     "force migrations"},
    {ACTION_MIGRATE_GUEST, MODE_OFFLINE, R(AUTHZ_MIGRATE), "migrate guests"},
    {ACTION_REPLAY, MODE_OFFLINEFORCE, R(AUTHZ_MIGRATE) | R(AUTHZ_FORCE), "force migrations"},
    {ACTION_REPLAY, MODE_OFFLINE, R(AUTHZ_MIGRATE), "migrate guests"},
    {ACTION_CANCEL, ANY_MODE, R(AUTHZ_MIGRATE), "cancel migrations"},
    {ACTION_ROLLBACK, ANY_MODE, R(AUTHZ_MIGRATE), "roll back migrations"},
    {ACTION_RETURN, ANY_MODE, R(AUTHZ_MIGRATE) | R(AUTHZ_EVACUATE), "return evacuated guests"},
};

/* Which right a probe (lib/probe.h) needs, one row per kind: kvmove cleanup runs the pending
 * cleanups on the hosts (cleanup); kvmove submit --dry-run probes the hosts read-only
 * (dry_run); kvmove evacuate's placement is an evacuation's (evacuate). */
static const struct {
    probe_kind kind;
    authz_rights needs;
    const char *what;
} probe_rules[] = {
    {PROBE_CLEANUP, R(AUTHZ_CLEANUP), "run the pending cleanups"},
    {PROBE_DRY_RUN, R(AUTHZ_DRY_RUN), "probe hosts for a dry run"},
    {PROBE_PLAN, R(AUTHZ_EVACUATE), "plan evacuations"},
};

const char *authz_right_name(authz_right r)
{
    return (int)r >= 0 && r < AUTHZ__COUNT ? right_names[r] : NULL;
}

int authz_right_from_name(const char *name, authz_right *out)
{
    int i;

    for (i = 0; name != NULL && i < AUTHZ__COUNT; i++) {
        if (strcmp(name, right_names[i]) == 0) {
            *out = (authz_right)i;
            return 0;
        }
    }
    return -1;
}

char *authz_right_names(const char *sep, char *buf, size_t size)
{
    size_t n = 0;
    int i;

    if (size)
        buf[0] = '\0';
    for (i = 0; i < AUTHZ__COUNT && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? sep : "", right_names[i]);
    return buf;
}

int authz_needed(const request *r, migrate_mode mode, authz_rights *rights, const char **what,
                 char *errstr, size_t errstr_size)
{
    size_t i;

    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (rules[i].action != r->action ||
            (rules[i].mode != ANY_MODE && rules[i].mode != (int)mode))
            continue;
        *rights = rules[i].needs;
        *what = rules[i].what;
        return 0;
    }
    util_errf(errstr, errstr_size, "no right allows action %d (with mode %s)", (int)r->action,
              mode_to_string(mode) ? mode_to_string(mode) : "?");
    return -1;
}

/* The verdict on IDENTITY, holding GRANTED in SYSTEM, doing WHAT that NEEDS. */
static int verdict(const char *identity, const char *system, authz_rights granted,
                   authz_rights needs, const char *what, char *errstr, size_t errstr_size)
{
    authz_rights missing = needs & ~granted;
    char on[128];
    int i;

    if (missing == 0)
        return 0;
    for (i = 0; i < AUTHZ__COUNT && !(missing & R(i)); i++)
        ;
    if (system != NULL && system[0] != '\0')
        snprintf(on, sizeof(on), "on system %s", system);
    else
        snprintf(on, sizeof(on), "on every system");
    util_errf(errstr, errstr_size, "%s may not %s %s: ask an administrator to grant '%s'%s",
              identity, what, on, right_names[i],
              system != NULL && system[0] != '\0' ? "" : " on '*' (every system)");
    return -1;
}

int authz_check(const char *identity, const char *system, authz_rights granted, const request *r,
                migrate_mode mode, char *errstr, size_t errstr_size)
{
    authz_rights needs = 0;
    const char *what = "";

    if (authz_needed(r, mode, &needs, &what, errstr, errstr_size) != 0)
        return -1;
    return verdict(identity, system, granted, needs, what, errstr, errstr_size);
}

int authz_check_probe(const char *identity, const char *system, authz_rights granted,
                      probe_kind kind, char *errstr, size_t errstr_size)
{
    size_t i;

    for (i = 0; i < sizeof(probe_rules) / sizeof(probe_rules[0]); i++)
        if (probe_rules[i].kind == kind)
            return verdict(identity, system, granted, probe_rules[i].needs, probe_rules[i].what,
                           errstr, errstr_size);
    util_errf(errstr, errstr_size, "no right allows probe kind %d", (int)kind);
    return -1;
}
