/* sign: Ed25519 signatures of request messages (libsodium). */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"
#include "util.h"

struct sign_key {
    unsigned char sk[crypto_sign_SECRETKEYBYTES]; /* seed + public key, libsodium's layout */
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    char key_id[SIGN_KEY_ID_LEN];
    char pub[SIGN_PUBLIC_LEN];
};

/* The DER around an Ed25519 key (RFC 8410): PKCS#8 before the 32-byte seed, SubjectPublicKeyInfo
 * before the 32-byte public key. */
static const unsigned char pkcs8_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                               0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
static const unsigned char spki_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                              0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

#define PEM_PRIVATE "PRIVATE KEY"
#define PEM_PUBLIC "PUBLIC KEY"

static int ready(char *errstr, size_t errstr_size)
{
    if (sodium_init() < 0) {
        util_errf(errstr, errstr_size, "libsodium cannot be initialised");
        return -1;
    }
    return 0;
}

static void key_id_of(const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
                      char key_id[SIGN_KEY_ID_LEN])
{
    unsigned char h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, pk, crypto_sign_PUBLICKEYBYTES);
    sodium_bin2hex(key_id, SIGN_KEY_ID_LEN, h, 16);
}

static void public_of(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char pub[SIGN_PUBLIC_LEN])
{
    sodium_bin2base64(pub, SIGN_PUBLIC_LEN, pk, crypto_sign_PUBLICKEYBYTES,
                      sodium_base64_VARIANT_ORIGINAL);
}

/* Fills K from the 32-byte SEED. */
static void from_seed(sign_key *k, const unsigned char *seed)
{
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    key_id_of(k->pk, k->key_id);
    public_of(k->pk, k->pub);
}

int sign_key_generate(sign_key **out, char *errstr, size_t errstr_size)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    sign_key *k;

    *out = NULL;
    if (ready(errstr, errstr_size) != 0)
        return -1;
    if ((k = sodium_malloc(sizeof(*k))) == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    randombytes_buf(seed, sizeof(seed));
    from_seed(k, seed);
    sodium_memzero(seed, sizeof(seed));
    *out = k;
    return 0;
}

void sign_key_free(sign_key *k)
{
    if (k != NULL)
        sodium_free(k); /* wipes it */
}

const char *sign_key_id(const sign_key *k)
{
    return k->key_id;
}

const char *sign_key_public(const sign_key *k)
{
    return k->pub;
}

/* Creates the missing directories above PATH (mode 0700; existing ones are left as they are). */
static void make_parent(const char *path)
{
    char dir[4096];
    char *p;

    if (util_strlcpy(dir, path, sizeof(dir)) != 0)
        return;
    for (p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(dir, 0700);
        *p = '/';
    }
}

int sign_key_save(const sign_key *k, const char *path, char *errstr, size_t errstr_size)
{
    unsigned char der[sizeof(pkcs8_prefix) + crypto_sign_SEEDBYTES];
    char b64[sizeof(der) * 2], pem[256];
    int fd, n, rc = -1;

    memcpy(der, pkcs8_prefix, sizeof(pkcs8_prefix));
    memcpy(der + sizeof(pkcs8_prefix), k->sk, crypto_sign_SEEDBYTES); /* sk starts with the seed */
    sodium_bin2base64(b64, sizeof(b64), der, sizeof(der), sodium_base64_VARIANT_ORIGINAL);
    /* 64 bytes of base64 fit one PEM line. */
    n = snprintf(pem, sizeof(pem),
                 "-----BEGIN " PEM_PRIVATE "-----\n%s\n-----END " PEM_PRIVATE "-----\n", b64);
    make_parent(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        util_errf(errstr, errstr_size, "cannot create key file %s: %s%s", path, strerror(errno),
                  errno == EEXIST ? " (a key is never overwritten: remove it first, or name "
                                    "another file)"
                                  : "");
        goto out;
    }
    if (write(fd, pem, (size_t)n) != n || fsync(fd) != 0) {
        util_errf(errstr, errstr_size, "cannot write key file %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        goto out;
    }
    rc = close(fd) == 0 ? 0 : -1;
    if (rc != 0)
        util_errf(errstr, errstr_size, "cannot write key file %s: %s", path, strerror(errno));
out:
    sodium_memzero(der, sizeof(der));
    sodium_memzero(b64, sizeof(b64));
    sodium_memzero(pem, sizeof(pem));
    return rc;
}

/* Decodes the PEM block of type LABEL in TEXT into DER (at most DER_SIZE bytes). Returns the
 * number of bytes, or -1. */
static long pem_decode(const char *text, const char *label, unsigned char *der, size_t der_size)
{
    char begin[64], end[64];
    const char *b, *e;
    size_t n = 0;

    snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
    snprintf(end, sizeof(end), "-----END %s-----", label);
    if ((b = strstr(text, begin)) == NULL || (e = strstr(b, end)) == NULL)
        return -1;
    b += strlen(begin);
    if (sodium_base642bin(der, der_size, b, (size_t)(e - b), " \t\r\n", &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return (long)n;
}

int sign_key_load(const char *path, sign_key **out, char *errstr, size_t errstr_size)
{
    unsigned char der[64];
    char text[4096];
    sign_key *k = NULL;
    ssize_t got;
    long n;
    int fd, rc = -1;

    *out = NULL;
    if (ready(errstr, errstr_size) != 0 || (fd = keyfile_open(path, errstr, errstr_size)) < 0)
        return -1;
    got = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (got < 0) {
        util_errf(errstr, errstr_size, "cannot read key file %s: %s", path, strerror(errno));
        goto out;
    }
    text[got] = '\0';
    n = pem_decode(text, PEM_PRIVATE, der, sizeof(der));
    if (n != (long)(sizeof(pkcs8_prefix) + crypto_sign_SEEDBYTES) ||
        memcmp(der, pkcs8_prefix, sizeof(pkcs8_prefix)) != 0) {
        util_errf(errstr, errstr_size,
                  "key file %s is not an Ed25519 private key in PKCS#8 PEM (make one with "
                  "'kvmove key generate' or 'openssl genpkey -algorithm ed25519')",
                  path);
        goto out;
    }
    if ((k = sodium_malloc(sizeof(*k))) == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        goto out;
    }
    from_seed(k, der + sizeof(pkcs8_prefix));
    *out = k;
    rc = 0;
out:
    sodium_memzero(der, sizeof(der));
    sodium_memzero(text, sizeof(text));
    return rc;
}

void sign_message(const sign_key *k, const void *data, size_t len, char sig[SIGN_SIGNATURE_LEN])
{
    unsigned char raw[crypto_sign_BYTES];

    crypto_sign_detached(raw, NULL, data, len, k->sk);
    sodium_bin2base64(sig, SIGN_SIGNATURE_LEN, raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
}

/* Decodes the base64 TEXT of exactly SIZE bytes into OUT. Returns 0 or -1. */
static int b64_exact(const char *text, unsigned char *out, size_t size)
{
    size_t n = 0;
    const char *end = NULL;

    if (text == NULL ||
        sodium_base642bin(out, size, text, strlen(text), NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != size || end == NULL || *end != '\0')
        return -1;
    return 0;
}

int sign_public_parse(const char *text, char pub[SIGN_PUBLIC_LEN], char key_id[SIGN_KEY_ID_LEN],
                      char *errstr, size_t errstr_size)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], der[64];
    long n;

    if (ready(errstr, errstr_size) != 0)
        return -1;
    if (text != NULL && strstr(text, "-----BEGIN " PEM_PUBLIC "-----") != NULL) {
        n = pem_decode(text, PEM_PUBLIC, der, sizeof(der));
        if (n != (long)(sizeof(spki_prefix) + sizeof(pk)) ||
            memcmp(der, spki_prefix, sizeof(spki_prefix)) != 0) {
            util_errf(errstr, errstr_size, "the PEM public key is not an Ed25519 key");
            return -1;
        }
        memcpy(pk, der + sizeof(spki_prefix), sizeof(pk));
    } else if (b64_exact(text, pk, sizeof(pk)) != 0) {
        util_errf(errstr, errstr_size,
                  "not an Ed25519 public key (expected the 44 characters of base64 that 'kvmove "
                  "key show' prints, or a PEM PUBLIC KEY)");
        return -1;
    }
    public_of(pk, pub);
    key_id_of(pk, key_id);
    return 0;
}

int sign_verify(const char *pub, const void *data, size_t len, const char *sig)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], raw[crypto_sign_BYTES];

    if (sodium_init() < 0 || b64_exact(pub, pk, sizeof(pk)) != 0 ||
        b64_exact(sig, raw, sizeof(raw)) != 0)
        return 0;
    return crypto_sign_verify_detached(raw, data, len, pk) == 0;
}
