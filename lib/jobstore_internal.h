/* jobstore_internal: what the jobstore_*.c files share; not for use outside them. */
#ifndef KVMOVE_JOBSTORE_INTERNAL_H
#define KVMOVE_JOBSTORE_INTERNAL_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "jobstore.h"

struct jobstore {
    PGconn *conn;
    char *conninfo;
};

/* Advisory lock keys (arbitrary, fixed). */
#define LOCK_MIGRATE 0x6b766d01
#define LOCK_OUTBOX 0x6b766d02
#define LOCK_CLAIM 0x6b766d03

/* Fills errstr with "database: WHAT: " and the error of RES (or of the connection when RES is
 * NULL). */
void jobstore_db_error(jobstore *js, const char *what, PGresult *res, char *errstr,
                       size_t errstr_size);
/* Runs SQL with text parameters. Returns the result when its status is EXPECT, else NULL with
 * errstr filled; SQLSTATE (6 bytes) gets the error's state when not NULL. */
PGresult *jobstore_run(jobstore *js, const char *what, const char *sql, int n,
                       const char *const *params, ExecStatusType expect, char *sqlstate,
                       char *errstr, size_t errstr_size);
/* As jobstore_run for a statement without rows. Returns 0 or -JOBSTORE_EDB. */
int jobstore_cmd(jobstore *js, const char *what, const char *sql, int n, const char *const *params,
                 char *errstr, size_t errstr_size);
int jobstore_begin(jobstore *js, char *errstr, size_t errstr_size);
int jobstore_commit(jobstore *js, char *errstr, size_t errstr_size);
void jobstore_rollback(jobstore *js);
/* Turns a result whose single column is a JSON text into a jansson value (clears RES). */
int jobstore_json_column(PGresult *res, json_t **out, char *errstr, size_t errstr_size);

/* Writes one event into the outbox inside the caller's transaction. DATA is stolen
 * (jobstore_outbox.c). */
int jobstore_outbox_add(jobstore *js, const char *job_id, const char *guest, const char *type,
                        const char *source, json_t *data, char *errstr, size_t errstr_size);
/* Inside a transaction: locks the job row and checks OWNER holds its lease (jobstore_lease.c). */
int jobstore_lease_check(jobstore *js, const job *j, const char *owner, char *errstr,
                         size_t errstr_size);

#endif
