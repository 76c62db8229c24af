/* config: kvmove config: es.xml versions stored in PostgreSQL (load, save, list, diff, prune) and
 * config show (the effective settings). */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "esxml.h"
#include "number.h"
#include "sysconfig.h"
#include "util.h"

static void config_help(void)
{
    printf("Usage: kvmove config load FILE [--json]\n"
           "       kvmove config show [--json]\n"
           "       kvmove config save FILE [--system S] [--version N] [--json]\n"
           "       kvmove config list [--system S] [--json]\n"
           "       kvmove config diff A B [--system S] [--json]\n"
           "       kvmove config prune [--system S] [--keep N] [--older-than AGE] [--json]\n"
           "Versions of the Engineered System XML (es.xml) kept in the database, per system\n"
           "(the engineeredSystem name; one database holds many).\n\n"
           "  load FILE   validate FILE (schema/es.xsd) and store it as the newest version of\n"
           "              its system (the spec's LOAD FILE); a guest or KVM host another system\n"
           "              names already (in any case) refuses it\n"
           "  save FILE   write version N, or the newest of system S, to FILE (SAVE FILE)\n"
           "  list        every version (of system S) with its state: loaded,\n"
           "              migration-merged, migration-deployed, and its size\n"
           "  diff A B    which guests moved (or appeared, or went) between versions A and B,\n"
           "              and the actions B adds or changes; 0 means the newest of system S\n"
           "  prune       delete old versions: those beyond the N newest of each system\n"
           "              (--keep) and/or older than AGE (--older-than, e.g. '30 days'); the\n"
           "              newest version of a system and any version a job names always stay\n"
           "  show        the effective settings (not es.xml): each key's value, secrets\n"
           "              redacted, and where it came from: default, file PATH:LINE, env NAME\n"
           "              or flag; the configuration files looked for first\n"
           "--system may be left out while the database holds one system.\n\n"
           "Exit status: 0 done, 1 invalid file or no such version, 2 usage,\n"
           "3 database unreachable.\n");
}

/* The options of a config subcommand. */
typedef struct config_opts {
    long version;           /* --version (save) */
    const char *system;     /* --system, NULL = the only one */
    int keep;               /* --keep (prune) */
    const char *older_than; /* --older-than (prune) */
} config_opts;

/* Parses the options of config subcommand SUB into *O. Returns -1 to go on, else the exit code
 * to return. */
static int config_options(cli *c, const char *sub, int argc, char **argv, config_opts *o)
{
    static const struct option opts[] = {
        {"version", required_argument, NULL, 'V'}, {"system", required_argument, NULL, 'S'},
        {"keep", required_argument, NULL, 'k'},    {"older-than", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},          CLI_OPTIONS_END,
    };
    int ch, prune = strcmp(sub, "prune") == 0;
    char err[256];

    memset(o, 0, sizeof(*o));
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'V':
            if (strcmp(sub, "save") != 0)
                return usage_error("config", "--version applies to 'config save' only, not '%s'",
                                   sub);
            if (number_parse_long("--version", optarg, 0, LONG_MAX, &o->version, err,
                                  sizeof(err)) != 0)
                return usage_error("config", "%s", err);
            break;
        case 'S':
            if (strcmp(sub, "load") == 0)
                return usage_error("config", "%s",
                                   "load takes the system from the file (engineeredSystem name)");
            o->system = optarg;
            break;
        case 'k':
            if (!prune)
                return usage_error("config", "--keep applies to 'config prune' only, not '%s'",
                                   sub);
            if (number_parse_int("--keep", optarg, 1, INT_MAX, &o->keep, err, sizeof(err)) != 0)
                return usage_error("config", "%s", err);
            break;
        case 'o':
            if (!prune)
                return usage_error("config",
                                   "--older-than applies to 'config prune' only, not '%s'", sub);
            o->older_than = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            config_help();
            return EXIT_DONE;
        default:
            return usage_error("config", "%s", "invalid option");
        }
    }
    if (prune && o->keep == 0 && o->older_than == NULL)
        return usage_error("config", "%s", "prune needs a rule: --keep N and/or --older-than AGE");
    return -1;
}

int cli_config_load(cli *c, const char *path, long *version_out)
{
    char err[1024], xsd[1100], *text = NULL;
    esxml *doc = NULL;
    jobstore *js = NULL;
    long version = 0;
    size_t len;
    int rc;

    snprintf(xsd, sizeof(xsd), "%s/es.xsd", c->s.schema_dir);
    if (esxml_load_file(path, xsd, &doc, err, sizeof(err)) != 0 ||
        esxml_dump(doc, &text, &len, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_FAILED;
        goto out;
    }
    if ((rc = open_store(c, &js)) != 0)
        goto out;
    rc = sysconfig_store(js, doc, text, path, &version, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "kvmove: cannot store %s: %s\n", path, err);
        rc = rc == -JOBSTORE_EINVALID ? EXIT_FAILED : EXIT_UNREACHABLE;
        goto out;
    }
    if (c->json) {
        json_t *o = json_pack("{s:I,s:s,s:s,s:I,s:I}", "version", (json_int_t)version, "system",
                              esxml_system_name(doc), "file", path, "kvm_hosts",
                              (json_int_t)esxml_host_count(doc), "guests",
                              (json_int_t)esxml_guest_count(doc));
        print_json(o);
        json_decref(o);
    } else {
        printf("File : %s loaded OK as es.xml version %ld (system %s, %zu KVM hosts, %zu "
               "guests)\n",
               path, version, esxml_system_name(doc), esxml_host_count(doc),
               esxml_guest_count(doc));
    }
    if (version_out)
        *version_out = version;
    rc = EXIT_DONE;
out:
    jobstore_close(js);
    free(text);
    esxml_free(doc);
    return rc;
}

/* Fetches version VERSION (0 = the newest of SYSTEM) as text (BUF NULL: not read). Returns 0,
 * or the exit code after telling. */
static int config_fetch(jobstore *js, const char *system, long version, char **buf,
                        jobstore_config_info *info)
{
    char err[1024];
    int rc = jobstore_config_get(js, system, version, buf, info, err, sizeof(err));

    if (rc == 0)
        return 0;
    if (rc == -JOBSTORE_ENOTFOUND || rc == -JOBSTORE_EINVALID) {
        fprintf(stderr, "kvmove: %s\n", err);
        return EXIT_FAILED;
    }
    return cli_store_failed(err);
}

int cli_config_save(cli *c, const char *path, const char *system, long version)
{
    char *buf = NULL;
    jobstore_config_info info;
    jobstore *js = NULL;
    FILE *f;
    int rc;

    if ((rc = open_store(c, &js)) != 0)
        return rc;
    if ((rc = config_fetch(js, system, version, &buf, &info)) != 0)
        goto out;
    f = fopen(path, "w");
    if (f == NULL || fputs(buf, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "kvmove: cannot write %s: %s\n", path, strerror(errno));
        rc = EXIT_FAILED;
        goto out;
    }
    if (c->json) {
        json_t *o = json_pack("{s:s,s:I,s:s,s:s}", "file", path, "version",
                              (json_int_t)info.version, "system", info.system, "state", info.state);
        print_json(o);
        json_decref(o);
    } else {
        printf("File : %s saved OK (es.xml version %ld of system %s, %s)\n", path, info.version,
               info.system, info.state);
    }
    rc = EXIT_DONE;
out:
    jobstore_close(js);
    free(buf);
    return rc;
}

static int view_configs(jobstore *js, const void *system, json_t **out, char *errstr,
                        size_t errstr_size)
{
    return jobstore_config_list(js, system, out, errstr, errstr_size);
}

static int config_list(cli *c, const char *system)
{
    json_t *list, *v;
    size_t i;
    int rc;

    if ((rc = cli_view(c, view_configs, system, &list)) != CLI_GO_ON)
        return rc;
    printf("%-8s %-10s %-20s %10s %-32s %s\n", "VERSION", "SYSTEM", "STATE", "BYTES", "CREATED",
           "NOTE");
    json_array_foreach(list, i, v)
        printf("%-8lld %-10s %-20s %10lld %-32s %s\n",
               (long long)json_integer_value(json_object_get(v, "version")), jstr(v, "system"),
               jstr(v, "state"), (long long)json_integer_value(json_object_get(v, "bytes")),
               jstr(v, "created_at"), jstr(v, "note"));
    json_decref(list);
    return EXIT_DONE;
}

static int config_prune(cli *c, const config_opts *o)
{
    char err[1024];
    jobstore *js = NULL;
    long pruned = 0, bytes = 0;
    int rc;

    if ((rc = open_store(c, &js)) != 0)
        return rc;
    rc = jobstore_config_prune(js, o->system, o->keep, o->older_than, &pruned, &bytes, err,
                               sizeof(err));
    jobstore_close(js);
    if (rc != 0) {
        fprintf(stderr, "kvmove: cannot prune: %s\n", err);
        return rc == -JOBSTORE_EDB ? EXIT_UNREACHABLE : EXIT_FAILED;
    }
    if (c->json) {
        json_t *j =
            json_pack("{s:I,s:I}", "pruned", (json_int_t)pruned, "bytes", (json_int_t)bytes);
        print_json(j);
        json_decref(j);
    } else {
        printf("Pruned %ld es.xml version%s (%ld bytes)%s%s; the newest of each system and every "
               "version a job names are kept\n",
               pruned, pruned == 1 ? "" : "s", bytes, o->system ? " of system " : "",
               o->system ? o->system : "");
    }
    return EXIT_DONE;
}

static const char *host_of(const esxml *doc, const esxml_guest *g)
{
    const esxml_host *h = g ? esxml_guest_host(doc, g) : NULL;
    return h ? h->hostname : "";
}

/* The guest changes between A and B as a JSON array of {guest, change, from, to}. */
static json_t *diff_guests(const esxml *a, const esxml *b)
{
    json_t *out = json_array();
    size_t i;

    for (i = 0; i < esxml_guest_count(b); i++) {
        const esxml_guest *gb = esxml_guest_at(b, i);
        const esxml_guest *ga = esxml_guest_find(a, gb->hostname);
        const char *from = host_of(a, ga), *to = host_of(b, gb);
        if (ga == NULL)
            json_array_append_new(out, json_pack("{s:s,s:s,s:n,s:s}", "guest", gb->hostname,
                                                 "change", "added", "from", "to", to));
        else if (strcasecmp(from, to) != 0)
            json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}", "guest", gb->hostname,
                                                 "change", "moved", "from", from, "to", to));
    }
    for (i = 0; i < esxml_guest_count(a); i++) {
        const esxml_guest *ga = esxml_guest_at(a, i);
        if (esxml_guest_find(b, ga->hostname) == NULL)
            json_array_append_new(out,
                                  json_pack("{s:s,s:s,s:s,s:n}", "guest", ga->hostname, "change",
                                            "removed", "from", host_of(a, ga), "to"));
    }
    return out;
}

/* Actions that B adds or whose merged/deployed state differs from A's. */
static json_t *diff_actions(const esxml *a, const esxml *b)
{
    json_t *out = json_array();
    size_t i, k;

    for (i = 0; i < esxml_action_count(b); i++) {
        const esxml_action *ab = esxml_action_at(b, i), *aa = NULL;
        for (k = 0; k < esxml_action_count(a) && aa == NULL; k++)
            if (esxml_action_at(a, k)->id == ab->id)
                aa = esxml_action_at(a, k);
        if (aa && aa->merged == ab->merged && aa->deployed == ab->deployed &&
            strcmp(aa->subcommand, ab->subcommand) == 0)
            continue;
        json_array_append_new(out, json_pack("{s:i,s:s,s:s,s:b,s:b}", "id", ab->id, "change",
                                             aa ? "changed" : "added", "subcommand", ab->subcommand,
                                             "merged", ab->merged, "deployed", ab->deployed));
    }
    return out;
}

static int config_diff(cli *c, const char *system, const char *va, const char *vb)
{
    char err[1024], xsd[1100], *ta = NULL, *tb = NULL, *end;
    long a = strtol(va, &end, 10), b;
    jobstore_config_info ia, ib;
    esxml *da = NULL, *db = NULL;
    jobstore *js = NULL;
    json_t *guests = NULL, *actions = NULL, *v;
    size_t i;
    int rc;

    if (end == va || *end || a < 0)
        return usage_error("config",
                           "diff takes two version numbers (see 'kvmove config list'), "
                           "not '%s'",
                           va);
    b = strtol(vb, &end, 10);
    if (end == vb || *end || b < 0)
        return usage_error("config",
                           "diff takes two version numbers (see 'kvmove config list'), "
                           "not '%s'",
                           vb);
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    if ((rc = config_fetch(js, system, a, &ta, &ia)) != 0 ||
        (rc = config_fetch(js, system, b, &tb, &ib)) != 0)
        goto out;
    snprintf(xsd, sizeof(xsd), "%s/es.xsd", c->s.schema_dir);
    if (esxml_load_buffer(ta, strlen(ta), xsd, &da, err, sizeof(err)) != 0 ||
        esxml_load_buffer(tb, strlen(tb), xsd, &db, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: a stored es.xml version does not load: %s\n", err);
        rc = EXIT_FAILED;
        goto out;
    }
    guests = diff_guests(da, db);
    actions = diff_actions(da, db);
    if (c->json) {
        json_t *o = json_pack("{s:I,s:I,s:s,s:s,s:O,s:O}", "from_version", (json_int_t)ia.version,
                              "to_version", (json_int_t)ib.version, "from_system", ia.system,
                              "to_system", ib.system, "guests", guests, "actions", actions);
        print_json(o);
        json_decref(o);
    } else {
        printf("es.xml version %ld -> %ld (system %s%s%s): %zu guest%s changed\n", ia.version,
               ib.version, ia.system, strcmp(ia.system, ib.system) ? " -> " : "",
               strcmp(ia.system, ib.system) ? ib.system : "", json_array_size(guests),
               json_array_size(guests) == 1 ? "" : "s");
        json_array_foreach(guests, i, v)
            printf("  %-8s %-28s %s -> %s\n", jstr(v, "change"), jstr(v, "guest"),
                   *jstr(v, "from") ? jstr(v, "from") : "-", *jstr(v, "to") ? jstr(v, "to") : "-");
        json_array_foreach(actions, i, v)
            printf("  action %lld %s (%s): %s\n",
                   (long long)json_integer_value(json_object_get(v, "id")), jstr(v, "change"),
                   json_is_true(json_object_get(v, "deployed")) ? "deployed"
                   : json_is_true(json_object_get(v, "merged")) ? "merged"
                                                                : "saved",
                   jstr(v, "subcommand"));
    }
    rc = EXIT_DONE;
out:
    json_decref(guests);
    json_decref(actions);
    esxml_free(da);
    esxml_free(db);
    free(ta);
    free(tb);
    jobstore_close(js);
    return rc;
}

/* ---- kvmove config show: the settings, not es.xml ---- */

static void show_text(void *ctx, const settings_entry *e)
{
    (void)ctx;
    printf("%-26s = %-30s  # %s\n", e->key, shown(e->value), shown(e->origin));
}

static void show_json(void *ctx, const settings_entry *e)
{
    static const char *const sources[] = {"default", "file", "env", "flag"};

    json_array_append_new(ctx, json_pack("{s:s,s:s,s:b,s:s,s:s,s:s}", "key", e->key, "value",
                                         e->value, "redacted", e->redacted, "env", e->env, "source",
                                         sources[e->source], "origin", e->origin));
}

static int config_show(cli *c, int argc, char **argv)
{
    size_t i;
    int a;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--json") == 0)
            c->json = 1;
        else if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            config_help();
            return EXIT_DONE;
        } else
            return usage_error("config", "show takes no argument, not '%s'", argv[a]);
    }
    if (c->json) {
        json_t *o = json_pack("{s:[],s:[]}", "files", "settings");
        for (i = 0; i < c->s.n_files; i++)
            json_array_append_new(json_object_get(o, "files"),
                                  json_pack("{s:s,s:s,s:b}", "path", c->s.files[i].path, "role",
                                            c->s.files[i].role, "read", c->s.files[i].read));
        settings_show(&c->s, show_json, json_object_get(o, "settings"));
        print_json(o);
        json_decref(o);
        return EXIT_DONE;
    }
    printf("# kvmove's settings: defaults < configuration files < environment < flags\n");
    for (i = 0; i < c->s.n_files; i++)
        printf("# %s file %s%s\n", c->s.files[i].role, shown(c->s.files[i].path),
               c->s.files[i].read ? "" : " (not read)");
    settings_show(&c->s, show_text, NULL);
    return EXIT_DONE;
}

int cmd_config(cli *c, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    config_opts o;
    int rc, n;

    if (sub == NULL) {
        fprintf(stderr, "kvmove config: name a command: load, save, list, diff or prune\n"
                        "Try 'kvmove config --help' for more information.\n");
        return EXIT_USAGE;
    }
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        config_help();
        return EXIT_DONE;
    }
    if (strcmp(sub, "show") == 0)
        return config_show(c, argc - 1, argv + 1);
    if (strcmp(sub, "load") != 0 && strcmp(sub, "save") != 0 && strcmp(sub, "list") != 0 &&
        strcmp(sub, "diff") != 0 && strcmp(sub, "prune") != 0)
        return usage_error(
            "config", "unknown config command '%s' (load, save, list, diff, prune, show)", sub);
    if ((rc = config_options(c, sub, argc - 1, argv + 1, &o)) >= 0)
        return rc;
    /* getopt_long moved the operands after the options: argv[1 + optind ...]. */
    argv += 1 + optind;
    n = argc - 1 - optind;
    if (strcmp(sub, "load") == 0)
        return n == 1 ? cli_config_load(c, argv[0], NULL)
                      : usage_error("config", "%s", "load takes one FILE");
    if (strcmp(sub, "save") == 0)
        return n == 1 ? cli_config_save(c, argv[0], o.system, o.version)
                      : usage_error("config", "%s", "save takes one FILE [--version N]");
    if (strcmp(sub, "list") == 0)
        return n == 0 ? config_list(c, o.system)
                      : usage_error("config", "%s", "list takes no argument");
    if (strcmp(sub, "prune") == 0)
        return n == 0 ? config_prune(c, &o)
                      : usage_error("config", "%s", "prune takes no argument");
    return n == 2 ? config_diff(c, o.system, argv[0], argv[1])
                  : usage_error("config", "%s", "diff takes two versions A B");
}
