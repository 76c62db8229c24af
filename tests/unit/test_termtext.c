/* test_termtext: what reaches the operator's terminal from a host is shown, never obeyed. */
#include "termtext.h"

#include <check.h>

#include <stdlib.h>
#include <string.h>

#include "unit_run.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
    const char *in;
    const char *line;  /* TERMTEXT_LINE */
    const char *lines; /* TERMTEXT_LINES */
} cases[] = {
    {"", "", ""},
    {"plain text: 'virsh start' on 127.0.1.2 exited 1",
     "plain text: 'virsh start' on 127.0.1.2 exited 1",
     "plain text: 'virsh start' on 127.0.1.2 exited 1"},
    /* clear screen, cursor home, carriage return over the line */
    {"error\x1b[2J\x1b[Hok\rdone", "error\\x1b[2J\\x1b[Hok\\rdone",
     "error\\x1b[2J\\x1b[Hok\\rdone"},
    /* a window title (OSC ... BEL), a bell, backspaces hiding text */
    {"\x1b]0;pwned\x07x\b\b", "\\x1b]0;pwned\\x07x\\x08\\x08", "\\x1b]0;pwned\\x07x\\x08\\x08"},
    {"a\tb\x7f", "a\\tb\\x7f", "a\\tb\\x7f"},
    /* newlines: shown in one line, kept between lines, each line escaped */
    {"line 1\nline\x1b[1m 2\n", "line 1\\nline\\x1b[1m 2\\n", "line 1\nline\\x1b[1m 2\n"},
    {"crlf\r\n", "crlf\\r\\n", "crlf\\r\n"},
    /* UTF-8 text stays; C1 controls (CSI as U+009B) and bidi overrides do not */
    {"Zürich – ok ✓", "Zürich – ok ✓", "Zürich – ok ✓"},
    {"a\xc2\x9b"
     "2Jb",
     "a\\u009b2Jb", "a\\u009b2Jb"},
    {"x\xe2\x80\xae"
     "gnp.exe",
     "x\\u202egnp.exe", "x\\u202egnp.exe"},
    /* not UTF-8: raw 8-bit CSI, a lone continuation byte, a truncated sequence, overlong */
    {"a\x9b"
     "2J",
     "a\\x9b2J", "a\\x9b2J"},
    {"\x80z", "\\x80z", "\\x80z"},
    {"\xe2\x82", "\\xe2\\x82", "\\xe2\\x82"},
    {"\xc0\xaf", "\\xc0\\xaf", "\\xc0\\xaf"},
    {"\xed\xa0\x80", "\\xed\\xa0\\x80", "\\xed\\xa0\\x80"},
};

UNIT_TCASE("escape");

UNIT_LOOP(test_escape_table, cases)
{
    char *line = termtext_dup(cases[_i].in, TERMTEXT_LINE);
    char *lines = termtext_dup(cases[_i].in, TERMTEXT_LINES);

    ck_assert_str_eq(line, cases[_i].line);
    ck_assert_str_eq(lines, cases[_i].lines);
    free(line);
    free(lines);
}
END_TEST

UNIT_TEST(test_escape_bounds)
{
    char buf[8];

    /* the length it needs, like snprintf */
    ck_assert_uint_eq(termtext_escape("\x1b[2J", TERMTEXT_LINE, NULL, 0), strlen("\\x1b[2J"));
    ck_assert_uint_eq(termtext_escape("\x1b\x1b", TERMTEXT_LINE, buf, sizeof(buf)), 8);
    /* cut between escapes, never inside one: no half "\x1" reaches the terminal */
    ck_assert_str_eq(buf, "\\x1b");
    ck_assert_uint_eq(termtext_escape("abc", TERMTEXT_LINE, buf, 3), 3);
    ck_assert_str_eq(buf, "ab");
    ck_assert_uint_eq(termtext_escape(NULL, TERMTEXT_LINES, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

int main(void)
{
    return unit_main("termtext");
}
