/* test_util: UUIDs, the RFC 3339 clock, bounded copies and the line helpers, table-driven. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "unit_run.h"

/* ---- util_uuid ------------------------------------------------------------------------ */

UNIT_TEST(test_uuid_format)
{
    char u[37];
    size_t i;

    memset(u, 'x', sizeof(u));
    util_uuid(u);
    ck_assert_uint_eq(strlen(u), 36);
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ck_assert_msg(u[i] == '-', "%s: char %zu is not '-'", u, i);
        else
            ck_assert_msg(isxdigit((unsigned char)u[i]) && !isupper((unsigned char)u[i]),
                          "%s: char %zu is not lower-case hex", u, i);
    }
    ck_assert_msg(u[14] == '4', "%s: version nibble is not 4", u);
    ck_assert_msg(strchr("89ab", u[19]) != NULL, "%s: variant nibble is not 8/9/a/b", u);
    ck_assert_int_eq(util_is_uuid(u), 1);
}
END_TEST

static int cmp_uuid(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

UNIT_TEST(test_uuid_unique)
{
    enum { N = 1000 };
    static char all[N][37];
    int i;

    for (i = 0; i < N; i++)
        util_uuid(all[i]);
    qsort(all, N, sizeof(all[0]), cmp_uuid);
    for (i = 1; i < N; i++)
        ck_assert_msg(strcmp(all[i - 1], all[i]) != 0, "duplicate uuid %s", all[i]);
}
END_TEST

/* ---- util_is_uuid --------------------------------------------------------------------- */

static const struct {
    const char *s;
    int expected;
} is_uuid_cases[] = {
    {"0f8fad5b-d9cb-469f-a165-70867728950e", 1},
    {"0F8FAD5B-D9CB-469F-A165-70867728950E", 1}, /* upper case hex is still a UUID */
    {"00000000-0000-0000-0000-000000000000", 1},
    {"0f8fad5b-d9cb-469f-a165-70867728950", 0},   /* 35 chars */
    {"0f8fad5b-d9cb-469f-a165-70867728950e0", 0}, /* 37 chars */
    {"0f8fad5bd-9cb-469f-a165-70867728950e", 0},  /* dash misplaced */
    {"0f8fad5b-d9cb-469f-a165+70867728950e", 0},  /* not a dash */
    {"0f8fad5b-d9cb-469f-a165-70867728950g", 0},  /* not hex */
    {"0f8fad5b d9cb 469f a165 70867728950e", 0},
    {"{0f8fad5b-d9cb-469f-a165-70867728950}", 0},
    {"0f8fad5bd9cb469fa16570867728950e", 0}, /* no dashes */
    {"", 0},
    {NULL, 0},
};

UNIT_LOOP(test_is_uuid_table, is_uuid_cases)
{
    ck_assert_msg(util_is_uuid(is_uuid_cases[_i].s) == is_uuid_cases[_i].expected,
                  "case %d \"%s\": expected %d", _i,
                  is_uuid_cases[_i].s ? is_uuid_cases[_i].s : "NULL", is_uuid_cases[_i].expected);
}
END_TEST

/* ---- util_strlcpy --------------------------------------------------------------------- */

static const struct {
    const char *src;
    size_t size;
    int rc;
    const char *dst;
} strlcpy_cases[] = {
    {"hello", 16, 0, "hello"}, {"hello", 6, 0, "hello"}, /* exactly fits with its NUL */
    {"hello", 5, -1, "hell"},                            /* one short: truncated */
    {"hello", 2, -1, "h"},     {"hello", 1, -1, ""},     {"", 1, 0, ""}, {"", 8, 0, ""},
};

UNIT_LOOP(test_strlcpy_table, strlcpy_cases)
{
    char buf[32];
    int rc;

    memset(buf, '#', sizeof(buf));
    rc = util_strlcpy(buf, strlcpy_cases[_i].src, strlcpy_cases[_i].size);
    ck_assert_msg(rc == strlcpy_cases[_i].rc, "case %d: rc %d", _i, rc);
    ck_assert_str_eq(buf, strlcpy_cases[_i].dst);
    /* nothing written past DST_SIZE */
    ck_assert_int_eq(buf[strlcpy_cases[_i].size], '#');
}
END_TEST

UNIT_TEST(test_strlcpy_zero_size)
{
    char buf[4] = "abc";

    ck_assert_int_eq(util_strlcpy(buf, "xyz", 0), -1);
    ck_assert_str_eq(buf, "abc"); /* untouched */
}
END_TEST

/* ---- util_rfc3339_now ----------------------------------------------------------------- */

UNIT_TEST(test_rfc3339_format)
{
    /* YYYY-MM-DDTHH:MM:SS.mmmZ: 'd' = digit, other chars literal */
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    char out[32];
    size_t i;
    int month, day, hour, minute, second;

    util_rfc3339_now(out, sizeof(out));
    ck_assert_uint_eq(strlen(out), strlen(pattern));
    for (i = 0; pattern[i]; i++) {
        if (pattern[i] == 'd')
            ck_assert_msg(isdigit((unsigned char)out[i]), "%s: char %zu", out, i);
        else
            ck_assert_msg(out[i] == pattern[i], "%s: char %zu", out, i);
    }
    ck_assert_int_eq(sscanf(out + 5, "%2d-%2dT%2d:%2d:%2d", &month, &day, &hour, &minute, &second),
                     5);
    ck_assert(month >= 1 && month <= 12);
    ck_assert(day >= 1 && day <= 31);
    ck_assert(hour <= 23 && minute <= 59 && second <= 60);
}
END_TEST

UNIT_TEST(test_rfc3339_small_buffer)
{
    char out[11];

    memset(out, '#', sizeof(out));
    util_rfc3339_now(out, sizeof(out));
    ck_assert_uint_eq(strlen(out), 10); /* truncated, NUL-terminated: "YYYY-MM-DD" */
    ck_assert_int_eq(out[4], '-');
}
END_TEST

/* ---- util_errf ------------------------------------------------------------------------ */

UNIT_TEST(test_errf)
{
    char e[8];

    util_errf(e, sizeof(e), "%s %d", "guest", 42);
    ck_assert_str_eq(e, "guest 4");      /* truncated, terminated */
    util_errf(NULL, 0, "%s", "ignored"); /* must not crash */
    util_errf(e, 0, "%s", "ignored");
    ck_assert_str_eq(e, "guest 4");
}
END_TEST

/* ---- util_lines_add / util_has_line --------------------------------------------------- */

UNIT_TEST(test_lines_add)
{
    util_lines l = {0};
    char big[2000];
    size_t i;

    ck_assert_int_eq(util_lines_add(&l, "first"), 0);
    ck_assert_str_eq(l.buf, "first\n");
    ck_assert_int_eq(util_lines_add(&l, ""), 0);
    ck_assert_int_eq(util_lines_add(&l, "third line"), 0);
    ck_assert_str_eq(l.buf, "first\n\nthird line\n");
    ck_assert_uint_eq(l.len, strlen(l.buf));
    /* growing past the first allocation keeps the earlier content */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(util_lines_add(&l, big), 0);
    ck_assert_uint_eq(l.len, strlen("first\n\nthird line\n") + 3 * sizeof(big));
    ck_assert_uint_eq(l.len, strlen(l.buf));
    ck_assert(l.cap > l.len);
    ck_assert_int_eq(strncmp(l.buf, "first\n\nthird line\nxxx", 21), 0);
    ck_assert_int_eq(l.buf[l.len - 1], '\n');
    free(l.buf);
}
END_TEST

static const struct {
    const char *text;
    const char *word;
    int expected;
} has_line_cases[] = {
    {"exa01vm01\n", "exa01vm01", 1},          /* alone on a line */
    {"exa01vm01", "exa01vm01", 1},            /* at the end of text, no newline */
    {"exa01vm01 running\n", "exa01vm01", 1},  /* followed by a blank */
    {"exa01vm01\trunning\n", "exa01vm01", 1}, /* followed by a tab */
    {"a\nb\nexa01vm01\nc\n", "exa01vm01", 1}, /* on a later line */
    {"vmbondeth0\nvmbondeth0.10\n", "vmbondeth0.10", 1},
    {"exa01vm01.example.com\n", "exa01vm01", 0}, /* prefix of a longer word */
    {"exa01vm012\n", "exa01vm01", 0},
    {"vmbondeth0.10\n", "vmbondeth0", 0},
    {" exa01vm01\n", "exa01vm01", 0}, /* not at the line start */
    {"the exa01vm01\n", "exa01vm01", 0},
    {"exa01vm0\n", "exa01vm01", 0}, /* text shorter than the word */
    {"", "exa01vm01", 0},
    {NULL, "exa01vm01", 0},
    {"\n\n", "exa01vm01", 0},
};

UNIT_LOOP(test_has_line_table, has_line_cases)
{
    ck_assert_msg(util_has_line(has_line_cases[_i].text, has_line_cases[_i].word) ==
                      has_line_cases[_i].expected,
                  "case %d: \"%s\" in \"%s\": expected %d", _i, has_line_cases[_i].word,
                  has_line_cases[_i].text ? has_line_cases[_i].text : "NULL",
                  has_line_cases[_i].expected);
}
END_TEST

UNIT_TEST(test_has_line_on_lines)
{
    util_lines l = {0};

    ck_assert_int_eq(util_has_line(l.buf, "x"), 0); /* empty lines: buf is NULL */
    ck_assert_int_eq(util_lines_add(&l, "br-a 10"), 0);
    ck_assert_int_eq(util_lines_add(&l, "br-b"), 0);
    ck_assert_int_eq(util_has_line(l.buf, "br-a"), 1);
    ck_assert_int_eq(util_has_line(l.buf, "br-b"), 1);
    ck_assert_int_eq(util_has_line(l.buf, "br"), 0);
    free(l.buf);
}
END_TEST

UNIT_TEST(test_now_ms_monotonic)
{
    int64_t a = util_now_ms(), b = util_now_ms();

    ck_assert(a > 0);
    ck_assert(b >= a);
}
END_TEST

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    return unit_main("util");
}
