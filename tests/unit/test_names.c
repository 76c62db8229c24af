/* test_names: the strict name patterns accept what hosts use and refuse hostile input. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "unit_run.h"

static char *repeat(char c, size_t n)
{
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4];

    memset(b, c, n);
    b[n] = '\0';
    return b;
}

static const struct {
    name_kind kind;
    const char *value;
    int ok;
} cases[] = {
    /* hostnames, from the spec and DNS rules */
    {NAME_GUEST, "exa01vm01.example.com", 1},
    {NAME_HOST, "exa01adm02.example.com", 1},
    {NAME_HOST, "EXA01ADM02.Example.COM", 1},
    {NAME_HOST, "kvm-a", 1},
    {NAME_HOST, "a", 1},
    {NAME_HOST, "1.2.3.4", 1},
    {NAME_HOST, "a-.example.com", 1}, /* only a leading '-' is refused, as names.h says */
    {NAME_GUEST, "a;rm -rf /", 0},
    {NAME_GUEST, "$(reboot)", 0},
    {NAME_GUEST, "`id`", 0},
    {NAME_GUEST, "exa01vm01 example.com", 0},
    {NAME_GUEST, "exa01vm01'.example.com", 0},
    {NAME_GUEST, "exa01vm01\".example.com", 0},
    {NAME_GUEST, "exa01vm01\nexample.com", 0},
    {NAME_GUEST, "exa01vm01\texample.com", 0},
    {NAME_GUEST, "exa01vm01..example.com", 0},
    {NAME_GUEST, "../../etc/passwd", 0},
    {NAME_GUEST, "-exa01vm01", 0},
    {NAME_GUEST, "exa01vm01.-x", 0},
    {NAME_GUEST, ".exa01vm01", 0},
    {NAME_GUEST, "exa01vm01.", 0},
    {NAME_GUEST, "", 0},
    {NAME_GUEST, NULL, 0},
    {NAME_GUEST, "exa01_vm01", 0},
    {NAME_GUEST, "ex\xc3\xa4mple", 0},
    {NAME_GUEST, "a|b", 0},
    {NAME_GUEST, "a&b", 0},
    {NAME_GUEST, "a>b", 0},
    {NAME_GUEST, "a*", 0},
    /* volumes and devices, as in the spec's log */
    {NAME_VOLUME, "exa01vm01_sys", 1},
    {NAME_VOLUME, "exa01vm01_gih01", 1},
    {NAME_DEVICE, "exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f", 1},
    {NAME_VOLUME, "_x.y-z", 1},
    {NAME_VOLUME, ".hidden", 0},
    {NAME_VOLUME, "-rf", 0},
    {NAME_VOLUME, "..", 0},
    {NAME_DEVICE, "/dev/exc/x", 0},
    {NAME_DEVICE, "x/../y", 0},
    {NAME_VOLUME, "a b", 0},
    {NAME_VOLUME, "a;b", 0},
    {NAME_VOLUME, "", 0},
    /* bridges and interfaces: 15 characters (IFNAMSIZ - 1) */
    {NAME_BRIDGE, "vmbondeth0", 1},
    {NAME_BRIDGE, "vmeth0.3001", 1},
    {NAME_IFACE, "re0", 1},
    {NAME_BRIDGE, "abcdefghijklmno", 1},
    {NAME_BRIDGE, "abcdefghijklmnop", 0},
    {NAME_IFACE, "-x", 0},
    {NAME_IFACE, "eth0;", 0},
    /* numbers */
    {NAME_NUMBER, "0", 1},
    {NAME_NUMBER, "3001", 1},
    {NAME_NUMBER, "999999999", 1},
    {NAME_NUMBER, "1234567890", 0},
    {NAME_NUMBER, "-1", 0},
    {NAME_NUMBER, "1e3", 0},
    {NAME_NUMBER, " 1", 0},
    {NAME_NUMBER, "", 0},
};

UNIT_LOOP(test_name_table, cases)
{
    char err[512] = "";
    int rc = name_check(cases[_i].kind, "value", cases[_i].value, err, sizeof(err));

    ck_assert_msg((rc == 0) == cases[_i].ok, "case %d (%s): rc %d, err %s", _i,
                  cases[_i].value ? cases[_i].value : "NULL", rc, err);
    if (!cases[_i].ok)
        ck_assert_msg(strstr(err, name_kind_to_string(cases[_i].kind)) != NULL,
                      "message names the kind: %s", err);
}
END_TEST

UNIT_TEST(test_host_lengths)
{
    char name[600], err[512];

    /* 63-character label fine, 64 not */
    strcpy(name, repeat('a', 63));
    ck_assert_int_eq(name_check(NAME_HOST, "host", name, err, sizeof(err)), 0);
    strcpy(name, repeat('a', 64));
    ck_assert_int_eq(name_check(NAME_HOST, "host", name, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "longer than 63"));
    /* 253 characters fine, 254 not */
    snprintf(name, sizeof(name), "%s.%s.%s.%s", repeat('a', 63), repeat('b', 63), repeat('c', 63),
             repeat('d', 61));
    ck_assert_uint_eq(strlen(name), 253);
    ck_assert_int_eq(name_check(NAME_HOST, "host", name, err, sizeof(err)), 0);
    strcat(name, "e");
    ck_assert_int_eq(name_check(NAME_HOST, "host", name, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "254 characters"));
    /* volumes: 128 fine, 129 not */
    ck_assert_int_eq(name_check(NAME_VOLUME, "volume", repeat('v', 128), err, sizeof(err)), 0);
    ck_assert_int_eq(name_check(NAME_VOLUME, "volume", repeat('v', 129), err, sizeof(err)), -1);
}
END_TEST

UNIT_TEST(test_message_text)
{
    char err[512];

    ck_assert_int_eq(name_check(NAME_GUEST, "guest", "a;rm -rf /", err, sizeof(err)), -1);
    ck_assert_msg(strncmp(err,
                          "guest name \"a;rm -rf /\" is not a valid hostname (letters, digits, "
                          "'-' and '.', labels of 1-63 characters",
                          strlen("guest name \"a;rm -rf /\" is not a valid hostname (letters, "
                                 "digits, '-' and '.', labels of 1-63 characters")) == 0,
                  "got: %s", err);
    ck_assert_ptr_nonnull(strstr(err, "character 2 is not allowed"));

    /* WHAT already ending in " name" is not doubled */
    ck_assert_int_eq(name_check(NAME_VOLUME, "EDV volume name", "a b", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "EDV volume name \"a b\" is not a valid volume name"));
}
END_TEST

UNIT_TEST(test_message_escapes)
{
    char err[512];

    ck_assert_int_eq(
        name_check(NAME_GUEST, "guest", "vm\n[ERROR] forged\x1b[2J\"q\\", err, sizeof(err)), -1);
    ck_assert_msg(strchr(err, '\n') == NULL && strchr(err, '\x1b') == NULL, "raw: %s", err);
    ck_assert_ptr_nonnull(strstr(err, "\"vm\\n[ERROR] forged\\x1b[2J\\\"q\\\\\""));

    /* overlong values are cut in the message, the length still reported */
    ck_assert_int_eq(name_check(NAME_GUEST, "guest", repeat('x', 400), err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "...\""));
    ck_assert_ptr_nonnull(strstr(err, "400 characters"));
    ck_assert_ptr_null(strstr(err, repeat('x', 65)));
}
END_TEST

UNIT_TEST(test_escape_and_small_buffers)
{
    char out[8], err[16];

    name_escape("abcdefghijkl", out, sizeof(out));
    ck_assert_uint_lt(strlen(out), sizeof(out));
    name_escape(NULL, out, sizeof(out));
    ck_assert_str_eq(out, "");
    /* a small errstr is truncated, never overrun */
    ck_assert_int_eq(name_check(NAME_HOST, "host", "a b", err, sizeof(err)), -1);
    ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
    /* errstr may be NULL */
    ck_assert_int_eq(name_check(NAME_HOST, "host", "a b", NULL, 0), -1);
}
END_TEST

UNIT_TEST(test_kind_names)
{
    ck_assert_str_eq(name_kind_to_string(NAME_HOST), "hostname");
    ck_assert_str_eq(name_kind_to_string(NAME_GUEST), "hostname");
    ck_assert_str_eq(name_kind_to_string(NAME_VOLUME), "volume name");
    ck_assert_str_eq(name_kind_to_string(NAME_DEVICE), "device name");
    ck_assert_str_eq(name_kind_to_string(NAME_BRIDGE), "bridge name");
    ck_assert_str_eq(name_kind_to_string(NAME_IFACE), "interface name");
    ck_assert_str_eq(name_kind_to_string(NAME_NUMBER), "number");
}
END_TEST

int main(void)
{
    return unit_main("names");
}
