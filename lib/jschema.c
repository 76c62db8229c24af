/* jschema: a small JSON Schema (draft 2020-12 subset) validator for the schemas in schema/. */
#include "jschema.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_DEPTH 64 /* nesting of schemas while validating ($ref loops end here) */
#define PATH_MAX_LEN 256
#define BRANCH_ERR 256 /* room for each alternative's reason in a oneOf/anyOf message */

typedef struct pattern {
    char *source;
    regex_t re;
} pattern;

struct jschema {
    json_t *root; /* owned */
    pattern *patterns;
    size_t n_patterns;
};

/* A JSON path being built while descending ("$.data.job_id", "$.items[3]"). */
typedef struct path {
    char buf[PATH_MAX_LEN];
    size_t len;
} path;

static size_t path_push_key(path *p, const char *key)
{
    size_t old = p->len, i;
    int plain =
        (key[0] >= 'A' && key[0] <= 'Z') || (key[0] >= 'a' && key[0] <= 'z') || key[0] == '_';
    char safe[64];

    for (i = 0; key[i] != '\0' && plain; i++) {
        char c = key[i];
        plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '$';
    }
    if (plain) {
        snprintf(p->buf + old, sizeof(p->buf) - old, ".%s", key);
    } else {
        /* Property names come from the message: keep them printable in the path. */
        for (i = 0; key[i] != '\0' && i < sizeof(safe) - 1; i++) {
            unsigned char c = (unsigned char)key[i];
            safe[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
        }
        safe[i] = '\0';
        snprintf(p->buf + old, sizeof(p->buf) - old, "[\"%s\"]", safe);
    }
    p->len = strlen(p->buf);
    return old;
}

static size_t path_push_index(path *p, size_t index)
{
    size_t old = p->len;

    snprintf(p->buf + old, sizeof(p->buf) - old, "[%zu]", index);
    p->len = strlen(p->buf);
    return old;
}

static void path_pop(path *p, size_t old)
{
    p->len = old;
    p->buf[old] = '\0';
}

static const char *type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static int is_integral(const json_t *v)
{
    double d;

    if (json_is_integer(v))
        return 1;
    if (!json_is_real(v))
        return 0;
    d = json_real_value(v); /* finite: jansson holds no NaN or infinity */
    if (d >= 9007199254740992.0 || d <= -9007199254740992.0)
        return 1; /* from 2^53 on, every double is a whole number */
    return (double)(long long)d == d;
}

int jschema_integer(const json_t *v, json_int_t *out)
{
    double d;

    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    if (!is_integral(v))
        return 0;
    d = json_real_value(v);
    if (d >= 9223372036854775807.0 || d < -9223372036854775807.0)
        return 0; /* whole, but no json_int_t holds it */
    *out = (json_int_t)d;
    return 1;
}

static int type_matches(const char *type, const json_t *v)
{
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "integer") == 0)
        return is_integral(v);
    return strcmp(type, type_of(v)) == 0;
}

/* Compact JSON of V for messages, cut to fit OUT. */
static void show(const json_t *v, char *out, size_t out_size)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);

    if (s == NULL) {
        util_strlcpy(out, "?", out_size);
        return;
    }
    if (util_strlcpy(out, s, out_size) != 0 && out_size > 4)
        memcpy(out + out_size - 4, "...", 4);
    free(s);
}

/* ---- loading: check every keyword, compile every pattern ---- */

static const char *const annotations[] = {
    "$schema", "$id", "$comment", "title", "description", "default", "examples",
};

static const char *const type_names[] = {
    "object", "array", "string", "integer", "number", "boolean", "null",
};

static int known_type(const json_t *t)
{
    size_t i;

    if (!json_is_string(t))
        return 0;
    for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strcmp(json_string_value(t), type_names[i]) == 0)
            return 1;
    }
    return 0;
}

static const regex_t *find_pattern(const jschema *s, const char *source)
{
    size_t i;

    for (i = 0; i < s->n_patterns; i++) {
        if (strcmp(s->patterns[i].source, source) == 0)
            return &s->patterns[i].re;
    }
    return NULL;
}

static int add_pattern(jschema *s, const char *source, const char *at, char *errstr,
                       size_t errstr_size)
{
    pattern *grown;
    char why[128];
    int rc;

    if (find_pattern(s, source) != NULL)
        return 0;
    grown = realloc(s->patterns, (s->n_patterns + 1) * sizeof(*grown));
    if (grown == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    s->patterns = grown;
    rc = regcomp(&grown[s->n_patterns].re, source, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, &grown[s->n_patterns].re, why, sizeof(why));
        util_errf(errstr, errstr_size,
                  "schema %s: pattern %s is not a POSIX extended regular "
                  "expression: %s",
                  at, source, why);
        return -1;
    }
    grown[s->n_patterns].source = strdup(source);
    if (grown[s->n_patterns].source == NULL) {
        regfree(&grown[s->n_patterns].re);
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    s->n_patterns++;
    return 0;
}

/* Resolves "#/$defs/NAME" against the root. Returns NULL if it is not such a reference or
 * names nothing. */
static const json_t *resolve_ref(const jschema *s, const char *ref)
{
    static const char prefix[] = "#/$defs/";

    if (strncmp(ref, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    return json_object_get(json_object_get(s->root, "$defs"), ref + sizeof(prefix) - 1);
}

static int check_schema(jschema *s, const json_t *node, path *at, char *errstr, size_t errstr_size);

static int check_schema_array(jschema *s, const char *kw, const json_t *arr, path *at, char *errstr,
                              size_t errstr_size)
{
    size_t i, old;
    json_t *sub;

    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        util_errf(errstr, errstr_size, "schema %s: %s must be a non-empty array of schemas",
                  at->buf, kw);
        return -1;
    }
    json_array_foreach(arr, i, sub)
    {
        old = path_push_index(at, i);
        if (check_schema(s, sub, at, errstr, errstr_size) != 0)
            return -1;
        path_pop(at, old);
    }
    return 0;
}

static int check_schema(jschema *s, const json_t *node, path *at, char *errstr, size_t errstr_size)
{
    const char *kw, *name;
    json_t *v, *sub;
    size_t i, old;
    int ok;

    if (json_is_boolean(node))
        return 0;
    if (!json_is_object(node)) {
        util_errf(errstr, errstr_size, "schema %s: a schema must be an object or a boolean",
                  at->buf);
        return -1;
    }
    json_object_foreach((json_t *)node, kw, v)
    {
        old = path_push_key(at, kw);
        ok = 1;
        for (i = 0; i < sizeof(annotations) / sizeof(annotations[0]); i++) {
            if (strcmp(kw, annotations[i]) == 0)
                goto next;
        }
        if (strcmp(kw, "$defs") == 0 || strcmp(kw, "properties") == 0) {
            if (!json_is_object(v)) {
                util_errf(errstr, errstr_size, "schema %s: must be an object of schemas", at->buf);
                return -1;
            }
            json_object_foreach(v, name, sub)
            {
                size_t o2 = path_push_key(at, name);
                if (check_schema(s, sub, at, errstr, errstr_size) != 0)
                    return -1;
                path_pop(at, o2);
            }
        } else if (strcmp(kw, "additionalProperties") == 0 || strcmp(kw, "items") == 0 ||
                   strcmp(kw, "not") == 0) {
            if (check_schema(s, v, at, errstr, errstr_size) != 0)
                return -1;
        } else if (strcmp(kw, "oneOf") == 0 || strcmp(kw, "anyOf") == 0 ||
                   strcmp(kw, "allOf") == 0) {
            if (check_schema_array(s, kw, v, at, errstr, errstr_size) != 0)
                return -1;
        } else if (strcmp(kw, "type") == 0) {
            if (json_is_array(v)) {
                json_array_foreach(v, i, sub) ok = ok && known_type(sub);
                ok = ok && json_array_size(v) > 0;
            } else {
                ok = known_type(v);
            }
        } else if (strcmp(kw, "required") == 0) {
            ok = json_is_array(v);
            json_array_foreach(v, i, sub) ok = ok && json_is_string(sub);
        } else if (strcmp(kw, "enum") == 0) {
            ok = json_is_array(v) && json_array_size(v) > 0;
        } else if (strcmp(kw, "const") == 0) {
            ok = 1;
        } else if (strcmp(kw, "pattern") == 0) {
            if (!json_is_string(v)) {
                ok = 0;
            } else if (add_pattern(s, json_string_value(v), at->buf, errstr, errstr_size) != 0) {
                return -1;
            }
        } else if (strcmp(kw, "minLength") == 0 || strcmp(kw, "maxLength") == 0) {
            ok = json_is_integer(v) && json_integer_value(v) >= 0;
        } else if (strcmp(kw, "minimum") == 0 || strcmp(kw, "maximum") == 0) {
            ok = json_is_number(v);
        } else if (strcmp(kw, "$ref") == 0) {
            if (!json_is_string(v) || resolve_ref(s, json_string_value(v)) == NULL) {
                util_errf(errstr, errstr_size,
                          "schema %s: $ref must name an existing \"#/$defs/NAME\"", at->buf);
                return -1;
            }
        } else {
            util_errf(errstr, errstr_size,
                      "schema %s: keyword %s is not supported by kvmove's validator", at->buf, kw);
            return -1;
        }
        if (!ok) {
            util_errf(errstr, errstr_size, "schema %s: malformed value for %s", at->buf, kw);
            return -1;
        }
    next:
        path_pop(at, old);
    }
    return 0;
}

static int load_doc(json_t *doc, jschema **out, char *errstr, size_t errstr_size)
{
    jschema *s = calloc(1, sizeof(*s));
    path at = {"$", 1};

    *out = NULL;
    if (s == NULL) {
        json_decref(doc);
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    s->root = doc;
    if (check_schema(s, doc, &at, errstr, errstr_size) != 0) {
        jschema_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int jschema_load_file(const char *file, jschema **out, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *doc = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);

    *out = NULL;
    if (doc == NULL) {
        util_errf(errstr, errstr_size, "cannot load JSON schema %s: %s (line %d)", file, jerr.text,
                  jerr.line);
        return -1;
    }
    if (load_doc(doc, out, errstr, errstr_size) != 0) {
        size_t n = strlen(errstr);
        char why[512];

        /* name the file the error is in */
        if (errstr_size > 0 && n < sizeof(why)) {
            memcpy(why, errstr, n + 1);
            util_errf(errstr, errstr_size, "%s: %s", file, why);
        }
        return -1;
    }
    return 0;
}

int jschema_load_string(const char *text, jschema **out, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

    *out = NULL;
    if (doc == NULL) {
        util_errf(errstr, errstr_size, "JSON schema is not valid JSON: %s (line %d)", jerr.text,
                  jerr.line);
        return -1;
    }
    return load_doc(doc, out, errstr, errstr_size);
}

void jschema_free(jschema *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->n_patterns; i++) {
        regfree(&s->patterns[i].re);
        free(s->patterns[i].source);
    }
    free(s->patterns);
    json_decref(s->root);
    free(s);
}

/* ---- validation ---- */

static int validate(const jschema *s, const json_t *sch, const json_t *v, path *at, int depth,
                    char *errstr, size_t errstr_size);

static size_t utf8_length(const char *str, size_t bytes)
{
    size_t i, n = 0;

    for (i = 0; i < bytes; i++) {
        if (((unsigned char)str[i] & 0xc0) != 0x80)
            n++;
    }
    return n;
}

/* Compares two JSON numbers: <0, 0, >0. Integers compare exactly. */
static int number_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
}

/* Equality as JSON Schema defines it for const and enum: numbers by value (1 equals 1.0),
 * objects member by member, arrays element by element, the rest as jansson compares them. */
static int value_equal(const json_t *a, const json_t *b)
{
    const char *key;
    json_t *m;
    size_t i;

    if (json_is_number(a) && json_is_number(b))
        return number_cmp(a, b) == 0;
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach((json_t *)a, key, m)
        {
            const json_t *other = json_object_get(b, key);
            if (other == NULL || !value_equal(m, other))
                return 0;
        }
        return 1;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (i = 0; i < json_array_size(a); i++)
            if (!value_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static int check_type(const json_t *type, const json_t *v, path *at, char *errstr,
                      size_t errstr_size)
{
    char want[128];
    json_t *t;
    size_t i;

    if (json_is_string(type)) {
        if (type_matches(json_string_value(type), v))
            return 0;
        util_strlcpy(want, json_string_value(type), sizeof(want));
    } else {
        json_array_foreach(type, i, t)
        {
            if (type_matches(json_string_value(t), v))
                return 0;
        }
        show(type, want, sizeof(want));
    }
    util_errf(errstr, errstr_size, "%s: expected %s, got %s", at->buf, want, type_of(v));
    return -1;
}

static int check_string(const jschema *s, const json_t *sch, const json_t *v, path *at,
                        char *errstr, size_t errstr_size)
{
    const char *str = json_string_value(v);
    size_t bytes = json_string_length(v), len = utf8_length(str, bytes);
    json_t *k;
    char shown[160];

    k = json_object_get(sch, "minLength");
    if (k != NULL && (json_int_t)len < json_integer_value(k)) {
        util_errf(errstr, errstr_size,
                  "%s: length %zu is less than minLength %" JSON_INTEGER_FORMAT, at->buf, len,
                  json_integer_value(k));
        return -1;
    }
    k = json_object_get(sch, "maxLength");
    if (k != NULL && (json_int_t)len > json_integer_value(k)) {
        util_errf(errstr, errstr_size,
                  "%s: length %zu is more than maxLength %" JSON_INTEGER_FORMAT, at->buf, len,
                  json_integer_value(k));
        return -1;
    }
    k = json_object_get(sch, "pattern");
    if (k != NULL) {
        const regex_t *re = find_pattern(s, json_string_value(k));
        /* an embedded NUL would hide the rest of the string from regexec */
        if (re == NULL || strlen(str) != bytes || regexec(re, str, 0, NULL, 0) != 0) {
            show(v, shown, sizeof(shown));
            util_errf(errstr, errstr_size, "%s: %s does not match pattern %s", at->buf, shown,
                      json_string_value(k));
            return -1;
        }
    }
    return 0;
}

static int check_object(const jschema *s, const json_t *sch, const json_t *v, path *at, int depth,
                        char *errstr, size_t errstr_size)
{
    json_t *req = json_object_get(sch, "required");
    json_t *props = json_object_get(sch, "properties");
    json_t *extra = json_object_get(sch, "additionalProperties");
    const char *key;
    json_t *item, *sub;
    size_t i, old;

    json_array_foreach(req, i, item)
    {
        if (json_object_get(v, json_string_value(item)) == NULL) {
            util_errf(errstr, errstr_size, "%s: missing required property \"%s\"", at->buf,
                      json_string_value(item));
            return -1;
        }
    }
    json_object_foreach((json_t *)v, key, item)
    {
        sub = json_object_get(props, key);
        if (sub == NULL)
            sub = extra;
        if (sub == NULL)
            continue;
        if (json_is_false(sub)) {
            char safe[80];
            path tmp = {"", 0};
            path_push_key(&tmp, key);
            util_strlcpy(safe, tmp.buf, sizeof(safe));
            util_errf(errstr, errstr_size, "%s: property %s is not allowed", at->buf,
                      safe[0] == '.' ? safe + 1 : safe);
            return -1;
        }
        old = path_push_key(at, key);
        if (validate(s, sub, item, at, depth + 1, errstr, errstr_size) != 0)
            return -1;
        path_pop(at, old);
    }
    return 0;
}

/* anyOf / oneOf: counts the alternatives V matches; when none does, the message lists each
 * alternative's reason. */
static int check_alternatives(const jschema *s, const char *kw, const json_t *alts, const json_t *v,
                              path *at, int depth, char *errstr, size_t errstr_size)
{
    char reasons[1024] = "", why[BRANCH_ERR];
    size_t i, n, matched = 0, first = 0, second = 0;
    json_t *alt;

    json_array_foreach(alts, i, alt)
    {
        if (validate(s, alt, v, at, depth + 1, why, sizeof(why)) == 0) {
            if (matched == 0)
                first = i;
            else if (matched == 1)
                second = i;
            matched++;
        } else {
            n = strlen(reasons);
            snprintf(reasons + n, sizeof(reasons) - n, "%s[%zu] %s", n ? "; " : "", i, why);
        }
    }
    if (matched == 0) {
        util_errf(errstr, errstr_size, "%s: matches none of the %s alternatives: %s", at->buf, kw,
                  reasons);
        return -1;
    }
    if (matched > 1 && strcmp(kw, "oneOf") == 0) {
        util_errf(errstr, errstr_size,
                  "%s: matches oneOf alternatives %zu and %zu, expected exactly one", at->buf,
                  first, second);
        return -1;
    }
    return 0;
}

static int validate(const jschema *s, const json_t *sch, const json_t *v, path *at, int depth,
                    char *errstr, size_t errstr_size)
{
    char shown[160], want[256];
    json_t *k, *item;
    size_t i;
    int found;

    if (depth > MAX_DEPTH) {
        util_errf(errstr, errstr_size, "%s: schema nesting deeper than %d (a $ref loop?)", at->buf,
                  MAX_DEPTH);
        return -1;
    }
    if (json_is_true(sch))
        return 0;
    if (json_is_false(sch)) {
        util_errf(errstr, errstr_size, "%s: no value is allowed here", at->buf);
        return -1;
    }
    k = json_object_get(sch, "type");
    if (k != NULL && check_type(k, v, at, errstr, errstr_size) != 0)
        return -1;
    k = json_object_get(sch, "const");
    if (k != NULL && !value_equal(k, v)) {
        show(k, want, sizeof(want));
        show(v, shown, sizeof(shown));
        util_errf(errstr, errstr_size, "%s: expected %s, got %s", at->buf, want, shown);
        return -1;
    }
    k = json_object_get(sch, "enum");
    if (k != NULL) {
        found = 0;
        json_array_foreach(k, i, item) found = found || value_equal(item, v);
        if (!found) {
            show(k, want, sizeof(want));
            show(v, shown, sizeof(shown));
            util_errf(errstr, errstr_size, "%s: %s is not one of %s", at->buf, shown, want);
            return -1;
        }
    }
    if (json_is_string(v) && check_string(s, sch, v, at, errstr, errstr_size) != 0)
        return -1;
    if (json_is_number(v)) {
        k = json_object_get(sch, "minimum");
        if (k != NULL && number_cmp(v, k) < 0) {
            show(v, shown, sizeof(shown));
            show(k, want, sizeof(want));
            util_errf(errstr, errstr_size, "%s: %s is less than minimum %s", at->buf, shown, want);
            return -1;
        }
        k = json_object_get(sch, "maximum");
        if (k != NULL && number_cmp(v, k) > 0) {
            show(v, shown, sizeof(shown));
            show(k, want, sizeof(want));
            util_errf(errstr, errstr_size, "%s: %s is more than maximum %s", at->buf, shown, want);
            return -1;
        }
    }
    if (json_is_object(v) && check_object(s, sch, v, at, depth, errstr, errstr_size) != 0)
        return -1;
    k = json_object_get(sch, "items");
    if (k != NULL && json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            size_t old = path_push_index(at, i);
            if (validate(s, k, item, at, depth + 1, errstr, errstr_size) != 0)
                return -1;
            path_pop(at, old);
        }
    }
    k = json_object_get(sch, "allOf");
    json_array_foreach(k, i, item)
    {
        if (validate(s, item, v, at, depth + 1, errstr, errstr_size) != 0)
            return -1;
    }
    k = json_object_get(sch, "anyOf");
    if (k != NULL && check_alternatives(s, "anyOf", k, v, at, depth, errstr, errstr_size) != 0)
        return -1;
    k = json_object_get(sch, "oneOf");
    if (k != NULL && check_alternatives(s, "oneOf", k, v, at, depth, errstr, errstr_size) != 0)
        return -1;
    k = json_object_get(sch, "not");
    if (k != NULL && validate(s, k, v, at, depth + 1, shown, sizeof(shown)) == 0) {
        /* The subschema's description says in words what is forbidden. */
        item = json_is_object(k) ? json_object_get(k, "description") : NULL;
        util_errf(errstr, errstr_size, "%s: %s", at->buf,
                  json_is_string(item) ? json_string_value(item)
                                       : "matches a schema it must not match (\"not\")");
        return -1;
    }
    k = json_object_get(sch, "$ref");
    if (k != NULL && validate(s, resolve_ref(s, json_string_value(k)), v, at, depth + 1, errstr,
                              errstr_size) != 0)
        return -1;
    return 0;
}

int jschema_validate(const jschema *s, const json_t *value, char *errstr, size_t errstr_size)
{
    path at = {"$", 1};

    if (s == NULL || value == NULL) {
        util_errf(errstr, errstr_size, "no schema or no value to validate");
        return -1;
    }
    return validate(s, s->root, value, &at, 0, errstr, errstr_size);
}
