/* test_failure: the retry classification of database and host-session failures. */
#include <check.h>
#include <stdlib.h>

#include "failure.h"
#include "hostconn.h"
#include "unit_run.h"

static const struct {
    const char *sqlstate;
    failure_class expected;
} sql_cases[] = {
    {NULL, FAILURE_TRANSIENT},    /* no answer: connection gone */
    {"", FAILURE_TRANSIENT},      /* same */
    {"08006", FAILURE_TRANSIENT}, /* connection_failure */
    {"08001", FAILURE_TRANSIENT}, /* sqlclient_unable_to_establish_sqlconnection */
    {"57P01", FAILURE_TRANSIENT}, /* admin_shutdown (server restart) */
    {"57P02", FAILURE_TRANSIENT}, /* crash_shutdown */
    {"57P03", FAILURE_TRANSIENT}, /* cannot_connect_now (starting up) */
    {"53300", FAILURE_TRANSIENT}, /* too_many_connections */
    {"40001", FAILURE_TRANSIENT}, /* serialization_failure */
    {"40P01", FAILURE_TRANSIENT}, /* deadlock_detected */
    {"55P03", FAILURE_TRANSIENT}, /* lock_not_available */
    {"58030", FAILURE_TRANSIENT}, /* io_error */
    {"22021", FAILURE_PERMANENT}, /* character_not_in_repertoire (invalid UTF-8) */
    {"22P02", FAILURE_PERMANENT}, /* invalid_text_representation */
    {"23505", FAILURE_PERMANENT}, /* unique_violation */
    {"23514", FAILURE_PERMANENT}, /* check_violation */
    {"42P01", FAILURE_PERMANENT}, /* undefined_table */
    {"42501", FAILURE_PERMANENT}, /* insufficient_privilege */
    {"57014", FAILURE_PERMANENT}, /* query_canceled (statement timeout): the same query again */
    {"XX000", FAILURE_PERMANENT}, /* internal_error */
};

UNIT_LOOP(test_sqlstate_classes, sql_cases)
{
    ck_assert_msg(failure_of_sqlstate(sql_cases[_i].sqlstate) == sql_cases[_i].expected,
                  "sqlstate %s: expected %s",
                  sql_cases[_i].sqlstate ? sql_cases[_i].sqlstate : "NULL",
                  failure_class_to_string(sql_cases[_i].expected));
}
END_TEST

static const struct {
    int rc;
    failure_class expected;
} ssh_cases[] = {
    {-HOSTCONN_EUNREACHABLE, FAILURE_TRANSIENT},
    {-HOSTCONN_ETIMEOUT, FAILURE_TRANSIENT},
    {-HOSTCONN_EIO, FAILURE_TRANSIENT},
    {-HOSTCONN_EHOSTKEY, FAILURE_PERMANENT},
    {-HOSTCONN_EAUTH, FAILURE_PERMANENT},
    {-99, FAILURE_PERMANENT},
    {0, FAILURE_PERMANENT},
};

UNIT_LOOP(test_hostconn_classes, ssh_cases)
{
    ck_assert_msg(failure_of_hostconn(ssh_cases[_i].rc) == ssh_cases[_i].expected,
                  "hostconn rc %d: expected %s", ssh_cases[_i].rc,
                  failure_class_to_string(ssh_cases[_i].expected));
}
END_TEST

/* Failed connections as libpq reports them (PQerrorMessage), and whether libpq's password
 * handling failed. */
static const struct {
    int auth_failed;
    const char *message;
    failure_class expected;
} connect_cases[] = {
    {1,
     "connection to server on socket \"/run/x/.s.PGSQL.5432\" failed: FATAL:  password "
     "authentication failed for user \"kvmove\"\n",
     FAILURE_PERMANENT},
    {0,
     "connection to server at \"db\" (10.0.0.1), port 5432 failed: FATAL:  database "
     "\"kvmov\" does not exist\n",
     FAILURE_PERMANENT},
    {0,
     "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  role \"bob\" "
     "does not exist\n",
     FAILURE_PERMANENT},
    {0,
     "connection to server at \"db\", port 5432 failed: FATAL:  no pg_hba.conf entry for "
     "host \"10.0.0.2\", user \"kvmove\", database \"kvmove\", no encryption\n",
     FAILURE_PERMANENT},
    {0, "connection to server at \"db\", port 5432 failed: fe_sendauth: no password supplied\n",
     FAILURE_PERMANENT},
    {0,
     "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: No such file or "
     "directory\n\tIs the server running locally and accepting connections on that socket?\n",
     FAILURE_TRANSIENT},
    {0, "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\n",
     FAILURE_TRANSIENT},
    {0,
     "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  the database "
     "system is starting up\n",
     FAILURE_TRANSIENT},
    {0,
     "connection to server at \"db\", port 5432 failed: FATAL:  sorry, too many clients "
     "already\n",
     FAILURE_TRANSIENT},
    {0, NULL, FAILURE_TRANSIENT},
};

UNIT_LOOP(test_pgconnect_classes, connect_cases)
{
    ck_assert_msg(failure_of_pgconnect(connect_cases[_i].auth_failed, connect_cases[_i].message) ==
                      connect_cases[_i].expected,
                  "connect failure '%s' (auth %d): expected %s",
                  connect_cases[_i].message ? connect_cases[_i].message : "NULL",
                  connect_cases[_i].auth_failed,
                  failure_class_to_string(connect_cases[_i].expected));
}
END_TEST

UNIT_TEST(test_names)
{
    ck_assert_str_eq(failure_class_to_string(FAILURE_TRANSIENT), "transient");
    ck_assert_str_eq(failure_class_to_string(FAILURE_PERMANENT), "permanent");
}
END_TEST

int main(void)
{
    return unit_main("failure");
}
