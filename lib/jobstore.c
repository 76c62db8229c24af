/* jobstore: all job, step, preflight, outbox and es.xml state in PostgreSQL (libpq). */
#include "jobstore.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "event.h"
#include "util.h"

struct jobstore {
    PGconn *conn;
    char *conninfo;
};

/* Advisory lock keys (arbitrary, fixed). */
#define LOCK_MIGRATE 0x6b766d01
#define LOCK_OUTBOX 0x6b766d02
#define LOCK_CLAIM 0x6b766d03

static void set_db_error(jobstore *js, const char *what, PGresult *res, char *errstr,
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

/* Runs SQL with text parameters. Returns the result when its status is EXPECT, else NULL with
 * errstr filled; SQLSTATE (6 bytes) gets the error's state when not NULL. */
static PGresult *run(jobstore *js, const char *what, const char *sql, int n,
                     const char *const *params, ExecStatusType expect, char *sqlstate, char *errstr,
                     size_t errstr_size)
{
    PGresult *res = PQexecParams(js->conn, sql, n, NULL, params, NULL, NULL, 0);

    if (sqlstate)
        sqlstate[0] = '\0';
    if (res != NULL && PQresultStatus(res) == expect)
        return res;
    if (sqlstate && res && PQresultErrorField(res, PG_DIAG_SQLSTATE))
        util_strlcpy(sqlstate, PQresultErrorField(res, PG_DIAG_SQLSTATE), 6);
    set_db_error(js, what, res, errstr, errstr_size);
    PQclear(res);
    return NULL;
}

static int cmd(jobstore *js, const char *what, const char *sql, int n, const char *const *params,
               char *errstr, size_t errstr_size)
{
    PGresult *res = run(js, what, sql, n, params, PGRES_COMMAND_OK, NULL, errstr, errstr_size);

    if (res == NULL)
        return -JOBSTORE_EDB;
    PQclear(res);
    return 0;
}

static int begin(jobstore *js, char *errstr, size_t errstr_size)
{
    return cmd(js, "begin", "BEGIN", 0, NULL, errstr, errstr_size);
}

static int commit(jobstore *js, char *errstr, size_t errstr_size)
{
    return cmd(js, "commit", "COMMIT", 0, NULL, errstr, errstr_size);
}

static void rollback(jobstore *js)
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
        set_db_error(js, "connect", NULL, errstr, errstr_size);
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
        set_db_error(js, "reconnect", NULL, errstr, errstr_size);
        return -JOBSTORE_EDB;
    }
    return 0;
}

/* ---- migrations ---- */

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
    if (cmd(js, "create schema_migrations",
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
        if (begin(js, errstr, errstr_size) < 0)
            goto out;
        res = run(js, "migration lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lp,
                  PGRES_TUPLES_OK, NULL, errstr, errstr_size);
        if (res == NULL)
            goto fail;
        PQclear(res);
        res = run(js, "read schema_migrations",
                  "SELECT 1 FROM schema_migrations WHERE version = $1::integer", 1, p,
                  PGRES_TUPLES_OK, NULL, errstr, errstr_size);
        if (res == NULL)
            goto fail;
        done = PQntuples(res) > 0;
        PQclear(res);
        if (done) {
            rollback(js);
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
            set_db_error(js, what, res, errstr, errstr_size);
            PQclear(res);
            goto fail;
        }
        PQclear(res);
        if (cmd(js, "record migration",
                "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)", 2, p,
                errstr, errstr_size) < 0)
            goto fail;
        if (commit(js, errstr, errstr_size) < 0)
            goto out;
        count++;
    }
    rc = 0;
    goto out;
fail:
    rollback(js);
out:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (applied)
        *applied = count;
    return rc;
}

/* ---- es.xml versions ---- */

int jobstore_config_store(jobstore *js, const char *system_name, const char *state,
                          const char *document, const char *note, long *version, char *errstr,
                          size_t errstr_size)
{
    const char *p[4] = {system_name, state, document, note ? note : ""};
    PGresult *res = run(js, "store config",
                        "INSERT INTO configs (system_name, state, document, note) "
                        "VALUES ($1, $2, $3, $4) RETURNING version",
                        4, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);

    if (res == NULL)
        return -JOBSTORE_EDB;
    if (version)
        *version = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

int jobstore_config_get(jobstore *js, long version, char **doc, long *version_out, char *state,
                        char *errstr, size_t errstr_size)
{
    char v[32];
    const char *p[1] = {v};
    PGresult *res;

    snprintf(v, sizeof(v), "%ld", version);
    res = run(js, "read config",
              "SELECT version, state, document FROM configs WHERE $1::bigint = 0 OR version = "
              "$1::bigint ORDER BY version DESC LIMIT 1",
              1, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        return -JOBSTORE_EDB;
    if (PQntuples(res) == 0) {
        PQclear(res);
        if (version == 0)
            util_errf(errstr, errstr_size,
                      "no es.xml is stored (load one with 'kvmove config load FILE')");
        else
            util_errf(errstr, errstr_size,
                      "es.xml version %ld is not stored (see 'kvmove config list')", version);
        return -JOBSTORE_ENOTFOUND;
    }
    if (version_out)
        *version_out = atol(PQgetvalue(res, 0, 0));
    if (state)
        util_strlcpy(state, PQgetvalue(res, 0, 1), 32);
    if (doc)
        *doc = strdup(PQgetvalue(res, 0, 2));
    PQclear(res);
    return 0;
}

/* Turns a result whose single column is a JSON text into a jansson value. */
static int json_column(PGresult *res, json_t **out, char *errstr, size_t errstr_size)
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

int jobstore_config_list(jobstore *js, json_t **out, char *errstr, size_t errstr_size)
{
    PGresult *res = run(js, "list configs",
                        "SELECT coalesce(json_agg(json_build_object('version', version, "
                        "'system', system_name, 'state', state, 'note', note, 'created_at', "
                        "created_at) ORDER BY version), '[]') FROM configs",
                        0, NULL, PGRES_TUPLES_OK, NULL, errstr, errstr_size);

    if (res == NULL)
        return -JOBSTORE_EDB;
    return json_column(res, out, errstr, errstr_size);
}

/* ---- outbox ---- */

/* Writes one event into the outbox inside the caller's transaction. DATA is stolen. */
static int outbox_add(jobstore *js, const char *job_id, const char *guest, const char *type,
                      const char *source, json_t *data, char *errstr, size_t errstr_size)
{
    json_t *ev = event_build(type, source, job_id, guest, data);
    char *payload = NULL;
    const char *p[4];
    int rc = -JOBSTORE_EDB;

    if (ev == NULL || (payload = event_dump(ev)) == NULL) {
        util_errf(errstr, errstr_size, "cannot build %s event", type);
        goto out;
    }
    p[0] = json_string_value(json_object_get(ev, "id"));
    p[1] = (job_id && util_is_uuid(job_id)) ? job_id : NULL;
    p[2] = job_id;
    p[3] = payload;
    rc = cmd(js, "write outbox",
             "INSERT INTO outbox (event_id, job_id, topic, key, payload) "
             "VALUES ($1::uuid, $2::uuid, 'kvmove.events', $3, $4::jsonb)",
             4, p, errstr, errstr_size);
out:
    free(payload);
    json_decref(ev);
    return rc;
}

int jobstore_outbox_publish(jobstore *js, jobstore_send_fn send, void *ctx, int limit,
                            int *published, char *errstr, size_t errstr_size)
{
    char lock[32], lim[16], *ids = NULL;
    const char *lp[1] = {lock}, *limp[1] = {lim}, *up[1] = {NULL};
    PGresult *res = NULL;
    jobstore_event *ev = NULL;
    int i, n, sent = 0, got;
    size_t len;

    if (published)
        *published = 0;
    snprintf(lock, sizeof(lock), "%d", LOCK_OUTBOX);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    if (begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    res = run(js, "outbox lock", "SELECT pg_try_advisory_xact_lock($1::bigint)", 1, lp,
              PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        goto fail;
    got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    if (!got) { /* another worker is publishing right now */
        rollback(js);
        return 0;
    }
    res = run(js, "read outbox",
              "SELECT id, topic, coalesce(key, ''), payload::text FROM outbox "
              "WHERE published_at IS NULL ORDER BY id LIMIT $1::integer",
              1, limp, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        goto fail;
    n = PQntuples(res);
    if (n > 0) {
        ev = calloc((size_t)n, sizeof(*ev));
        if (ev == NULL)
            goto fail;
        for (i = 0; i < n; i++) {
            ev[i].topic = PQgetvalue(res, i, 1);
            ev[i].key = PQgetvalue(res, i, 2);
            ev[i].payload = PQgetvalue(res, i, 3);
        }
        /* One batch on the wire, then the delivered prefix is marked in one statement. */
        if (send(ctx, ev, (size_t)n) == 0)
            while (sent < n && ev[sent].delivered)
                sent++;
        if (sent > 0) {
            /* By id, not by range: an event committed late may carry a smaller id than one
             * sent here, and it has not been sent. */
            ids = malloc((size_t)sent * 22 + 3);
            if (ids == NULL)
                goto fail;
            len = 0;
            ids[len++] = '{';
            for (i = 0; i < sent; i++)
                len += (size_t)sprintf(ids + len, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
            ids[len++] = '}';
            ids[len] = '\0';
            up[0] = ids;
            if (cmd(js, "mark published",
                    "UPDATE outbox SET published_at = clock_timestamp() WHERE id = "
                    "ANY($1::bigint[])",
                    1, up, errstr, errstr_size) < 0)
                goto fail;
        }
    }
    free(ids);
    free(ev);
    PQclear(res);
    if (commit(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    if (published)
        *published = sent;
    return 0;
fail:
    free(ids);
    free(ev);
    PQclear(res);
    rollback(js);
    return -JOBSTORE_EDB;
}

int jobstore_outbox_backlog(jobstore *js, long *backlog, char *errstr, size_t errstr_size)
{
    PGresult *res =
        run(js, "outbox backlog", "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, NULL,
            PGRES_TUPLES_OK, NULL, errstr, errstr_size);

    if (res == NULL)
        return -JOBSTORE_EDB;
    *backlog = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/* ---- intake ---- */

static json_t *steps_json(const int included[STEP__COUNT])
{
    json_t *a = json_array();
    int s;

    for (s = 0; s < STEP__COUNT; s++)
        if (included[s])
            json_array_append_new(a, json_string(step_to_string((step_id)s)));
    return a;
}

/* Records a rejected request as a job row (so a redelivery stays a duplicate) plus its event. */
static int record_rejected(jobstore *js, const request *req, const char *guest, const char *reason,
                           const char *holder, const char *source, const char *reqjson,
                           char *errstr, size_t errstr_size)
{
    const char *p[9] = {req->request_id, req->action == ACTION_REPLAY ? "replay" : "migrate_guest",
                        guest,           mode_to_string(req->mode),
                        req->src_host,   req->tgt_host,
                        reason,          req->submitted_by,
                        reqjson};
    json_t *data;

    if (cmd(js, "record rejected job",
            "INSERT INTO jobs (id, request_id, action, guest, mode, src_host, tgt_host, status, "
            "error, submitted_by, request, finished_at) VALUES ($1::uuid, $1::uuid, $2, $3, $4, "
            "$5, $6, 'rejected', $7, $8, $9::jsonb, now())",
            9, p, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    data = json_pack("{s:s}", "message", reason);
    if (holder && *holder)
        json_object_set_new(data, "holder_job_id", json_string(holder));
    return outbox_add(js, req->request_id, guest, EVENT_JOB_REJECTED, source, data, errstr,
                      errstr_size);
}

int jobstore_reject_unparsed(jobstore *js, const char *request_id, const char *reason,
                             const char *source, char *errstr, size_t errstr_size)
{
    const char *p[2] = {request_id, reason};
    PGresult *res;
    int rc, first;

    if (request_id == NULL || !util_is_uuid(request_id))
        return 0;
    if (begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    /* One event per request id: a redelivered message is recorded already. */
    res = run(js, "record rejected request",
              "INSERT INTO rejected_requests (request_id, reason) VALUES ($1::uuid, $2) "
              "ON CONFLICT (request_id) DO NOTHING",
              2, p, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    if (res == NULL) {
        rollback(js);
        return -JOBSTORE_EDB;
    }
    first = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    rc = first ? outbox_add(js, request_id, "", EVENT_JOB_REJECTED, source,
                            json_pack("{s:s}", "message", reason), errstr, errstr_size)
               : 0;
    if (rc < 0) {
        rollback(js);
        return rc;
    }
    return commit(js, errstr, errstr_size);
}

/* Fills INCLUDED for a replay of the job ORIG (its steps read inside the transaction). */
static int replay_plan(jobstore *js, const request *req, const char *orig_status,
                       int included[STEP__COUNT], char *reason, size_t reason_size, char *errstr,
                       size_t errstr_size)
{
    const char *p[1] = {req->job_id};
    PGresult *res;
    int orig_inc[STEP__COUNT] = {0}, start = -1, i, s;
    step_state st[STEP__COUNT];

    res = run(js, "read replayed steps", "SELECT step, status FROM job_steps WHERE job_id = $1", 1,
              p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        return -JOBSTORE_EDB;
    for (i = 0; i < PQntuples(res); i++) {
        step_id id;
        step_state ss;
        if (step_from_string(PQgetvalue(res, i, 0), &id) == 0 &&
            step_state_from_string(PQgetvalue(res, i, 1), &ss) == 0) {
            orig_inc[id] = 1;
            st[id] = ss;
        }
    }
    PQclear(res);
    memset(included, 0, sizeof(int) * STEP__COUNT);
    if (req->has_step) {
        included[req->step] = 1;
        return 0;
    }
    if (req->has_from_step) {
        /* The spec's way: the named step and every step after it in the spec's order. */
        for (s = req->from_step; s < STEP__COUNT; s++)
            included[s] = 1;
        return 0;
    }
    /* Resume: every step of the earlier attempt that did not succeed (the plan may have run
     * them in another order than the spec's, so "after the failed step" is not enough). */
    for (s = 0; s < STEP__COUNT; s++) {
        included[s] = orig_inc[s] && st[s] != STEP_SUCCEEDED && st[s] != STEP_SKIPPED;
        if (included[s])
            start = s;
    }
    if (start < 0) {
        util_errf(reason, reason_size,
                  "job %s (%s) has no failed or unfinished step to resume; name one with "
                  "--step or --from-step",
                  req->job_id, orig_status);
        return 1;
    }
    return 0;
}

int jobstore_job_create(jobstore *js, const request *req, long memory_mb, int vcpus,
                        const char *source, jobstore_intake *result, char *errstr,
                        size_t errstr_size)
{
    char *reqjson = request_to_json(req);
    char guest[REQUEST_NAME_MAX], src[REQUEST_NAME_MAX], tgt[REQUEST_NAME_MAX];
    char mem[32], cpus[16], attempt[16] = "1", cfg[32], reason[600] = "";
    char sqlstate[6];
    int included[STEP__COUNT], s, rc = -JOBSTORE_EDB, tries;
    migrate_mode mode = req->mode;
    PGresult *res = NULL;
    const char *sequential = req->sequential ? "true" : "false";

    if (reqjson == NULL)
        return -JOBSTORE_EDB;
    for (tries = 0; tries < 3; tries++) {
        const char *idp[1] = {req->request_id};
        int dup, prc;
        char holder[REQUEST_UUID_LEN] = "";

        util_strlcpy(guest, req->guest, sizeof(guest));
        util_strlcpy(src, req->src_host, sizeof(src));
        util_strlcpy(tgt, req->tgt_host, sizeof(tgt));
        snprintf(mem, sizeof(mem), "%ld", memory_mb);
        snprintf(cpus, sizeof(cpus), "%d", vcpus);
        snprintf(cfg, sizeof(cfg), "%ld", req->config_version);
        reason[0] = '\0';
        if (begin(js, errstr, errstr_size) < 0)
            goto out;
        res = run(js, "find request", "SELECT 1 FROM jobs WHERE request_id = $1::uuid", 1, idp,
                  PGRES_TUPLES_OK, NULL, errstr, errstr_size);
        if (res == NULL)
            goto fail;
        dup = PQntuples(res) > 0;
        PQclear(res);
        res = NULL;
        if (dup) {
            rollback(js);
            *result = JOBSTORE_DUPLICATE;
            rc = 0;
            goto out;
        }
        if (req->action == ACTION_REPLAY) {
            const char *p[1] = {req->job_id};
            res = run(js, "find replayed job",
                      "SELECT guest, mode, src_host, tgt_host, attempt, status, memory_mb, "
                      "vcpus, coalesce(config_version, 0), sequential FROM jobs WHERE id = "
                      "$1::uuid",
                      1, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
            if (res == NULL)
                goto fail;
            if (PQntuples(res) == 0) {
                util_errf(reason, sizeof(reason), "job %s does not exist (see 'kvmove jobs')",
                          req->job_id);
            } else {
                const char *st = PQgetvalue(res, 0, 5);
                util_strlcpy(guest, PQgetvalue(res, 0, 0), sizeof(guest));
                mode_from_string(PQgetvalue(res, 0, 1), &mode);
                util_strlcpy(src, PQgetvalue(res, 0, 2), sizeof(src));
                util_strlcpy(tgt, PQgetvalue(res, 0, 3), sizeof(tgt));
                snprintf(attempt, sizeof(attempt), "%d", atoi(PQgetvalue(res, 0, 4)) + 1);
                snprintf(mem, sizeof(mem), "%s", PQgetvalue(res, 0, 6));
                snprintf(cpus, sizeof(cpus), "%s", PQgetvalue(res, 0, 7));
                if (req->config_version == 0)
                    snprintf(cfg, sizeof(cfg), "%s", PQgetvalue(res, 0, 8));
                if (!req->sequential)
                    sequential = PQgetvalue(res, 0, 9)[0] == 't' ? "true" : "false";
                if (strcmp(st, "queued") == 0 || strcmp(st, "running") == 0)
                    util_errf(reason, sizeof(reason),
                              "job %s is still %s; wait for it to end before replaying it",
                              req->job_id, st);
                else if (strcmp(st, "rejected") == 0)
                    util_errf(reason, sizeof(reason),
                              "job %s was rejected and never ran; submit a new request",
                              req->job_id);
                else {
                    prc = replay_plan(js, req, st, included, reason, sizeof(reason), errstr,
                                      errstr_size);
                    if (prc < 0)
                        goto fail;
                }
            }
            PQclear(res);
            res = NULL;
        } else {
            for (s = 0; s < STEP__COUNT; s++)
                included[s] = !req->has_step || req->step == (step_id)s;
        }
        if (reason[0] == '\0') {
            const char *p[1] = {guest};
            res = run(js, "find active job",
                      "SELECT id FROM jobs WHERE guest = $1 AND status IN ('queued', 'running')", 1,
                      p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
            if (res == NULL)
                goto fail;
            if (PQntuples(res) > 0) {
                util_strlcpy(holder, PQgetvalue(res, 0, 0), sizeof(holder));
                util_errf(reason, sizeof(reason),
                          "guest %s already has an active job %s; wait for it to end", guest,
                          holder);
            }
            PQclear(res);
            res = NULL;
        }
        if (reason[0] != '\0') {
            request r2 = *req;
            r2.mode = mode;
            util_strlcpy(r2.src_host, src, sizeof(r2.src_host));
            util_strlcpy(r2.tgt_host, tgt, sizeof(r2.tgt_host));
            if (record_rejected(js, &r2, guest, reason, holder, source, reqjson, errstr,
                                errstr_size) < 0)
                goto fail;
            if (commit(js, errstr, errstr_size) < 0)
                goto out;
            util_strlcpy(errstr, reason, errstr_size);
            *result = JOBSTORE_REJECTED;
            rc = 0;
            goto out;
        }
        {
            const char *p[16] = {req->request_id,
                                 req->action == ACTION_REPLAY ? req->job_id : NULL,
                                 attempt,
                                 req->action == ACTION_REPLAY ? "replay" : "migrate_guest",
                                 guest,
                                 mode_to_string(mode),
                                 src,
                                 tgt,
                                 req->has_step ? step_to_string(req->step) : NULL,
                                 req->has_from_step ? step_to_string(req->from_step) : NULL,
                                 strcmp(cfg, "0") == 0 ? NULL : cfg,
                                 mem,
                                 cpus,
                                 req->submitted_by,
                                 reqjson,
                                 sequential};
            res = run(js, "insert job",
                      "INSERT INTO jobs (id, request_id, replay_of, attempt, action, guest, mode, "
                      "src_host, tgt_host, only_step, from_step, config_version, memory_mb, "
                      "vcpus, status, submitted_by, request, sequential) VALUES ($1::uuid, "
                      "$1::uuid, $2::uuid, $3::integer, $4, $5, $6, $7, $8, $9, $10, "
                      "$11::bigint, $12::bigint, $13::integer, 'queued', $14, $15::jsonb, "
                      "$16::boolean)",
                      16, p, PGRES_COMMAND_OK, sqlstate, errstr, errstr_size);
            if (res == NULL) {
                rollback(js);
                if (strcmp(sqlstate, "23505") == 0)
                    continue; /* raced with another worker: look again */
                goto out;
            }
            PQclear(res);
            res = NULL;
        }
        for (s = 0; s < STEP__COUNT; s++) {
            char seq[8];
            const char *p[4] = {req->request_id, step_to_string((step_id)s), seq,
                                included[s] ? "pending" : NULL};
            if (!included[s])
                continue;
            snprintf(seq, sizeof(seq), "%d", s + 1);
            if (cmd(js, "insert step",
                    "INSERT INTO job_steps (job_id, step, seq, status) VALUES ($1::uuid, $2, "
                    "$3::integer, $4)",
                    4, p, errstr, errstr_size) < 0)
                goto fail;
        }
        {
            json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:o,s:i,s:s}", "guest", guest, "mode",
                                     mode_to_string(mode), "src_host", src, "tgt_host", tgt,
                                     "steps", steps_json(included), "attempt", atoi(attempt),
                                     "message", "migration request accepted");
            if (req->action == ACTION_REPLAY)
                json_object_set_new(data, "replay_of", json_string(req->job_id));
            if (outbox_add(js, req->request_id, guest, EVENT_JOB_ACCEPTED, source, data, errstr,
                           errstr_size) < 0)
                goto fail;
        }
        if (cmd(js, "notify", "NOTIFY kvmove_jobs", 0, NULL, errstr, errstr_size) < 0)
            goto fail;
        if (commit(js, errstr, errstr_size) < 0)
            goto out;
        *result = JOBSTORE_CREATED;
        rc = 0;
        goto out;
    }
    util_errf(errstr, errstr_size, "request %s: kept racing with other workers", req->request_id);
    goto out;
fail:
    PQclear(res);
    rollback(js);
out:
    free(reqjson);
    return rc;
}

/* ---- execution ---- */

/* Inside a transaction: locks the job row and checks OWNER holds its lease. */
static int lease_check(jobstore *js, const job *j, const char *owner, char *errstr,
                       size_t errstr_size)
{
    const char *p[2] = {j->id, owner};
    PGresult *res = run(js, "check lease",
                        "SELECT 1 FROM jobs WHERE id = $1::uuid AND lease_owner = $2 AND "
                        "status = 'running' FOR UPDATE",
                        2, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    int held;

    if (res == NULL)
        return -JOBSTORE_EDB;
    held = PQntuples(res) == 1;
    PQclear(res);
    if (!held) {
        util_errf(errstr, errstr_size, "job %s: lease lost by %s (another worker took it over)",
                  j->id, owner);
        return -JOBSTORE_ELEASE;
    }
    return 0;
}

int jobstore_job_claim(jobstore *js, const char *owner, int lease_s, int max_per_host, job *out,
                       char *errstr, size_t errstr_size)
{
    char ls[16], mp[16], lock[32];
    const char *p[3] = {owner, ls, mp}, *lp[1] = {lock};
    PGresult *res;
    int i;

    snprintf(ls, sizeof(ls), "%d", lease_s);
    snprintf(mp, sizeof(mp), "%d", max_per_host > 0 ? max_per_host : 1000000);
    snprintf(lock, sizeof(lock), "%d", LOCK_CLAIM);
    if (begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    /* One claim at a time, so that the per-host limit cannot be overshot by a race. */
    res = run(js, "claim lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lp, PGRES_TUPLES_OK,
              NULL, errstr, errstr_size);
    if (res == NULL) {
        rollback(js);
        return -JOBSTORE_EDB;
    }
    PQclear(res);
    res = run(js, "claim job",
              "WITH c AS (SELECT j.id, j.status AS prev FROM jobs j WHERE (j.status = 'queued' OR "
              "(j.status = 'running' AND j.lease_expires < now())) AND (SELECT count(*) FROM jobs "
              "r WHERE r.status = 'running' AND r.lease_expires >= now() AND r.id <> j.id AND "
              "j.src_host IN (r.src_host, r.tgt_host)) < $3::integer AND (SELECT count(*) FROM "
              "jobs r WHERE r.status = 'running' AND r.lease_expires >= now() AND r.id <> j.id "
              "AND j.tgt_host IN (r.src_host, r.tgt_host)) < $3::integer ORDER BY j.created_at "
              "LIMIT 1 FOR UPDATE OF j SKIP LOCKED) "
              "UPDATE jobs j SET status = 'running', lease_owner = $1, lease_expires = now() + "
              "make_interval(secs => $2::integer), started_at = coalesce(j.started_at, now()) "
              "FROM c WHERE j.id = c.id RETURNING j.id, coalesce(j.replay_of::text, ''), "
              "j.attempt, j.guest, j.src_host, j.tgt_host, j.mode, "
              "coalesce(j.config_version, 0), c.prev, j.sequential",
              3, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL) {
        rollback(js);
        return -JOBSTORE_EDB;
    }
    if (commit(js, errstr, errstr_size) < 0) {
        PQclear(res);
        return -JOBSTORE_EDB;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    util_strlcpy(out->id, PQgetvalue(res, 0, 0), sizeof(out->id));
    util_strlcpy(out->replay_of, PQgetvalue(res, 0, 1), sizeof(out->replay_of));
    out->attempt = atoi(PQgetvalue(res, 0, 2));
    util_strlcpy(out->guest, PQgetvalue(res, 0, 3), sizeof(out->guest));
    util_strlcpy(out->src_host, PQgetvalue(res, 0, 4), sizeof(out->src_host));
    util_strlcpy(out->tgt_host, PQgetvalue(res, 0, 5), sizeof(out->tgt_host));
    mode_from_string(PQgetvalue(res, 0, 6), &out->mode);
    out->config_version = atol(PQgetvalue(res, 0, 7));
    out->takeover = strcmp(PQgetvalue(res, 0, 8), "running") == 0;
    out->sequential = PQgetvalue(res, 0, 9)[0] == 't';
    PQclear(res);
    {
        const char *q[1] = {out->id};
        res = run(js, "read steps", "SELECT step, status FROM job_steps WHERE job_id = $1::uuid", 1,
                  q, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
        if (res == NULL)
            return -JOBSTORE_EDB;
        for (i = 0; i < PQntuples(res); i++) {
            step_id s;
            if (step_from_string(PQgetvalue(res, i, 0), &s) == 0) {
                out->included[s] = 1;
                step_state_from_string(PQgetvalue(res, i, 1), &out->state[s]);
            }
        }
        PQclear(res);
    }
    return 1;
}

int jobstore_lease_renew(jobstore *js, const char *owner, int lease_s, int *renewed, char *errstr,
                         size_t errstr_size)
{
    char ls[16];
    const char *p[2] = {owner, ls};
    PGresult *res;

    snprintf(ls, sizeof(ls), "%d", lease_s);
    res = run(js, "renew leases",
              "UPDATE jobs SET lease_expires = now() + make_interval(secs => $2::integer) "
              "WHERE lease_owner = $1 AND status = 'running'",
              2, p, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        return -JOBSTORE_EDB;
    if (renewed)
        *renewed = atoi(PQcmdTuples(res));
    PQclear(res);
    return 0;
}

int jobstore_lease_release(jobstore *js, const char *owner, char *errstr, size_t errstr_size)
{
    const char *p[1] = {owner};

    return cmd(js, "release leases",
               "UPDATE jobs SET lease_expires = now() - interval '1 second' "
               "WHERE lease_owner = $1 AND status = 'running'",
               1, p, errstr, errstr_size);
}

int jobstore_preflight_record(jobstore *js, const job *j, const char *owner, int seq,
                              const char *check_name, const char *status, const char *message,
                              char *errstr, size_t errstr_size)
{
    char sq[16];
    const char *p[5] = {j->id, check_name, sq, status, message};
    int rc;

    snprintf(sq, sizeof(sq), "%d", seq);
    if (begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    if ((rc = lease_check(js, j, owner, errstr, errstr_size)) < 0 ||
        (rc = cmd(js, "record preflight",
                  "INSERT INTO preflight_results (job_id, check_name, seq, status, message) "
                  "VALUES ($1::uuid, $2, $3::integer, $4, $5) ON CONFLICT (job_id, check_name) "
                  "DO UPDATE SET status = EXCLUDED.status, message = EXCLUDED.message, "
                  "checked_at = now()",
                  5, p, errstr, errstr_size)) < 0) {
        rollback(js);
        return rc;
    }
    return commit(js, errstr, errstr_size);
}

int jobstore_preflight_done(jobstore *js, const job *j, const char *owner, const char *source,
                            int passed, json_t *data, char *errstr, size_t errstr_size)
{
    int rc;

    if (data == NULL)
        data = json_object();
    if (begin(js, errstr, errstr_size) < 0) {
        json_decref(data);
        return -JOBSTORE_EDB;
    }
    if ((rc = lease_check(js, j, owner, errstr, errstr_size)) < 0) {
        json_decref(data);
        rollback(js);
        return rc;
    }
    rc = outbox_add(js, j->id, j->guest, passed ? EVENT_PREFLIGHT_PASSED : EVENT_PREFLIGHT_FAILED,
                    source, data, errstr, errstr_size);
    if (rc < 0) {
        rollback(js);
        return rc;
    }
    return commit(js, errstr, errstr_size);
}

int jobstore_step_begin(jobstore *js, const job *j, step_id step, const char *host,
                        const char *owner, const char *source, char *errstr, size_t errstr_size)
{
    const char *p[3] = {j->id, step_to_string(step), host};
    int rc;

    if (begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    if ((rc = lease_check(js, j, owner, errstr, errstr_size)) < 0 ||
        (rc = cmd(js, "begin step",
                  "UPDATE job_steps SET status = 'running', host = $3, attempts = attempts + 1, "
                  "started_at = now(), finished_at = NULL WHERE job_id = $1::uuid AND step = $2",
                  3, p, errstr, errstr_size)) < 0 ||
        (rc = outbox_add(js, j->id, j->guest, EVENT_STEP_STARTED, source,
                         json_pack("{s:s,s:s,s:s}", "step", step_to_string(step), "host", host,
                                   "message", "step started"),
                         errstr, errstr_size)) < 0) {
        rollback(js);
        return rc;
    }
    return commit(js, errstr, errstr_size);
}

static json_t *lines_json(const char *output)
{
    json_t *a = json_array();
    const char *p = output;

    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 0)
            json_array_append_new(a, json_stringn(p, n));
        p = nl ? nl + 1 : NULL;
    }
    return a;
}

int jobstore_step_end(jobstore *js, job *j, step_id step, const char *host, step_state state,
                      const char *message, const char *output, long elapsed_ms, const char *owner,
                      const char *source, char *errstr, size_t errstr_size)
{
    char el[32];
    const char *p[6] = {j->id,   step_to_string(step), step_state_to_string(state),
                        message, output ? output : "", el};
    const char *type = state == STEP_SUCCEEDED ? EVENT_STEP_COMPLETED
                       : state == STEP_SKIPPED ? EVENT_STEP_SKIPPED
                                               : EVENT_STEP_FAILED;
    int rc;

    snprintf(el, sizeof(el), "%ld", elapsed_ms);
    if (begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    if ((rc = lease_check(js, j, owner, errstr, errstr_size)) < 0 ||
        (rc = cmd(js, "end step",
                  "UPDATE job_steps SET status = $3, message = $4, output = output || $5, "
                  "finished_at = now(), elapsed_ms = $6::bigint WHERE job_id = $1::uuid AND "
                  "step = $2",
                  6, p, errstr, errstr_size)) < 0 ||
        (rc = outbox_add(js, j->id, j->guest, type, source,
                         json_pack("{s:s,s:s,s:s,s:I,s:o}", "step", step_to_string(step), "host",
                                   host, "message", message, "elapsed_ms", (json_int_t)elapsed_ms,
                                   "lines", lines_json(output)),
                         errstr, errstr_size)) < 0) {
        rollback(js);
        return rc;
    }
    if ((rc = commit(js, errstr, errstr_size)) == 0)
        j->state[step] = state;
    return rc;
}

int jobstore_job_finish(jobstore *js, const job *j, job_status status, const char *error,
                        long elapsed_ms, const char *deployed_doc, const char *system_name,
                        const char *owner, const char *source, char *errstr, size_t errstr_size)
{
    const char *p[3] = {j->id, job_status_to_string(status), error};
    int rc;
    json_t *data;

    if (begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    if ((rc = lease_check(js, j, owner, errstr, errstr_size)) < 0)
        goto fail;
    if ((rc = cmd(js, "finish job",
                  "UPDATE jobs SET status = $2, error = $3, finished_at = now(), lease_owner = "
                  "NULL, lease_expires = NULL WHERE id = $1::uuid",
                  3, p, errstr, errstr_size)) < 0)
        goto fail;
    if (deployed_doc) {
        const char *c[3] = {system_name ? system_name : "", deployed_doc, j->id};
        rc = cmd(js, "store deployed config",
                 "INSERT INTO configs (system_name, state, document, note) VALUES ($1, "
                 "'migration-deployed', $2, 'deployed by job ' || $3)",
                 3, c, errstr, errstr_size);
        if (rc < 0)
            goto fail;
    }
    data = json_pack("{s:s,s:s,s:s,s:s,s:I,s:i}", "guest", j->guest, "src_host", j->src_host,
                     "tgt_host", j->tgt_host, "message",
                     status == JOB_SUCCEEDED ? "migration completed" : (error ? error : "failed"),
                     "elapsed_ms", (json_int_t)elapsed_ms, "attempt", j->attempt);
    rc = outbox_add(js, j->id, j->guest,
                    status == JOB_SUCCEEDED ? EVENT_JOB_SUCCEEDED : EVENT_JOB_FAILED, source, data,
                    errstr, errstr_size);
    if (rc < 0)
        goto fail;
    return commit(js, errstr, errstr_size);
fail:
    rollback(js);
    return rc;
}

/* ---- pending source-side cleanups ---- */

int jobstore_cleanup_add(jobstore *js, const job *j, const char *host, const char *address,
                         const char *reason, const char *owner, const char *source, char *errstr,
                         size_t errstr_size)
{
    const char *p[5] = {j->id, host, address, j->guest, reason};
    PGresult *res;
    int rc, added;

    if (begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    if ((rc = lease_check(js, j, owner, errstr, errstr_size)) < 0)
        goto fail;
    res = run(js, "record cleanup",
              "INSERT INTO host_cleanups (job_id, host, address, guest, reason) VALUES "
              "($1::uuid, $2, $3, $4, $5) ON CONFLICT (host, guest, job_id) DO NOTHING",
              5, p, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    if (res == NULL) {
        rc = -JOBSTORE_EDB;
        goto fail;
    }
    added = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    if (added && (rc = outbox_add(js, j->id, j->guest, EVENT_CLEANUP_PENDING, source,
                                  json_pack("{s:s,s:s,s:s}", "host", host, "guest", j->guest,
                                            "message", reason),
                                  errstr, errstr_size)) < 0)
        goto fail;
    return commit(js, errstr, errstr_size);
fail:
    rollback(js);
    return rc;
}

int jobstore_cleanup_next(jobstore *js, const char *host, const char *guest, long after_id,
                          jobstore_cleanup *out, char *errstr, size_t errstr_size)
{
    char after[32];
    const char *p[3] = {host, guest, after};
    PGresult *res;

    snprintf(after, sizeof(after), "%ld", after_id);
    if (begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    res = run(js, "next cleanup",
              "SELECT c.id, c.job_id, c.host, c.address, c.guest, coalesce(j.config_version, 0), "
              "j.tgt_host "
              "FROM host_cleanups c JOIN jobs j ON j.id = c.job_id WHERE c.status = 'pending' "
              "AND ($1::text IS NULL OR c.host = $1) AND ($2::text IS NULL OR c.guest = $2) AND "
              "c.id > $3::bigint ORDER BY c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED",
              3, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL) {
        rollback(js);
        return -JOBSTORE_EDB;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        rollback(js);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->id = atol(PQgetvalue(res, 0, 0));
    util_strlcpy(out->job_id, PQgetvalue(res, 0, 1), sizeof(out->job_id));
    util_strlcpy(out->host, PQgetvalue(res, 0, 2), sizeof(out->host));
    util_strlcpy(out->address, PQgetvalue(res, 0, 3), sizeof(out->address));
    util_strlcpy(out->guest, PQgetvalue(res, 0, 4), sizeof(out->guest));
    out->config_version = atol(PQgetvalue(res, 0, 5));
    util_strlcpy(out->tgt_host, PQgetvalue(res, 0, 6), sizeof(out->tgt_host));
    PQclear(res);
    return 1; /* the transaction stays open until jobstore_cleanup_finish */
}

int jobstore_cleanup_finish(jobstore *js, const jobstore_cleanup *cl, int done, const char *output,
                            const char *error, const char *source, char *errstr, size_t errstr_size)
{
    char id[32];
    const char *p[3] = {id, output ? output : "", error ? error : ""};
    int rc;

    snprintf(id, sizeof(id), "%ld", cl->id);
    if (done) {
        rc = cmd(js, "finish cleanup",
                 "UPDATE host_cleanups SET status = 'done', done_at = now(), attempts = attempts "
                 "+ 1, output = $2, last_error = '' WHERE id = $1::bigint",
                 2, p, errstr, errstr_size);
        if (rc == 0)
            rc = outbox_add(js, cl->job_id, cl->guest, EVENT_CLEANUP_COMPLETED, source,
                            json_pack("{s:s,s:s,s:s}", "host", cl->host, "guest", cl->guest,
                                      "message", "stale copy removed from the source host"),
                            errstr, errstr_size);
    } else {
        const char *q[2] = {id, error ? error : ""};
        rc = cmd(js, "count cleanup attempt",
                 "UPDATE host_cleanups SET attempts = attempts + 1, last_error = $2 WHERE id = "
                 "$1::bigint",
                 2, q, errstr, errstr_size);
    }
    if (rc < 0) {
        rollback(js);
        return rc;
    }
    return commit(js, errstr, errstr_size);
}

int jobstore_cleanups_json(jobstore *js, const char *host, const char *guest, json_t **out,
                           char *errstr, size_t errstr_size)
{
    const char *p[2] = {host, guest};
    PGresult *res = run(js, "list cleanups",
                        "SELECT coalesce(json_agg(json_build_object('id', id, 'job_id', job_id, "
                        "'host', host, 'guest', guest, 'status', status, 'reason', reason, "
                        "'attempts', attempts, 'last_error', last_error, 'created_at', "
                        "created_at, 'done_at', done_at) ORDER BY id), '[]') FROM host_cleanups "
                        "WHERE ($1::text IS NULL OR host = $1) AND ($2::text IS NULL OR guest = "
                        "$2)",
                        2, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);

    if (res == NULL)
        return -JOBSTORE_EDB;
    return json_column(res, out, errstr, errstr_size);
}

/* ---- queries ---- */

int jobstore_job_get_json(jobstore *js, const char *job_id, json_t **out, char *errstr,
                          size_t errstr_size)
{
    const char *p[1] = {job_id};
    PGresult *res;
    int rc;

    if (!util_is_uuid(job_id)) {
        util_errf(errstr, errstr_size, "'%s' is not a job id (a UUID; see 'kvmove jobs')", job_id);
        return -JOBSTORE_ENOTFOUND;
    }
    res = run(js, "read job",
              "SELECT json_build_object('id', j.id, 'request_id', j.request_id, 'replay_of', "
              "j.replay_of, 'attempt', j.attempt, 'action', j.action, 'guest', j.guest, 'mode', "
              "j.mode, 'src_host', j.src_host, 'tgt_host', j.tgt_host, 'only_step', j.only_step, "
              "'from_step', j.from_step, 'config_version', j.config_version, 'sequential', "
              "j.sequential, 'status', j.status, "
              "'lease_owner', j.lease_owner, 'lease_expires', j.lease_expires, 'error', j.error, "
              "'submitted_by', j.submitted_by, 'created_at', j.created_at, 'started_at', "
              "j.started_at, 'finished_at', j.finished_at, "
              "'steps', (SELECT coalesce(json_agg(json_build_object('step', s.step, 'seq', "
              "s.seq, 'host', s.host, 'status', s.status, 'attempts', s.attempts, 'started_at', "
              "s.started_at, 'finished_at', s.finished_at, 'elapsed_ms', s.elapsed_ms, "
              "'message', s.message, 'output', s.output) ORDER BY s.seq), '[]') FROM job_steps "
              "s WHERE s.job_id = j.id), "
              "'preflight', (SELECT coalesce(json_agg(json_build_object('check', p.check_name, "
              "'status', p.status, 'message', p.message) ORDER BY p.seq), '[]') FROM "
              "preflight_results p WHERE p.job_id = j.id), "
              "'replays', (SELECT coalesce(json_agg(r.id ORDER BY r.created_at), '[]') FROM jobs "
              "r WHERE r.replay_of = j.id), "
              "'cleanups', (SELECT coalesce(json_agg(json_build_object('host', c.host, 'status', "
              "c.status, 'reason', c.reason, 'attempts', c.attempts, 'last_error', c.last_error, "
              "'done_at', c.done_at) ORDER BY c.id), '[]') FROM host_cleanups c WHERE c.job_id = "
              "j.id)) FROM jobs j WHERE j.id = $1::uuid",
              1, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        return -JOBSTORE_EDB;
    if (PQntuples(res) == 0) {
        PQclear(res);
        util_errf(errstr, errstr_size, "job %s does not exist (see 'kvmove jobs')", job_id);
        return -JOBSTORE_ENOTFOUND;
    }
    rc = json_column(res, out, errstr, errstr_size);
    return rc;
}

int jobstore_jobs_list_json(jobstore *js, const char *status, const char *guest, const char *since,
                            int limit, json_t **out, char *errstr, size_t errstr_size)
{
    char lim[16];
    const char *p[4] = {status, guest, since, lim};
    PGresult *res;

    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    res = run(js, "list jobs",
              "SELECT coalesce(json_agg(x ORDER BY x.created_at DESC), '[]') FROM (SELECT "
              "j.id, j.guest, j.mode, j.src_host, j.tgt_host, j.status, j.attempt, j.replay_of, "
              "j.only_step, j.error, j.created_at, j.finished_at, (SELECT s.step FROM job_steps "
              "s WHERE s.job_id = j.id AND s.status IN ('failed', 'running') ORDER BY s.seq "
              "LIMIT 1) AS current_step FROM jobs j WHERE ($1::text IS NULL OR j.status = $1) "
              "AND ($2::text IS NULL OR j.guest = $2) AND ($3::timestamptz IS NULL OR "
              "j.created_at >= $3::timestamptz) ORDER BY j.created_at DESC LIMIT $4::integer) x",
              4, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        return -JOBSTORE_EDB;
    return json_column(res, out, errstr, errstr_size);
}

int jobstore_reserved_on(jobstore *js, const char *host, const char *except_job, long *memory_mb,
                         int *vcpus, char *errstr, size_t errstr_size)
{
    const char *p[2] = {host, except_job};
    PGresult *res = run(js, "reserved capacity",
                        "SELECT coalesce(sum(memory_mb), 0), coalesce(sum(vcpus), 0) FROM jobs "
                        "WHERE tgt_host = $1 AND status IN ('queued', 'running') AND ($2::uuid "
                        "IS NULL OR id <> $2::uuid)",
                        2, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);

    if (res == NULL)
        return -JOBSTORE_EDB;
    *memory_mb = atol(PQgetvalue(res, 0, 0));
    *vcpus = atoi(PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}
