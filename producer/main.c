/* kvmove: the operator's CLI: submit migrations, follow them, inspect jobs and es.xml versions. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "esxml.h"
#include "hostsession.h"
#include "sysconfig.h"
#include "event.h"
#include "jobstore.h"
#include "migrate.h"
#include "preflight.h"
#include "request.h"
#include "settings.h"
#include "util.h"

#include "cli.h"

static void on_signal(int sig)
{
    (void)sig;
    cli_running = 0;
}

/* Prints the settings' warnings (one per line in TEXT, may be NULL) on stderr. */
static void print_warnings(const char *text)
{
    const char *nl;

    for (; text && *text; text = nl + 1) {
        nl = strchr(text, '\n');
        if (nl == NULL)
            break;
        fprintf(stderr, "kvmove: warning: %.*s\n", (int)(nl - text), text);
    }
}

typedef struct verb {
    const char *name;
    int (*fn)(cli *c, int argc, char **argv);
    const char *help; /* NULL: not listed (the completion helper) */
} verb;

static const verb verbs[] = {
    {"submit", cmd_submit, "validate and publish a migration request (--wait to follow it)"},
    {"replay", cmd_replay, "resume a failed job from its failed step, --from-step or --step"},
    {"cancel", cmd_cancel, "stop a job: never started, or at its next step boundary"},
    {"rollback", cmd_rollback, "put the guest of a failed or cancelled job back on its source"},
    {"status", cmd_status, "show a job with its preflight results and steps"},
    {"jobs", cmd_jobs, "list jobs (--status, --guest, --since); jobs prune --older-than AGE"},
    {"watch", cmd_watch, "live progress of a job (or of every job) from kvmove.events"},
    {"events", cmd_events, "print the CloudEvents on kvmove.events (--follow)"},
    {"config", cmd_config, "es.xml versions: load FILE, save FILE, list, diff A B; show settings"},
    {"evacuate", cmd_evacuate, "move every guest off a KVM host, placed by capacity"},
    {"return", cmd_return, "move back the guests an evacuation moved off a host"},
    {"evacuations", cmd_evacuations, "list evacuations and where each guest went"},
    {"cleanup", cmd_cleanup,
     "run or list the OFFLINEFORCE cleanups pending on hosts (stale copies)"},
    {"shell", cmd_shell, "OEDACLI-style session: LOAD FILE, MIGRATE GUEST, MERGE, DEPLOY"},
    {"key", cmd_key, "the operator's signing key: generate, show, sign FILE"},
    {"operator", cmd_operator, "admin: enrol (add), disable or enable an operator's key"},
    {"operators", cmd_operators, "admin: list operators, their keys and rights"},
    {"grant", cmd_grant, "admin: grant an operator a right (--system S)"},
    {"revoke", cmd_revoke, "admin: revoke an operator's right"},
    {CLI_COMPLETE_VERB, cmd_complete, NULL},
};

static void usage(void)
{
    size_t i;

    printf("Usage: kvmove [OPTION]... COMMAND [ARG]...\n"
           "Move KVM guests between KVM hosts offline, through Kafka and kvmove workers.\n\n"
           "Commands:\n");
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (verbs[i].help)
            printf("  %-10s %s\n", verbs[i].name, verbs[i].help);
    printf("\nOptions:\n"
           "  -c, --config=FILE   the configuration file (default $KVMOVE_CONFIG, else the\n"
           "                      system's and the user's, see below)\n"
           "  -b, --brokers=LIST  Kafka bootstrap servers (KVMOVE_BROKERS)\n"
           "  -X KEY=VALUE        librdkafka property (repeatable)\n"
           "      --db=CONNINFO   PostgreSQL conninfo (KVMOVE_DB; PG* variables honoured)\n"
           "  -o, --set=KEY=VALUE any configuration key\n"
           "      --json          machine-readable output (every listing command also\n"
           "                      takes --json after its name)\n"
           "  -h, --help          show this help and exit\n"
           "      --version       show the version and exit\n\n"
           "Precedence: defaults < configuration files < environment (KVMOVE_*) < options.\n"
           "Without -c or $KVMOVE_CONFIG, /etc/kvmove/kvmove.conf and then\n"
           "$XDG_CONFIG_HOME/kvmove/kvmove.conf (~/.config/kvmove/kvmove.conf) are read, if\n"
           "present; 'kvmove config show' prints the result. See kvmove(1), kvmove.conf(5).\n\n"
           "Exit status: 0 done, 1 job or validation failed, 2 usage error,\n"
           "3 broker or database unreachable.\n"
           "Run 'kvmove COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"brokers", required_argument, NULL, 'b'},
        {"db", required_argument, NULL, 'd'},     {"set", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'J'},         {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
    cli c;
    char *flags[128], err[1024];
    size_t n_flags = 0, i;
    const char *config = NULL;
    int ch, rc = EXIT_USAGE;
    struct sigaction sa;

    memset(&c, 0, sizeof(c));
    /* '+': stop at the command; its own options follow it. */
    while ((ch = getopt_long(argc, argv, "+c:b:X:o:h", opts, NULL)) != -1) {
        char *f = NULL;
        int n = 0;
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'b':
            n = asprintf(&f, "brokers=%s", optarg);
            break;
        case 'd':
            n = asprintf(&f, "db=%s", optarg);
            break;
        case 'X':
            n = asprintf(&f, "kafka.%s", optarg);
            break;
        case 'o':
            f = strdup(optarg);
            break;
        case 'J':
            c.json = 1;
            break;
        case 'h':
            usage();
            return EXIT_DONE;
        case 'V':
            printf("kvmove %s\n", KVMOVE_VERSION);
            return EXIT_DONE;
        default:
            fprintf(stderr, "Try 'kvmove --help' for more information.\n");
            return EXIT_USAGE;
        }
        (void)n;
        if (f && n_flags < sizeof(flags) / sizeof(flags[0]))
            flags[n_flags++] = f;
    }
    if (optind >= argc) {
        fprintf(stderr, "kvmove: no command given\nTry 'kvmove --help' for more information.\n");
        goto out;
    }
    if (settings_resolve_cli(&c.s, config, (const char *const *)flags, n_flags, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "kvmove: %s\nTry 'kvmove --help' for more information.\n", err);
        goto out;
    }
    /* The completion helper runs on every TAB: its stderr would land on the command line. */
    if (strcmp(argv[optind], CLI_COMPLETE_VERB) != 0)
        print_warnings(c.s.warnings.buf);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(argv[optind], verbs[i].name) == 0) {
            rc = verbs[i].fn(&c, argc - optind, argv + optind);
            goto out;
        }
    }
    fprintf(stderr, "kvmove: unknown command '%s'\nTry 'kvmove --help' for more information.\n",
            argv[optind]);
out:
    while (n_flags > 0)
        free(flags[--n_flags]);
    settings_clear(&c.s);
    return rc;
}
