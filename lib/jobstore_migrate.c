/* jobstore_migrate: the schema, applied from migrations/NNNN_*.sql once each, in order. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int sql_file_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 8 && d->d_name[0] >= '0' && d->d_name[0] <= '9' &&
           strcmp(d->d_name + n - 4, ".sql") == 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else if (buf) {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

int jobstore_migrate(jobstore *js, const char *dir, int *applied, char *errstr, size_t errstr_size)
{
    struct dirent **names = NULL;
    int n = -1, i, rc = -JOBSTORE_EDB, count = 0;
    char lock[32];
    const char *lp[1] = {lock};

    snprintf(lock, sizeof(lock), "%d", LOCK_MIGRATE);
    if (jobstore_cmd(js, "create schema_migrations",
                     "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                     "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                     0, NULL, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    n = scandir(dir, &names, sql_file_filter, alphasort);
    if (n < 0) {
        util_errf(errstr, errstr_size, "cannot read migrations directory %s: %s", dir,
                  strerror(errno));
        return -JOBSTORE_EINVALID;
    }
    for (i = 0; i < n; i++) {
        char path[4096], version[16];
        const char *p[2] = {version, names[i]->d_name};
        PGresult *res;
        char *sql;
        int done;

        snprintf(version, sizeof(version), "%d", atoi(names[i]->d_name));
        if (jobstore_begin(js, errstr, errstr_size) < 0)
            goto out;
        res = jobstore_run(js, "migration lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lp,
                           PGRES_TUPLES_OK, NULL, errstr, errstr_size);
        if (res == NULL)
            goto fail;
        PQclear(res);
        res = jobstore_run(js, "read schema_migrations",
                           "SELECT 1 FROM schema_migrations WHERE version = $1::integer", 1, p,
                           PGRES_TUPLES_OK, NULL, errstr, errstr_size);
        if (res == NULL)
            goto fail;
        done = PQntuples(res) > 0;
        PQclear(res);
        if (done) {
            jobstore_rollback(js);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        sql = read_file(path);
        if (sql == NULL) {
            util_errf(errstr, errstr_size, "cannot read migration %s: %s", path, strerror(errno));
            goto fail;
        }
        /* Migration files are ours and hold several statements: PQexec, no parameters. */
        res = PQexec(js->conn, sql);
        free(sql);
        if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
            char what[300];
            snprintf(what, sizeof(what), "migration %s", names[i]->d_name);
            jobstore_db_error(js, what, res, errstr, errstr_size);
            PQclear(res);
            goto fail;
        }
        PQclear(res);
        if (jobstore_cmd(js, "record migration",
                         "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)",
                         2, p, errstr, errstr_size) < 0)
            goto fail;
        if (jobstore_commit(js, errstr, errstr_size) < 0)
            goto out;
        count++;
    }
    rc = 0;
    goto out;
fail:
    jobstore_rollback(js);
out:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (applied)
        *applied = count;
    return rc;
}
