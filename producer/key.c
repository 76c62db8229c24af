/* key: the operator's signing key: `kvmove key generate|show|sign`, and the signature every
 * publishing command puts on its requests (cli_sign). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sign.h"
#include "util.h"

int cli_key_path(cli *c, char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;

    if (c->s.key_file[0] != '\0')
        n = snprintf(buf, size, "%s", c->s.key_file);
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, size, "%s/kvmove/key", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(buf, size, "%s/.config/kvmove/key", home);
    else
        return -1;
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Loads the operator's key, telling on stderr what to do when it cannot. Returns 0 and *K, or
 * EXIT_FAILED. */
static int load_key(cli *c, sign_key **k)
{
    char path[1100], err[1300];

    if (cli_key_path(c, path, sizeof(path)) != 0) {
        fprintf(stderr, "kvmove: no signing key: set key_file (neither XDG_CONFIG_HOME nor HOME "
                        "is set)\n");
        return EXIT_FAILED;
    }
    if (sign_key_load(path, k, err, sizeof(err)) != 0) {
        fprintf(stderr,
                "kvmove: %s\n"
                "kvmove: requests are signed with the operator's key: make one with 'kvmove key "
                "generate' and have an administrator enrol its public key ('kvmove key show'), "
                "or set key_file\n",
                err);
        return EXIT_FAILED;
    }
    return 0;
}

void cli_identify(cli *c, request *r)
{
    if (c->s.identity[0] != '\0')
        util_strlcpy(r->submitted_by, c->s.identity, sizeof(r->submitted_by));
}

int cli_sign(cli *c, const char *payload, cli_signature *out)
{
    sign_key *k = NULL;
    int rc = load_key(c, &k);

    if (rc != 0)
        return rc;
    util_strlcpy(out->key_id, sign_key_id(k), sizeof(out->key_id));
    sign_message(k, payload, strlen(payload), out->signature);
    sign_key_free(k);
    out->headers[0] = (bus_header){SIGN_HEADER_KEY_ID, out->key_id, 0};
    out->headers[1] = (bus_header){SIGN_HEADER_SIGNATURE, out->signature, 0};
    return 0;
}

/* Reads the whole file PATH ("-" = stdin) into a new buffer (caller frees), *LEN its length. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;

    if (f == NULL)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 8192);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    if (buf != NULL && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static int key_generate(cli *c)
{
    char path[1100], err[1300];
    sign_key *k = NULL;
    int rc = EXIT_FAILED;

    if (cli_key_path(c, path, sizeof(path)) != 0) {
        fprintf(stderr, "kvmove key generate: set key_file (neither XDG_CONFIG_HOME nor HOME is "
                        "set)\n");
        return EXIT_FAILED;
    }
    if (sign_key_generate(&k, err, sizeof(err)) != 0 ||
        sign_key_save(k, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove key generate: %s\n", err);
        goto out;
    }
    if (c->json)
        printf("{\"key_file\": \"%s\", \"key_id\": \"%s\", \"public_key\": \"%s\"}\n", path,
               sign_key_id(k), sign_key_public(k));
    else
        printf("Signing key written to %s (mode 0600)\n"
               "key id:     %s\n"
               "public key: %s\n"
               "An administrator enrols it with: kvmove operator add NAME --public-key FILE\n"
               "(FILE holding the public key line above, e.g. from 'kvmove key show --public')\n",
               path, sign_key_id(k), sign_key_public(k));
    rc = EXIT_DONE;
out:
    sign_key_free(k);
    return rc;
}

static int key_show(cli *c, int public_only)
{
    sign_key *k = NULL;
    int rc = load_key(c, &k);

    if (rc != 0)
        return rc;
    if (public_only)
        printf("%s\n", sign_key_public(k));
    else if (c->json)
        printf("{\"key_id\": \"%s\", \"public_key\": \"%s\"}\n", sign_key_id(k),
               sign_key_public(k));
    else
        printf("key id:     %s\npublic key: %s\n", sign_key_id(k), sign_key_public(k));
    sign_key_free(k);
    return EXIT_DONE;
}

/* Prints the header values that sign the exact bytes of FILE, for producers kvmove did not
 * write (kcat -H NAME=VALUE). */
static int key_sign(cli *c, const char *file)
{
    char sig[SIGN_SIGNATURE_LEN];
    sign_key *k = NULL;
    size_t len = 0;
    char *buf = slurp(file, &len);
    int rc;

    if (buf == NULL) {
        fprintf(stderr, "kvmove key sign: cannot read %s: %s\n", file, strerror(errno));
        return EXIT_FAILED;
    }
    if ((rc = load_key(c, &k)) == 0) {
        sign_message(k, buf, len, sig);
        if (c->json)
            printf("{\"%s\": \"%s\", \"%s\": \"%s\"}\n", SIGN_HEADER_KEY_ID, sign_key_id(k),
                   SIGN_HEADER_SIGNATURE, sig);
        else
            printf("%s=%s\n%s=%s\n", SIGN_HEADER_KEY_ID, sign_key_id(k), SIGN_HEADER_SIGNATURE,
                   sig);
        sign_key_free(k);
    }
    free(buf);
    return rc;
}

int cmd_key(cli *c, int argc, char **argv)
{
    int rc, public_only = 0;
    const cli_opt opts[] = {CLI_FLAG("json", &c->json), CLI_FLAG("public", &public_only)};
    const char *sub;

    if ((rc = cli_parse(
             "key", opts, CLI_NOPTS(opts),
             "Usage: kvmove key generate | show [--public] | sign FILE\n"
             "The operator's Ed25519 signing key (key_file; default\n"
             "$XDG_CONFIG_HOME/kvmove/key or ~/.config/kvmove/key, mode 0600). Every\n"
             "request kvmove publishes is signed with it; workers take only requests signed\n"
             "by a key an administrator enrolled ('kvmove operator add').\n"
             "  generate  make a new key (an existing file is never overwritten)\n"
             "  show      its key id and public key (--public: the public key only)\n"
             "  sign FILE the header lines kvmove-key-id=... and kvmove-signature=... that\n"
             "            sign the exact bytes of FILE ('-' = stdin), for kcat -H\n",
             -1, argc, argv)) != CLI_GO_ON)
        return rc;
    if (optind >= argc)
        return usage_error("key", "%s", "missing subcommand (generate, show or sign)");
    sub = argv[optind++];
    if (strcmp(sub, "generate") == 0 && optind == argc)
        return key_generate(c);
    if (strcmp(sub, "show") == 0 && optind == argc)
        return key_show(c, public_only);
    if (strcmp(sub, "sign") == 0 && optind + 1 == argc)
        return key_sign(c, argv[optind]);
    return usage_error("key", "unknown subcommand or arguments: '%s'", sub);
}
