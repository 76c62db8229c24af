/* jobstore: the connection to PostgreSQL, the statement helpers every jobstore_*.c uses and the
 * one mapping of database failures to jobstore codes. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failure.h"
#include "utf8.h"
#include "util.h"

/* Fills errstr with "database: WHAT: " and the error of RES (its primary message and SQLSTATE)
 * or, without one, of the connection. */
static void db_error(jobstore *js, const char *what, PGresult *res, char *errstr,
                     size_t errstr_size)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(js->conn);
    char clean[512];
    size_t n;

    if (primary && *primary) {
        util_errf(errstr, errstr_size, "database: %s: %s (SQLSTATE %s)", what, primary,
                  state ? state : "?");
        return;
    }
    if (res && (msg == NULL || *msg == '\0')) {
        util_errf(errstr, errstr_size, "database: %s: unexpected result %s", what,
                  PQresStatus(PQresultStatus(res)));
        return;
    }
    util_strlcpy(clean, msg && *msg ? msg : "unknown error", sizeof(clean));
    n = strlen(clean);
    while (n > 0 && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
        clean[--n] = '\0';
    util_errf(errstr, errstr_size, "database: %s: %s", what, clean);
}

/* The code of a failed statement (RES may be NULL), by failure_of_sqlstate; remembers the
 * SQLSTATE in js->sqlstate. A result of another kind than expected is our own mistake:
 * permanent. */
static int failure_code(jobstore *js, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    util_strlcpy(js->sqlstate, state ? state : "", sizeof(js->sqlstate));
    if (st != PGRES_FATAL_ERROR && st != PGRES_BAD_RESPONSE && st != PGRES_NONFATAL_ERROR)
        return -JOBSTORE_EDATA;
    return failure_of_sqlstate(state) == FAILURE_TRANSIENT ? -JOBSTORE_EDB : -JOBSTORE_EDATA;
}

/* Statements this process sent and transactions it ended, over all its connections: the work
 * kvmove asks of the database (jobstore_counters). */
static atomic_ulong n_statements, n_transactions;

/* Counts SQL about to be sent on JS: a statement, and a transaction when it is COMMIT or
 * ROLLBACK or runs outside a transaction on its own. */
static void count(jobstore *js, const char *sql)
{
    atomic_fetch_add(&n_statements, 1);
    if (strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0 ||
        (PQtransactionStatus(js->conn) == PQTRANS_IDLE && strcmp(sql, "BEGIN") != 0))
        atomic_fetch_add(&n_transactions, 1);
}

void jobstore_counters(unsigned long *statements, unsigned long *transactions)
{
    if (statements)
        *statements = atomic_load(&n_statements);
    if (transactions)
        *transactions = atomic_load(&n_transactions);
}

/* Ends a statement: 0 and *OUT (or cleared) when RES has status EXPECT, else its code. */
static int settle(jobstore *js, const char *what, PGresult *res, ExecStatusType expect,
                  PGresult **out, char *errstr, size_t errstr_size)
{
    int rc;

    if (out)
        *out = NULL;
    if (res != NULL && PQresultStatus(res) == expect) {
        js->sqlstate[0] = '\0';
        if (out)
            *out = res;
        else
            PQclear(res);
        return 0;
    }
    rc = failure_code(js, res);
    db_error(js, what, res, errstr, errstr_size);
    PQclear(res);
    return rc;
}

int jobstore_run(jobstore *js, const char *what, const char *sql, int n, const char *const *params,
                 ExecStatusType expect, PGresult **out, char *errstr, size_t errstr_size)
{
    count(js, sql);
    return settle(js, what, PQexecParams(js->conn, sql, n, NULL, params, NULL, NULL, 0), expect,
                  out, errstr, errstr_size);
}

int jobstore_cmd(jobstore *js, const char *what, const char *sql, int n, const char *const *params,
                 int *rows, char *errstr, size_t errstr_size)
{
    PGresult *res;
    int rc = jobstore_run(js, what, sql, n, params, PGRES_COMMAND_OK, &res, errstr, errstr_size);

    if (rc < 0)
        return rc;
    if (rows)
        *rows = atoi(PQcmdTuples(res));
    PQclear(res);
    return 0;
}

int jobstore_value(jobstore *js, const char *what, const char *sql, int n,
                   const char *const *params, long *value, char *errstr, size_t errstr_size)
{
    PGresult *res;
    int rc = jobstore_run(js, what, sql, n, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);

    if (rc < 0)
        return rc;
    if (PQntuples(res) != 1 || PQnfields(res) < 1) {
        util_errf(errstr, errstr_size, "database: %s: %d rows, expected one", what, PQntuples(res));
        PQclear(res);
        return -JOBSTORE_EDATA;
    }
    *value = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

int jobstore_row(jobstore *js, const char *what, const char *sql, int n, const char *const *params,
                 PGresult **out, char *errstr, size_t errstr_size)
{
    int rc = jobstore_run(js, what, sql, n, params, PGRES_TUPLES_OK, out, errstr, errstr_size);

    if (rc < 0)
        return rc;
    if (PQntuples(*out) > 0)
        return 1;
    PQclear(*out);
    *out = NULL;
    return 0;
}

int jobstore_id_array(size_t n, const char *(*id)(const void *ctx, size_t i), const void *ctx,
                      char **out, char *errstr, size_t errstr_size)
{
    size_t i, len = 0, size = 3;
    char *a;

    for (i = 0; i < n; i++)
        size += strlen(id(ctx, i)) + 1;
    if ((*out = a = malloc(size)) == NULL) {
        util_errf(errstr, errstr_size, "database: id list: out of memory");
        return -JOBSTORE_EDB;
    }
    a[len++] = '{';
    for (i = 0; i < n; i++) {
        const char *v = id(ctx, i);
        if (*v == '\0' || strspn(v, "0123456789abcdefABCDEF-") != strlen(v))
            continue;
        len += (size_t)sprintf(a + len, "%s%s", len > 1 ? "," : "", v);
    }
    a[len++] = '}';
    a[len] = '\0';
    return 0;
}

int jobstore_text_array(size_t n, const char *(*text)(const void *ctx, size_t i), const void *ctx,
                        char **out, char *errstr, size_t errstr_size)
{
    size_t i, len = 0, size = 3;
    const char *s;
    char *a;

    for (i = 0; i < n; i++)
        size += 2 * strlen(text(ctx, i)) + 3;
    if ((*out = a = malloc(size)) == NULL) {
        util_errf(errstr, errstr_size, "database: text list: out of memory");
        return -JOBSTORE_EDB;
    }
    a[len++] = '{';
    for (i = 0; i < n; i++) {
        if (i > 0)
            a[len++] = ',';
        a[len++] = '"';
        for (s = text(ctx, i); *s; s++) {
            if (*s == '"' || *s == '\\')
                a[len++] = '\\';
            a[len++] = *s;
        }
        a[len++] = '"';
    }
    a[len++] = '}';
    a[len] = '\0';
    return 0;
}

int jobstore_script(jobstore *js, const char *what, const char *sql, char *errstr,
                    size_t errstr_size)
{
    /* Our own files with several statements: PQexec, no parameters. */
    count(js, sql);
    return settle(js, what, PQexec(js->conn, sql), PGRES_COMMAND_OK, NULL, errstr, errstr_size);
}

int jobstore_begin(jobstore *js, char *errstr, size_t errstr_size)
{
    return jobstore_cmd(js, "begin", "BEGIN", 0, NULL, NULL, errstr, errstr_size);
}

int jobstore_lock(jobstore *js, int key, char *errstr, size_t errstr_size)
{
    char k[32];
    const char *p[1] = {k};

    snprintf(k, sizeof(k), "%d", key);
    return jobstore_run(js, "advisory lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, p,
                        PGRES_TUPLES_OK, NULL, errstr, errstr_size);
}

int jobstore_commit(jobstore *js, char *errstr, size_t errstr_size)
{
    return jobstore_cmd(js, "commit", "COMMIT", 0, NULL, NULL, errstr, errstr_size);
}

void jobstore_rollback(jobstore *js)
{
    PGresult *res;

    count(js, "ROLLBACK");
    res = PQexec(js->conn, "ROLLBACK");
    PQclear(res);
}

int jobstore_end(jobstore *js, int rc, char *errstr, size_t errstr_size)
{
    if (rc < 0) {
        jobstore_rollback(js);
        return rc;
    }
    return jobstore_commit(js, errstr, errstr_size);
}

/* libpq's default notice processor prints what the server says beside a result (a WARNING, the
 * FATAL of a backend terminated while the connection was idle) on stderr, which would put raw
 * lines among the worker's JSON log lines. Library code does not print: a failure reaches the
 * caller through the next call's errstr. */
static void notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int jobstore_connect(const char *conninfo, jobstore **out, char *errstr, size_t errstr_size)
{
    jobstore *js = calloc(1, sizeof(*js));

    if (js == NULL || (js->conninfo = strdup(conninfo ? conninfo : "")) == NULL) {
        free(js);
        util_errf(errstr, errstr_size, "database: connect: out of memory");
        return -JOBSTORE_EDB;
    }
    js->conn = PQconnectdb(js->conninfo);
    if (js->conn != NULL)
        PQsetNoticeProcessor(js->conn, notice_ignore, NULL); /* kept across PQreset */
    if (PQstatus(js->conn) != CONNECTION_OK) {
        int refused =
            js->conn != NULL && failure_of_pgconnect(PQconnectionNeedsPassword(js->conn) ||
                                                         PQconnectionUsedPassword(js->conn),
                                                     PQerrorMessage(js->conn)) == FAILURE_PERMANENT;
        db_error(js, "connect", NULL, errstr, errstr_size);
        jobstore_close(js);
        return refused ? -JOBSTORE_EDATA : -JOBSTORE_EDB;
    }
    count(js, "SET");
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
        PGresult *res;
        count(js, "SELECT 1");
        res = PQexec(js->conn, "SELECT 1");
        int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        if (ok)
            return 0;
    }
    PQreset(js->conn);
    if (PQstatus(js->conn) != CONNECTION_OK) {
        db_error(js, "reconnect", NULL, errstr, errstr_size);
        return -JOBSTORE_EDB;
    }
    return jobstore_relisten(js, errstr, errstr_size);
}

int jobstore_json_query(jobstore *js, const char *what, const char *sql, int n,
                        const char *const *params, json_t **out, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    PGresult *res;
    json_t *v;
    int rc = jobstore_run(js, what, sql, n, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);

    if (rc < 0)
        return rc;
    v = json_loads(PQntuples(res) ? PQgetvalue(res, 0, 0) : "null", JSON_DECODE_ANY, &jerr);
    PQclear(res);
    if (v == NULL) {
        util_errf(errstr, errstr_size, "database: %s: invalid JSON: %s", what, jerr.text);
        return -JOBSTORE_EDATA;
    }
    *out = v;
    return 0;
}

/* ---- text kvmove does not control ---- */

int jobstore_text(const char *text, char **out, char *errstr, size_t errstr_size)
{
    if ((*out = jobstore_text_clean(text)) != NULL)
        return 0;
    util_errf(errstr, errstr_size, "database: cannot store a text: out of memory");
    return -JOBSTORE_EDB;
}

char *jobstore_text_clean(const char *text)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t len = strlen((const char *)s), i = 0, o = 0, cap;
    char note[96], *out;

    cap = len * 3 < JOBSTORE_TEXT_MAX ? len * 3 : JOBSTORE_TEXT_MAX;
    out = malloc(cap + sizeof(note));
    if (out == NULL)
        return NULL;
    while (i < len) {
        size_t n = utf8_decode(s + i, NULL);
        const char *piece = n ? (const char *)s + i : replacement;
        size_t pn = n ? n : 3;
        if (o + pn > cap)
            break;
        memcpy(out + o, piece, pn);
        o += pn;
        i += n ? n : 1;
    }
    out[o] = '\0';
    if (i < len) {
        snprintf(note, sizeof(note), "\n[kvmove: %zu more bytes not stored]", len - i);
        memcpy(out + o, note, strlen(note) + 1);
    }
    return out;
}
