/* probe: cleanup and dry_run requests, parsed and written (the rules of request.c reused). */
#include "probe.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "util.h"

static const char *const kind_names[PROBE__COUNT] = {
    [PROBE_CLEANUP] = "cleanup",
    [PROBE_DRY_RUN] = "dry_run",
    [PROBE_PLAN] = "plan",
};

/* The fields of a cleanup; request_id, reason, submitted_by and submitted_at follow
 * request_parse_json's rules. */
static const char *const cleanup_fields[] = {
    "request_id", "action", "host", "guest", "reason", "submitted_by", "submitted_at", NULL,
};
static const char *const plan_fields[] = {
    "request_id", "action", "host", "targets", "submitted_by", "submitted_at", NULL,
};

const char *probe_kind_to_string(probe_kind kind)
{
    return (unsigned)kind < PROBE__COUNT ? kind_names[kind] : NULL;
}

int probe_kind_from_string(const char *name, probe_kind *out)
{
    int i;

    for (i = 0; name != NULL && i < PROBE__COUNT; i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (probe_kind)i;
            return 0;
        }
    }
    return -1;
}

void probe_init(probe_request *p, probe_kind kind)
{
    memset(p, 0, sizeof(*p));
    request_init(&p->migration);
    p->kind = kind;
    util_strlcpy(p->request_id, p->migration.request_id, sizeof(p->request_id));
    util_strlcpy(p->submitted_by, p->migration.submitted_by, sizeof(p->submitted_by));
    util_strlcpy(p->submitted_at, p->migration.submitted_at, sizeof(p->submitted_at));
}

int probe_message_kind(const char *buf, size_t len, probe_kind *kind)
{
    json_t *root = json_loadb(buf, len, 0, NULL);
    int rc = probe_kind_from_string(json_string_value(json_object_get(root, "action")), kind);

    json_decref(root);
    return rc;
}

/* OBJ with its action replaced by ACTION, as a request message (malloc'd), or NULL. */
static char *as_action(json_t *obj, const char *action)
{
    json_t *copy = json_copy(obj);
    char *s = NULL;

    if (copy != NULL && json_object_set_new(copy, "action", json_string(action)) == 0)
        s = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    return s;
}

/* A dry_run is a migrate_guest request in every field and rule. */
static int parse_dry_run(json_t *obj, probe_request *p, char *errstr, size_t errstr_size)
{
    char *s = as_action(obj, "migrate_guest");
    int rc;

    if (s == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    rc = request_parse_json(s, strlen(s), &p->migration, errstr, errstr_size);
    free(s);
    if (rc != 0)
        return -1;
    util_strlcpy(p->submitted_by, p->migration.submitted_by, sizeof(p->submitted_by));
    util_strlcpy(p->submitted_at, p->migration.submitted_at, sizeof(p->submitted_at));
    return 0;
}

/* Checks an optional host or guest name of a cleanup into DST. */
static int take_name(json_t *obj, const char *field, name_kind kind, char *dst, size_t size,
                     char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(obj, field);
    char why[512];

    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        util_errf(errstr, errstr_size, "field %s must be a string", field);
        return -1;
    }
    if (name_check(kind, field, json_string_value(v), why, sizeof(why)) != 0) {
        util_errf(errstr, errstr_size, "field %s: %s", field, why);
        return -1;
    }
    return util_strlcpy(dst, json_string_value(v), size);
}

/* A plan's targets: comma-separated host names. */
static int take_targets(json_t *obj, probe_request *p, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(obj, "targets");
    char list[PROBE_TARGETS_MAX], *tok, *save = NULL, why[512];

    if (v == NULL)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof(list)) {
        util_errf(errstr, errstr_size,
                  "field targets must be a string of KVM host names joined by ',' (at most %d "
                  "characters)",
                  PROBE_TARGETS_MAX - 1);
        return -1;
    }
    util_strlcpy(list, json_string_value(v), sizeof(list));
    for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (name_check(NAME_HOST, "target host", tok, why, sizeof(why)) != 0) {
            util_errf(errstr, errstr_size, "field targets: %s", why);
            return -1;
        }
    }
    return util_strlcpy(p->targets, json_string_value(v), sizeof(p->targets));
}

/* A cleanup or a plan: its own fields; the id, reason and submitter are checked as a cancel's
 * (a request of nothing but those) so that one set of rules holds for every request. */
static int parse_cleanup(json_t *obj, probe_request *p, char *errstr, size_t errstr_size)
{
    const char *const *fields = p->kind == PROBE_PLAN ? plan_fields : cleanup_fields;
    const char *key;
    char shown[300], *s = NULL;
    json_t *v, *as_request = NULL;
    request r;
    size_t i;
    int rc = -1;

    json_object_foreach(obj, key, v)
    {
        for (i = 0; fields[i] && strcmp(key, fields[i]) != 0; i++)
            ;
        if (fields[i] == NULL) {
            name_escape(key, shown, sizeof(shown));
            util_errf(errstr, errstr_size,
                      p->kind == PROBE_PLAN
                          ? "unknown field \"%s\" (a plan has request_id, action, host, targets, "
                            "submitted_by, submitted_at)"
                          : "unknown field \"%s\" (a cleanup has request_id, action, host, guest, "
                            "reason, submitted_by, submitted_at)",
                      shown);
            return -1;
        }
    }
    if (take_name(obj, "host", NAME_HOST, p->host, sizeof(p->host), errstr, errstr_size) != 0 ||
        take_name(obj, "guest", NAME_GUEST, p->guest, sizeof(p->guest), errstr, errstr_size) != 0 ||
        take_targets(obj, p, errstr, errstr_size) != 0)
        return -1;
    if (p->kind == PROBE_PLAN && p->host[0] == '\0') {
        util_errf(errstr, errstr_size, "missing required field host (the KVM host to evacuate)");
        return -1;
    }
    as_request = json_copy(obj);
    if (as_request == NULL)
        goto oom;
    json_object_del(as_request, "host");
    json_object_del(as_request, "guest");
    json_object_del(as_request, "targets");
    v = json_object_get(obj, "request_id");
    if (json_is_string(v) && json_object_set(as_request, "job_id", v) != 0)
        goto oom;
    if (json_object_set_new(as_request, "action", json_string("cancel")) != 0 ||
        (s = json_dumps(as_request, JSON_COMPACT)) == NULL)
        goto oom;
    if (request_parse_json(s, strlen(s), &r, errstr, errstr_size) == 0) {
        util_strlcpy(p->reason, r.reason, sizeof(p->reason));
        util_strlcpy(p->submitted_by, r.submitted_by, sizeof(p->submitted_by));
        util_strlcpy(p->submitted_at, r.submitted_at, sizeof(p->submitted_at));
        rc = 0;
    }
    goto out;
oom:
    util_errf(errstr, errstr_size, "out of memory");
out:
    free(s);
    json_decref(as_request);
    return rc;
}

int probe_parse_json(const char *buf, size_t len, probe_request *out, char *errstr,
                     size_t errstr_size)
{
    json_error_t jerr;
    json_t *root, *id;
    probe_request p;
    int rc = -1;

    memset(&p, 0, sizeof(p));
    out->request_id[0] = '\0';
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        util_errf(errstr, errstr_size, "request is not a JSON object%s%s", root ? "" : ": ",
                  root ? "" : jerr.text);
        goto out;
    }
    id = json_object_get(root, "request_id");
    if (json_is_string(id) && util_is_uuid(json_string_value(id)))
        util_strlcpy(out->request_id, json_string_value(id), sizeof(out->request_id));
    if (probe_kind_from_string(json_string_value(json_object_get(root, "action")), &p.kind) != 0) {
        util_errf(errstr, errstr_size, "field action: not \"cleanup\", \"dry_run\" or \"plan\"");
        goto out;
    }
    if ((p.kind == PROBE_DRY_RUN ? parse_dry_run(root, &p, errstr, errstr_size)
                                 : parse_cleanup(root, &p, errstr, errstr_size)) != 0)
        goto out;
    util_strlcpy(p.request_id, out->request_id, sizeof(p.request_id));
    if (p.kind == PROBE_DRY_RUN)
        p.migration.action = ACTION_MIGRATE_GUEST;
    *out = p;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

char *probe_to_json(const probe_request *p)
{
    json_t *o = NULL;
    char *s = NULL;
    request r;
    int bad = 0;

    if (p->kind == PROBE_DRY_RUN) {
        r = p->migration;
        r.action = ACTION_MIGRATE_GUEST;
        util_strlcpy(r.request_id, p->request_id, sizeof(r.request_id));
        util_strlcpy(r.submitted_by, p->submitted_by, sizeof(r.submitted_by));
        util_strlcpy(r.submitted_at, p->submitted_at, sizeof(r.submitted_at));
        if ((s = request_to_json(&r)) == NULL)
            return NULL;
        o = json_loads(s, 0, NULL);
        free(s);
        s = NULL;
        if (o == NULL)
            return NULL;
        bad |= json_object_set_new(o, "action", json_string("dry_run"));
    } else if (p->kind == PROBE_CLEANUP || p->kind == PROBE_PLAN) {
        o = json_object();
        if (o == NULL)
            return NULL;
        bad |= json_object_set_new(o, "request_id", json_string(p->request_id));
        bad |= json_object_set_new(o, "action", json_string(probe_kind_to_string(p->kind)));
        if (p->host[0])
            bad |= json_object_set_new(o, "host", json_string(p->host));
        if (p->guest[0])
            bad |= json_object_set_new(o, "guest", json_string(p->guest));
        if (p->reason[0])
            bad |= json_object_set_new(o, "reason", json_string(p->reason));
        if (p->targets[0])
            bad |= json_object_set_new(o, "targets", json_string(p->targets));
        bad |= json_object_set_new(o, "submitted_by", json_string(p->submitted_by));
        bad |= json_object_set_new(o, "submitted_at", json_string(p->submitted_at));
    } else {
        return NULL;
    }
    if (!bad)
        s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
