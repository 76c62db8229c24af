/* jobstore: the connection to PostgreSQL and the statement helpers every jobstore_*.c uses. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void jobstore_db_error(jobstore *js, const char *what, PGresult *res, char *errstr,
                       size_t errstr_size)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(js->conn);
    char clean[512];
    size_t n;

    util_strlcpy(clean, msg && *msg ? msg : "unknown error", sizeof(clean));
    n = strlen(clean);
    while (n > 0 && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
        clean[--n] = '\0';
    util_errf(errstr, errstr_size, "database: %s: %s", what, clean);
}

PGresult *jobstore_run(jobstore *js, const char *what, const char *sql, int n,
                       const char *const *params, ExecStatusType expect, char *sqlstate,
                       char *errstr, size_t errstr_size)
{
    PGresult *res = PQexecParams(js->conn, sql, n, NULL, params, NULL, NULL, 0);

    if (sqlstate)
        sqlstate[0] = '\0';
    if (res != NULL && PQresultStatus(res) == expect)
        return res;
    if (sqlstate && res && PQresultErrorField(res, PG_DIAG_SQLSTATE))
        util_strlcpy(sqlstate, PQresultErrorField(res, PG_DIAG_SQLSTATE), 6);
    jobstore_db_error(js, what, res, errstr, errstr_size);
    PQclear(res);
    return NULL;
}

int jobstore_cmd(jobstore *js, const char *what, const char *sql, int n, const char *const *params,
                 char *errstr, size_t errstr_size)
{
    PGresult *res =
        jobstore_run(js, what, sql, n, params, PGRES_COMMAND_OK, NULL, errstr, errstr_size);

    if (res == NULL)
        return -JOBSTORE_EDB;
    PQclear(res);
    return 0;
}

int jobstore_begin(jobstore *js, char *errstr, size_t errstr_size)
{
    return jobstore_cmd(js, "begin", "BEGIN", 0, NULL, errstr, errstr_size);
}

int jobstore_commit(jobstore *js, char *errstr, size_t errstr_size)
{
    return jobstore_cmd(js, "commit", "COMMIT", 0, NULL, errstr, errstr_size);
}

void jobstore_rollback(jobstore *js)
{
    PGresult *res = PQexec(js->conn, "ROLLBACK");
    PQclear(res);
}

int jobstore_connect(const char *conninfo, jobstore **out, char *errstr, size_t errstr_size)
{
    jobstore *js = calloc(1, sizeof(*js));

    if (js == NULL)
        return -JOBSTORE_EDB;
    js->conninfo = strdup(conninfo ? conninfo : "");
    js->conn = PQconnectdb(js->conninfo);
    if (PQstatus(js->conn) != CONNECTION_OK) {
        jobstore_db_error(js, "connect", NULL, errstr, errstr_size);
        jobstore_close(js);
        return -JOBSTORE_EDB;
    }
    PQclear(PQexec(js->conn, "SET application_name = 'kvmove'"));
    *out = js;
    return 0;
}

void jobstore_close(jobstore *js)
{
    if (js == NULL)
        return;
    PQfinish(js->conn);
    free(js->conninfo);
    free(js);
}

int jobstore_ensure(jobstore *js, char *errstr, size_t errstr_size)
{
    if (PQstatus(js->conn) == CONNECTION_OK) {
        PGresult *res = PQexec(js->conn, "SELECT 1");
        int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        if (ok)
            return 0;
    }
    PQreset(js->conn);
    if (PQstatus(js->conn) != CONNECTION_OK) {
        jobstore_db_error(js, "reconnect", NULL, errstr, errstr_size);
        return -JOBSTORE_EDB;
    }
    return 0;
}

int jobstore_json_column(PGresult *res, json_t **out, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *v = json_loads(PQntuples(res) ? PQgetvalue(res, 0, 0) : "null", 0, &jerr);

    PQclear(res);
    if (v == NULL) {
        util_errf(errstr, errstr_size, "database returned invalid JSON: %s", jerr.text);
        return -JOBSTORE_EDB;
    }
    *out = v;
    return 0;
}
