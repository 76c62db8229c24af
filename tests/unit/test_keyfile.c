/* test_keyfile: which permissions a private key file may have (lib/keyfile.c), as OpenSSH. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"
#include "unit_run.h"

static const struct {
    mode_t mode;
    int own; /* 1: owned by the reader, 0: by another user (root giving a group access) */
    int ok;
} cases[] = {
    {S_IFREG | 0600, 1, 1}, {S_IFREG | 0400, 1, 1}, {S_IFREG | 0640, 1, 0}, {S_IFREG | 0604, 1, 0},
    {S_IFREG | 0644, 1, 0}, {S_IFREG | 0660, 1, 0}, {S_IFREG | 0700, 1, 1}, {S_IFREG | 0640, 0, 1},
    {S_IFREG | 0600, 0, 1}, {S_IFREG | 0644, 0, 0}, {S_IFREG | 0642, 0, 0}, {S_IFDIR | 0700, 1, 0},
    {S_IFIFO | 0600, 1, 0},
};

UNIT_LOOP(test_mode_table, cases)
{
    char err[512] = "";
    uid_t uid = cases[_i].own ? geteuid() : geteuid() + 1;
    int rc = keyfile_check_mode(cases[_i].mode, uid, "/k", err, sizeof(err));

    ck_assert_msg((rc == 0) == cases[_i].ok, "mode %o own %d: %s", (unsigned)cases[_i].mode,
                  cases[_i].own, err);
    if (rc != 0 && S_ISREG(cases[_i].mode))
        ck_assert_msg(strstr(err, "too open") && strstr(err, "chmod"), "%s", err);
}
END_TEST

UNIT_TEST(test_open)
{
    char path[] = "/tmp/kvmove-test-keyfile.XXXXXX", err[512];
    int fd = mkstemp(path), got;

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(chmod(path, 0600), 0);
    got = keyfile_open(path, err, sizeof(err));
    ck_assert_msg(got >= 0, "%s", err);
    close(got);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(keyfile_open(path, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "permissions 0644"));
    unlink(path);
    ck_assert_int_eq(keyfile_open(path, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot read key file"));
}
END_TEST

int main(void)
{
    return unit_main("keyfile");
}
