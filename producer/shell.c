/* shell: kvmove shell, an OEDACLI-style session (LOAD FILE, MIGRATE GUEST, SAVE ACTION,
 * MERGE ACTIONS, SAVE FILE, DEPLOY ACTIONS) read from a terminal, a file or standard input. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "cli.h"
#include "sysconfig.h"
#include "esxml.h"
#include "util.h"

#define SHELL_MAX_ACTIONS 32
#define SHELL_MAX_WORDS 16

typedef enum { ACT_SAVED, ACT_MERGED, ACT_DEPLOYED, ACT_FAILED } action_state;

static const char *const action_state_names[] = {"saved", "merged", "deployed", "failed"};

typedef struct shell_action {
    request req;
    char command[1200]; /* the MIGRATE GUEST command, normalised */
    action_state state;
    int id; /* action id in the es.xml once merged (0 before) */
    char job_id[REQUEST_UUID_LEN];
} shell_action;

typedef struct shell {
    cli *c;
    int interactive;
    int timeout_s; /* DEPLOY ACTIONS: how long to follow a job (0 = until it ends) */
    long version;  /* es.xml version the session works on (0 = the newest) */
    char system[JOBSTORE_SYSTEM_MAX]; /* its system ("" = the only one stored) */
    request pending;                  /* MIGRATE GUEST typed, not yet SAVE ACTION'ed */
    int has_pending;
    shell_action actions[SHELL_MAX_ACTIONS];
    size_t n_actions;
} shell;

static void shell_help(void)
{
    printf("Commands (keywords in any case; one per line; # starts a comment):\n"
           "  LOAD FILE NAME=FILE        validate FILE and store it as the es.xml to work on\n"
           "  MIGRATE GUEST HOSTNAME=G MODE=OFFLINE|OFFLINEFORCE SRCHOST=S TGTHOST=T\n"
           "                [WHERE STEPNAME=STEP]\n"
           "                             define a migration (STEP: run that step only)\n"
           "  SAVE ACTION                keep the MIGRATE GUEST just defined\n"
           "  MERGE ACTIONS              validate the saved actions against the es.xml and\n"
           "                             record them in it (merged, not yet deployed)\n"
           "  SAVE FILE NAME=FILE        write the session's es.xml to FILE\n"
           "  DEPLOY ACTIONS             run the merged actions and follow their progress\n"
           "  LIST ACTIONS               the session's actions and their state\n"
           "  HELP                       this text\n"
           "  EXIT                       end the session (also QUIT, end of input)\n");
}

/* Splits LINE in place into blank-separated words; a "double-quoted" value keeps its blanks.
 * Returns the number of words, or -1 if there are too many or a quote is not closed. */
static int split_words(char *line, char **words)
{
    int n = 0;
    char *p = line;

    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return n;
        if (n == SHELL_MAX_WORDS)
            return -1;
        words[n++] = p;
        while (*p && !isspace((unsigned char)*p)) {
            if (*p == '"') {
                char *q = strchr(p + 1, '"');
                if (q == NULL)
                    return -1;
                memmove(p, p + 1, (size_t)(q - p - 1));
                memmove(q - 1, q + 1, strlen(q + 1) + 1);
                p = q - 1;
            } else {
                p++;
            }
        }
        if (*p)
            *p++ = '\0';
    }
}

/* The value of KEY=value in WORD (key case-insensitive), or NULL. */
static const char *param(const char *word, const char *key)
{
    size_t n = strlen(key);
    return strncasecmp(word, key, n) == 0 && word[n] == '=' && word[n + 1] ? word + n + 1 : NULL;
}

static int shell_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "ERROR: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return EXIT_FAILED;
}

/* Finds, in the newest es.xml version of SYSTEM, the merged and not deployed action for
 * COMMAND. Sets *ID and *VERSION. Returns 0, or an exit code. */
static int find_merged(shell *sh, const char *system, const char *command, int *id, long *version)
{
    char err[1024];
    jobstore *js = NULL;
    esxml *doc = NULL;
    size_t i;
    int rc;

    if ((rc = open_store(sh->c, &js)) != 0)
        return rc;
    if (sysconfig_load(js, system[0] ? system : NULL, 0, sh->c->s.schema_dir, &doc, version, err,
                       sizeof(err)) != 0) {
        rc = shell_error("cannot read the merged es.xml: %s", err);
        goto out;
    }
    rc = -1;
    for (i = esxml_action_count(doc); i-- > 0 && rc != 0;) {
        const esxml_action *a = esxml_action_at(doc, i);
        if (a->merged && !a->deployed && strcasecmp(a->subcommand, command) == 0) {
            *id = a->id;
            rc = 0;
        }
    }
    if (rc != 0)
        rc = shell_error("the merged action is not in the newest es.xml version (%s)", command);
out:
    esxml_free(doc);
    jobstore_close(js);
    return rc;
}

/* The session's system: the one of its version. */
static void set_system(shell *sh)
{
    char err[512];
    jobstore *js = NULL;
    jobstore_config_info info;

    if (open_store(sh->c, &js) == 0 &&
        jobstore_config_get(js, NULL, sh->version, NULL, &info, err, sizeof(err)) == 0)
        util_strlcpy(sh->system, info.system, sizeof(sh->system));
    jobstore_close(js);
}

static int do_load(shell *sh, char **w, int n)
{
    const char *file = n == 3 ? param(w[2], "NAME") : NULL;
    long version;
    int rc;

    if (file == NULL)
        return shell_error("%s", "usage: LOAD FILE NAME=FILE");
    if ((rc = cli_config_load(sh->c, file, &version)) != 0)
        return rc;
    sh->version = version;
    set_system(sh);
    sh->has_pending = 0;
    sh->n_actions = 0;
    return 0;
}

static int do_migrate(shell *sh, const char *line)
{
    char err[1024];
    request req;

    request_init(&req);
    if (request_parse_command(line, &req, err, sizeof(err)) != 0 ||
        request_validate(&req, err, sizeof(err)) != 0)
        return shell_error("%s", err);
    sh->pending = req;
    sh->has_pending = 1;
    return 0;
}

static int do_save_action(shell *sh)
{
    shell_action *a;
    const request *r = &sh->pending;

    if (!sh->has_pending)
        return shell_error("%s", "no action to save: type a MIGRATE GUEST command first");
    if (sh->n_actions == SHELL_MAX_ACTIONS)
        return shell_error("%s", "too many actions in one session: deploy them first");
    a = &sh->actions[sh->n_actions++];
    memset(a, 0, sizeof(*a));
    a->req = *r;
    snprintf(a->command, sizeof(a->command),
             "MIGRATE GUEST HOSTNAME=%s MODE=%s SRCHOST=%s TGTHOST=%s%s%s", r->guest,
             mode_to_string(r->mode), r->src_host, r->tgt_host,
             r->has_step ? " WHERE STEPNAME=" : "", r->has_step ? step_to_string(r->step) : "");
    a->state = ACT_SAVED;
    sh->has_pending = 0;
    return 0;
}

static int do_merge(shell *sh)
{
    size_t i;
    int rc, merged = 0;

    for (i = 0; i < sh->n_actions; i++) {
        shell_action *a = &sh->actions[i];
        if (a->state != ACT_SAVED)
            continue;
        /* Each merge builds on the newest version, so that earlier merges are kept. */
        a->req.config_version = 0;
        fflush(stdout);
        if ((rc = cli_merge_action(sh->c, &a->req)) != 0) {
            fflush(stdout);
            fprintf(stderr, "ERROR: action not merged: %s\n", a->command);
            return rc;
        }
        fflush(stdout);
        if ((rc = find_merged(sh, a->req.system, a->command, &a->id, &sh->version)) != 0)
            return rc;
        util_strlcpy(sh->system, a->req.system, sizeof(sh->system));
        a->state = ACT_MERGED;
        merged++;
    }
    if (merged == 0)
        return shell_error("%s", "no saved actions to merge: use MIGRATE GUEST and SAVE ACTION");
    return 0;
}

static int do_save_file(shell *sh, char **w, int n)
{
    const char *file = n == 3 ? param(w[2], "NAME") : NULL;

    if (file == NULL)
        return shell_error("%s", "usage: SAVE FILE NAME=FILE");
    return cli_config_save(sh->c, file, sh->system[0] ? sh->system : NULL, sh->version);
}

/* The action as the spec prints it: lower case, as OEDACLI echoes the command. */
static void print_deploying(const shell_action *a)
{
    char lower[sizeof(a->command)];
    size_t i;

    for (i = 0; a->command[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)tolower((unsigned char)a->command[i]);
    lower[i] = '\0';
    printf("Deploying Action ID : %d %s\n", a->id, lower);
    printf("Deploying MIGRATE GUEST\nMigrate Guest\n");
    if (a->req.has_step)
        printf("Starting Guest Migration Step %s : %s\n", step_to_string(a->req.step),
               a->req.guest);
    else
        printf("Starting Guest Migration : %s\n", a->req.guest);
    fflush(stdout);
}

static int do_deploy(shell *sh)
{
    size_t i;
    int rc = 0, deployed = 0;
    char err[256];

    for (i = 0; i < sh->n_actions; i++) {
        shell_action *a = &sh->actions[i];
        request req;
        if (a->state != ACT_MERGED)
            continue;
        print_deploying(a);
        /* A fresh request id per deployment: the job id of this attempt. */
        req = a->req;
        util_uuid(req.request_id);
        req.config_version = sh->version;
        util_strlcpy(a->job_id, req.request_id, sizeof(a->job_id));
        rc = publish(sh->c, &req, 1, sh->timeout_s);
        if (rc != 0) {
            a->state = ACT_FAILED;
            fprintf(stderr,
                    "ERROR: action %d was not deployed (see 'kvmove status %s'; to resume, "
                    "MIGRATE GUEST ... WHERE STEPNAME=<failed step>, or 'kvmove replay %s')\n",
                    a->id, a->job_id, a->job_id);
            return rc;
        }
        a->state = ACT_DEPLOYED;
        deployed++;
        /* The worker stored the deployed es.xml before it announced success. */
        {
            jobstore *js = NULL;
            jobstore_config_info info;
            if (open_store(sh->c, &js) == 0) {
                if (jobstore_config_get(js, a->req.system[0] ? a->req.system : NULL, 0, NULL, &info,
                                        err, sizeof(err)) != 0)
                    fprintf(stderr, "WARNING: %s\n", err);
                else
                    sh->version = info.version;
            }
            jobstore_close(js);
        }
    }
    if (deployed == 0)
        return shell_error("%s", "no merged actions to deploy: use MERGE ACTIONS first");
    return rc;
}

static int do_list(shell *sh)
{
    size_t i;

    if (sh->c->json) {
        json_t *arr = json_array();
        for (i = 0; i < sh->n_actions; i++) {
            const shell_action *a = &sh->actions[i];
            json_t *o = json_pack("{s:s,s:s}", "command", a->command, "state",
                                  action_state_names[a->state]);
            if (a->id)
                json_object_set_new(o, "id", json_integer(a->id));
            if (a->job_id[0])
                json_object_set_new(o, "job_id", json_string(a->job_id));
            json_array_append_new(arr, o);
        }
        print_json(arr);
        json_decref(arr);
        return 0;
    }
    if (sh->has_pending)
        printf("(not saved) MIGRATE GUEST HOSTNAME=%s ... (use SAVE ACTION)\n", sh->pending.guest);
    if (sh->n_actions == 0)
        printf("No actions saved\n");
    for (i = 0; i < sh->n_actions; i++) {
        const shell_action *a = &sh->actions[i];
        char id[16] = "-";
        if (a->id)
            snprintf(id, sizeof(id), "%d", a->id);
        printf("%-4s %-9s %s%s%s\n", id, action_state_names[a->state], a->command,
               a->job_id[0] ? "  job " : "", a->job_id);
    }
    return 0;
}

/* Runs one command line. Returns 0, an exit code, or -1 for EXIT. */
static int shell_exec(shell *sh, char *line)
{
    char copy[4096], *w[SHELL_MAX_WORDS];
    int n;

    if (util_strlcpy(copy, line, sizeof(copy)) != 0)
        return shell_error("%s", "line too long");
    n = split_words(copy, w);
    if (n < 0)
        return shell_error("%s", "too many words or an unclosed quote");
    /* Lines pasted from a runbook may carry the prompt. */
    if (n > 0 && (strcasecmp(w[0], "oedacli>") == 0 || strcasecmp(w[0], "kvmove>") == 0)) {
        char *rest = strchr(line, '>') + 1;
        return shell_exec(sh, rest);
    }
    if (n == 0 || w[0][0] == '#')
        return 0;
#define IS(i, word) (n > (i) && strcasecmp(w[i], word) == 0)
    if (IS(0, "EXIT") || IS(0, "QUIT"))
        return -1;
    if (IS(0, "HELP")) {
        shell_help();
        return 0;
    }
    if (IS(0, "LOAD") && IS(1, "FILE"))
        return do_load(sh, w, n);
    if (IS(0, "MIGRATE") && IS(1, "GUEST"))
        return do_migrate(sh, line);
    if (IS(0, "SAVE") && IS(1, "ACTION") && n == 2)
        return do_save_action(sh);
    if (IS(0, "SAVE") && IS(1, "FILE"))
        return do_save_file(sh, w, n);
    if (IS(0, "MERGE") && (IS(1, "ACTIONS") || IS(1, "ACTION")) && n == 2)
        return do_merge(sh);
    if (IS(0, "DEPLOY") && (IS(1, "ACTIONS") || IS(1, "ACTION")) && n == 2)
        return do_deploy(sh);
    if (IS(0, "LIST") && (IS(1, "ACTIONS") || IS(1, "ACTION")) && n == 2)
        return do_list(sh);
#undef IS
    return shell_error("unknown command '%s' (type HELP)", line);
}

/* Reads the next line (without its newline) into a malloc'd string the caller frees; NULL at
 * the end of input. */
static char *shell_read(shell *sh, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

#ifdef HAVE_LIBEDIT
    if (sh->interactive) {
        line = readline("kvmove> ");
        if (line && *line)
            add_history(line);
        return line;
    }
#endif
    if (sh->interactive) {
        fputs("kvmove> ", stdout);
        fflush(stdout);
    }
    len = getline(&line, &cap, in);
    if (len < 0) {
        free(line);
        return NULL;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    return line;
}

int cmd_shell(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"echo", no_argument, NULL, 'e'},
        CLI_OPTIONS_END,
    };
    shell sh;
    FILE *in = stdin;
    char *line;
    int ch, echo = 0, rc = EXIT_DONE;

    memset(&sh, 0, sizeof(sh));
    sh.c = c;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'T':
            if (cli_int_option("shell", "--timeout", optarg, 0, CLI_TIMEOUT_MAX, &sh.timeout_s))
                return EXIT_USAGE;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'e':
            echo = 1;
            break;
        case 'h':
            printf("Usage: kvmove shell [FILE] [--echo] [--timeout SEC] [--json]\n"
                   "An OEDACLI-style session: commands from FILE, from standard input, or typed\n"
                   "at the 'kvmove> ' prompt when standard input is a terminal.\n\n"
                   "  --echo         print each command read from a file after the prompt\n"
                   "  --timeout SEC  DEPLOY ACTIONS stops following a job after SEC seconds\n"
                   "  --json         LIST ACTIONS as JSON\n\n");
            shell_help();
            printf("\nWhen the commands come from a file or a pipe, the session stops at the\n"
                   "first command that fails, with its exit status: 1 validation or job failed,\n"
                   "3 broker or database unreachable. A typed session goes on.\n");
            return EXIT_DONE;
        default:
            return usage_error("shell", "%s", "invalid option");
        }
    }
    if (optind + 1 < argc)
        return usage_error("shell", "%s", "name at most one command FILE");
    if (optind < argc && strcmp(argv[optind], "-") != 0) {
        in = fopen(argv[optind], "r");
        if (in == NULL) {
            fprintf(stderr, "kvmove: cannot read %s: %s\n", argv[optind], strerror(errno));
            return EXIT_FAILED;
        }
    }
    sh.interactive = in == stdin && isatty(STDIN_FILENO);
    while (cli_running && (line = shell_read(&sh, in)) != NULL) {
        int r;
        if (echo && !sh.interactive)
            printf("kvmove> %s\n", shown(line));
        fflush(stdout);
        r = shell_exec(&sh, line);
        free(line);
        fflush(stdout);
        if (r < 0)
            break;
        if (r != 0 && !sh.interactive) {
            rc = r;
            break;
        }
        /* A typed session goes on; its last failure is its status. */
        rc = r != 0 ? r : rc;
    }
    if (sh.interactive)
        fputc('\n', stdout);
    if (in != stdin)
        fclose(in);
    return rc;
}
