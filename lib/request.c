/* request: migration requests, as JSON messages and as the spec's MIGRATE GUEST command. */
#include "request.h"

#include <jansson.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "jschema.h"
#include "names.h"
#include "util.h"

/* The same patterns as schema/request.schema.json, so that both ends agree. */
#define SUBMITTED_BY_PATTERN "^[A-Za-z0-9_.@+-]{1,63}$"
#define SUBMITTED_AT_PATTERN                                                                       \
    "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"            \
    "([0-5][0-9]|60)(\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
#define CONFIG_MAX 2147483647L
/* es.xsd labelType, the engineeredSystem name. */
#define SYSTEM_PATTERN "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"

static const char *const action_names[ACTION__COUNT] = {
    [ACTION_MIGRATE_GUEST] = "migrate_guest",
    [ACTION_REPLAY] = "replay",
    [ACTION_CANCEL] = "cancel",
    [ACTION_ROLLBACK] = "rollback",
    [ACTION_RETURN] = "return",
};
#define ACTION_LIST "\"migrate_guest\", \"replay\", \"cancel\", \"rollback\" or \"return\""

/* Every field a request message may carry, in the order request_to_json writes them. */
static const char *const known_fields[] = {
    "request_id",   "action",     "guest",  "mode",       "src_host",     "tgt_host",
    "step",         "from_step",  "job_id", "config",     "system",       "submitted_by",
    "submitted_at", "sequential", "reason", "on_failure", "target_state", "allow_colocation",
    "evacuation",
};

const char *request_action_to_string(request_action action)
{
    return (unsigned)action < ACTION__COUNT ? action_names[action] : NULL;
}

int request_action_names_job(request_action action)
{
    return action == ACTION_REPLAY || action == ACTION_CANCEL || action == ACTION_ROLLBACK;
}

#define N_KNOWN_FIELDS (sizeof(known_fields) / sizeof(known_fields[0]))

/* Matches S against the POSIX ERE PATTERN. Returns 1 on a match, 0 otherwise. */
static int pattern_match(const char *pattern, const char *s)
{
    regex_t re;
    int rc;

    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    rc = regexec(&re, s, 0, NULL, 0);
    regfree(&re);
    return rc == 0;
}

void request_init(request *r)
{
    struct passwd pw, *res = NULL;
    char buf[1024];

    memset(r, 0, sizeof(*r));
    util_uuid(r->request_id);
    r->action = ACTION_MIGRATE_GUEST;
    r->mode = MODE_OFFLINE;
    util_rfc3339_now(r->submitted_at, sizeof(r->submitted_at));
    /* The effective user, not $USER: the environment is the requester's to forge. */
    if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res != NULL &&
        pattern_match(SUBMITTED_BY_PATTERN, res->pw_name))
        util_strlcpy(r->submitted_by, res->pw_name, sizeof(r->submitted_by));
    else
        snprintf(r->submitted_by, sizeof(r->submitted_by), "uid-%u", (unsigned)geteuid());
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* The two-word fields' words: the first is the default's. */
static const char *const mode_words[2] = {"OFFLINE", "OFFLINEFORCE"};
static const char *const on_failure_words[2] = {"stop", "rollback"};
static const char *const target_state_words[2] = {"running", "stopped"};

/* Returns the string value of FIELD in OBJ, NULL when absent; -1 in *BAD (with errstr) when
 * present but not a string. */
static const char *get_string(json_t *obj, const char *field, int *bad, char *errstr,
                              size_t errstr_size)
{
    json_t *v = json_object_get(obj, field);

    if (v == NULL)
        return NULL;
    if (!json_is_string(v)) {
        util_errf(errstr, errstr_size, "field %s must be a string, got %s", field,
                  json_type_name(v));
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

/* Reads the optional field FIELD of OBJ, one of the two words WORDS (a WHAT): *HAS becomes 1
 * when it is present and *SECOND 1 when it is WORDS[1]. Returns 0, or -1 with errstr. */
static int get_choice(json_t *obj, const char *field, const char *what, const char *const words[2],
                      int *has, int *second, char *errstr, size_t errstr_size)
{
    char shown[300];
    int bad = 0;
    const char *s = get_string(obj, field, &bad, errstr, errstr_size);

    if (bad)
        return -1;
    if (s == NULL)
        return 0;
    if (strcmp(s, words[0]) != 0 && strcmp(s, words[1]) != 0) {
        name_escape(s, shown, sizeof(shown));
        util_errf(errstr, errstr_size, "field %s: \"%s\" is not %s (expected \"%s\" or \"%s\")",
                  field, shown, what, words[0], words[1]);
        return -1;
    }
    *has = 1;
    *second = strcmp(s, words[1]) == 0;
    return 0;
}

/* Reads the optional boolean field FIELD of OBJ into *VALUE. Returns 0, or -1 with errstr. */
static int get_bool(json_t *obj, const char *field, int *value, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(obj, field);

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v)) {
        util_errf(errstr, errstr_size, "field %s: expected true or false", field);
        return -1;
    }
    *value = json_is_true(v);
    return 0;
}

/* Reads the string field FIELD of OBJ, which must match PATTERN (WHAT says what it is), into
 * DST. REQUIRED: what it is in the message when it is absent (NULL: the field is optional). */
static int take_pattern(json_t *obj, const char *field, const char *pattern, const char *required,
                        const char *what, char *dst, size_t dst_size, char *errstr,
                        size_t errstr_size)
{
    char shown[300];
    int bad = 0;
    const char *s = get_string(obj, field, &bad, errstr, errstr_size);

    if (bad)
        return -1;
    if (s == NULL && required != NULL) {
        util_errf(errstr, errstr_size, "missing required field %s (%s)", field, required);
        return -1;
    }
    if (s == NULL)
        return 0;
    if (!pattern_match(pattern, s)) {
        name_escape(s, shown, sizeof(shown));
        util_errf(errstr, errstr_size, "field %s: \"%s\" is not %s", field, shown, what);
        return -1;
    }
    util_strlcpy(dst, s, dst_size);
    return 0;
}

/* Checks a hostname field and copies it into DST. */
static int take_host(const char *field, const char *human, const char *value, char *dst,
                     size_t dst_size, char *errstr, size_t errstr_size)
{
    char why[512];

    if (name_check(NAME_HOST, human, value, why, sizeof(why)) != 0) {
        util_errf(errstr, errstr_size, "field %s: %s", field, why);
        return -1;
    }
    return util_strlcpy(dst, value, dst_size);
}

/* Checks a step name field: the exact upper-case name of a migration step, as the schema's
 * enum has it (a rollback's steps are kvmove's to choose). */
static int take_step(const char *field, const char *value, step_id *out, char *errstr,
                     size_t errstr_size)
{
    char shown[300], names[STEP_NAMES_MAX];

    if (step_from_string(value, out) != 0 || strcmp(step_to_string(*out), value) != 0 ||
        step_is_rollback(*out)) {
        name_escape(value, shown, sizeof(shown));
        util_errf(errstr, errstr_size,
                  "field %s: \"%s\" is not a migration step (expected one of %s)", field, shown,
                  step_names(", ", names, sizeof(names)));
        return -1;
    }
    return 0;
}

static int take_uuid(const char *field, const char *value, char *dst, char *errstr,
                     size_t errstr_size)
{
    char shown[300];

    if (!util_is_uuid(value)) {
        name_escape(value, shown, sizeof(shown));
        util_errf(errstr, errstr_size,
                  "field %s: \"%s\" is not a UUID (expected 8-4-4-4-12 hexadecimal digits)", field,
                  shown);
        return -1;
    }
    return util_strlcpy(dst, value, REQUEST_UUID_LEN);
}

/* The number of characters of S if it is a reason: well-formed UTF-8 without control characters
 * (C0, DEL, C1). Returns -1 otherwise. */
static long reason_chars(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    int k, len;

    while (*p) {
        if (*p < 0x20 || *p == 0x7f)
            return -1;
        len = *p < 0x80             ? 1
              : (*p & 0xe0) == 0xc0 ? 2
              : (*p & 0xf0) == 0xe0 ? 3
              : (*p & 0xf8) == 0xf0 ? 4
                                    : 0;
        if (len == 0 || (len == 2 && *p < 0xc2))
            return -1;
        for (k = 1; k < len; k++)
            if ((p[k] & 0xc0) != 0x80)
                return -1;
        if (len == 2 && p[0] == 0xc2 && p[1] <= 0x9f) /* U+0080-U+009F */
            return -1;
        p += len;
        n++;
    }
    return n;
}

/* Checks a reason and copies it into DST (REQUEST_REASON_MAX bytes). */
static int take_reason(const char *value, char *dst, char *errstr, size_t errstr_size)
{
    long n = reason_chars(value);

    if (n < 1 || n > REQUEST_REASON_CHARS || strlen(value) >= REQUEST_REASON_MAX) {
        util_errf(errstr, errstr_size,
                  "field reason: %s (expected 1 to %d characters of text without control "
                  "characters)",
                  n < 0    ? "contains a control character"
                  : n == 0 ? "is empty"
                           : "is too long",
                  REQUEST_REASON_CHARS);
        return -1;
    }
    return util_strlcpy(dst, value, REQUEST_REASON_MAX);
}

/* The fields that say what the operator wants beyond the move itself: reason, on_failure,
 * target_state, allow_colocation, evacuation. */
static int parse_operator_fields(json_t *obj, request *r, char *errstr, size_t errstr_size)
{
    const char *s;
    json_t *v;
    int bad = 0;

    s = get_string(obj, "reason", &bad, errstr, errstr_size);
    if (bad || (s != NULL && take_reason(s, r->reason, errstr, errstr_size) != 0))
        return -1;
    if (get_choice(obj, "on_failure", "a policy", on_failure_words, &r->has_on_failure,
                   &r->on_failure_rollback, errstr, errstr_size) != 0 ||
        get_choice(obj, "target_state", "a state", target_state_words, &r->has_target_state,
                   &r->target_stopped, errstr, errstr_size) != 0 ||
        get_bool(obj, "allow_colocation", &r->allow_colocation, errstr, errstr_size) != 0)
        return -1;
    v = json_object_get(obj, "evacuation");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > CONFIG_MAX) {
            util_errf(errstr, errstr_size,
                      "field evacuation: expected the id of an evacuation (an integer, 1 to %ld)",
                      CONFIG_MAX);
            return -1;
        }
        r->evacuation = (long)json_integer_value(v);
    }
    return 0;
}

/* Reads the fields of the request object OBJ into R (which is zeroed), checking each one's
 * type and value. Combinations are request_validate's. */
static int parse_fields(json_t *obj, request *r, char *errstr, size_t errstr_size)
{
    const char *key, *s;
    char shown[300];
    json_t *v;
    size_t i;
    int bad = 0, forced = 0;

    json_object_foreach(obj, key, v)
    {
        for (i = 0; i < N_KNOWN_FIELDS; i++) {
            if (strcmp(key, known_fields[i]) == 0)
                break;
        }
        if (i == N_KNOWN_FIELDS) {
            name_escape(key, shown, sizeof(shown));
            util_errf(errstr, errstr_size,
                      "unknown field \"%s\" (a request has request_id, action, guest, mode, "
                      "src_host, tgt_host, step, from_step, job_id, config, system, sequential, "
                      "reason, on_failure, target_state, allow_colocation, evacuation, "
                      "submitted_by, submitted_at)",
                      shown);
            return -1;
        }
    }

#define STRING_FIELD(name)                                                                         \
    s = get_string(obj, name, &bad, errstr, errstr_size);                                          \
    if (bad)                                                                                       \
        return -1;

    STRING_FIELD("request_id");
    if (s == NULL) {
        util_errf(errstr, errstr_size, "missing required field request_id (a UUID)");
        return -1;
    }
    if (take_uuid("request_id", s, r->request_id, errstr, errstr_size) != 0)
        return -1;

    STRING_FIELD("action");
    if (s == NULL) {
        util_errf(errstr, errstr_size, "missing required field action (" ACTION_LIST ")");
        return -1;
    }
    for (i = 0; i < ACTION__COUNT && strcmp(s, action_names[i]) != 0; i++)
        ;
    if (i == ACTION__COUNT) {
        name_escape(s, shown, sizeof(shown));
        util_errf(errstr, errstr_size,
                  "field action: \"%s\" is not an action (expected " ACTION_LIST ")", shown);
        return -1;
    }
    r->action = (request_action)i;

    STRING_FIELD("guest");
    if (s != NULL &&
        take_host("guest", "guest", s, r->guest, sizeof(r->guest), errstr, errstr_size) != 0)
        return -1;

    if (get_choice(obj, "mode", "a mode", mode_words, &r->has_mode, &forced, errstr, errstr_size) !=
        0)
        return -1;
    if (r->has_mode)
        r->mode = forced ? MODE_OFFLINEFORCE : MODE_OFFLINE;

    /* A struct always has a mode (request_init: OFFLINE); a message must say it. */
    if (!r->has_mode && (r->action == ACTION_MIGRATE_GUEST || r->action == ACTION_RETURN) &&
        r->guest[0] != '\0') {
        util_errf(errstr, errstr_size,
                  "missing required field mode (\"OFFLINE\" or \"OFFLINEFORCE\") for action "
                  "%s",
                  action_names[r->action]);
        return -1;
    }

    STRING_FIELD("src_host");
    if (s != NULL && take_host("src_host", "source host", s, r->src_host, sizeof(r->src_host),
                               errstr, errstr_size) != 0)
        return -1;
    STRING_FIELD("tgt_host");
    if (s != NULL && take_host("tgt_host", "target host", s, r->tgt_host, sizeof(r->tgt_host),
                               errstr, errstr_size) != 0)
        return -1;

    STRING_FIELD("step");
    if (s != NULL) {
        if (take_step("step", s, &r->step, errstr, errstr_size) != 0)
            return -1;
        r->has_step = 1;
    }
    STRING_FIELD("from_step");
    if (s != NULL) {
        if (take_step("from_step", s, &r->from_step, errstr, errstr_size) != 0)
            return -1;
        r->has_from_step = 1;
    }

    STRING_FIELD("job_id");
    if (s != NULL && take_uuid("job_id", s, r->job_id, errstr, errstr_size) != 0)
        return -1;

    v = json_object_get(obj, "config");
    if (v != NULL) {
        json_int_t version;
        if (!jschema_integer(v, &version)) {
            util_errf(errstr, errstr_size,
                      "field config must be an integer (the es.xml version), got %s",
                      json_is_real(v) ? "a number with a fraction" : json_type_name(v));
            return -1;
        }
        if (version < 1 || version > CONFIG_MAX) {
            util_errf(errstr, errstr_size,
                      "field config: %" JSON_INTEGER_FORMAT
                      " is not an es.xml version (expected 1 to %ld; omit the field for the "
                      "latest)",
                      version, CONFIG_MAX);
            return -1;
        }
        r->config_version = (long)version;
    }

    if (take_pattern(obj, "system", SYSTEM_PATTERN, NULL,
                     "an es.xml system name (letters, digits, '_', '.', '-'; at most 64)",
                     r->system, sizeof(r->system), errstr, errstr_size) != 0)
        return -1;

    if (get_bool(obj, "sequential", &r->sequential, errstr, errstr_size) != 0)
        return -1;

    if (parse_operator_fields(obj, r, errstr, errstr_size) != 0)
        return -1;

    if (take_pattern(obj, "submitted_by", SUBMITTED_BY_PATTERN, "a user name",
                     "a user name (letters, digits, '_', '.', '@', '+' and '-', 1-63 characters)",
                     r->submitted_by, sizeof(r->submitted_by), errstr, errstr_size) != 0 ||
        take_pattern(obj, "submitted_at", SUBMITTED_AT_PATTERN, "an RFC 3339 timestamp",
                     "an RFC 3339 timestamp (expected like 2025-07-30T16:14:59.123Z)",
                     r->submitted_at, sizeof(r->submitted_at), errstr, errstr_size) != 0)
        return -1;
#undef STRING_FIELD
    return 0;
}

int request_parse_json(const char *buf, size_t len, request *out, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = NULL, *id;
    request r;
    int rc = -1;

    memset(&r, 0, sizeof(r));
    out->request_id[0] = '\0';
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        util_errf(errstr, errstr_size, "request is not valid JSON: %s (line %d, column %d)",
                  jerr.text, jerr.line, jerr.column);
        /* A duplicate key is refused (which one counts is ambiguous), but the id may still
         * be readable for the job.rejected event. */
        root = json_loadb(buf, len, 0, NULL);
        id = json_object_get(root, "request_id");
        if (json_is_string(id) && util_is_uuid(json_string_value(id)))
            util_strlcpy(out->request_id, json_string_value(id), sizeof(out->request_id));
        goto out;
    }
    if (!json_is_object(root)) {
        util_errf(errstr, errstr_size, "request must be a JSON object, got %s",
                  json_type_name(root));
        goto out;
    }
    /* Read the id first so that even a rejected request can be answered by id. */
    id = json_object_get(root, "request_id");
    if (json_is_string(id) && util_is_uuid(json_string_value(id)))
        util_strlcpy(out->request_id, json_string_value(id), sizeof(out->request_id));

    if (parse_fields(root, &r, errstr, errstr_size) != 0)
        goto out;
    if (request_validate(&r, errstr, errstr_size) != 0)
        goto out;
    *out = r;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* An action that names a job (replay, cancel, rollback) acts on the job as recorded: a cancel
 * or rollback carries nothing else but its reason; a replay may still name the job's guest and
 * hosts and override how it runs, but belongs to no evacuation. */
static int job_action_extras(const request *r, char *errstr, size_t errstr_size)
{
    const char *extra = NULL;

    if (!util_is_uuid(r->job_id)) {
        util_errf(errstr, errstr_size,
                  "missing required field job_id (the job to %s) for action %s",
                  action_names[r->action], action_names[r->action]);
        return -1;
    }
    if (r->evacuation)
        extra = "evacuation";
    else if (r->action == ACTION_REPLAY)
        extra = NULL;
    else if (r->guest[0] || r->src_host[0] || r->tgt_host[0])
        extra = r->guest[0] ? "guest" : r->src_host[0] ? "src_host" : "tgt_host";
    else if (r->has_mode || r->has_step || r->has_from_step)
        extra = r->has_mode ? "mode" : r->has_step ? "step" : "from_step";
    else if (r->config_version || r->system[0] || r->sequential)
        extra = r->config_version ? "config" : r->system[0] ? "system" : "sequential";
    else if (r->has_on_failure || r->has_target_state || r->allow_colocation)
        extra = r->has_on_failure     ? "on_failure"
                : r->has_target_state ? "target_state"
                                      : "allow_colocation";
    if (extra != NULL) {
        util_errf(errstr, errstr_size,
                  "field %s is not valid with action %s (it acts on the job as recorded)", extra,
                  action_names[r->action]);
        return -1;
    }
    return 0;
}

/* A new migration (migrate_guest, return) names the guest and both hosts and no job. */
static int migration_fields(const request *r, char *errstr, size_t errstr_size)
{
    static const struct {
        const char *field, *what;
        size_t off;
    } need[] = {
        {"guest", "the guest hostname", offsetof(request, guest)},
        {"src_host", "the source KVM host", offsetof(request, src_host)},
        {"tgt_host", "the target KVM host", offsetof(request, tgt_host)},
    };
    const char *name = action_names[r->action];
    size_t i;

    for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        if (((const char *)r + need[i].off)[0] == '\0') {
            util_errf(errstr, errstr_size, "missing required field %s (%s) for action %s",
                      need[i].field, need[i].what, name);
            return -1;
        }
    }
    if (r->job_id[0] != '\0') {
        util_errf(errstr, errstr_size,
                  "field job_id is only valid with action replay, cancel or rollback (a new "
                  "migration has no job yet)");
        return -1;
    }
    if (r->has_from_step) {
        util_errf(errstr, errstr_size,
                  "field from_step is only valid with action replay (use step to run a "
                  "single step of a new migration)");
        return -1;
    }
    if (r->action == ACTION_RETURN && r->evacuation <= 0) {
        util_errf(errstr, errstr_size,
                  "missing required field evacuation (the evacuation whose move is undone) for "
                  "action return");
        return -1;
    }
    return 0;
}

int request_validate(const request *r, char *errstr, size_t errstr_size)
{
    char why[512];

    if (!util_is_uuid(r->request_id)) {
        util_errf(errstr, errstr_size, "field request_id: not a UUID");
        return -1;
    }
    if ((unsigned)r->action >= ACTION__COUNT) {
        util_errf(errstr, errstr_size, "field action: unknown action %d", (int)r->action);
        return -1;
    }
    if (request_action_names_job(r->action) ? job_action_extras(r, errstr, errstr_size) != 0
                                            : migration_fields(r, errstr, errstr_size) != 0)
        return -1;
    if (r->reason[0] != '\0') {
        long n = reason_chars(r->reason);
        if (n < 1 || n > REQUEST_REASON_CHARS) {
            util_errf(errstr, errstr_size,
                      "field reason: %s (expected 1 to %d characters of text without control "
                      "characters)",
                      n < 0 ? "is not text without control characters" : "is too long",
                      REQUEST_REASON_CHARS);
            return -1;
        }
    }
    if (r->allow_colocation && r->reason[0] == '\0') {
        util_errf(errstr, errstr_size,
                  "field allow_colocation needs a reason (say why two members of a VM cluster "
                  "may share a KVM host)");
        return -1;
    }
    if (r->has_step && r->has_from_step) {
        util_errf(errstr, errstr_size,
                  "fields step and from_step are mutually exclusive (step runs that one step "
                  "only, from_step resumes at a step and runs the rest)");
        return -1;
    }
    if (r->has_step && step_to_string(r->step) == NULL) {
        util_errf(errstr, errstr_size, "field step: unknown step %d", (int)r->step);
        return -1;
    }
    if (r->has_from_step && step_to_string(r->from_step) == NULL) {
        util_errf(errstr, errstr_size, "field from_step: unknown step %d", (int)r->from_step);
        return -1;
    }
    if (mode_to_string(r->mode) == NULL) {
        util_errf(errstr, errstr_size, "field mode: unknown mode %d", (int)r->mode);
        return -1;
    }
    if (r->guest[0] != '\0' && name_check(NAME_GUEST, "guest", r->guest, why, sizeof(why)) != 0)
        goto bad_name;
    if (r->src_host[0] != '\0' &&
        name_check(NAME_HOST, "source host", r->src_host, why, sizeof(why)) != 0)
        goto bad_name;
    if (r->tgt_host[0] != '\0' &&
        name_check(NAME_HOST, "target host", r->tgt_host, why, sizeof(why)) != 0)
        goto bad_name;
    /* Hostnames are case-insensitive: EXA01ADM02 and exa01adm02 are one host. */
    if (r->src_host[0] != '\0' && strcasecmp(r->src_host, r->tgt_host) == 0) {
        util_errf(errstr, errstr_size,
                  "src_host and tgt_host are both \"%s\" (the target must be another KVM "
                  "host)",
                  r->src_host);
        return -1;
    }
    if (r->config_version < 0 || r->config_version > CONFIG_MAX) {
        util_errf(errstr, errstr_size, "field config: %ld is not an es.xml version",
                  r->config_version);
        return -1;
    }
    if (r->system[0] != '\0' && !pattern_match(SYSTEM_PATTERN, r->system)) {
        util_errf(errstr, errstr_size, "field system: not an es.xml system name");
        return -1;
    }
    if (!pattern_match(SUBMITTED_BY_PATTERN, r->submitted_by)) {
        util_errf(errstr, errstr_size, "field submitted_by: not a user name");
        return -1;
    }
    if (!pattern_match(SUBMITTED_AT_PATTERN, r->submitted_at)) {
        util_errf(errstr, errstr_size, "field submitted_at: not an RFC 3339 timestamp");
        return -1;
    }
    return 0;
bad_name:
    util_errf(errstr, errstr_size, "%s", why);
    return -1;
}

char *request_to_json(const request *r)
{
    json_t *o = json_object();
    char *s = NULL;
    int bad = 0;

    if (o == NULL)
        return NULL;
    bad |= json_object_set_new(o, "request_id", json_string(r->request_id));
    bad |= json_object_set_new(o, "action",
                               json_string(request_action_to_string(r->action)
                                               ? request_action_to_string(r->action)
                                               : "?"));
    if (r->guest[0] != '\0')
        bad |= json_object_set_new(o, "guest", json_string(r->guest));
    if (r->action == ACTION_MIGRATE_GUEST || r->action == ACTION_RETURN || r->has_mode)
        bad |= json_object_set_new(o, "mode", json_string(mode_to_string(r->mode)));
    if (r->src_host[0] != '\0')
        bad |= json_object_set_new(o, "src_host", json_string(r->src_host));
    if (r->tgt_host[0] != '\0')
        bad |= json_object_set_new(o, "tgt_host", json_string(r->tgt_host));
    if (r->has_step)
        bad |= json_object_set_new(o, "step", json_string(step_to_string(r->step)));
    if (r->has_from_step)
        bad |= json_object_set_new(o, "from_step", json_string(step_to_string(r->from_step)));
    if (r->job_id[0] != '\0')
        bad |= json_object_set_new(o, "job_id", json_string(r->job_id));
    if (r->config_version > 0)
        bad |= json_object_set_new(o, "config", json_integer(r->config_version));
    if (r->system[0] != '\0')
        bad |= json_object_set_new(o, "system", json_string(r->system));
    if (r->sequential)
        bad |= json_object_set_new(o, "sequential", json_true());
    if (r->reason[0] != '\0')
        bad |= json_object_set_new(o, "reason", json_string(r->reason));
    if (r->has_on_failure)
        bad |= json_object_set_new(o, "on_failure",
                                   json_string(r->on_failure_rollback ? "rollback" : "stop"));
    if (r->has_target_state)
        bad |= json_object_set_new(o, "target_state",
                                   json_string(r->target_stopped ? "stopped" : "running"));
    if (r->allow_colocation)
        bad |= json_object_set_new(o, "allow_colocation", json_true());
    if (r->evacuation > 0)
        bad |= json_object_set_new(o, "evacuation", json_integer(r->evacuation));
    bad |= json_object_set_new(o, "submitted_by", json_string(r->submitted_by));
    bad |= json_object_set_new(o, "submitted_at", json_string(r->submitted_at));
    /* json_string() returns NULL for invalid UTF-8; set_new then fails and we say so. */
    if (!bad)
        s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ---- the spec's command form ---- */

/* The command parameters, in the order the spec writes them. */
enum { P_HOSTNAME, P_MODE, P_SRCHOST, P_TGTHOST, P__COUNT };

static const struct {
    const char *key;
    const char *placeholder; /* as the spec's syntax line names the value */
} params[P__COUNT] = {
    [P_HOSTNAME] = {"HOSTNAME", "guest_name"},
    [P_MODE] = {"MODE", "OFFLINE|OFFLINEFORCE"},
    [P_SRCHOST] = {"SRCHOST", "source_host"},
    [P_TGTHOST] = {"TGTHOST", "target_host"},
};

#define COMMAND_SYNTAX                                                                             \
    "MIGRATE GUEST HOSTNAME=guest_name MODE={OFFLINE|OFFLINEFORCE} SRCHOST=source_host "           \
    "TGTHOST=target_host [WHERE STEPNAME=step]"

/* Splits a KEY=VALUE token in place. Returns the value, or NULL (with errstr) if TOKEN has no
 * '=' or an empty key or value. */
static char *split_param(char *token, char *errstr, size_t errstr_size)
{
    char *eq = strchr(token, '=');
    char shown[300];

    name_escape(token, shown, sizeof(shown));
    if (eq == NULL) {
        util_errf(errstr, errstr_size,
                  "expected KEY=VALUE, got \"%s\" (write parameters without spaces around "
                  "'=': " COMMAND_SYNTAX ")",
                  shown);
        return NULL;
    }
    if (eq == token) {
        util_errf(errstr, errstr_size, "parameter \"%s\" has no name before '='", shown);
        return NULL;
    }
    *eq = '\0';
    if (eq[1] == '\0') {
        name_escape(token, shown, sizeof(shown));
        util_errf(errstr, errstr_size, "parameter %s has no value (write %s=value)", shown, shown);
        return NULL;
    }
    return eq + 1;
}

int request_parse_command(const char *command, request *out, char *errstr, size_t errstr_size)
{
    static const char *const seps = " \t\r\n";
    char *copy = NULL, *save = NULL, *tok, *value;
    const char *given[P__COUNT] = {NULL};
    char shown[300], why[512], missing[128];
    request r = *out;
    int rc = -1, p;

    if (command == NULL)
        command = "";
    copy = strdup(command);
    if (copy == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        goto out;
    }
    tok = strtok_r(copy, seps, &save);
    if (tok == NULL) {
        util_errf(errstr, errstr_size, "empty command (expected " COMMAND_SYNTAX ")");
        goto out;
    }
    if (strcasecmp(tok, "MIGRATE") != 0) {
        name_escape(tok, shown, sizeof(shown));
        util_errf(errstr, errstr_size, "unknown command \"%s\" (expected " COMMAND_SYNTAX ")",
                  shown);
        goto out;
    }
    tok = strtok_r(NULL, seps, &save);
    if (tok == NULL || strcasecmp(tok, "GUEST") != 0) {
        name_escape(tok, shown, sizeof(shown));
        util_errf(errstr, errstr_size,
                  "expected GUEST after MIGRATE, got \"%s\" (expected " COMMAND_SYNTAX ")", shown);
        goto out;
    }

    r.action = ACTION_MIGRATE_GUEST;
    r.has_step = 0;
    r.has_from_step = 0;
    r.job_id[0] = '\0';
    while ((tok = strtok_r(NULL, seps, &save)) != NULL && strcasecmp(tok, "WHERE") != 0) {
        value = split_param(tok, errstr, errstr_size);
        if (value == NULL)
            goto out;
        for (p = 0; p < P__COUNT; p++) {
            if (strcasecmp(tok, params[p].key) == 0)
                break;
        }
        if (p == P__COUNT) {
            name_escape(tok, shown, sizeof(shown));
            util_errf(errstr, errstr_size,
                      "unknown parameter \"%s\" (expected HOSTNAME, MODE, SRCHOST and TGTHOST)",
                      shown);
            goto out;
        }
        if (given[p] != NULL) {
            util_errf(errstr, errstr_size, "parameter %s is given twice", params[p].key);
            goto out;
        }
        given[p] = value;
    }

    missing[0] = '\0';
    for (p = 0; p < P__COUNT; p++) {
        if (given[p] == NULL) {
            size_t n = strlen(missing);
            snprintf(missing + n, sizeof(missing) - n, "%s%s=%s", n ? ", " : "", params[p].key,
                     params[p].placeholder);
        }
    }
    if (missing[0] != '\0') {
        util_errf(errstr, errstr_size, "missing %s (expected " COMMAND_SYNTAX ")", missing);
        goto out;
    }

    if (name_check(NAME_GUEST, "guest", given[P_HOSTNAME], why, sizeof(why)) != 0) {
        util_errf(errstr, errstr_size, "HOSTNAME: %s", why);
        goto out;
    }
    if (mode_from_string(given[P_MODE], &r.mode) != 0) {
        name_escape(given[P_MODE], shown, sizeof(shown));
        util_errf(errstr, errstr_size,
                  "MODE: \"%s\" is not a mode (expected OFFLINE or "
                  "OFFLINEFORCE)",
                  shown);
        goto out;
    }
    r.has_mode = 1;
    if (name_check(NAME_HOST, "source host", given[P_SRCHOST], why, sizeof(why)) != 0) {
        util_errf(errstr, errstr_size, "SRCHOST: %s", why);
        goto out;
    }
    if (name_check(NAME_HOST, "target host", given[P_TGTHOST], why, sizeof(why)) != 0) {
        util_errf(errstr, errstr_size, "TGTHOST: %s", why);
        goto out;
    }
    /* name_check bounds each to 253 characters, so these copies cannot truncate. */
    util_strlcpy(r.guest, given[P_HOSTNAME], sizeof(r.guest));
    util_strlcpy(r.src_host, given[P_SRCHOST], sizeof(r.src_host));
    util_strlcpy(r.tgt_host, given[P_TGTHOST], sizeof(r.tgt_host));
    if (strcasecmp(r.src_host, r.tgt_host) == 0) {
        util_errf(errstr, errstr_size,
                  "SRCHOST and TGTHOST are both %s (the target must be another KVM host)",
                  r.src_host);
        goto out;
    }

    if (tok != NULL) { /* WHERE STEPNAME=step, and nothing after it */
        tok = strtok_r(NULL, seps, &save);
        if (tok == NULL) {
            util_errf(errstr, errstr_size, "WHERE must be followed by STEPNAME=step");
            goto out;
        }
        value = split_param(tok, errstr, errstr_size);
        if (value == NULL)
            goto out;
        if (strcasecmp(tok, "STEPNAME") != 0) {
            name_escape(tok, shown, sizeof(shown));
            util_errf(errstr, errstr_size,
                      "unknown condition \"%s\" after WHERE (expected STEPNAME=step)", shown);
            goto out;
        }
        if (step_from_string(value, &r.step) != 0) {
            char names[STEP_NAMES_MAX];
            name_escape(value, shown, sizeof(shown));
            util_errf(errstr, errstr_size,
                      "STEPNAME: \"%s\" is not a migration step (expected one of %s)", shown,
                      step_names(", ", names, sizeof(names)));
            goto out;
        }
        r.has_step = 1;
        tok = strtok_r(NULL, seps, &save);
        if (tok != NULL) {
            name_escape(tok, shown, sizeof(shown));
            util_errf(errstr, errstr_size,
                      "unexpected \"%s\" after WHERE STEPNAME=%s (one condition only)", shown,
                      step_to_string(r.step));
            goto out;
        }
    }

    if (request_validate(&r, errstr, errstr_size) != 0)
        goto out;
    *out = r;
    rc = 0;
out:
    free(copy);
    return rc;
}
