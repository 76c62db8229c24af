/* operator: an administrator's commands over who may move guests: `kvmove operator add|disable|
 * enable`, `kvmove grant`, `kvmove revoke`, `kvmove operators` (tables operator_keys, grants). */
#include <errno.h>
#include <getopt.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "cli.h"
#include "sign.h"
#include "util.h"

#define IDENTITY_PATTERN "^[A-Za-z0-9_.@+-]{1,63}$"
#define SYSTEM_PATTERN "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"

static int matches(const char *pattern, const char *s)
{
    regex_t re;
    int ok;

    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static int check_identity(const char *verb, const char *name)
{
    if (!matches(IDENTITY_PATTERN, name))
        return usage_error(verb, "'%s' is not an operator name (1-63 of A-Z a-z 0-9 _ . @ + -)",
                           name);
    return 0;
}

/* The public key in FILE: its first line that is base64 of 32 bytes, or a PEM PUBLIC KEY. */
static int read_public(const char *file, char pub[SIGN_PUBLIC_LEN], char key_id[SIGN_KEY_ID_LEN])
{
    char text[4096], err[512];
    FILE *f = fopen(file, "r");
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "kvmove operator add: cannot read %s: %s\n", file, strerror(errno));
        return EXIT_FAILED;
    }
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    if (strstr(text, "-----BEGIN") == NULL)
        text[strcspn(text, "\r\n")] = '\0';
    if (sign_public_parse(text, pub, key_id, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove operator add: %s: %s\n", file, err);
        return EXIT_FAILED;
    }
    return 0;
}

static int store_error(const char *what, int rc, const char *err)
{
    fprintf(stderr, "kvmove: %s: %s\n", what, err);
    return rc == -JOBSTORE_EDB ? EXIT_UNREACHABLE : EXIT_FAILED;
}

static int operator_add(cli *c, const char *name, const char *file)
{
    char pub[SIGN_PUBLIC_LEN], key_id[SIGN_KEY_ID_LEN], err[1024];
    jobstore *js = NULL;
    int rc;

    if ((rc = check_identity("operator", name)) != 0 ||
        (rc = read_public(file, pub, key_id)) != 0 || (rc = open_store(c, &js)) != 0)
        return rc;
    rc = jobstore_operator_add(js, name, key_id, pub, err, sizeof(err));
    jobstore_close(js);
    if (rc != 0)
        return store_error("operator add", rc, err);
    if (c->json)
        printf("{\"identity\": \"%s\", \"key_id\": \"%s\"}\n", name, key_id);
    else
        printf("Key %s enrolled for %s (grant rights with 'kvmove grant %s RIGHT')\n", key_id, name,
               name);
    return EXIT_DONE;
}

static int operator_enable(cli *c, const char *name, const char *key_id, int enabled)
{
    char err[1024];
    jobstore *js = NULL;
    int rc, changed = 0;

    if ((rc = check_identity("operator", name)) != 0 || (rc = open_store(c, &js)) != 0)
        return rc;
    rc = jobstore_operator_enable(js, name, key_id, enabled, &changed, err, sizeof(err));
    jobstore_close(js);
    if (rc != 0)
        return store_error(enabled ? "operator enable" : "operator disable", rc, err);
    if (c->json)
        printf("{\"identity\": \"%s\", \"changed\": %d}\n", name, changed);
    else
        printf("%d key%s of %s %s\n", changed, changed == 1 ? "" : "s", name,
               enabled ? "enabled" : "disabled");
    return EXIT_DONE;
}

int cmd_operator(cli *c, int argc, char **argv)
{
    const char *file = NULL, *key_id = NULL, *sub;
    const cli_opt opts[] = {
        CLI_TEXT("public-key", &file),
        CLI_TEXT("key-id", &key_id),
        CLI_FLAG("json", &c->json),
    };
    int rc;

    if ((rc = cli_parse(
             "operator", opts, CLI_NOPTS(opts),
             "Usage: kvmove operator add NAME --public-key FILE\n"
             "       kvmove operator disable|enable NAME [--key-id ID]\n"
             "Enrol an operator's Ed25519 public key (FILE: the line 'kvmove key show\n"
             "--public' prints, or a PEM PUBLIC KEY), or disable / enable their keys (all\n"
             "of them, or the one ID). Workers take a request only when an enabled key\n"
             "signed it and its submitted_by is the key's NAME. Administrators only: it\n"
             "writes table operator_keys.\n",
             -1, argc, argv)) != CLI_GO_ON)
        return rc;
    if (optind + 2 != argc)
        return usage_error("operator", "%s", "expected a subcommand and a NAME");
    sub = argv[optind];
    if (strcmp(sub, "add") == 0) {
        if (file == NULL)
            return usage_error("operator", "%s", "add needs --public-key FILE");
        return operator_add(c, argv[optind + 1], file);
    }
    if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0)
        return operator_enable(c, argv[optind + 1], key_id, strcmp(sub, "enable") == 0);
    return usage_error("operator", "unknown subcommand '%s' (add, disable or enable)", sub);
}

/* kvmove grant / kvmove revoke NAME RIGHT [--system S]. */
static int grant_or_revoke(cli *c, int argc, char **argv, int grant)
{
    const char *verb = grant ? "grant" : "revoke", *system = AUTHZ_ANY_SYSTEM;
    const cli_opt opts[] = {
        CLI_TEXT("system", &system),
        CLI_FLAG("json", &c->json),
    };
    char names[128], err[1024], help[1024];
    jobstore *js = NULL;
    authz_right right;
    int rc, changed = 0;

    authz_right_names(", ", names, sizeof(names));
    snprintf(help, sizeof(help),
             "Usage: kvmove %s NAME RIGHT [--system S]\n"
             "%s operator NAME the RIGHT (%s) on es.xml system S, or on every\n"
             "system ('*', the default). migrate: OFFLINE migrations and replays; force:\n"
             "MODE=OFFLINEFORCE too (with migrate). Administrators only: it writes table\n"
             "grants.\n",
             verb, grant ? "Grants" : "Revokes", names);
    if ((rc = cli_parse(verb, opts, CLI_NOPTS(opts), help, -1, argc, argv)) != CLI_GO_ON)
        return rc;
    if (optind + 2 != argc)
        return usage_error(verb, "%s", "expected NAME and RIGHT");
    if ((rc = check_identity(verb, argv[optind])) != 0)
        return rc;
    if (authz_right_from_name(argv[optind + 1], &right) != 0) {
        fprintf(stderr, "kvmove %s: '%s' is not a right (%s)\n", verb, argv[optind + 1], names);
        return EXIT_USAGE;
    }
    if (strcmp(system, AUTHZ_ANY_SYSTEM) != 0 && !matches(SYSTEM_PATTERN, system))
        return usage_error(verb, "'%s' is not a system name", system);
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    rc = jobstore_operator_grant(js, argv[optind], system, authz_right_name(right), grant, &changed,
                                 err, sizeof(err));
    jobstore_close(js);
    if (rc != 0)
        return store_error(verb, rc, err);
    if (c->json)
        printf("{\"identity\": \"%s\", \"right\": \"%s\", \"system\": \"%s\", \"changed\": %s}\n",
               argv[optind], authz_right_name(right), system, changed ? "true" : "false");
    else
        printf("%s %s '%s' on %s%s\n", argv[optind], grant ? "may" : "may no longer",
               authz_right_name(right), strcmp(system, "*") == 0 ? "every system" : system,
               changed ? ""
               : grant ? " (granted already)"
                       : " (was not granted)");
    return EXIT_DONE;
}

int cmd_grant(cli *c, int argc, char **argv)
{
    return grant_or_revoke(c, argc, argv, 1);
}

int cmd_revoke(cli *c, int argc, char **argv)
{
    return grant_or_revoke(c, argc, argv, 0);
}

int cmd_operators(cli *c, int argc, char **argv)
{
    const cli_opt opts[] = {CLI_FLAG("json", &c->json)};
    char err[1024];
    jobstore *js = NULL;
    json_t *list = NULL, *o, *k, *g;
    size_t i, j;
    int rc;

    if ((rc = cli_parse("operators", opts, CLI_NOPTS(opts),
                        "Usage: kvmove operators [--json]\n"
                        "Lists the operators: their enrolled keys and the rights granted them.\n",
                        0, argc, argv)) != CLI_GO_ON)
        return rc;
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    rc = jobstore_operators_json(js, &list, err, sizeof(err));
    jobstore_close(js);
    if (rc != 0)
        return store_error("operators", rc, err);
    if (c->json) {
        print_json(list);
    } else {
        printf("%-20s %-32s %-8s %s\n", "OPERATOR", "KEY ID", "KEY", "RIGHTS");
        json_array_foreach(list, i, o)
        {
            char rights[1024] = "";
            size_t n = 0;
            json_array_foreach(json_object_get(o, "grants"), j, g) n +=
                (size_t)snprintf(rights + n, n < sizeof(rights) ? sizeof(rights) - n : 0, "%s%s@%s",
                                 j ? " " : "", jstr(g, "right"), jstr(g, "system"));
            if (json_array_size(json_object_get(o, "keys")) == 0)
                printf("%-20s %-32s %-8s %s\n", jshown(o, "identity"), "-", "-", rights);
            json_array_foreach(json_object_get(o, "keys"), j, k)
                printf("%-20s %-32s %-8s %s\n", jshown(o, "identity"), jshown(k, "key_id"),
                       json_is_true(json_object_get(k, "enabled")) ? "enabled" : "disabled",
                       j == 0 ? rights : "");
        }
    }
    json_decref(list);
    return EXIT_DONE;
}
