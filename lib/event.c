/* event: CloudEvents 1.0 (structured JSON) for kvmove.events. */
#include "event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TYPE_PREFIX "io.kvmove."
#define SOURCE_PREFIX "/kvmove/worker"

static const char *const known_types[] = {
    EVENT_JOB_ACCEPTED,         EVENT_JOB_REJECTED,    EVENT_PREFLIGHT_PASSED,
    EVENT_PREFLIGHT_FAILED,     EVENT_STEP_STARTED,    EVENT_STEP_COMPLETED,
    EVENT_STEP_SKIPPED,         EVENT_STEP_FAILED,     EVENT_JOB_SUCCEEDED,
    EVENT_JOB_FAILED,           EVENT_CLEANUP_PENDING, EVENT_CLEANUP_COMPLETED,
    EVENT_JOB_CANCEL_REQUESTED, EVENT_JOB_CANCELLED,   EVENT_PROBE_COMPLETED,
};

static const bus_header kafka_headers[] = {
    {"content-type", EVENT_KAFKA_CONTENT_TYPE, 0},
};

const bus_header *event_kafka_headers(size_t *n)
{
    *n = sizeof(kafka_headers) / sizeof(kafka_headers[0]);
    return kafka_headers;
}

json_t *event_build(const char *type, const char *source, const char *job_id, const char *guest,
                    json_t *data)
{
    char id[37], now[40], *full_type = NULL, *full_source = NULL;
    json_t *ev = NULL;
    int bad = 0;

    if (data == NULL)
        data = json_object();
    if (type == NULL || !json_is_object(data))
        goto fail;
    if (asprintf(&full_type, TYPE_PREFIX "%s", type) < 0) {
        full_type = NULL;
        goto fail;
    }
    if (source != NULL && *source != '\0') {
        if (asprintf(&full_source, SOURCE_PREFIX "/%s", source) < 0) {
            full_source = NULL;
            goto fail;
        }
    }
    if (job_id != NULL && *job_id != '\0' &&
        json_object_set_new(data, "job_id", json_string(job_id)) != 0)
        goto fail;

    util_uuid(id);
    util_rfc3339_now(now, sizeof(now));
    ev = json_object();
    if (ev == NULL)
        goto fail;
    bad |= json_object_set_new(ev, "specversion", json_string("1.0"));
    bad |= json_object_set_new(ev, "id", json_string(id));
    bad |=
        json_object_set_new(ev, "source", json_string(full_source ? full_source : SOURCE_PREFIX));
    bad |= json_object_set_new(ev, "type", json_string(full_type));
    bad |= json_object_set_new(ev, "time", json_string(now));
    if (guest != NULL && *guest != '\0')
        bad |= json_object_set_new(ev, "subject", json_string(guest));
    bad |= json_object_set_new(ev, "datacontenttype", json_string("application/json"));
    bad |= json_object_set_new(ev, "data", data);
    data = NULL; /* owned by ev, even when set_new failed (it decrefs on error) */
    if (bad)
        goto fail;
    free(full_type);
    free(full_source);
    return ev;
fail:
    json_decref(data);
    json_decref(ev);
    free(full_type);
    free(full_source);
    return NULL;
}

char *event_dump(const json_t *ev)
{
    return json_dumps(ev, JSON_COMPACT);
}

const char *event_short_type(const char *type)
{
    size_t n = strlen(TYPE_PREFIX);

    if (type == NULL || strncmp(type, TYPE_PREFIX, n) != 0 || type[n] == '\0')
        return NULL;
    return type + n;
}

int event_type_known(const char *short_type)
{
    size_t i;

    if (short_type == NULL)
        return 0;
    for (i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++) {
        if (strcmp(short_type, known_types[i]) == 0)
            return 1;
    }
    return 0;
}

/* Returns the string attribute NAME of EV, or NULL with errstr when it is missing, not a
 * string or empty. */
static const char *attr(const json_t *ev, const char *name, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(ev, name);

    if (!json_is_string(v) || json_string_length(v) == 0) {
        util_errf(errstr, errstr_size, "event attribute %s is %s", name,
                  v == NULL ? "missing" : "not a non-empty string");
        return NULL;
    }
    return json_string_value(v);
}

int event_validate(const json_t *ev, char *errstr, size_t errstr_size)
{
    const char *s;
    json_t *data;

    if (!json_is_object(ev)) {
        util_errf(errstr, errstr_size, "event is not a JSON object");
        return -1;
    }
    s = attr(ev, "specversion", errstr, errstr_size);
    if (s == NULL)
        return -1;
    if (strcmp(s, "1.0") != 0) {
        util_errf(errstr, errstr_size, "event specversion is \"%.16s\", expected \"1.0\"", s);
        return -1;
    }
    if (attr(ev, "id", errstr, errstr_size) == NULL ||
        attr(ev, "source", errstr, errstr_size) == NULL)
        return -1;
    s = attr(ev, "type", errstr, errstr_size);
    if (s == NULL)
        return -1;
    if (!event_type_known(event_short_type(s))) {
        util_errf(errstr, errstr_size, "event type \"%.64s\" is not a kvmove event type", s);
        return -1;
    }
    if (attr(ev, "time", errstr, errstr_size) == NULL)
        return -1;
    s = attr(ev, "datacontenttype", errstr, errstr_size);
    if (s == NULL)
        return -1;
    if (strcmp(s, "application/json") != 0) {
        util_errf(errstr, errstr_size,
                  "event datacontenttype is \"%.64s\", expected \"application/json\"", s);
        return -1;
    }
    data = json_object_get(ev, "data");
    if (!json_is_object(data)) {
        util_errf(errstr, errstr_size, "event data is %s, expected an object",
                  data == NULL ? "missing" : "not an object");
        return -1;
    }
    return 0;
}
