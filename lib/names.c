/* names: strict validation of every value that is put into a host command. */
#include "names.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define HOST_MAX 253
#define LABEL_MAX 63
#define SHOWN_MAX 64 /* characters of a rejected value quoted in a message */

/* The pattern of each kind as a human reads it, and its limits. */
static const struct {
    const char *human; /* name_kind_to_string */
    const char *rule;  /* shown in parentheses after a rejection */
    size_t max_len;    /* for the simple [first][rest]{0,max_len-1} kinds */
} kinds[] = {
    [NAME_HOST] = {"hostname", "letters, digits, '-' and '.', labels of 1-63 characters", HOST_MAX},
    [NAME_GUEST] = {"hostname", "letters, digits, '-' and '.', labels of 1-63 characters",
                    HOST_MAX},
    [NAME_VOLUME] = {"volume name",
                     "letters, digits, '_', '.' and '-', 1-128 characters, not starting with "
                     "'.' or '-'",
                     128},
    [NAME_DEVICE] = {"device name",
                     "letters, digits, '_', '.' and '-', 1-128 characters, not starting with "
                     "'.' or '-'",
                     128},
    [NAME_BRIDGE] = {"bridge name",
                     "letters, digits, '_', '.' and '-', 1-15 characters, not starting with "
                     "'.' or '-'",
                     15},
    [NAME_IFACE] = {"interface name",
                    "letters, digits, '_', '.' and '-', 1-15 characters, not starting with "
                    "'.' or '-'",
                    15},
    [NAME_NUMBER] = {"number", "1-9 decimal digits", 9},
};

#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

const char *name_kind_to_string(name_kind kind)
{
    if ((unsigned)kind >= N_KINDS)
        return "name";
    return kinds[kind].human;
}

/* Locale-independent ASCII classes: the patterns are ASCII-only by design. */
static int is_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Hostname: labels of [A-Za-z0-9-]{1,63} not starting with '-', joined by single dots,
 * at most 253 characters. Returns NULL when valid, else a short detail of the first problem
 * written into DETAIL. */
static const char *check_host(const char *v, char *detail, size_t detail_size)
{
    size_t len = strlen(v), i, label_len = 0;
    unsigned label_no = 1;

    if (len == 0)
        return "empty";
    if (len > HOST_MAX) {
        snprintf(detail, detail_size, "%zu characters, at most %d allowed", len, HOST_MAX);
        return detail;
    }
    for (i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c == '.' || c == '\0') {
            if (label_len == 0) {
                snprintf(detail, detail_size, "label %u is empty", label_no);
                return detail;
            }
            label_no++;
            label_len = 0;
            continue;
        }
        if (c == '-' && label_len == 0) {
            snprintf(detail, detail_size, "label %u starts with '-'", label_no);
            return detail;
        }
        if (!is_alnum(c) && c != '-') {
            snprintf(detail, detail_size, "character %zu is not allowed", i + 1);
            return detail;
        }
        if (++label_len > LABEL_MAX) {
            snprintf(detail, detail_size, "label %u is longer than %d characters", label_no,
                     LABEL_MAX);
            return detail;
        }
    }
    return NULL;
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,max-1} */
static const char *check_simple(const char *v, size_t max, char *detail, size_t detail_size)
{
    size_t len = strlen(v), i;

    if (len == 0)
        return "empty";
    if (len > max) {
        snprintf(detail, detail_size, "%zu characters, at most %zu allowed", len, max);
        return detail;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        int ok = is_alnum(c) || c == '_' || (i > 0 && (c == '.' || c == '-'));

        if (!ok) {
            snprintf(detail, detail_size, "character %zu is not allowed", i + 1);
            return detail;
        }
    }
    return NULL;
}

static const char *check_number(const char *v, char *detail, size_t detail_size)
{
    size_t len = strlen(v), i;

    if (len == 0)
        return "empty";
    if (len > 9) {
        snprintf(detail, detail_size, "%zu characters, at most 9 allowed", len);
        return detail;
    }
    for (i = 0; i < len; i++) {
        if (!is_digit((unsigned char)v[i])) {
            snprintf(detail, detail_size, "character %zu is not a digit", i + 1);
            return detail;
        }
    }
    return NULL;
}

/* Escaping keeps hostile input from forging log lines or terminal escapes. */
void name_escape(const char *v, char *out, size_t out_size)
{
    size_t o = 0, i;

    if (out == NULL || out_size == 0)
        return;
    if (v == NULL)
        v = "";
    for (i = 0; v[i] != '\0' && o + 5 < out_size; i++) {
        unsigned char c = (unsigned char)v[i];

        if (i == SHOWN_MAX) {
            o += (size_t)snprintf(out + o, out_size - o, "...");
            break;
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (c == '\r') {
            out[o++] = '\\';
            out[o++] = 'r';
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, out_size - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o < out_size ? o : out_size - 1] = '\0';
}

int name_check(name_kind kind, const char *what, const char *value, char *errstr,
               size_t errstr_size)
{
    char detail[96], shown[SHOWN_MAX * 4 + 8];
    const char *problem;
    size_t wlen;
    int what_has_name;

    if ((unsigned)kind >= N_KINDS) {
        util_errf(errstr, errstr_size, "internal error: unknown name kind %d", (int)kind);
        return -1;
    }
    if (value == NULL)
        value = "";
    switch (kind) {
    case NAME_HOST:
    case NAME_GUEST:
        problem = check_host(value, detail, sizeof(detail));
        break;
    case NAME_NUMBER:
        problem = check_number(value, detail, sizeof(detail));
        break;
    default:
        problem = check_simple(value, kinds[kind].max_len, detail, sizeof(detail));
        break;
    }
    if (problem == NULL)
        return 0;

    if (what == NULL || *what == '\0')
        what = "value";
    wlen = strlen(what);
    /* "guest" reads as "guest name ..."; numbers are not names */
    what_has_name = kind == NAME_NUMBER || (wlen >= 5 && strcmp(what + wlen - 5, " name") == 0);
    name_escape(value, shown, sizeof(shown));
    util_errf(errstr, errstr_size, "%s%s \"%s\" is not a valid %s (%s; %s)", what,
              what_has_name ? "" : " name", shown, kinds[kind].human, kinds[kind].rule, problem);
    return -1;
}
