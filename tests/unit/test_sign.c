/* test_sign: Ed25519 keys, key files and signatures of exact message bytes (lib/sign.c), against
 * RFC 8032's test vector and OpenSSL's own signing of the same key file. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sign.h"
#include "unit_run.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kvmove-test-sign.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

UNIT_TCASE("core", .setup = setup, .teardown = teardown);

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* RFC 8032, 7.1, TEST 1: the seed as a PKCS#8 PEM, its public key, and the signature of "". */
#define RFC8032_PEM                                                                                \
    "-----BEGIN PRIVATE KEY-----\n"                                                                \
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"                           \
    "-----END PRIVATE KEY-----\n"
#define RFC8032_PUBLIC "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define RFC8032_SIG_EMPTY                                                                          \
    "5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw=="

UNIT_TEST(test_rfc8032_vector)
{
    char path[300], err[512], sig[SIGN_SIGNATURE_LEN], pub[SIGN_PUBLIC_LEN], id[SIGN_KEY_ID_LEN];
    sign_key *k = NULL;

    snprintf(path, sizeof(path), "%s/rfc8032.key", dir);
    write_file(path, RFC8032_PEM, 0600);
    ck_assert_msg(sign_key_load(path, &k, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(sign_key_public(k), RFC8032_PUBLIC);
    sign_message(k, "", 0, sig);
    ck_assert_str_eq(sig, RFC8032_SIG_EMPTY);
    ck_assert_int_eq(sign_verify(RFC8032_PUBLIC, "", 0, RFC8032_SIG_EMPTY), 1);
    /* the key id is the same whichever way the public key is given */
    ck_assert_int_eq(sign_public_parse(RFC8032_PUBLIC, pub, id, err, sizeof(err)), 0);
    ck_assert_str_eq(id, sign_key_id(k));
    ck_assert_uint_eq(strlen(id), 32);
    ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 32);
    sign_key_free(k);
}
END_TEST

/* What a verifier must refuse: each case changes the message, the signature or the key. */
static const struct {
    const char *what;
    const char *message; /* NULL: the signed one */
    int sig_edit;        /* 0 as made, 1 flip a bit, 2 truncate, 3 add a byte, 4 not base64,
                          * 5 empty, 6 another key's, 7 trailing garbage */
    int other_pub;       /* verify with another key's public key */
    int valid;
} verify_cases[] = {
    {"the signed bytes", NULL, 0, 0, 1},
    {"one byte changed", "{\"guest\":\"exa01vm02.example.com\",\"mode\":\"OFFLINE\"}", 0, 0, 0},
    {"a byte appended", "{\"guest\":\"exa01vm01.example.com\",\"mode\":\"OFFLINE\"} ", 0, 0, 0},
    {"re-serialised (spaces)", "{\"guest\": \"exa01vm01.example.com\", \"mode\": \"OFFLINE\"}", 0,
     0, 0},
    {"empty message", "", 0, 0, 0},
    {"a bit of the signature flipped", NULL, 1, 0, 0},
    {"the signature truncated", NULL, 2, 0, 0},
    {"the signature one byte longer", NULL, 3, 0, 0},
    {"the signature not base64", NULL, 4, 0, 0},
    {"an empty signature", NULL, 5, 0, 0},
    {"another key's signature", NULL, 6, 0, 0},
    {"garbage after the signature", NULL, 7, 0, 0},
    {"checked against another key", NULL, 0, 1, 0},
};

UNIT_LOOP(test_verify_table, verify_cases)
{
    static const char signed_msg[] = "{\"guest\":\"exa01vm01.example.com\",\"mode\":\"OFFLINE\"}";
    char err[512], sig[SIGN_SIGNATURE_LEN + 8], other_sig[SIGN_SIGNATURE_LEN];
    const char *msg = verify_cases[_i].message ? verify_cases[_i].message : signed_msg;
    sign_key *k = NULL, *other = NULL;

    ck_assert_int_eq(sign_key_generate(&k, err, sizeof(err)), 0);
    ck_assert_int_eq(sign_key_generate(&other, err, sizeof(err)), 0);
    ck_assert_str_ne(sign_key_id(k), sign_key_id(other));
    sign_message(k, signed_msg, strlen(signed_msg), sig);
    sign_message(other, signed_msg, strlen(signed_msg), other_sig);
    switch (verify_cases[_i].sig_edit) {
    case 1:
        sig[10] = sig[10] == 'A' ? 'B' : 'A';
        break;
    case 2:
        sig[40] = '\0';
        break;
    case 3:
        memcpy(sig + strlen(sig) - 2, "AAAA", 5); /* 65 bytes once decoded */
        break;
    case 4:
        sig[5] = '!';
        break;
    case 5:
        sig[0] = '\0';
        break;
    case 6:
        strcpy(sig, other_sig);
        break;
    case 7:
        strcat(sig, "xyz");
        break;
    }
    ck_assert_msg(
        sign_verify(verify_cases[_i].other_pub ? sign_key_public(other) : sign_key_public(k), msg,
                    strlen(msg), sig) == verify_cases[_i].valid,
        "%s", verify_cases[_i].what);
    sign_key_free(k);
    sign_key_free(other);
}
END_TEST

UNIT_TEST(test_key_file)
{
    char path[300], err[512];
    sign_key *k = NULL, *back = NULL;
    struct stat st;

    /* the directory is made (0700), the file is 0600 and never overwritten */
    snprintf(path, sizeof(path), "%s/config/kvmove/operator.key", dir);
    ck_assert_int_eq(sign_key_generate(&k, err, sizeof(err)), 0);
    ck_assert_msg(sign_key_save(k, path, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(sign_key_save(k, path, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "never overwritten"));
    ck_assert_msg(sign_key_load(path, &back, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(sign_key_id(back), sign_key_id(k));
    ck_assert_str_eq(sign_key_public(back), sign_key_public(k));
    sign_key_free(back);
    back = NULL;
    /* readable by others: refused, saying how to fix it */
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(sign_key_load(path, &back, err, sizeof(err)), -1);
    ck_assert_ptr_null(back);
    ck_assert_msg(strstr(err, "too open") && strstr(err, "chmod 600"), "%s", err);
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(sign_key_load(path, &back, err, sizeof(err)), -1);
    /* not a key */
    snprintf(path, sizeof(path), "%s/notakey", dir);
    write_file(path, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0600);
    ck_assert_int_eq(sign_key_load(path, &back, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "not an Ed25519 private key"));
    snprintf(path, sizeof(path), "%s/missing", dir);
    ck_assert_int_eq(sign_key_load(path, &back, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot read"));
    sign_key_free(k);
}
END_TEST

static const struct {
    const char *text;
    int ok;
} public_cases[] = {
    {RFC8032_PUBLIC, 1},
    {"-----BEGIN PUBLIC "
     "KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END "
     "PUBLIC KEY-----\n",
     1},
    {"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR", 0},    /* short */
    {"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=x", 0}, /* trailing garbage */
    {"", 0},
    {NULL, 0},
    {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGQ", 0},
    /* an RSA SubjectPublicKeyInfo is not an Ed25519 key */
    {"-----BEGIN PUBLIC "
     "KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf\n"
     "9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END PUBLIC KEY-----\n",
     0},
};

UNIT_LOOP(test_public_parse_table, public_cases)
{
    char pub[SIGN_PUBLIC_LEN], id[SIGN_KEY_ID_LEN], err[512];
    int rc = sign_public_parse(public_cases[_i].text, pub, id, err, sizeof(err));

    ck_assert_msg((rc == 0) == public_cases[_i].ok, "case %d: %s", _i, err);
    if (rc == 0)
        ck_assert_str_eq(pub, RFC8032_PUBLIC);
}
END_TEST

/* A third-party producer signs with OpenSSL from the same key file: kvmove verifies it, and
 * OpenSSL's public key has the same key id. */
UNIT_TEST(test_openssl_interop)
{
    char path[300], msg[300], cmd[1200], err[512], sig[256] = "", pem[512] = "";
    char pub[SIGN_PUBLIC_LEN], id[SIGN_KEY_ID_LEN];
    const char *body = "{\"request_id\":\"x\",\"guest\":\"exa01vm01.example.com\"}";
    sign_key *k = NULL;
    FILE *f;

    if (system("command -v openssl >/dev/null 2>&1") != 0)
        return; /* scripts/deps installs it; without it there is nothing to compare with */
    snprintf(path, sizeof(path), "%s/op.key", dir);
    snprintf(msg, sizeof(msg), "%s/msg", dir);
    ck_assert_int_eq(sign_key_generate(&k, err, sizeof(err)), 0);
    ck_assert_int_eq(sign_key_save(k, path, err, sizeof(err)), 0);
    write_file(msg, body, 0600);
    snprintf(cmd, sizeof(cmd), "openssl pkeyutl -sign -rawin -inkey '%s' -in '%s' | base64 -w0",
             path, msg);
    ck_assert_ptr_nonnull(f = popen(cmd, "r"));
    ck_assert_ptr_nonnull(fgets(sig, sizeof(sig), f));
    pclose(f);
    ck_assert_int_eq(sign_verify(sign_key_public(k), body, strlen(body), sig), 1);
    ck_assert_int_eq(sign_verify(sign_key_public(k), body, strlen(body) - 1, sig), 0);
    snprintf(cmd, sizeof(cmd), "openssl pkey -in '%s' -pubout", path);
    ck_assert_ptr_nonnull(f = popen(cmd, "r"));
    ck_assert_uint_gt(fread(pem, 1, sizeof(pem) - 1, f), 0);
    pclose(f);
    ck_assert_msg(sign_public_parse(pem, pub, id, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(id, sign_key_id(k));
    sign_key_free(k);
}
END_TEST

int main(void)
{
    return unit_main("sign");
}
