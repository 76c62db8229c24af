/* test_jobstore_text: how the job store cleans text it does not control before writing it. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jobstore.h"
#include "unit_run.h"

#define FFFD "\xef\xbf\xbd"

static const struct {
    const char *name;
    const char *in;
    const char *out;
} cases[] = {
    {"NULL is empty", NULL, ""},
    {"empty", "", ""},
    {"ASCII unchanged", "virsh: error 1\n\ttab", "virsh: error 1\n\ttab"},
    {"control bytes kept (escaped where shown)", "\x1b[31mred\x1b[0m", "\x1b[31mred\x1b[0m"},
    {"two-byte", "caf\xc3\xa9", "caf\xc3\xa9"},
    {"three-byte", "\xe2\x82\xac 5", "\xe2\x82\xac 5"},
    {"four-byte", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
    {"U+FFFF and U+10FFFF", "\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\xef\xbf\xbf\xf4\x8f\xbf\xbf"},
    {"stray bytes",
     "a\xff\xfe"
     "b",
     "a" FFFD FFFD "b"},
    {"lone continuation", "\x80x", FFFD "x"},
    {"truncated two-byte at the end", "ok\xc3", "ok" FFFD},
    {"truncated three-byte before newline", "\xe2\x82\n", FFFD FFFD "\n"},
    {"overlong NUL (C0 80)", "\xc0\x80", FFFD FFFD},
    {"overlong three-byte slash", "\xe0\x80\xaf", FFFD FFFD FFFD},
    {"UTF-16 surrogate D800", "\xed\xa0\x80", FFFD FFFD FFFD},
    {"above U+10FFFF", "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD},
    {"F5 lead", "\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD},
    {"valid after invalid", "\xff\xc3\xa9", FFFD "\xc3\xa9"},
};

UNIT_LOOP(test_clean_cases, cases)
{
    char *out = jobstore_text_clean(cases[_i].in);

    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strcmp(out, cases[_i].out) == 0, "%s: got '%s'", cases[_i].name, out);
    free(out);
}
END_TEST

/* Huge text is cut at a character boundary, then says how much was left out. */
UNIT_TEST(test_clean_caps_size)
{
    size_t n = 3 * JOBSTORE_TEXT_MAX, i;
    char *in = malloc(n + 1), *out, *note;

    ck_assert_ptr_nonnull(in);
    /* "é" (2 bytes) repeated, so that the cap falls inside no character */
    for (i = 0; i + 1 < n; i += 2) {
        in[i] = '\xc3';
        in[i + 1] = '\xa9';
    }
    in[i] = '\0';
    out = jobstore_text_clean(in);
    ck_assert_ptr_nonnull(out);
    note = strstr(out, "\n[kvmove: ");
    ck_assert_ptr_nonnull(note);
    ck_assert_uint_le((size_t)(note - out), JOBSTORE_TEXT_MAX);
    ck_assert_uint_eq((size_t)(note - out) % 2, 0); /* whole characters only */
    ck_assert_str_eq(strstr(note, "more bytes not stored]"), "more bytes not stored]");
    ck_assert_uint_eq(strtoul(note + strlen("\n[kvmove: "), NULL, 10),
                      strlen(in) - (size_t)(note - out));
    free(out);
    /* exactly at the cap: nothing is cut */
    in[JOBSTORE_TEXT_MAX] = '\0';
    out = jobstore_text_clean(in);
    ck_assert_str_eq(out, in);
    free(out);
    /* invalid bytes triple in size: the cap counts the output */
    memset(in, '\xff', JOBSTORE_TEXT_MAX);
    out = jobstore_text_clean(in);
    ck_assert_ptr_nonnull(strstr(out, "\n[kvmove: "));
    ck_assert_uint_le(strstr(out, "\n[kvmove: ") - out, JOBSTORE_TEXT_MAX);
    free(out);
    free(in);
}
END_TEST

int main(void)
{
    return unit_main("jobstore_text");
}
