/* unit_pg.h: a fresh database per unit suite through tests/unit/unit_pg.sh (test code). */
#ifndef KVMOVE_UNIT_PG_H
#define KVMOVE_UNIT_PG_H

#include <check.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobstore.h"

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

/* Makes suite SUITE's database: a fresh one, unit_SUITE_PID (its name into DBNAME), with
 * SRCDIR/migrations applied; its conninfo into CONNINFO. Returns 1 when it is ready, else 0 after
 * saying why on stderr (the suite's fixtures then fail each test). */
static __attribute__((unused)) int unit_pg_make(const char *srcdir, const char *suite, char *dbname,
                                                size_t dbname_size, char *conninfo,
                                                size_t conninfo_size)
{
    char err[512] = "", dir[PATH_MAX + 16];
    jobstore *j = NULL;
    int applied, ready;

    setenv("PGOPTIONS", "-c client_min_messages=warning", 1);
    snprintf(dbname, dbname_size, "unit_%s_%d", suite, (int)getpid());
    snprintf(dir, sizeof(dir), "%s/migrations", srcdir);
    ready = unit_pg_run(srcdir, "create", dbname, conninfo, conninfo_size) == 0 &&
            jobstore_connect(conninfo, &j, err, sizeof(err)) == 0 &&
            jobstore_migrate(j, dir, &applied, err, sizeof(err)) == 0;
    if (!ready)
        fprintf(stderr, "test_%s: no database: %s\n", suite, err);
    jobstore_close(j);
    return ready;
}

/* A test's own database (a checked fixture's): made fresh with the migrations applied, the
 * jobstore connected to it and a plain connection of the test's own to look at the rows. */
typedef struct unit_db {
    char srcdir[PATH_MAX], name[64], conninfo[1024];
    jobstore *js;
    PGconn *pg;
} unit_db;

static __attribute__((unused)) void unit_db_open(unit_db *d, const char *srcdir, const char *suite)
{
    char err[1024];

    snprintf(d->srcdir, sizeof(d->srcdir), "%s", srcdir);
    ck_assert(
        unit_pg_make(d->srcdir, suite, d->name, sizeof(d->name), d->conninfo, sizeof(d->conninfo)));
    ck_assert_msg(jobstore_connect(d->conninfo, &d->js, err, sizeof(err)) == 0, "%s", err);
    d->pg = PQconnectdb(d->conninfo);
    ck_assert_int_eq(PQstatus(d->pg), CONNECTION_OK);
}

static __attribute__((unused)) void unit_db_close(unit_db *d)
{
    PQfinish(d->pg);
    jobstore_close(d->js);
    unit_pg_run(d->srcdir, "drop", d->name, NULL, 0);
    memset(d, 0, sizeof(*d));
}

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

/* Waits (up to 10 s) until exactly one statement of the database of CONNINFO waits on a lock,
 * as another connection's statement that a test holds back; asserts it came to that. */
static __attribute__((unused)) void unit_pg_wait_lock_wait(const char *conninfo)
{
    char *n = NULL;
    int i;

    for (i = 0; i < 200; i++) {
        PGconn *look = PQconnectdb(conninfo);
        PGresult *r = PQexec(look, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                   "current_database() AND wait_event_type = 'Lock'");
        free(n);
        n = strdup(PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?");
        PQclear(r);
        PQfinish(look);
        if (strcmp(n, "1") == 0)
            break;
        usleep(50 * 1000);
    }
    ck_assert_str_eq(n, "1");
    free(n);
}

/* A jobstore_config_edit_fn: the newest document with CTX (a string) appended. */
static __attribute__((unused)) int unit_append_edit(void *ctx, const char *newest,
                                                    long newest_version, char **out, char *errstr,
                                                    size_t errstr_size)
{
    (void)newest_version;
    (void)errstr;
    (void)errstr_size;
    return asprintf(out, "%s%s", newest, (const char *)ctx) < 0 ? -JOBSTORE_EDB : 0;
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
