/* jschema: a small JSON Schema (draft 2020-12 subset) validator for the schemas in schema/. */
#ifndef KVMOVE_JSCHEMA_H
#define KVMOVE_JSCHEMA_H

#include <stddef.h>
#include <jansson.h>

/* Supported keywords: type (a name or an array of names; "integer" is any number with a zero
 * fractional part, 1.0 too, as 2020-12 says), required, properties, additionalProperties
 * (false, true or a schema), enum and const (numbers compare by value: 1 equals 1.0), pattern
 * (POSIX extended regular expression, unanchored as in JSON Schema: write ^...$),
 * minLength/maxLength (in code points), minimum/maximum, items (one schema for every element),
 * oneOf, anyOf, allOf, not, and $ref to "#/$defs/NAME". Annotations ($schema, $id, $comment,
 * title, description, default, examples) are ignored. Any other keyword is refused at load
 * time, so a schema never silently asks for a check that is not made. */
typedef struct jschema jschema;

/* Loads and compiles the schema in the file PATH. Returns 0 and *OUT (free with
 * jschema_free), or -1 with the reason (unreadable, not JSON, unsupported keyword, bad
 * pattern, dangling $ref) in errstr. */
int jschema_load_file(const char *path, jschema **out, char *errstr, size_t errstr_size);

/* As jschema_load_file, from the JSON text TEXT. */
int jschema_load_string(const char *text, jschema **out, char *errstr, size_t errstr_size);

/* Validates VALUE (borrowed) against S. Returns 0 when valid, or -1 with the first violation
 * in errstr, prefixed by its JSON path: "$.guest: \"a b\" does not match pattern ^...$". */
int jschema_validate(const jschema *s, const json_t *value, char *errstr, size_t errstr_size);

/* Frees S; accepts NULL. */
void jschema_free(jschema *s);

/* JSON Schema's integer (2020-12 core, 4.2.2): any number with a zero fractional part, so 4,
 * 4.0 and 4e0 are all the integer 4, as ajv and the JSON-Schema-Test-Suite have it. Returns 1
 * and *OUT when V is one that a json_int_t holds, else 0. The one rule for every integer field
 * kvmove reads from a message. */
int jschema_integer(const json_t *v, json_int_t *out);

#endif
