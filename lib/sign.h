/* sign: Ed25519 signatures of request messages (libsodium): the operator's key pair, its key
 * file, its key id, and the signature of the exact bytes of a message value. */
#ifndef KVMOVE_SIGN_H
#define KVMOVE_SIGN_H

#include <stddef.h>

/* The Kafka headers a signed request carries (schema/asyncapi.yaml, migrationRequest). */
#define SIGN_HEADER_KEY_ID "kvmove-key-id"
#define SIGN_HEADER_SIGNATURE "kvmove-signature"

#define SIGN_KEY_ID_LEN 33    /* 32 lower-case hex digits + NUL */
#define SIGN_PUBLIC_LEN 45    /* base64 of the 32-byte public key + NUL */
#define SIGN_SIGNATURE_LEN 89 /* base64 of the 64-byte signature + NUL */

/* An operator's key pair (the private half stays in memory, wiped on free). */
typedef struct sign_key sign_key;

/* A new random key pair. Returns 0 and *OUT (free with sign_key_free), or -1 with errstr. */
int sign_key_generate(sign_key **out, char *errstr, size_t errstr_size);
/* Writes K's private key to PATH, a new file of mode 0600 (an existing file is never
 * overwritten), as a PKCS#8 PEM "PRIVATE KEY" that OpenSSL and Node.js read as they are; the
 * directory is created (mode 0700) when missing. Returns 0, or -1 with errstr. */
int sign_key_save(const sign_key *k, const char *path, char *errstr, size_t errstr_size);
/* Reads the private key file PATH (PKCS#8 PEM, Ed25519), refusing one that others may read
 * (keyfile_check_fd). Returns 0 and *OUT, or -1 with errstr. */
int sign_key_load(const char *path, sign_key **out, char *errstr, size_t errstr_size);
void sign_key_free(sign_key *k); /* accepts NULL */

/* K's key id: the first 16 bytes of SHA-256 of the raw 32-byte public key, in hex (borrowed,
 * lives as long as K). */
const char *sign_key_id(const sign_key *k);
/* K's public key: base64 of the raw 32 bytes (borrowed). */
const char *sign_key_public(const sign_key *k);

/* Signs the LEN bytes at DATA (the exact message value: nothing is canonicalised) into SIG,
 * base64 of the 64-byte Ed25519 signature. */
void sign_message(const sign_key *k, const void *data, size_t len, char sig[SIGN_SIGNATURE_LEN]);

/* Reads a public key given as TEXT: base64 of the raw 32 bytes, or a PEM "PUBLIC KEY" (as
 * `openssl pkey -pubout` writes it). Fills PUB (the base64 form) and KEY_ID. Returns 0, or -1
 * with errstr. */
int sign_public_parse(const char *text, char pub[SIGN_PUBLIC_LEN], char key_id[SIGN_KEY_ID_LEN],
                      char *errstr, size_t errstr_size);

/* 1 when SIG (base64 of 64 bytes) is PUB's (base64 of 32 bytes) signature of the LEN bytes at
 * DATA, 0 when it is not or either is malformed. */
int sign_verify(const char *pub, const void *data, size_t len, const char *sig);

#endif
