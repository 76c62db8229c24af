/* test_number: the strict parser every numeric option and setting goes through. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "number.h"
#include "unit_run.h"

static const struct {
    const char *text;
    long min, max;
    int ok;
    long want;
} longs[] = {
    {"0", 0, 10, 1, 0},
    {"10", 0, 10, 1, 10},
    {"007", 0, 10, 1, 7},
    {"-3", -5, 5, 1, -3},
    {"9223372036854775807", 0, 9223372036854775807L, 1, 9223372036854775807L},
    /* what atoi and a bare strtol let through */
    {"abc", 0, 10, 0, 0},
    {"", 0, 10, 0, 0},
    {"5x", 0, 10, 0, 0},
    {" 5", 0, 10, 0, 0},
    {"5 ", 0, 10, 0, 0},
    {"+5", 0, 10, 0, 0},
    {"0x5", 0, 10, 0, 0},
    {"1.5", 0, 10, 0, 0},
    {"-", 0, 10, 0, 0},
    {"--5", -10, 10, 0, 0},
    {"1e3", 0, 10000, 0, 0},
    /* range and overflow */
    {"11", 0, 10, 0, 0},
    {"-1", 0, 10, 0, 0},
    {"9223372036854775808", 0, 9223372036854775807L, 0, 0},
    {"99999999999999999999999", 0, 10, 0, 0},
};

UNIT_LOOP(test_long, longs)
{
    char err[256] = "";
    long v = -42;
    int rc = number_parse_long("--timeout", longs[_i].text, longs[_i].min, longs[_i].max, &v, err,
                               sizeof(err));

    if (longs[_i].ok) {
        ck_assert_msg(rc == 0, "'%s': %s", longs[_i].text, err);
        ck_assert_int_eq(v, longs[_i].want);
    } else {
        char want[256];
        ck_assert_msg(rc == -1, "'%s' was taken as %ld", longs[_i].text, v);
        ck_assert_int_eq(v, -42); /* untouched */
        snprintf(want, sizeof(want), "--timeout: '%s' is not a number from %ld to %ld",
                 longs[_i].text, longs[_i].min, longs[_i].max);
        ck_assert_str_eq(err, want);
    }
}
END_TEST

UNIT_TEST(test_int)
{
    char err[256] = "";
    int v = 0;

    ck_assert_int_eq(number_parse_int("ssh.port", "2222", 1, 65535, &v, err, sizeof(err)), 0);
    ck_assert_int_eq(v, 2222);
    ck_assert_int_eq(number_parse_int("ssh.port", "70000", 1, 65535, &v, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "ssh.port: '70000' is not a number from 1 to 65535");
    /* beyond int but within long: refused by the range, not truncated */
    ck_assert_int_eq(number_parse_int("n", "4294967297", 0, 2147483647, &v, err, sizeof(err)), -1);
    ck_assert_int_eq(v, 2222);
}
END_TEST

static const struct {
    const char *text;
    int ok;
    double want;
} doubles[] = {
    {"1", 1, 1.0}, {"1.5", 1, 1.5}, {"64", 1, 64.0}, {"2e1", 1, 20.0}, {"1.25E+1", 1, 12.5},
    {"0.5", 0, 0}, {"65", 0, 0},    {"inf", 0, 0},   {"nan", 0, 0},    {"0x2", 0, 0},
    {"1.", 0, 0},  {".5", 0, 0},    {"1.5x", 0, 0},  {" 2", 0, 0},     {"", 0, 0},
    {"2e", 0, 0},  {"1e999", 0, 0},
};

UNIT_LOOP(test_double, doubles)
{
    char err[256] = "";
    double v = -1;
    int rc = number_parse_double("preflight.vcpu_overcommit", doubles[_i].text, 1.0, 64.0, &v, err,
                                 sizeof(err));

    if (doubles[_i].ok) {
        ck_assert_msg(rc == 0, "'%s': %s", doubles[_i].text, err);
        ck_assert_double_eq(v, doubles[_i].want);
    } else {
        char want[256];
        ck_assert_msg(rc == -1, "'%s' was taken as %g", doubles[_i].text, v);
        snprintf(want, sizeof(want), "preflight.vcpu_overcommit: '%s' is not a number from 1 to 64",
                 doubles[_i].text);
        ck_assert_str_eq(err, want);
    }
}
END_TEST

int main(void)
{
    return unit_main("number");
}
