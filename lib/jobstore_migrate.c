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
    int n = -1, i, rc, count = 0;

    rc = jobstore_cmd(js, "create schema_migrations",
                      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                      "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                      0, NULL, NULL, errstr, errstr_size);
    if (rc < 0)
        return rc;
    n = scandir(dir, &names, sql_file_filter, alphasort);
    if (n < 0) {
        util_errf(errstr, errstr_size, "cannot read migrations directory %s: %s", dir,
                  strerror(errno));
        return -JOBSTORE_EINVALID;
    }
    for (i = 0; i < n && rc == 0; i++) {
        char path[4096], version[16], what[300];
        const char *p[2] = {version, names[i]->d_name};
        char *sql = NULL;
        long done = 0;

        snprintf(version, sizeof(version), "%d", atoi(names[i]->d_name));
        snprintf(what, sizeof(what), "migration %s", names[i]->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if ((rc = jobstore_begin(js, errstr, errstr_size)) < 0)
            break;
        if ((rc = jobstore_lock(js, LOCK_MIGRATE, errstr, errstr_size)) == 0)
            rc = jobstore_value(js, "read schema_migrations",
                                "SELECT count(*) FROM schema_migrations WHERE version = "
                                "$1::integer",
                                1, p, &done, errstr, errstr_size);
        if (rc == 0 && done) {
            jobstore_rollback(js);
            continue;
        }
        if (rc == 0 && (sql = read_file(path)) == NULL) {
            util_errf(errstr, errstr_size, "cannot read migration %s: %s", path, strerror(errno));
            rc = -JOBSTORE_EINVALID;
        }
        if (rc == 0)
            rc = jobstore_script(js, what, sql, errstr, errstr_size);
        free(sql);
        if (rc == 0)
            rc = jobstore_cmd(js, "record migration",
                              "INSERT INTO schema_migrations (version, name) VALUES "
                              "($1::integer, $2)",
                              2, p, NULL, errstr, errstr_size);
        if ((rc = jobstore_end(js, rc, errstr, errstr_size)) == 0)
            count++;
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (applied)
        *applied = count;
    return rc;
}
