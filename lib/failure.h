/* failure: the one rule for whether a failure is worth a retry (database and host sessions). */
#ifndef KVMOVE_FAILURE_H
#define KVMOVE_FAILURE_H

/* What a retry can do about a failure. */
typedef enum {
    FAILURE_TRANSIENT, /* the cause may go away by itself: wait and try again */
    FAILURE_PERMANENT, /* the same call fails the same way every time: stop and report */
} failure_class;

/* Classifies a PostgreSQL error by its SQLSTATE (five characters). NULL or "" means no server
 * answer at all (the connection broke, the server went away): transient. Connection exceptions
 * (class 08), operator intervention/shutdowns (57P01-57P03), insufficient resources (class 53),
 * serialization failures and deadlocks (40001, 40P01), lock timeouts (55P03) and
 * system errors (class 58) are transient; data, integrity, syntax and everything else
 * permanent. */
failure_class failure_of_sqlstate(const char *sqlstate);

/* Classifies a failed connection to PostgreSQL. libpq gives no SQLSTATE for it, so the server's
 * refusals are known by what libpq says: AUTH_FAILED (libpq needed a password it did not have,
 * or the one it sent was refused), or a MESSAGE (libpq's, NULL = none) saying the role or
 * database does not exist, that no pg_hba.conf entry admits the client, or that authentication
 * failed. Those are permanent (an operator must fix the settings or the server); everything
 * else (refused, reset, timed out, the server starting or shutting down) is transient. The
 * server's texts are matched in English (the lc_messages kvmove's servers run with). */
failure_class failure_of_pgconnect(int auth_failed, const char *message);

/* Classifies a negative hostconn code (-HOSTCONN_E*): unreachable host, command timeout and a
 * broken session are transient; an unknown or changed host key and refused authentication are
 * permanent (a retry cannot fix them; an operator must). Any other value is permanent. */
failure_class failure_of_hostconn(int rc);

/* Returns "transient" or "permanent"; a static string. */
const char *failure_class_to_string(failure_class c);

#endif
