/* cli: helpers shared by the kvmove subcommands (errors, connections, JSON output, schema). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jschema.h"
#include "number.h"
#include "termtext.h"
#include "util.h"

volatile sig_atomic_t cli_running = 1;

int usage_error(const char *verb, const char *fmt, const char *arg)
{
    fprintf(stderr, "kvmove%s%s: ", verb ? " " : "", verb ? verb : "");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'kvmove %s%s--help' for more information.\n", verb ? verb : "",
            verb ? " " : "");
    return EXIT_USAGE;
}

int cli_int_option(const char *verb, const char *option, const char *text, int min, int max,
                   int *out)
{
    char err[512];

    if (number_parse_int(option, text, min, max, out, err, sizeof(err)) != 0)
        return usage_error(verb, "%s", err);
    return 0;
}

int cli_parse(const char *verb, const cli_opt *opts, size_t n, const char *help, int max_args,
              int argc, char **argv)
{
    struct option lo[CLI_OPTS_MAX + 2];
    const cli_opt *o;
    char name[64];
    size_t i;
    int ch;

    if (n > CLI_OPTS_MAX)
        return usage_error(verb, "%s", "too many options (CLI_OPTS_MAX)");
    for (i = 0; i < n; i++)
        lo[i] = (struct option){opts[i].name,
                                opts[i].kind == CLI_OPT_FLAG ? no_argument : required_argument,
                                NULL, 256 + (int)i};
    lo[n] = (struct option){"help", no_argument, NULL, 'h'};
    lo[n + 1] = (struct option){NULL, 0, NULL, 0};
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (ch == 'h') {
            fputs(help, stdout);
            return EXIT_DONE;
        }
        if (ch < 256 || ch >= 256 + (int)n)
            return usage_error(verb, "%s", "invalid option");
        o = &opts[ch - 256];
        if (o->kind == CLI_OPT_TEXT) {
            *(const char **)o->dst = optarg;
        } else if (o->kind == CLI_OPT_FLAG) {
            *(int *)o->dst = 1;
        } else {
            snprintf(name, sizeof(name), "--%s", o->name);
            if (cli_int_option(verb, name, optarg, o->min, o->max, (int *)o->dst) != 0)
                return EXIT_USAGE;
        }
    }
    if (max_args >= 0 && argc - optind > max_args)
        return usage_error(verb, "unexpected argument '%s'", argv[optind + max_args]);
    for (i = 0; i < n; i++)
        if (opts[i].missing && *(const char **)opts[i].dst == NULL)
            return usage_error(verb, "%s", opts[i].missing);
    return CLI_GO_ON;
}

int cli_store_failed(const char *err)
{
    fprintf(stderr, "kvmove: %s\n", err);
    return EXIT_UNREACHABLE;
}

int cli_job_verb(const job_verb *v, int argc, char **argv, request *req, job_verb_args *args)
{
    char err[1024];
    int ch, rc;

    memset(args, 0, sizeof(*args));
    request_init(req);
    req->action = v->action;
    optind = 0;
    while ((ch = getopt_long(argc, argv, v->shortopts, v->opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            util_strlcpy(req->reason, optarg, sizeof(req->reason));
            break;
        case 'w':
            args->wait = 1;
            break;
        case 'f':
            args->wait = args->follow = 1;
            break;
        case 'T':
            if (cli_int_option(v->name, "--timeout", optarg, 0, CLI_TIMEOUT_MAX, &args->timeout_s))
                return EXIT_USAGE;
            break;
        case 'h':
            fputs(v->help, stdout);
            return EXIT_DONE;
        case '?':
            return usage_error(v->name, "%s", "invalid option");
        default:
            if (v->own == NULL)
                return usage_error(v->name, "%s", "invalid option");
            if ((rc = v->own(v->name, req, ch, optarg)) != 0)
                return rc;
        }
    }
    if (optind + 1 != argc)
        return usage_error(v->name, "%s", "name exactly one job id (see 'kvmove jobs')");
    util_strlcpy(req->job_id, argv[optind], sizeof(req->job_id));
    if (request_validate(req, err, sizeof(err)) != 0)
        return usage_error(v->name, "%s", err);
    return CLI_GO_ON;
}

int cli_job_verb_publish(cli *c, const job_verb *v, int argc, char **argv)
{
    request req;
    job_verb_args a;
    int rc = cli_job_verb(v, argc, argv, &req, &a);

    return rc != CLI_GO_ON ? rc : publish(c, &req, a.wait, a.timeout_s);
}

int open_store(cli *c, jobstore **js)
{
    char err[1024];

    if (jobstore_connect(c->s.db, js, err, sizeof(err)) != 0) {
        fprintf(stderr,
                "kvmove: cannot reach the PostgreSQL database: %s\n"
                "kvmove: check that PostgreSQL is running and that --db, KVMOVE_DB, 'db =' in "
                "the configuration file or the PG* variables point at it\n",
                err);
        return EXIT_UNREACHABLE;
    }
    return 0;
}

int cli_view(cli *c, cli_view_fn view, const void *arg, json_t **list)
{
    char err[1024];
    jobstore *js = NULL;
    int rc;

    *list = NULL;
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    rc = view(js, arg, list, err, sizeof(err));
    jobstore_close(js);
    if (rc != 0)
        return cli_store_failed(err);
    if (!c->json)
        return CLI_GO_ON;
    print_json(*list);
    json_decref(*list);
    *list = NULL;
    return EXIT_DONE;
}

int cli_broker_error(cli *c, const char *what, const char *err)
{
    fprintf(stderr,
            "kvmove: %s: %s\n"
            "kvmove: check that the Kafka brokers %s are running and reachable (set them with "
            "-b, KVMOVE_BROKERS or 'brokers =' in the configuration file; -X for SASL/SSL)\n",
            what, err, c->s.brokers);
    return EXIT_UNREACHABLE;
}

bus_props props_of(cli *c)
{
    bus_props p = {(const char *const *)c->s.kafka_props, c->s.n_kafka_props};
    return p;
}

void print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
}

const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

#define SHOWN_RING 16

static const char *shown_as(const char *text, termtext_layout layout)
{
    static char *ring[SHOWN_RING];
    static unsigned next;
    char **slot = &ring[next++ % SHOWN_RING];

    free(*slot);
    *slot = termtext_dup(text, layout);
    return *slot ? *slot : ""; /* out of memory: nothing rather than the raw text */
}

const char *shown(const char *text)
{
    return shown_as(text, TERMTEXT_LINE);
}

const char *shown_lines(const char *text)
{
    return shown_as(text, TERMTEXT_LINES);
}

const char *jshown(const json_t *o, const char *k)
{
    return shown(jstr(o, k));
}

int cli_request_check(cli *c, const char *payload, char *errstr, size_t errstr_size)
{
    char path[1100], err[1024];
    jschema *schema = NULL;
    json_t *msg = NULL;
    json_error_t jerr;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/request.schema.json", c->s.schema_dir);
    if (jschema_load_file(path, &schema, err, sizeof(err)) != 0) {
        util_errf(errstr, errstr_size, "cannot use the request schema: %s (set schema_dir)", err);
        goto out;
    }
    msg = json_loads(payload, 0, &jerr);
    if (msg == NULL) {
        util_errf(errstr, errstr_size, "request is not JSON: %s", jerr.text);
        goto out;
    }
    if (jschema_validate(schema, msg, err, sizeof(err)) != 0) {
        util_errf(errstr, errstr_size, "request does not match %s: %s", path, err);
        goto out;
    }
    rc = 0;
out:
    json_decref(msg);
    jschema_free(schema);
    return rc;
}
