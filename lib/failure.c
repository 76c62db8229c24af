/* failure: the one rule for whether a failure is worth a retry (database and host sessions). */
#include "failure.h"

#include <string.h>

#include "hostconn.h"

/* SQLSTATE classes (first two characters) and single states worth a retry. */
static const char *const transient_classes[] = {"08", "53", "58"};
static const char *const transient_states[] = {"57P01", "57P02", "57P03",
                                               "40001", "40P01", "55P03"};

failure_class failure_of_sqlstate(const char *sqlstate)
{
    size_t i;

    if (sqlstate == NULL || sqlstate[0] == '\0')
        return FAILURE_TRANSIENT;
    for (i = 0; i < sizeof(transient_classes) / sizeof(transient_classes[0]); i++)
        if (strncmp(sqlstate, transient_classes[i], 2) == 0)
            return FAILURE_TRANSIENT;
    for (i = 0; i < sizeof(transient_states) / sizeof(transient_states[0]); i++)
        if (strcmp(sqlstate, transient_states[i]) == 0)
            return FAILURE_TRANSIENT;
    return FAILURE_PERMANENT;
}

/* What libpq reports when the server refused the client itself (not a broken connection). */
static const char *const refused_connects[] = {
    "password authentication failed", "authentication failed",
    "no pg_hba.conf entry",           "does not exist", /* role "x" / database "x" */
    "no password supplied",
};

failure_class failure_of_pgconnect(int auth_failed, const char *message)
{
    size_t i;

    if (auth_failed)
        return FAILURE_PERMANENT;
    for (i = 0; message && i < sizeof(refused_connects) / sizeof(refused_connects[0]); i++)
        if (strstr(message, refused_connects[i]) != NULL)
            return FAILURE_PERMANENT;
    return FAILURE_TRANSIENT;
}

failure_class failure_of_hostconn(int rc)
{
    switch (rc) {
    case -HOSTCONN_EUNREACHABLE:
    case -HOSTCONN_ETIMEOUT:
    case -HOSTCONN_EIO:
        return FAILURE_TRANSIENT;
    default:
        return FAILURE_PERMANENT;
    }
}

const char *failure_class_to_string(failure_class c)
{
    return c == FAILURE_TRANSIENT ? "transient" : "permanent";
}
