/* names: strict validation of every value that is put into a host command. */
#ifndef KVMOVE_NAMES_H
#define KVMOVE_NAMES_H

#include <stddef.h>

/* Which pattern a value must match before it may reach a command template. */
typedef enum {
    NAME_HOST,   /* DNS hostname: labels of [A-Za-z0-9-], dots, <= 253 chars, no leading '-' */
    NAME_GUEST,  /* same pattern as NAME_HOST */
    NAME_VOLUME, /* EDV volume: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
    NAME_DEVICE, /* EDV device under /dev/exc: same pattern as NAME_VOLUME */
    NAME_BRIDGE, /* Linux interface name: [A-Za-z0-9_][A-Za-z0-9_.-]{0,14} */
    NAME_IFACE,  /* guest interface name: same pattern as NAME_BRIDGE */
    NAME_NUMBER, /* decimal number: [0-9]{1,9} */
} name_kind;

/* Checks VALUE against the pattern of KIND. Returns 0 when it matches, -1 when not, with a
 * message naming WHAT (e.g. "guest"), the value (escaped) and the rule in errstr. */
int name_check(name_kind kind, const char *what, const char *value, char *errstr,
               size_t errstr_size);

/* Writes VALUE into OUT (size OUT_SIZE, at least 8) for quoting in a message: '"', '\\' and
 * non-printable bytes escaped C-style (\n, \x1b), cut with "..." after 64 characters, always
 * NUL-terminated. VALUE NULL is written as "". */
void name_escape(const char *value, char *out, size_t out_size);

/* Returns the kind's human name ("hostname", "volume name", ...); a static string. */
const char *name_kind_to_string(name_kind kind);

#endif
