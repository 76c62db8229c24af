/* intake: turns request messages into jobs (or dead letters) in PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "authz.h"
#include "esxml.h"
#include "jschema.h"
#include "metrics.h"
#include "probe.h"
#include "sysconfig.h"
#include "request.h"
#include "util.h"
#include "worker.h"

/* The request in its es.xml system's terms (sysconfig_resolve): the system, the guest and hosts
 * as es.xml spells them (so that jobs, events and the one-active-job rule see one name per
 * machine), and the guest's size for the target's reservation. Nothing is parsed: the names
 * each system claims are indexed at load. Returns 0 (also when no system names the guest: the
 * job then fails its preflight, saying so), -1 to retry, or 1 when the request names a system
 * or version that is not stored (WHY says so). */
static int resolve(jobstore *js, request *req, long *memory_mb, int *vcpus, char *why,
                   size_t why_size)
{
    jobstore_machine g;
    char err[1024];
    int rc = sysconfig_resolve(js, req, &g, err, sizeof(err));

    *memory_mb = g.memory_mb;
    *vcpus = g.cores;
    if (rc == -JOBSTORE_EINVALID) {
        snprintf(why, why_size, "request cannot be used: %s", err);
        return 1;
    }
    if (rc == -JOBSTORE_EDB) {
        worker_log("[intake] request %s not recorded yet: %s", req->request_id, err);
        return -1;
    }
    if (rc < 0 && rc != -JOBSTORE_ENOTFOUND)
        worker_log("[intake] request %s: %s", req->request_id, err);
    return 0;
}

/* Sends a request that cannot be used to the dead-letter topic, with where it came from and
 * why (bus_dead_letter names the headers). Returns 0 when the broker took it. */
static int dead_letter(worker *w, bus_producer *p, const bus_message *m, const char *reason)
{
    char err[512];
    int rc = bus_dead_letter(p, m, w->s.group, reason, w->owner, 10000, err, sizeof(err));

    if (rc != 0)
        worker_log("[intake] cannot write to %s: %s", BUS_TOPIC_DLQ, err);
    return rc;
}

/* Handles one request message. Returns 0 when it is fully recorded (commit the offset), -1
 * when it must be retried. */
/* Checks the message against schema/request.schema.json too (both ends validate: the CLI
 * before it publishes, the worker here). The schema is loaded once; without it the C checks
 * of request_parse_json still apply. Returns 0, or -1 with the violation in errstr. */
static int schema_check(worker *w, const bus_message *m, char *errstr, size_t errstr_size)
{
    static jschema *schema;
    static int tried;
    json_error_t jerr;
    json_t *v;
    int rc;

    if (!tried) {
        char path[1100], err[512];
        tried = 1;
        snprintf(path, sizeof(path), "%s/request.schema.json", w->s.schema_dir);
        if (jschema_load_file(path, &schema, err, sizeof(err)) != 0)
            worker_log("[intake] %s; requests are checked without the JSON Schema", err);
    }
    if (schema == NULL)
        return 0;
    v = json_loadb(m->value, m->len, 0, &jerr);
    if (v == NULL)
        return 0; /* request_parse_json has said why already */
    rc = jschema_validate(schema, v, errstr, errstr_size);
    json_decref(v);
    return rc;
}

/* Dead-letters a message that cannot be used (WHY; VERDICT counts it) and records its
 * job.rejected once when its request id could be read. Returns 0 when done, -1 when it must be
 * retried. */
static int reject(worker *w, jobstore *js, bus_producer *p, const bus_message *m,
                  const char *request_id, auth_verdict verdict, const char *why)
{
    char err[1024];
    int rc;

    worker_log("[intake] rejected message at %s/%d/%lld: %s", m->topic, (int)m->partition,
               (long long)m->offset, why);
    if (dead_letter(w, p, m, why) != 0)
        return -1;
    metrics_request_refused(verdict);
    if (request_id == NULL || request_id[0] == '\0')
        return 0;
    rc = jobstore_intake_reject(js, request_id, why, w->source, err, sizeof(err));
    if (rc == -JOBSTORE_EDATA) /* refused for good: the dead letter is the record */
        worker_log("[intake] request %s: job.rejected not recorded: %s", request_id, err);
    return rc == 0 || rc == -JOBSTORE_EDATA ? 0 : -1;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether message M (read as from BY at AT when PARSED) is proven (auth.h): the signature of an
 * enrolled, enabled key over its exact bytes (*SIGNER), then (PARSED) the identity and age it
 * claims. Returns 0 with *VERDICT (WHY says why not AUTH_OK), or -1 to retry. */
static int authenticate(worker *w, jobstore *js, const bus_message *m, const char *by,
                        const char *at, int parsed, auth_key *signer, auth_verdict *verdict,
                        char *why, size_t why_size)
{
    int rc = auth_signature(bus_message_header(m, SIGN_HEADER_KEY_ID),
                            bus_message_header(m, SIGN_HEADER_SIGNATURE), m->value, m->len,
                            jobstore_auth_key, js, signer, verdict, why, why_size);

    if (rc < 0) {
        worker_log("[intake] message at %s/%d/%lld not checked yet: %s", m->topic,
                   (int)m->partition, (long long)m->offset, why);
        return -1;
    }
    if (*verdict == AUTH_OK && parsed)
        *verdict = auth_claims(signer, by, at, wall_ms(), w->s.auth_max_age_s, w->s.auth_max_skew_s,
                               why, why_size);
    return 0;
}

/* Whether SIGNER may have REQ (resolved: its system is known) run: it must be the first message
 * with its request id (else AUTH_REPLAYED), and SIGNER's identity must have the rights it needs
 * there (else AUTH_UNAUTHORIZED). Returns 0 with *VERDICT and WHY, or -1 to retry. */
static int authorize(jobstore *js, const bus_message *m, const request *req, const auth_key *signer,
                     auth_verdict *verdict, char *why, size_t why_size)
{
    authz_rights granted;
    char first[300], err[1024];
    int replayed;

    *verdict = AUTH_OK;
    if (jobstore_auth_origin(js, req->request_id, m->topic, (int)m->partition, (long long)m->offset,
                             signer->key_id, &replayed, first, sizeof(first), err,
                             sizeof(err)) != 0 ||
        jobstore_auth_rights(js, signer->identity, req->system, &granted, err, sizeof(err)) != 0) {
        worker_log("[intake] request %s not checked yet: %s", req->request_id, err);
        return -1;
    }
    if (replayed) {
        *verdict = AUTH_REPLAYED;
        snprintf(why, why_size,
                 "replayed: request %s was taken from message %s already; this copy is refused "
                 "(a new request has a new request_id)",
                 req->request_id, first);
    } else if (authz_check(signer->identity, req->system, granted, req,
                           req->action == ACTION_REPLAY && !req->has_mode ? MODE_OFFLINE
                                                                          : req->mode,
                           err, sizeof(err)) != 0) {
        *verdict = AUTH_UNAUTHORIZED;
        snprintf(why, why_size, "unauthorized: %s", err);
    }
    return 0;
}

/* ---- probes: cleanup and dry_run requests (lib/probe.h), run by the prober thread ---- */

/* Dead-letters probe message M (WHY; VERDICT counts it) and records the refusal in probes, so
 * that the CLI waiting for PR's id says why. Returns 0 when done, -1 to retry. */
static int reject_probe(worker *w, jobstore *js, bus_producer *p, const bus_message *m,
                        const probe_request *pr, probe_kind kind, auth_verdict verdict,
                        const char *why)
{
    char err[1024];
    int rc;

    worker_log("[intake] rejected %s request at %s/%d/%lld: %s", probe_kind_to_string(kind),
               m->topic, (int)m->partition, (long long)m->offset, why);
    if (dead_letter(w, p, m, why) != 0)
        return -1;
    metrics_request_refused(verdict);
    if (pr == NULL || pr->request_id[0] == '\0')
        return 0;
    rc = jobstore_probe_reject(js, pr->request_id, probe_kind_to_string(kind), pr->submitted_by,
                               why, w->source, err, sizeof(err));
    if (rc == -JOBSTORE_EDATA)
        worker_log("[intake] probe %s: refusal not recorded: %s", pr->request_id, err);
    return rc == 0 || rc == -JOBSTORE_EDATA ? 0 : -1;
}

/* The system probe PR is for, for its rights: a dry run's migration's (resolved as a
 * migration's: PR->migration is rewritten in its system's terms), a cleanup's host's or
 * guest's (none given, or none known: "", every system). Returns 0, -1 to retry, or 1 when the
 * request cannot be used (WHY). */
static int probe_system(jobstore *js, probe_request *pr, char *system, size_t size, char *why,
                        size_t why_size)
{
    request q;
    long mem;
    int cpus, rc;
    char err[1024];

    system[0] = '\0';
    if (pr->kind == PROBE_DRY_RUN) {
        if ((rc = resolve(js, &pr->migration, &mem, &cpus, why, why_size)) != 0)
            return rc;
        util_strlcpy(system, pr->migration.system, size);
        return 0;
    }
    if (pr->host[0] == '\0' && pr->guest[0] == '\0')
        return 0;
    memset(&q, 0, sizeof(q));
    util_strlcpy(q.guest, pr->guest, sizeof(q.guest));
    util_strlcpy(q.src_host, pr->host, sizeof(q.src_host));
    rc = sysconfig_resolve(js, &q, NULL, err, sizeof(err));
    if (rc == -JOBSTORE_EDB) {
        worker_log("[intake] request %s not checked yet: %s", pr->request_id, err);
        return -1;
    }
    if (rc == 0)
        util_strlcpy(system, q.system, size);
    return 0;
}

/* A probe message: proven and allowed as a migration request is (signature, identity, age,
 * replay, the right of authz_check_probe), then recorded queued for the prober thread. */
static int intake_probe(worker *w, jobstore *js, bus_producer *p, const bus_message *m,
                        probe_kind kind)
{
    probe_request pr;
    char err[1024], why[1100], first[300], system[REQUEST_SYSTEM_MAX];
    auth_verdict verdict = AUTH_OK;
    auth_key signer;
    authz_rights granted;
    int parsed, replayed, rc;

    why[0] = '\0';
    memset(&pr, 0, sizeof(pr)); /* what a message that cannot be read leaves unset is "" */
    parsed = probe_parse_json(m->value, m->len, &pr, err, sizeof(err)) == 0;
    if (!parsed)
        snprintf(why, sizeof(why), "%s", err);
    else if (schema_check(w, m, err, sizeof(err) - 100) != 0)
        snprintf(why, sizeof(why), "request does not match request.schema.json: %s", err);
    parsed = why[0] == '\0';
    if (w->s.auth_required) {
        char auth_why[1100];
        if (authenticate(w, js, m, pr.submitted_by, pr.submitted_at, parsed, &signer, &verdict,
                         auth_why, sizeof(auth_why)) != 0)
            return -1;
        if (verdict != AUTH_OK)
            return reject_probe(w, js, p, m, &pr, kind, verdict, auth_why);
    }
    if (!parsed)
        return reject_probe(w, js, p, m, &pr, kind, AUTH_INVALID, why);
    if ((rc = probe_system(js, &pr, system, sizeof(system), why, sizeof(why))) != 0)
        return rc < 0 ? -1 : reject_probe(w, js, p, m, &pr, kind, AUTH_INVALID, why);
    if (w->s.auth_required) {
        if (jobstore_auth_origin(js, pr.request_id, m->topic, (int)m->partition,
                                 (long long)m->offset, signer.key_id, &replayed, first,
                                 sizeof(first), err, sizeof(err)) != 0 ||
            jobstore_auth_rights(js, signer.identity, system, &granted, err, sizeof(err)) != 0) {
            worker_log("[intake] request %s not checked yet: %s", pr.request_id, err);
            return -1;
        }
        if (replayed) {
            snprintf(why, sizeof(why),
                     "replayed: request %s was taken from message %s already; this copy is "
                     "refused (a new request has a new request_id)",
                     pr.request_id, first);
            return reject_probe(w, js, p, m, NULL, kind, AUTH_REPLAYED, why);
        }
        if (authz_check_probe(signer.identity, system, granted, kind, err, sizeof(err)) != 0) {
            snprintf(why, sizeof(why), "unauthorized: %s", err);
            return reject_probe(w, js, p, m, &pr, kind, AUTH_UNAUTHORIZED, why);
        }
    }
    {
        char *text = probe_to_json(&pr); /* in its system's terms: what the prober runs */
        if (text == NULL) {
            worker_log("[intake] request %s: out of memory", pr.request_id);
            return -1;
        }
        rc = jobstore_probe_add(js, pr.request_id, probe_kind_to_string(kind), pr.submitted_by,
                                text, err, sizeof(err));
        free(text);
    }
    if (rc == -JOBSTORE_EDATA) {
        snprintf(why, sizeof(why), "request cannot be recorded: %s", err);
        return reject_probe(w, js, p, m, &pr, kind, AUTH_INVALID, why);
    }
    if (rc < 0) {
        worker_log("[intake] request %s not recorded yet: %s", pr.request_id, err);
        return -1;
    }
    worker_log("[intake] accepted request %s: %s", pr.request_id, probe_kind_to_string(kind));
    return 0;
}

int intake_message(worker *w, jobstore *js, bus_producer *p, const bus_message *m)
{
    request req;
    char err[1024], why[1100], auth_why[1100];
    jobstore_intake result;
    auth_verdict verdict;
    auth_key signer;
    probe_kind kind;
    long mem;
    int cpus, rc;

    why[0] = '\0';
    if (m->value != NULL && probe_message_kind(m->value, m->len, &kind) == 0)
        return intake_probe(w, js, p, m, kind);
    if (m->value == NULL)
        snprintf(why, sizeof(why), "empty message");
    else if (request_parse_json(m->value, m->len, &req, err, sizeof(err)) != 0)
        snprintf(why, sizeof(why), "%s", err);
    else if (schema_check(w, m, err, sizeof(err) - 100) != 0)
        snprintf(why, sizeof(why), "request does not match request.schema.json: %s", err);
    /* Who sent it comes first: an unproven message is refused as such, whatever it says. */
    if (w->s.auth_required && m->value != NULL) {
        if (authenticate(w, js, m, req.submitted_by, req.submitted_at, why[0] == '\0', &signer,
                         &verdict, auth_why, sizeof(auth_why)) != 0)
            return -1;
        if (verdict != AUTH_OK)
            return reject(w, js, p, m, req.request_id, verdict, auth_why);
    }
    if (why[0] != '\0')
        return reject(w, js, p, m, m->value ? req.request_id : NULL, AUTH_INVALID, why);
    if ((rc = resolve(js, &req, &mem, &cpus, why, sizeof(why))) != 0)
        return rc < 0 ? -1 : reject(w, js, p, m, req.request_id, AUTH_INVALID, why);
    /* Rights are per system: checked once the request is in its system's terms. */
    if (w->s.auth_required) {
        if (authorize(js, m, &req, &signer, &verdict, auth_why, sizeof(auth_why)) != 0)
            return -1;
        if (verdict != AUTH_OK)
            return reject(w, js, p, m, verdict == AUTH_REPLAYED ? NULL : req.request_id, verdict,
                          auth_why);
    }
    /* A cancel of a job not recorded yet waits for its request as long as one is taken. */
    jobstore_set_request_max_age(js, w->s.auth_max_age_s);
    rc = jobstore_intake_request(js, &req, mem, cpus, w->source, &result, err, sizeof(err));
    if (rc == -JOBSTORE_EDATA) {
        /* the database refuses this request for good: retrying would block the partition */
        snprintf(why, sizeof(why), "request cannot be recorded: %s", err);
        return reject(w, js, p, m, req.request_id, AUTH_INVALID, why);
    }
    if (rc < 0) {
        worker_log("[intake] request %s not recorded yet: %s", req.request_id, err);
        return -1;
    }
    switch (result) {
    case JOBSTORE_CREATED:
        worker_log("[intake] accepted request %s: %s %s", req.request_id,
                   request_action_to_string(req.action),
                   request_action_names_job(req.action) ? req.job_id : req.guest);
        break;
    case JOBSTORE_DUPLICATE:
        worker_log("[intake] request %s seen before; nothing to do", req.request_id);
        break;
    case JOBSTORE_REJECTED:
        worker_log("[intake] rejected request %s: %s", req.request_id, err);
        break;
    }
    return 0;
}
