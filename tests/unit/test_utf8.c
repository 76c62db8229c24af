/* test_utf8: the one reading of UTF-8 (Unicode table 3-7) and the in-place repair. */
#include "utf8.h"

#include <check.h>

#include <stdlib.h>
#include <string.h>

#include "unit_run.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A sequence at the start of TEXT: its length (0 = not well-formed) and code point. */
static const struct {
    const char *text;
    size_t len;
    unsigned long cp;
} decodes[] = {
    {"A", 1, 0x41},
    {"\xc2\xa9", 2, 0xa9},             /* (c) */
    {"\xe2\x82\xac", 3, 0x20ac},       /* euro sign */
    {"\xf0\x9f\x98\x80", 4, 0x1f600},  /* an emoji */
    {"\xf4\x8f\xbf\xbf", 4, 0x10ffff}, /* the last code point */
    {"\x80", 0, 0},                    /* a lone continuation byte */
    {"\xc0\xaf", 0, 0},                /* overlong '/' */
    {"\xc1\xbf", 0, 0},                /* overlong */
    {"\xe0\x80\xaf", 0, 0},            /* overlong, three bytes */
    {"\xf0\x80\x80\xaf", 0, 0},        /* overlong, four bytes */
    {"\xed\xa0\x80", 0, 0},            /* a surrogate, U+D800 */
    {"\xf4\x90\x80\x80", 0, 0},        /* above U+10FFFF */
    {"\xf5\x80\x80\x80", 0, 0},        /* no such lead byte */
    {"\xff", 0, 0},
    {"\xe2\x82", 0, 0}, /* cut short by the end */
    {"\xe2\x82"
     "A",
     0, 0}, /* cut short by an ASCII byte */
};

UNIT_TCASE("utf8");

UNIT_LOOP(test_decode, decodes)
{
    unsigned long cp = 12345;
    size_t n = utf8_decode((const unsigned char *)decodes[_i].text, &cp);

    ck_assert_msg(n == decodes[_i].len, "case %d: length %zu, expected %zu", _i, n,
                  decodes[_i].len);
    if (n > 0)
        ck_assert_uint_eq(cp, decodes[_i].cp);
    ck_assert_uint_eq(utf8_decode((const unsigned char *)decodes[_i].text, NULL), n);
}
END_TEST

static const struct {
    const char *in, *out;
    size_t replaced;
} repairs[] = {
    {"", "", 0},
    {"Zürich – ok", "Zürich – ok", 0},
    {"X7\xff-2", "X7?-2", 1},
    {"\xc0\xaf..", "??..", 2},
    /* a bounded buffer that cut the euro sign after its second byte */
    {"price 3\xe2\x82", "price 3??", 2},
    {"\xed\xa0\x80 surrogate", "??? surrogate", 3},
};

UNIT_LOOP(test_repair, repairs)
{
    char *s = strdup(repairs[_i].in);

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(utf8_repair(s), repairs[_i].replaced);
    ck_assert_str_eq(s, repairs[_i].out);
    free(s);
}
END_TEST

int main(void)
{
    return unit_main("utf8");
}
