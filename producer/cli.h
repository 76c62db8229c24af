/* cli: what the kvmove subcommands share: settings, output mode, exit codes and helpers. */
#ifndef KVMOVE_CLI_H
#define KVMOVE_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>

#include "bus.h"
#include "jobstore.h"
#include "probe.h"
#include "request.h"
#include "settings.h"
#include "sign.h"

/* Documented exit codes (kvmove(1), EXIT STATUS). */
#define EXIT_DONE 0
#define EXIT_FAILED 1 /* the job or the validation failed */
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3 /* broker or database unreachable */

/* Cleared by SIGINT/SIGTERM: loops that follow the events topic stop and clean up. */
extern volatile sig_atomic_t cli_running;

typedef struct cli {
    settings s;
    int json; /* --json: machine-readable output */
} cli;

/* Prints "kvmove VERB: FMT(ARG)" and the Try line on stderr. Returns EXIT_USAGE. */
int usage_error(const char *verb, const char *fmt, const char *arg);
/* The longest --timeout a command takes, in seconds (a week; 0 = no limit). */
#define CLI_TIMEOUT_MAX 604800
/* Parses TEXT, the value of OPTION of VERB, strictly (lib/number.c) as a number from MIN to
 * MAX into *OUT. Returns 0, or EXIT_USAGE after a usage error naming the option and the value. */
int cli_int_option(const char *verb, const char *option, const char *text, int min, int max,
                   int *out);
/* What cli_parse and cli_job_verb return when the command goes on. */
#define CLI_GO_ON (-1)

/* One option of a verb for cli_parse: --NAME and what it sets. */
typedef enum {
    CLI_OPT_TEXT, /* --NAME VALUE: *(const char **)DST = VALUE */
    CLI_OPT_FLAG, /* --NAME: *(int *)DST = 1 */
    CLI_OPT_INT,  /* --NAME N: *(int *)DST = N, strictly a number from MIN to MAX */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name;
    cli_opt_kind kind;
    void *dst;
    int min, max;
    const char *missing; /* TEXT: the usage error when the option is not given (NULL: optional) */
} cli_opt;

#define CLI_TEXT(n, d) ((cli_opt){.name = (n), .kind = CLI_OPT_TEXT, .dst = (d)})
#define CLI_NEEDED(n, d, m)                                                                        \
    ((cli_opt){.name = (n), .kind = CLI_OPT_TEXT, .dst = (d), .missing = (m)})
#define CLI_FLAG(n, d) ((cli_opt){.name = (n), .kind = CLI_OPT_FLAG, .dst = (d)})
#define CLI_INT(n, d, lo, hi)                                                                      \
    ((cli_opt){.name = (n), .kind = CLI_OPT_INT, .dst = (d), .min = (lo), .max = (hi)})
#define CLI_NOPTS(opts) (sizeof(opts) / sizeof((opts)[0]))

/* The most options one verb has. */
#define CLI_OPTS_MAX 32

/* Reads VERB's options from ARGV as the N OPTS say, and --help (prints HELP, returns EXIT_DONE).
 * At most MAX_ARGS operands may follow (from optind; -1: the caller checks them). Returns
 * CLI_GO_ON, or the exit code to return (EXIT_USAGE after saying why). */
int cli_parse(const char *verb, const cli_opt *opts, size_t n, const char *help, int max_args,
              int argc, char **argv);
/* The end of every verb's option table: --help ('h') and the terminator. */
#define CLI_OPTIONS_END                                                                            \
    {"help", no_argument, NULL, 'h'},                                                              \
    {                                                                                              \
        NULL, 0, NULL, 0                                                                           \
    }

/* The options every verb on one job takes (cli_job_verb): --reason, --wait, --timeout. */
#define CLI_JOB_VERB_OPTIONS                                                                       \
    {"reason", required_argument, NULL, 'r'}, {"wait", no_argument, NULL, 'w'},                    \
    {                                                                                              \
        "timeout", required_argument, NULL, 'T'                                                    \
    }

/* A verb on one job (cancel, rollback, replay): "JOB [--reason TEXT] [--wait] [--follow]
 * [--timeout SEC]" as its OPTS list them, with the values 'r', 'w', 'f', 'T' and 'h'; any other
 * value is the verb's own option, given to OWN (NULL: none), which returns 0 or an exit code. */
typedef struct job_verb {
    const char *name;
    request_action action;
    const struct option *opts;
    const char *shortopts;
    const char *help; /* printed by --help */
    int (*own)(const char *verb, request *req, int ch, const char *arg);
} job_verb;
typedef struct job_verb_args {
    int wait, follow, timeout_s; /* --follow sets wait too */
} job_verb_args;
/* Reads ARGV for V into REQ (a fresh request of V's action) and *ARGS; the one job id it names
 * goes to REQ, which is then validated. Returns CLI_GO_ON, or the exit code to return:
 * EXIT_DONE after --help, EXIT_USAGE after a usage error. */
int cli_job_verb(const job_verb *v, int argc, char **argv, request *req, job_verb_args *args);
/* The whole of a verb V whose request is published and, with --wait, followed (rollback,
 * replay). Returns the exit code. */
int cli_job_verb_publish(cli *c, const job_verb *v, int argc, char **argv);

/* A view of the store the CLI lists (one of jobstore's *_json readers, given ARG). */
typedef int (*cli_view_fn)(jobstore *js, const void *arg, json_t **out, char *errstr,
                           size_t errstr_size);
/* Reads VIEW(ARG) from the store. With --json prints it and returns EXIT_DONE; else returns
 * CLI_GO_ON with the rows in *LIST for the caller to print as text (and free). Returns
 * EXIT_UNREACHABLE when the store cannot be read (after saying why). */
int cli_view(cli *c, cli_view_fn view, const void *arg, json_t **list);

/* Connects to PostgreSQL. Returns 0 and *JS (caller closes), or EXIT_UNREACHABLE after telling
 * on stderr what to check. */
int open_store(cli *c, jobstore **js);
/* The -X librdkafka properties, borrowed from C's settings. */
bus_props props_of(cli *c);
/* Prints V indented on stdout. */
void print_json(const json_t *v);
/* A read of the store that failed: prints "kvmove: ERR" on stderr. Returns EXIT_UNREACHABLE. */
int cli_store_failed(const char *err);
/* The string member K of O, or "" (borrowed). For decisions; print it with jshown. */
const char *jstr(const json_t *o, const char *k);

/* TEXT as it may reach the terminal (termtext_escape): shown as one line, or as multi-line
 * output whose newlines stay. Every print of text kvmove does not control (host output, step
 * and preflight messages, errors stored by workers) goes through these; --json output does not
 * (jansson escapes it). The result lives until 16 more calls (a ring, so that one printf can
 * show several); the CLI is single-threaded. */
const char *shown(const char *text);
const char *shown_lines(const char *text);
/* shown(jstr(O, K)). */
const char *jshown(const json_t *o, const char *k);
/* The exit code for a failed broker call: EXIT_UNREACHABLE, after telling what to check. */
int cli_broker_error(cli *c, const char *what, const char *err);

/* Validates the request message PAYLOAD against schema/request.schema.json (in the settings'
 * schema_dir). Returns 0, or -1 with the violation (or why the schema cannot be read) in
 * errstr. */
int cli_request_check(cli *c, const char *payload, char *errstr, size_t errstr_size);

/* The operator's signing key file (key_file, else $XDG_CONFIG_HOME/kvmove/key, else
 * ~/.config/kvmove/key) into BUF. Returns 0, or -1 when there is none to name. */
int cli_key_path(cli *c, char *buf, size_t size);
/* Sets R's submitted_by to the operator the CLI signs as (setting identity; the login name
 * request_init took when it is not set). */
void cli_identify(cli *c, request *r);
/* The signature of one request message (producer/key.c): the Kafka headers to publish it with. */
typedef struct cli_signature {
    char key_id[SIGN_KEY_ID_LEN];
    char signature[SIGN_SIGNATURE_LEN];
    bus_header headers[2]; /* kvmove-key-id, kvmove-signature (pointing into this struct) */
} cli_signature;
/* Signs the exact bytes of PAYLOAD with the operator's key into *OUT. Returns 0, or EXIT_FAILED
 * after telling on stderr how to get a key. */
int cli_sign(cli *c, const char *payload, cli_signature *out);

/* Prints the progress of JOB_ID read from CONS (a consumer of kvmove.events) until the job
 * ends or TIMEOUT_S (0 = no limit) passes. Returns EXIT_DONE when it succeeded, EXIT_FAILED
 * when it failed, was rejected or was not followed to its end, EXIT_UNREACHABLE on a broker
 * error. */
int follow_job(cli *c, bus_consumer *cons, const char *job_id, int timeout_s);
/* Validates REQ against the request schema, publishes it and, with WAIT, follows its job. */
int publish(cli *c, const request *req, int wait, int timeout_s);
/* Validates and publishes REQ like publish, printing nothing when it was published. */
int publish_quiet(cli *c, const request *req);
/* The spec's MERGE ACTIONS (producer/submit.c): validates REQ against the newest es.xml of its
 * system and records its MIGRATE GUEST command as a merged action in a new version of it
 * (applied to the newest at commit time). REQ is resolved first (sysconfig_resolve: its system
 * set, its names as es.xml spells them). Returns 0 when it validated. */
int cli_merge_action(cli *c, request *req);
/* Resolves REQ against the stored systems (sysconfig_resolve), telling on stderr when it
 * cannot. Returns 0 (also when no stored system names it: the validation then says so), or an
 * exit code. */
int cli_resolve(cli *c, jobstore *js, request *req);

/* kvmove config load FILE: validates and stores FILE; *VERSION_OUT (may be NULL) gets its
 * version. Returns an exit code; prints the spec's "File : F loaded OK" line. */
int cli_config_load(cli *c, const char *path, long *version_out);
/* kvmove config save FILE: writes VERSION (0 = the newest of SYSTEM; SYSTEM NULL: of the only
 * system stored) to PATH. Returns an exit code; prints the spec's "File : F saved OK" line. */
int cli_config_save(cli *c, const char *path, const char *system, long version);

/* Asks a worker to run probe P (producer/remote.c): publishes it signed as this operator and
 * reads its row in table probes until a worker has ended it or TIMEOUT_S (0 = no limit) passed.
 * Returns EXIT_DONE with *ROW (the row as jobstore_probe_json gives it: status succeeded or
 * failed, result, error; caller decrefs), or an exit code after saying why on stderr (refused:
 * the worker's reason; no worker answered in time). */
int cli_probe(cli *c, probe_request *p, int timeout_s, json_t **row);

/* Subcommands: ARGV[0] is the verb; each returns an exit code. */
int cmd_submit(cli *c, int argc, char **argv);
int cmd_replay(cli *c, int argc, char **argv);
int cmd_watch(cli *c, int argc, char **argv);
int cmd_status(cli *c, int argc, char **argv);
int cmd_jobs(cli *c, int argc, char **argv);
int cmd_events(cli *c, int argc, char **argv);
int cmd_config(cli *c, int argc, char **argv);
int cmd_shell(cli *c, int argc, char **argv);
int cmd_evacuate(cli *c, int argc, char **argv);
int cmd_cleanup(cli *c, int argc, char **argv);
/* The hidden verb the shell completion calls (producer/complete.c). */
#define CLI_COMPLETE_VERB "__complete"
int cmd_complete(cli *c, int argc, char **argv);
int cmd_key(cli *c, int argc, char **argv);
int cmd_operator(cli *c, int argc, char **argv);
int cmd_operators(cli *c, int argc, char **argv);
int cmd_grant(cli *c, int argc, char **argv);
int cmd_revoke(cli *c, int argc, char **argv);
int cmd_cancel(cli *c, int argc, char **argv);
int cmd_rollback(cli *c, int argc, char **argv);
int cmd_return(cli *c, int argc, char **argv);
int cmd_evacuations(cli *c, int argc, char **argv);

#endif
