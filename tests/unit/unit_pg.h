/* unit_pg.h: a fresh database per unit suite through tests/unit/unit_pg.sh (test code). */
#ifndef KVMOVE_UNIT_PG_H
#define KVMOVE_UNIT_PG_H

#include <check.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs SRCDIR/tests/unit/unit_pg.sh VERB DBNAME ("create" or "drop"); for create, the new
 * database's conninfo goes to CONNINFO (SIZE bytes). Returns 0, or -1 when the script failed. */
static __attribute__((unused)) int unit_pg_run(const char *srcdir, const char *verb,
                                               const char *dbname, char *conninfo, size_t size)
{
    char cmd[4400];
    FILE *f;

    snprintf(cmd, sizeof(cmd), "'%s/tests/unit/unit_pg.sh' %s %s", srcdir, verb, dbname);
    f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    if (strcmp(verb, "create") == 0 && conninfo && fgets(conninfo, (int)size, f) != NULL)
        conninfo[strcspn(conninfo, "\n")] = '\0';
    return pclose(f) == 0 ? 0 : -1;
}

/* The tables a suite empties before each test (a TRUNCATE list; jobstore's adds systems). */
#define UNIT_PG_TABLES                                                                             \
    "jobs, job_steps, preflight_results, outbox, configs, host_cleanups, rejected_requests"

/* Runs FMT formatted with AP (test-made SQL only) on C; a result whose status is not EXPECT
 * fails the test. Returns the result (caller clears it). */
static __attribute__((unused)) PGresult *unit_pg_vrun(PGconn *c, ExecStatusType expect,
                                                      const char *fmt, va_list ap)
{
    char sql[4096];
    PGresult *r;

    vsnprintf(sql, sizeof(sql), fmt, ap);
    r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == expect, "%s: %s", sql, PQerrorMessage(c));
    return r;
}

/* Runs statement FMT on C (printf-formatted) that returns no rows. */
static __attribute__((unused, format(printf, 2, 3))) void unit_pg_exec(PGconn *c, const char *fmt,
                                                                       ...)
{
    va_list ap;

    va_start(ap, fmt);
    PQclear(unit_pg_vrun(c, PGRES_COMMAND_OK, fmt, ap));
    va_end(ap);
}

/* The single value of query FMT on C (printf-formatted), malloc'd: "" for no row, NULL_AS for
 * SQL NULL. */
static __attribute__((unused, format(printf, 3, 4))) char *
unit_pg_value(PGconn *c, const char *null_as, const char *fmt, ...)
{
    va_list ap;
    PGresult *r;
    char *v;

    va_start(ap, fmt);
    r = unit_pg_vrun(c, PGRES_TUPLES_OK, fmt, ap);
    va_end(ap);
    v = strdup(PQntuples(r) == 0 ? "" : PQgetisnull(r, 0, 0) ? null_as : PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* Asserts that GOT (a malloc'd value, freed here) is EXPECTED; WHAT names the query. */
#define unit_ck_value(got, expected, what)                                                         \
    do {                                                                                           \
        char *got_ = (got);                                                                        \
        ck_assert_msg(strcmp(got_, (expected)) == 0, "%s: got '%s', expected '%s'", (what), got_,  \
                      (expected));                                                                 \
        free(got_);                                                                                \
    } while (0)

#endif
