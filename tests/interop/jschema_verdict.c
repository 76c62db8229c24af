/* jschema_verdict: lib/jschema.c's verdicts as JSON lines, for the interop lane to compare
 * with ajv (tests/interop/schemas.js).
 *
 *   kvmove-jschema-verdict SCHEMA FILE...   {"file": F, "verdict": V, "reason": R} per FILE
 *   kvmove-jschema-verdict --suite FILE     {"group": G, "test": T, "verdict": V, "reason": R}
 *                                           per case of a JSON-Schema-Test-Suite file
 *
 * V is "valid", "invalid", "notjson" (FILE is not JSON: no schema verdict) or, for a suite
 * group whose schema jschema refuses to load (a keyword it does not have), "unsupported".
 * Instances are parsed as the worker parses a request before its schema check (jansson, any
 * value at the top, duplicate keys allowed). Exit status 0 unless a file cannot be read or
 * the schema does not load. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jschema.h"

/* Prints LINE (stolen) as one compact JSON line. */
static void emit(json_t *line)
{
    char *s = json_dumps(line, JSON_COMPACT);

    if (s != NULL)
        puts(s);
    free(s);
    json_decref(line);
}

static const char *verdict_of(const jschema *s, const json_t *v, char *why, size_t why_size)
{
    why[0] = '\0';
    return jschema_validate(s, v, why, why_size) == 0 ? "valid" : "invalid";
}

static int files(const char *schema_path, char **paths, int n)
{
    char err[1024];
    jschema *s = NULL;
    int i;

    if (jschema_load_file(schema_path, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove-jschema-verdict: %s\n", err);
        return 1;
    }
    for (i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *v = json_load_file(paths[i], JSON_DECODE_ANY, &jerr);
        const char *verdict;

        if (v == NULL) {
            verdict = "notjson";
            snprintf(err, sizeof(err), "%s", jerr.text);
        } else {
            verdict = verdict_of(s, v, err, sizeof(err));
        }
        emit(json_pack("{s:s, s:s, s:s}", "file", paths[i], "verdict", verdict, "reason", err));
        json_decref(v);
    }
    jschema_free(s);
    return 0;
}

static int suite(const char *path)
{
    json_error_t jerr;
    json_t *groups = json_load_file(path, 0, &jerr), *g;
    size_t gi;

    if (!json_is_array(groups)) {
        fprintf(stderr, "kvmove-jschema-verdict: %s: not a test-suite file (%s)\n", path,
                jerr.text);
        json_decref(groups);
        return 1;
    }
    json_array_foreach(groups, gi, g)
    {
        char *text = json_dumps(json_object_get(g, "schema"), JSON_ENCODE_ANY);
        char err[1024] = "";
        jschema *s = NULL;
        json_t *t;
        size_t ti;
        int loaded = text != NULL && jschema_load_string(text, &s, err, sizeof(err)) == 0;

        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            char why[1024];
            const char *verdict = loaded
                                      ? verdict_of(s, json_object_get(t, "data"), why, sizeof(why))
                                      : "unsupported";

            emit(json_pack("{s:I, s:I, s:s, s:s}", "group", (json_int_t)gi, "test", (json_int_t)ti,
                           "verdict", verdict, "reason", loaded ? why : err));
        }
        jschema_free(s);
        free(text);
    }
    json_decref(groups);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--suite") == 0)
        return suite(argv[2]);
    if (argc >= 2 && argv[1][0] != '-')
        return files(argv[1], argv + 2, argc - 2);
    fprintf(stderr, "usage: kvmove-jschema-verdict SCHEMA FILE...\n"
                    "       kvmove-jschema-verdict --suite TEST-SUITE-FILE\n");
    return 2;
}
