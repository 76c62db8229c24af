/* test_authz: which right each request needs and the refusal an operator reads (lib/authz.c),
 * table driven. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "unit_run.h"

#define R(x) (1u << (x))
#define ALL ((1u << AUTHZ__COUNT) - 1)

static const struct {
    request_action action;
    migrate_mode mode;
    authz_rights granted;
    const char *system;
    const char *refusal; /* NULL: allowed */
} cases[] = {
    {ACTION_MIGRATE_GUEST, MODE_OFFLINE, R(AUTHZ_MIGRATE), "exa01", NULL},
    {ACTION_MIGRATE_GUEST, MODE_OFFLINE, 0, "exa01",
     "alice may not migrate guests on system exa01: ask an administrator to grant 'migrate'"},
    {ACTION_MIGRATE_GUEST, MODE_OFFLINEFORCE, R(AUTHZ_MIGRATE), "exa01",
     "alice may not force migrations on system exa01: ask an administrator to grant 'force'"},
    /* force extends migrate: it is not a right to migrate on its own */
    {ACTION_MIGRATE_GUEST, MODE_OFFLINEFORCE, R(AUTHZ_FORCE), "exa01",
     "alice may not force migrations on system exa01: ask an administrator to grant 'migrate'"},
    {ACTION_MIGRATE_GUEST, MODE_OFFLINEFORCE, R(AUTHZ_MIGRATE) | R(AUTHZ_FORCE), "exa01", NULL},
    /* the rights no request needs yet grant nothing else */
    {ACTION_MIGRATE_GUEST, MODE_OFFLINE, R(AUTHZ_EVACUATE) | R(AUTHZ_CLEANUP) | R(AUTHZ_DRY_RUN),
     "exa01", "alice may not migrate guests on system exa01"},
    {ACTION_REPLAY, MODE_OFFLINE, R(AUTHZ_MIGRATE), "exa01", NULL},
    {ACTION_REPLAY, MODE_OFFLINEFORCE, R(AUTHZ_MIGRATE), "exa01",
     "alice may not force migrations on system exa01: ask an administrator to grant 'force'"},
    /* a request whose system is not known: only '*' grants count, and the refusal says so */
    {ACTION_MIGRATE_GUEST, MODE_OFFLINE, 0, "",
     "alice may not migrate guests on every system: ask an administrator to grant 'migrate' on "
     "'*' (every system)"},
    {ACTION_MIGRATE_GUEST, MODE_OFFLINE, ALL, "", NULL},
    /* cancel and rollback change hosts as a migration does; return is an evacuation's */
    {ACTION_CANCEL, MODE_OFFLINE, R(AUTHZ_MIGRATE), "exa01", NULL},
    {ACTION_CANCEL, MODE_OFFLINEFORCE, R(AUTHZ_EVACUATE), "exa01",
     "alice may not cancel migrations on system exa01: ask an administrator to grant 'migrate'"},
    {ACTION_ROLLBACK, MODE_OFFLINE, R(AUTHZ_MIGRATE), "exa01", NULL},
    {ACTION_ROLLBACK, MODE_OFFLINE, 0, "exa01", "alice may not roll back migrations"},
    {ACTION_RETURN, MODE_OFFLINE, R(AUTHZ_MIGRATE), "exa01",
     "alice may not return evacuated guests on system exa01: ask an administrator to grant "
     "'evacuate'"},
    {ACTION_RETURN, MODE_OFFLINE, R(AUTHZ_MIGRATE) | R(AUTHZ_EVACUATE), "exa01", NULL},
};

UNIT_LOOP(test_table, cases)
{
    request r;
    char err[512] = "";
    int rc;

    memset(&r, 0, sizeof(r));
    r.action = cases[_i].action;
    rc = authz_check("alice", cases[_i].system, cases[_i].granted, &r, cases[_i].mode, err,
                     sizeof(err));
    if (cases[_i].refusal == NULL) {
        ck_assert_msg(rc == 0, "case %d refused: %s", _i, err);
    } else {
        ck_assert_msg(rc == -1, "case %d allowed", _i);
        ck_assert_msg(strstr(err, cases[_i].refusal) != NULL, "case %d: %s", _i, err);
    }
}
END_TEST

/* Every action has a rule for every mode: nothing is allowed by falling through the table. */
UNIT_TEST(test_every_action_has_a_rule)
{
    authz_rights needs;
    const char *what;
    char err[256];
    request r;
    int a, m;

    memset(&r, 0, sizeof(r));
    for (a = ACTION_MIGRATE_GUEST; a < ACTION__COUNT; a++) {
        for (m = MODE_OFFLINE; m <= MODE_OFFLINEFORCE; m++) {
            r.action = (request_action)a;
            ck_assert_msg(authz_needed(&r, (migrate_mode)m, &needs, &what, err, sizeof(err)) == 0,
                          "action %d mode %d: %s", a, m, err);
            ck_assert_uint_ne(needs, 0);
        }
    }
    r.action = ACTION__COUNT;
    ck_assert_int_eq(authz_needed(&r, MODE_OFFLINE, &needs, &what, err, sizeof(err)), -1);
    ck_assert_int_eq(authz_check("alice", "exa01", ALL, &r, MODE_OFFLINE, err, sizeof(err)), -1);
}
END_TEST

UNIT_TEST(test_names)
{
    char buf[128];
    authz_right r;
    int i;

    for (i = 0; i < AUTHZ__COUNT; i++) {
        ck_assert_int_eq(authz_right_from_name(authz_right_name((authz_right)i), &r), 0);
        ck_assert_int_eq(r, i);
    }
    ck_assert_int_eq(authz_right_from_name("Force", &r), -1);
    ck_assert_int_eq(authz_right_from_name("", &r), -1);
    ck_assert_int_eq(authz_right_from_name(NULL, &r), -1);
    ck_assert_ptr_null(authz_right_name(AUTHZ__COUNT));
    ck_assert_str_eq(authz_right_names(", ", buf, sizeof(buf)),
                     "migrate, force, evacuate, cleanup, dry_run");
}
END_TEST

int main(void)
{
    return unit_main("authz");
}
