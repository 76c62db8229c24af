/* test_jschema: the validator's keywords, and the schemas agreeing with the C checks on every
 * fixture message. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "jschema.h"
#include "request.h"
#include "unit_run.h"

/* ---- keywords, one schema/instance pair per row ---- */

static const struct {
    const char *schema;
    const char *instance;
    const char *error; /* NULL: valid; else a substring of the error */
} kw_cases[] = {
    {"{\"type\":\"string\"}", "\"x\"", NULL},
    {"{\"type\":\"string\"}", "1", "$: expected string, got integer"},
    {"{\"type\":\"integer\"}", "1.5", "expected integer, got number"},
    /* 2020-12: an integer is any number with a zero fractional part (ajv and the
     * JSON-Schema-Test-Suite agree); numbers are equal by value in const and enum. */
    {"{\"type\":\"integer\"}", "1.0", NULL},
    {"{\"type\":\"integer\"}", "-0.0", NULL},
    {"{\"type\":\"integer\"}", "1e2", NULL},
    {"{\"type\":\"integer\"}", "1.000001", "expected integer, got number"},
    {"{\"type\":\"number\"}", "1.0", NULL},
    {"{\"const\":1}", "1.0", NULL},
    {"{\"const\":1.0}", "1", NULL},
    {"{\"const\":1}", "1.5", "expected 1, got 1.5"},
    {"{\"const\":{\"a\":[1,2.0]}}", "{\"a\":[1.0,2]}", NULL},
    {"{\"const\":{\"a\":[1]}}", "{\"a\":[1],\"b\":1}", "expected"},
    {"{\"const\":[1]}", "[1,1]", "expected"},
    {"{\"const\":false}", "0", "expected false, got 0"},
    {"{\"enum\":[0,\"x\"]}", "0.0", NULL},
    {"{\"enum\":[9007199254740993]}", "9007199254740992", "is not one of"},
    {"{\"type\":\"number\"}", "3", NULL},
    {"{\"type\":[\"string\",\"null\"]}", "null", NULL},
    {"{\"type\":[\"string\",\"null\"]}", "true", "expected [\"string\",\"null\"], got boolean"},
    {"{\"required\":[\"a\"]}", "{\"a\":1}", NULL},
    {"{\"required\":[\"a\"]}", "{\"b\":1}", "$: missing required property \"a\""},
    {"{\"required\":[\"a\"]}", "[]", NULL}, /* applies to objects only */
    {"{\"properties\":{\"a\":{\"type\":\"string\"}}}", "{\"a\":2}",
     "$.a: expected string, got integer"},
    {"{\"properties\":{\"a\":{\"properties\":{\"b c\":{\"const\":1}}}}}", "{\"a\":{\"b c\":2}}",
     "$.a[\"b c\"]: expected 1, got 2"},
    {"{\"properties\":{\"a\":{}},\"additionalProperties\":false}", "{\"a\":1}", NULL},
    {"{\"properties\":{\"a\":{}},\"additionalProperties\":false}", "{\"a\":1,\"zz\":2}",
     "$: property zz is not allowed"},
    {"{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x\":\"s\"}", "$.x: expected integer"},
    {"{\"enum\":[\"A\",\"B\"]}", "\"B\"", NULL},
    {"{\"enum\":[\"A\",\"B\"]}", "\"a\"", "$: \"a\" is not one of [\"A\",\"B\"]"},
    {"{\"const\":\"x\"}", "\"y\"", "expected \"x\", got \"y\""},
    {"{\"const\":{\"a\":[1]}}", "{\"a\":[1]}", NULL},
    {"{\"pattern\":\"^[a-z]+$\"}", "\"abc\"", NULL},
    {"{\"pattern\":\"^[a-z]+$\"}", "\"abc\\n\"", "does not match pattern ^[a-z]+$"},
    {"{\"pattern\":\"^[a-z]+$\"}", "\"ab1\"", "$: \"ab1\" does not match pattern"},
    {"{\"pattern\":\"b\"}", "\"abc\"", NULL},          /* unanchored unless the schema anchors */
    {"{\"pattern\":\"^[a-z]+$\"}", "5", NULL},         /* applies to strings only */
    {"{\"minLength\":2}", "\"\\u00e4\\u00e4\"", NULL}, /* code points, not bytes */
    {"{\"maxLength\":1}", "\"\\u00e4\"", NULL},
    {"{\"maxLength\":1}", "\"ab\"", "length 2 is more than maxLength 1"},
    {"{\"minLength\":1}", "\"\"", "length 0 is less than minLength 1"},
    {"{\"minimum\":1}", "0", "$: 0 is less than minimum 1"},
    {"{\"minimum\":1}", "1", NULL},
    {"{\"maximum\":1.5}", "2", "2 is more than maximum 1.5"},
    {"{\"maximum\":10}", "9.5", NULL},
    {"{\"items\":{\"type\":\"integer\"}}", "[1,2,\"x\"]", "$[2]: expected integer"},
    {"{\"allOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "2", "less than minimum 3"},
    {"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}", "\"s\"", NULL},
    {"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}", "true",
     "matches none of the anyOf alternatives: [0] $: expected integer, got boolean; [1]"},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "-1", NULL},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "1",
     "matches oneOf alternatives 0 and 1"},
    {"{\"not\":{\"required\":[\"a\",\"b\"]}}", "{\"a\":1}", NULL},
    {"{\"not\":{\"required\":[\"a\",\"b\"]},\"description\":\"x\"}", "{\"a\":1,\"b\":2}",
     "must not match"},
    {"{\"not\":{\"description\":\"a and b exclude each other\",\"required\":[\"a\",\"b\"]}}",
     "{\"a\":1,\"b\":2}", "$: a and b exclude each other"},
    {"{\"$defs\":{\"n\":{\"type\":\"integer\"}},\"properties\":{\"x\":{\"$ref\":\"#/$defs/n\"}}}",
     "{\"x\":\"1\"}", "$.x: expected integer"},
    {"{\"$defs\":{\"loop\":{\"$ref\":\"#/$defs/loop\"}},\"$ref\":\"#/$defs/loop\"}", "1",
     "deeper than"},
    {"true", "{\"anything\":1}", NULL},
    {"{\"properties\":{\"a\":false}}", "{\"a\":1}", "not allowed"},
    {"{\"title\":\"t\",\"description\":\"d\",\"$comment\":\"c\",\"default\":1,\"examples\":[1]}",
     "1", NULL},
};

UNIT_TCASE("keywords");
UNIT_TCASE("fixtures");

UNIT_LOOP(test_keywords, kw_cases)
{
    char err[1024] = "";
    jschema *s = NULL;
    json_error_t jerr;
    json_t *v = json_loads(kw_cases[_i].instance, JSON_DECODE_ANY, &jerr);
    int rc;

    ck_assert_msg(v != NULL, "case %d instance: %s", _i, jerr.text);
    ck_assert_msg(jschema_load_string(kw_cases[_i].schema, &s, err, sizeof(err)) == 0,
                  "case %d schema: %s", _i, err);
    err[0] = '\0';
    rc = jschema_validate(s, v, err, sizeof(err));
    if (kw_cases[_i].error == NULL) {
        ck_assert_msg(rc == 0, "case %d: expected valid, got %s", _i, err);
    } else {
        ck_assert_msg(rc == -1, "case %d: expected invalid (%s)", _i, kw_cases[_i].error);
        ck_assert_msg(strstr(err, kw_cases[_i].error) != NULL, "case %d: %s lacks %s", _i, err,
                      kw_cases[_i].error);
    }
    json_decref(v);
    jschema_free(s);
}
END_TEST

/* Schemas the loader must refuse: a check that would silently not be made, or broken. */
static const struct {
    const char *schema;
    const char *error;
} load_cases[] = {
    {"{\"format\":\"hostname\"}", "keyword format is not supported"},
    {"{\"properties\":{\"a\":{\"if\":{}}}}", "$.properties.a.if: keyword if is not supported"},
    {"{\"pattern\":\"(\"}", "not a POSIX extended regular expression"},
    {"{\"$ref\":\"#/$defs/missing\"}", "$ref must name an existing"},
    {"{\"$ref\":\"other.json#/x\"}", "$ref must name an existing"},
    {"{\"type\":\"text\"}", "malformed value for type"},
    {"{\"required\":\"a\"}", "malformed value for required"},
    {"{\"enum\":[]}", "malformed value for enum"},
    {"{\"minLength\":-1}", "malformed value for minLength"},
    {"{\"oneOf\":[]}", "oneOf must be a non-empty array"},
    {"{\"items\":3}", "a schema must be an object or a boolean"},
    {"{\"a\":1,", "not valid JSON"},
};

UNIT_LOOP(test_load_refusals, load_cases)
{
    char err[512] = "";
    jschema *s = (jschema *)1;

    ck_assert_int_eq(jschema_load_string(load_cases[_i].schema, &s, err, sizeof(err)), -1);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, load_cases[_i].error) != NULL, "case %d: %s lacks %s", _i, err,
                  load_cases[_i].error);
}
END_TEST

UNIT_TEST(test_load_file_errors)
{
    char err[512];
    jschema *s = NULL;

    ck_assert_int_eq(jschema_load_file("/nonexistent/x.schema.json", &s, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.schema.json"));
    jschema_free(NULL);
}
END_TEST

/* ---- agreement of the schemas with the C checks on every fixture ---- */

typedef struct files {
    char **names;
    size_t n;
} files;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists DIR/ *.json, sorted; fails the test if the directory is missing or empty. */
static files list_json(const char *dir)
{
    files f = {NULL, 0};
    DIR *d = opendir(dir);
    struct dirent *e;

    ck_assert_msg(d != NULL, "cannot open %s (set KVMOVE_SOURCE_DIR)", dir);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
            f.names = realloc(f.names, (f.n + 1) * sizeof(char *));
            ck_assert_ptr_nonnull(f.names);
            ck_assert_int_ge(asprintf(&f.names[f.n], "%s/%s", dir, e->d_name), 0);
            f.n++;
        }
    }
    closedir(d);
    ck_assert_msg(f.n > 0, "no fixtures in %s", dir);
    qsort(f.names, f.n, sizeof(char *), cmp_str);
    return f;
}

static void files_free(files *f)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        free(f->names[i]);
    free(f->names);
}

static char *slurp(const char *file, size_t *len)
{
    FILE *fp = fopen(file, "rb");
    char *buf;
    long n;

    ck_assert_msg(fp != NULL, "cannot read %s", file);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static jschema *load_schema(const char *name)
{
    char file[1024], err[512];
    jschema *s = NULL;

    snprintf(file, sizeof(file), "%s/schema/%s", unit_source_dir(), name);
    ck_assert_msg(jschema_load_file(file, &s, err, sizeof(err)) == 0, "%s", err);
    return s;
}

enum { EXPECT_GOOD, EXPECT_BAD, EXPECT_SEMANTIC };

static const struct {
    const char *dir;
    int expect;
} request_dirs[] = {
    {"good", EXPECT_GOOD},
    {"bad", EXPECT_BAD},
    {"bad-semantic", EXPECT_SEMANTIC},
};

UNIT_LOOP_IN("fixtures", test_request_fixtures_agree, request_dirs)
{
    jschema *s = load_schema("request.schema.json");
    char dir[1024], cerr[1024], serr[1024];
    files f;
    size_t i;

    snprintf(dir, sizeof(dir), "%s/tests/fixtures/messages/requests/%s", unit_source_dir(),
             request_dirs[_i].dir);
    f = list_json(dir);
    for (i = 0; i < f.n; i++) {
        size_t len;
        char *buf = slurp(f.names[i], &len);
        json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
        request r;
        int c_ok = request_parse_json(buf, len, &r, cerr, sizeof(cerr)) == 0;
        int s_ok = v != NULL && jschema_validate(s, v, serr, sizeof(serr)) == 0;

        if (v == NULL)
            snprintf(serr, sizeof(serr), "not JSON");
        switch (request_dirs[_i].expect) {
        case EXPECT_GOOD:
            ck_assert_msg(c_ok, "%s: C rejects: %s", f.names[i], cerr);
            ck_assert_msg(s_ok, "%s: schema rejects: %s", f.names[i], serr);
            break;
        case EXPECT_BAD:
            ck_assert_msg(!c_ok, "%s: C accepts a bad request", f.names[i]);
            ck_assert_msg(!s_ok, "%s: schema accepts a bad request (C says: %s)", f.names[i], cerr);
            break;
        default:
            ck_assert_msg(!c_ok, "%s: C accepts a bad request", f.names[i]);
            /* if this fails, the schema learnt the rule: move the fixture to bad/ */
            ck_assert_msg(s_ok, "%s: schema rejects: %s", f.names[i], serr);
            break;
        }
        json_decref(v);
        free(buf);
    }
    files_free(&f);
    jschema_free(s);
}
END_TEST

UNIT_LOOP_RANGE_IN("fixtures", test_event_fixtures, 0, 2)
{
    jschema *s = load_schema("event.schema.json");
    char dir[1024], err[1024];
    int good = _i == 0;
    files f;
    size_t i;

    snprintf(dir, sizeof(dir), "%s/tests/fixtures/messages/events/%s", unit_source_dir(),
             good ? "good" : "bad");
    f = list_json(dir);
    for (i = 0; i < f.n; i++) {
        json_t *v = json_load_file(f.names[i], JSON_REJECT_DUPLICATES, NULL);
        int ok;

        ck_assert_msg(v != NULL, "%s is not JSON", f.names[i]);
        ok = jschema_validate(s, v, err, sizeof(err)) == 0;
        if (good) {
            ck_assert_msg(ok, "%s: schema rejects: %s", f.names[i], err);
            ck_assert_msg(event_validate(v, err, sizeof(err)) == 0, "%s: event_validate: %s",
                          f.names[i], err);
        } else {
            ck_assert_msg(!ok, "%s: schema accepts a bad event", f.names[i]);
        }
        json_decref(v);
    }
    files_free(&f);
    jschema_free(s);
}
END_TEST

/* The oneOf of the request schema still says which field is wrong. */
UNIT_TEST_IN("fixtures", test_request_schema_messages)
{
    jschema *s = load_schema("request.schema.json");
    char err[2048];
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "request_id",
                          "6f1c2a52-3d0e-4b8e-9a51-0c7e4f2b9d10", "action", "migrate_guest",
                          "guest", "a;rm -rf /", "mode", "OFFLINE", "src_host", "a", "tgt_host",
                          "b", "submitted_by", "alice", "submitted_at", "2025-07-30T16:11:46Z");

    ck_assert_int_eq(jschema_validate(s, v, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "$.guest: \"a;rm -rf /\" does not match pattern") != NULL, "%s", err);
    json_object_del(v, "guest");
    json_object_set_new(v, "guest", json_string("vm1"));
    json_object_set_new(v, "action", json_string("replay"));
    json_object_set_new(v, "job_id", json_string("3d2e1f0a-9b8c-4d7e-8f6a-5b4c3d2e1f0a"));
    json_object_set_new(v, "step", json_string("STOP_GUEST"));
    json_object_set_new(v, "from_step", json_string("STOP_GUEST"));
    ck_assert_int_eq(jschema_validate(s, v, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "step and from_step are mutually exclusive") != NULL, "%s", err);
    json_decref(v);
    jschema_free(s);
}
END_TEST

int main(void)
{
    return unit_main("jschema");
}
