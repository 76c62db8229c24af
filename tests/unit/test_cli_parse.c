/* test_cli_parse: kvmove's command parsing (producer/): submit's flags and the spec's MIGRATE GUEST
 * command, replay, the listing commands' options, and the shell's commands; what a command line
 * means is read from the request it publishes (a mock Kafka cluster) or the session's actions. */
#include <check.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "unit_cli.h"
#include "unit_run.h"

#define G "exa01vm01.example.com"
#define S "exa01adm02.example.com"
#define T "exa01adm06.example.com"
#define JOB "6f1c2a52-3d0e-4b8e-9a51-0c7e4f2b9d10"

static const char *brokers;
static cli c;

/* Commands that publish: a mock cluster per test. */
static void setup(void)
{
    brokers = mock_start();
    cli_for(&c, NULL, brokers);
}

static void teardown(void)
{
    mock_stop();
}

/* Commands refused (or stopped at the unreachable database) before anything is published: no
 * broker at all, so that a command that did publish would exit 3 instead. */
static void setup_offline(void)
{
    brokers = NULL;
    cli_for(&c, NULL, NULL);
}

UNIT_TCASE("published", .setup = setup, .teardown = teardown, .timeout = 60);
UNIT_TCASE("refused", .setup = setup_offline, .timeout = 60);

/* What a request message says, as "action guest mode src tgt step from_step job_id
 * sequential" ("-" for a field it does not have). */
static char *summary(const char *json)
{
    json_error_t jerr;
    json_t *o = json_loads(json, 0, &jerr);
    static const char *const keys[] = {"action", "guest",     "mode",   "src_host",  "tgt_host",
                                       "step",   "from_step", "job_id", "sequential"};
    char *out = calloc(1, 2048);
    size_t i;

    ck_assert_msg(o != NULL, "not JSON: %s", json);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(o, keys[i]);
        const char *s = json_is_string(v) ? json_string_value(v) : json_is_true(v) ? "true" : "-";
        snprintf(out + strlen(out), 2048 - strlen(out), "%s%s", i ? " " : "", s);
    }
    json_decref(o);
    return out;
}

/* The request published by the command just run (the only message on kvmove.requests). */
static char *published(void)
{
    int n = 0;
    char *all = mock_read(brokers, BUS_TOPIC_REQUESTS, &n), *s;

    ck_assert_msg(n == 1, "%d requests published:\n%s", n, all);
    s = summary(all);
    free(all);
    return s;
}

/* ---- kvmove submit: flags and the spec's command ------------------------------------------ */

/* Every form published as the request it describes (--no-validate: no stored es.xml here). */
static const struct {
    const char *args[14];
    const char *request;
} submit_ok[] = {
    {{"--guest", G, "--mode", "offline", "--src", S, "--tgt", T},
     "migrate_guest " G " OFFLINE " S " " T " - - - -"},
    {{"-g", G, "-m", "OFFLINEFORCE", "-s", S, "-t", T, "-S", "STARTUP_GUEST"},
     "migrate_guest " G " OFFLINEFORCE " S " " T " STARTUP_GUEST - - -"},
    {{"--guest", G, "--mode", "offline", "--src", S, "--tgt", T, "--sequential"},
     "migrate_guest " G " OFFLINE " S " " T " - - - true"},
    {{"MIGRATE GUEST HOSTNAME=" G " MODE=OFFLINE SRCHOST=" S " TGTHOST=" T},
     "migrate_guest " G " OFFLINE " S " " T " - - - -"},
    {{"MIGRATE GUEST HOSTNAME=" G " MODE=OFFLINE SRCHOST=" S " TGTHOST=" T
      " WHERE STEPNAME=STARTUP_GUEST"},
     "migrate_guest " G " OFFLINE " S " " T " STARTUP_GUEST - - -"},
    {{"migrate guest hostname=" G " mode=offlineforce srchost=" S " tgthost=" T},
     "migrate_guest " G " OFFLINEFORCE " S " " T " - - - -"},
};

UNIT_LOOP(test_submit_forms, submit_ok)
{
    char *argv[20] = {"submit", "--no-validate"}, *got;
    int n = 2, i;
    cli_run r;

    for (i = 0; submit_ok[_i].args[i]; i++)
        argv[n++] = (char *)submit_ok[_i].args[i];
    argv[n] = NULL;
    r = cli_call(cmd_submit, &c, argv[0], argv[1], argv[2], argv[3], argv[4], argv[5], argv[6],
                 argv[7], argv[8], argv[9], argv[10], argv[11], argv[12], argv[13], NULL);
    ck_assert_msg(r.rc == EXIT_DONE, "case %d: exit %d: %s", _i, r.rc, r.err);
    ck_assert_msg(strstr(r.out, "published (job id ") != NULL, "%s", r.out);
    got = published();
    ck_assert_msg(strcmp(got, submit_ok[_i].request) == 0, "case %d: published %s, expected %s", _i,
                  got, submit_ok[_i].request);
    free(got);
    cli_run_free(&r);
}
END_TEST

/* Command lines that are not a migration: exit 2, the reason and the Try line on stderr,
 * nothing on stdout, nothing published. */
static const struct {
    const char *args[12];
    const char *why;
} submit_bad[] = {
    {{"--guest", G, "--mode", "fast", "--src", S, "--tgt", T}, "--mode must be offline"},
    {{"--guest", G, "--mode", "offline", "--src", S, "--tgt", T, "--step", "NOPE"},
     "unknown step 'NOPE'"},
    {{"--guest", G, "--mode", "offline", "--src", S}, "tgt"},
    {{"--guest", G, "--mode", "offline", "--src", S, "--tgt", S}, "another KVM host"},
    {{"--guest", "a;reboot", "--mode", "offline", "--src", S, "--tgt", T}, "guest"},
    {{"--frob"}, "invalid option"},
    {{"MIGRATE GUEST HOSTNAME=" G, "MODE=OFFLINE"}, "one quoted argument"},
    {{"MIGRATE GUEST HOSTNAME=" G " MODE=OFFLINE SRCHOST=" S}, "TGTHOST"},
    {{"MIGRATE GUEST HOSTNAME=" G " MODE=SOMETIMES SRCHOST=" S " TGTHOST=" T}, "MODE"},
    {{"MIGRATE GUEST HOSTNAME=" G " MODE=OFFLINE SRCHOST=" S " TGTHOST=" T " WHERE STEPNAME=NOPE"},
     "NOPE"},
    {{"MIGRATE VOLUME HOSTNAME=" G}, "MIGRATE GUEST"},
};

UNIT_LOOP_IN("refused", test_submit_refused, submit_bad)
{
    const char *const *a = submit_bad[_i].args;
    cli_run r = cli_call(cmd_submit, &c, "submit", "--no-validate", a[0], a[1], a[2], a[3], a[4],
                         a[5], a[6], a[7], a[8], a[9], a[10], a[11], NULL);

    ck_assert_msg(r.rc == EXIT_USAGE, "case %d: exit %d", _i, r.rc);
    ck_assert_msg(strstr(r.err, submit_bad[_i].why) != NULL, "case %d: stderr lacks '%s':\n%s", _i,
                  submit_bad[_i].why, r.err);
    ck_assert_msg(strstr(r.err, "Try 'kvmove submit --help' for more information.") != NULL,
                  "case %d: no Try line:\n%s", _i, r.err);
    ck_assert_str_eq(r.out, "");
    cli_run_free(&r);
}
END_TEST

/* --wait follows the job: with no worker its events never come, so --timeout gives up, exit 1,
 * saying where to look. */
UNIT_TEST(test_submit_wait_timeout)
{
    cli_run r = cli_call(cmd_submit, &c, "submit", "--no-validate", "--wait", "--timeout", "1",
                         "--guest", G, "--mode", "offline", "--src", S, "--tgt", T, NULL);
    char *got;

    ck_assert_int_eq(r.rc, EXIT_FAILED);
    ck_assert_msg(strstr(r.err, "stopped following job ") && strstr(r.err, "kvmove status"), "%s",
                  r.err);
    got = published();
    ck_assert_str_eq(got, "migrate_guest " G " OFFLINE " S " " T " - - - -");
    free(got);
    cli_run_free(&r);
}
END_TEST

/* The broker unreachable: exit 3, what to check. */
UNIT_TEST_IN("refused", test_submit_broker_unreachable)
{
    cli_run r;

    cli_for(&c, NULL, "127.0.0.1:1");
    r = cli_call(cmd_submit, &c, "submit", "--no-validate", "--guest", G, "--mode", "offline",
                 "--src", S, "--tgt", T, NULL);
    ck_assert_int_eq(r.rc, EXIT_UNREACHABLE);
    ck_assert_msg(strstr(r.err, "check that the Kafka brokers 127.0.0.1:1 are running"), "%s",
                  r.err);
    cli_run_free(&r);
}
END_TEST

/* ---- kvmove replay ----------------------------------------------------------------------- */

static const struct {
    const char *args[4];
    const char *request;
} replay_ok[] = {
    {{JOB}, "replay - - - - - - " JOB " -"},
    {{JOB, "--from-step", "ATTACH_VOLUMES"}, "replay - - - - - ATTACH_VOLUMES " JOB " -"},
    {{"--step", "STARTUP_GUEST", JOB}, "replay - - - - STARTUP_GUEST - " JOB " -"},
};

UNIT_LOOP(test_replay_forms, replay_ok)
{
    const char *const *a = replay_ok[_i].args;
    cli_run r = cli_call(cmd_replay, &c, "replay", a[0], a[1], a[2], a[3], NULL);
    char *got;

    ck_assert_msg(r.rc == EXIT_DONE, "case %d: exit %d: %s", _i, r.rc, r.err);
    got = published();
    ck_assert_msg(strcmp(got, replay_ok[_i].request) == 0, "case %d: %s", _i, got);
    free(got);
    cli_run_free(&r);
}
END_TEST

static const struct {
    const char *args[5];
    const char *why;
} replay_bad[] = {
    {{NULL}, "name exactly one job id"},
    {{JOB, JOB}, "name exactly one job id"},
    {{"not-a-uuid"}, "job"},
    {{JOB, "--from-step", "NOPE"}, "unknown step 'NOPE'"},
    {{JOB, "--step", "NOPE"}, "unknown step 'NOPE'"},
    {{JOB, "--step", "STARTUP_GUEST", "--from-step", "STOP_GUEST"}, "step"},
    {{JOB, "--frob"}, "invalid option"},
};

UNIT_LOOP_IN("refused", test_replay_refused, replay_bad)
{
    const char *const *a = replay_bad[_i].args;
    cli_run r = cli_call(cmd_replay, &c, "replay", a[0], a[1], a[2], a[3], a[4], NULL);

    ck_assert_msg(r.rc == EXIT_USAGE, "case %d: exit %d", _i, r.rc);
    ck_assert_msg(strstr(r.err, replay_bad[_i].why) != NULL, "case %d: %s", _i, r.err);
    ck_assert_msg(strstr(r.err, "Try 'kvmove replay --help'") != NULL, "case %d: %s", _i, r.err);
    cli_run_free(&r);
}
END_TEST

/* ---- the listing commands' options (refused before any connection) --------------------- */

static const struct {
    int (*fn)(cli *, int, char **);
    const char *args[6];
    int rc;
    const char *err; /* on stderr */
} listing[] = {
    {cmd_jobs, {"jobs", "--status", "done"}, EXIT_USAGE, "unknown status 'done'"},
    {cmd_jobs, {"jobs", "--since", "yesterday"}, EXIT_USAGE, "--since takes a time"},
    {cmd_jobs, {"jobs", "--since", "2025-13-45"}, EXIT_USAGE, "--since takes a time"},
    {cmd_jobs,
     {"jobs", "--limit", "0"},
     EXIT_USAGE,
     "--limit: '0' is not a number from 1 to 100000"},
    {cmd_jobs, {"jobs", "extra"}, EXIT_USAGE, "unexpected argument 'extra'"},
    {cmd_status, {"status"}, EXIT_USAGE, "name one job id"},
    {cmd_status, {"status", JOB, JOB}, EXIT_USAGE, "name one job id"},
    {cmd_status, {"status", "--frob"}, EXIT_USAGE, "unknown option '--frob'"},
    {cmd_watch, {"watch", "not-a-uuid"}, EXIT_USAGE, "is not a job id"},
    {cmd_watch, {"watch", JOB, JOB}, EXIT_USAGE, "at most one job id"},
    {cmd_events, {"events", "extra"}, EXIT_USAGE, "unexpected argument 'extra'"},
    {cmd_cleanup, {"cleanup", "extra"}, EXIT_USAGE, "unexpected argument 'extra'"},
    {cmd_evacuate, {"evacuate"}, EXIT_USAGE, "name the host to evacuate"},
    {cmd_evacuate, {"evacuate", "--host", S, "--max-parallel", "0"}, EXIT_USAGE, "1 to 256"},
    /* accepted: they get as far as the (unreachable) database */
    {cmd_jobs, {"jobs", "--status", "failed", "--since", "30m"}, EXIT_UNREACHABLE, "PostgreSQL"},
    {cmd_jobs,
     {"jobs", "--since", "2025-07-30T16:00:00Z", "--json"},
     EXIT_UNREACHABLE,
     "PostgreSQL"},
    {cmd_status, {"status", JOB, "--json"}, EXIT_UNREACHABLE, "PostgreSQL"},
    {cmd_cleanup, {"cleanup", "--list", "--json"}, EXIT_UNREACHABLE, "PostgreSQL"},
};

UNIT_LOOP_IN("refused", test_listing_options, listing)
{
    const char *const *a = listing[_i].args;
    cli_run r = cli_call(listing[_i].fn, &c, a[0], a[1], a[2], a[3], a[4], a[5], NULL);

    ck_assert_msg(r.rc == listing[_i].rc, "case %d (%s): exit %d, expected %d: %s", _i, a[0], r.rc,
                  listing[_i].rc, r.err);
    ck_assert_msg(strstr(r.err, listing[_i].err) != NULL, "case %d: stderr lacks '%s':\n%s", _i,
                  listing[_i].err, r.err);
    if (r.rc == EXIT_USAGE)
        ck_assert_str_eq(r.out, "");
    cli_run_free(&r);
}
END_TEST

/* Every subcommand's --help: exit 0, usage on stdout, nothing on stderr. */
UNIT_TEST_IN("refused", test_help)
{
    static const struct {
        int (*fn)(cli *, int, char **);
        const char *verb;
    } verbs[] = {{cmd_submit, "submit"}, {cmd_replay, "replay"},   {cmd_status, "status"},
                 {cmd_jobs, "jobs"},     {cmd_watch, "watch"},     {cmd_events, "events"},
                 {cmd_shell, "shell"},   {cmd_cleanup, "cleanup"}, {cmd_evacuate, "evacuate"}};
    char usage[64];
    size_t i;

    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        cli_run r = cli_call(verbs[i].fn, &c, verbs[i].verb, "--help", NULL);
        snprintf(usage, sizeof(usage), "Usage: kvmove %s", verbs[i].verb);
        ck_assert_msg(r.rc == EXIT_DONE, "%s --help: exit %d", verbs[i].verb, r.rc);
        ck_assert_msg(strncmp(r.out, usage, strlen(usage)) == 0, "%s --help:\n%s", verbs[i].verb,
                      r.out);
        ck_assert_msg(r.err[0] == '\0', "%s --help: stderr %s", verbs[i].verb, r.err);
        cli_run_free(&r);
    }
}
END_TEST

/* ---- kvmove shell: the spec's commands --------------------------------------------------- */

/* Runs SESSION (commands, one a line) in kvmove shell --json from a file. */
static cli_run shell_session(const char *session)
{
    char path[] = "/tmp/kvmove-unit-shell.XXXXXX";
    int fd = mkstemp(path);
    cli_run r;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, session, strlen(session)), (ssize_t)strlen(session));
    close(fd);
    r = cli_call(cmd_shell, &c, "shell", "--json", path, NULL);
    unlink(path);
    return r;
}

#define MIG "MIGRATE GUEST HOSTNAME=" G " MODE=OFFLINE SRCHOST=" S " TGTHOST=" T

/* Sessions that need no database: what each command line made of the actions (LIST ACTIONS
 * --json: "state command" per action, ";"-separated), or its error. */
static const struct {
    const char *session;
    int rc;
    const char *actions; /* LIST ACTIONS's last answer, NULL: none asked */
    const char *err;     /* on stderr, NULL: nothing */
} shell_cases[] = {
    /* the spec's syntax, as typed and as pasted from a runbook with the prompt */
    {MIG "\nSAVE ACTION\nLIST ACTIONS\n", 0, "saved " MIG, NULL},
    {"oedacli> " MIG "\noedacli> SAVE ACTION\nkvmove> LIST ACTIONS\n", 0, "saved " MIG, NULL},
    {"migrate guest hostname=" G " mode=offlineforce srchost=" S " tgthost=" T
     " where stepname=startup_guest\nsave action\nlist action\n",
     0,
     "saved MIGRATE GUEST HOSTNAME=" G " MODE=OFFLINEFORCE SRCHOST=" S " TGTHOST=" T
     " WHERE STEPNAME=STARTUP_GUEST",
     NULL},
    /* comments, blank lines, a MIGRATE GUEST not saved is not an action */
    {"# the spec's example\n\n   \n" MIG "\nLIST ACTIONS\n", 0, "", NULL},
    /* EXIT (or QUIT) ends the session: what follows is not read */
    {MIG "\nSAVE ACTION\nLIST ACTIONS\nEXIT\nFROB\n", 0, "saved " MIG, NULL},
    {"QUIT\nFROB\n", 0, NULL, NULL},
    /* errors: the session stops at the first, with exit 1 and the reason */
    {"FROB ACTIONS\nLIST ACTIONS\n", 1, NULL, "unknown command 'FROB ACTIONS' (type HELP)"},
    {"MIGRATE GUEST HOSTNAME=" G " MODE=OFFLINE SRCHOST=" S "\n", 1, NULL, "TGTHOST"},
    {"MIGRATE GUEST HOSTNAME=a;reboot MODE=OFFLINE SRCHOST=" S " TGTHOST=" T "\n", 1, NULL,
     "ERROR: "},
    {"SAVE ACTION\n", 1, NULL, "no action to save"},
    {"MERGE ACTIONS\n", 1, NULL, "no saved actions to merge"},
    {"DEPLOY ACTIONS\n", 1, NULL, "no merged actions to deploy"},
    {MIG "\nSAVE ACTION\nDEPLOY ACTIONS\n", 1, NULL, "no merged actions to deploy"},
    {"LOAD FILE\n", 1, NULL, "usage: LOAD FILE NAME=FILE"},
    {"LOAD FILE exa01.xml\n", 1, NULL, "usage: LOAD FILE NAME=FILE"},
    {"SAVE FILE\n", 1, NULL, "usage: SAVE FILE NAME=FILE"},
    {"SAVE ACTION NOW\n", 1, NULL, "unknown command"},
    {"LOAD FILE NAME=\"unclosed\n", 1, NULL, "unclosed quote"},
    {"a b c d e f g h i j k l m n o p q\n", 1, NULL, "too many words"},
};

UNIT_LOOP_IN("refused", test_shell_commands, shell_cases)
{
    cli_run r = shell_session(shell_cases[_i].session);
    const char *last = NULL, *p;

    ck_assert_msg(r.rc == shell_cases[_i].rc, "case %d: exit %d, expected %d\n%s\n%s", _i, r.rc,
                  shell_cases[_i].rc, r.out, r.err);
    if (shell_cases[_i].err)
        ck_assert_msg(strstr(r.err, shell_cases[_i].err) != NULL, "case %d: stderr lacks '%s':\n%s",
                      _i, shell_cases[_i].err, r.err);
    else
        ck_assert_msg(r.err[0] == '\0', "case %d: stderr: %s", _i, r.err);
    /* LIST ACTIONS --json: a JSON array whose first line starts with '['; the last one */
    for (p = r.out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (*p == '[')
            last = p;
    if (shell_cases[_i].actions == NULL) {
        ck_assert_msg(last == NULL, "case %d: listed:\n%s", _i, r.out);
    } else {
        json_error_t jerr;
        json_t *arr, *a;
        size_t i;
        char got[2048] = "";

        ck_assert_msg(last != NULL, "case %d: no LIST ACTIONS answer:\n%s", _i, r.out);
        arr = json_loads(last, JSON_DISABLE_EOF_CHECK, &jerr);
        ck_assert_msg(json_is_array(arr), "case %d: %s\n%s", _i, jerr.text, last);
        json_array_foreach(arr, i, a)
        {
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s %s", i ? ";" : "",
                     json_string_value(json_object_get(a, "state")),
                     json_string_value(json_object_get(a, "command")));
        }
        json_decref(arr);
        ck_assert_msg(strcmp(got, shell_cases[_i].actions) == 0,
                      "case %d: actions '%s', expected '%s'", _i, got, shell_cases[_i].actions);
    }
    cli_run_free(&r);
}
END_TEST

/* HELP answers with every command of the spec's session. */
UNIT_TEST_IN("refused", test_shell_help)
{
    static const char *const commands[] = {
        "LOAD FILE NAME=FILE", "MIGRATE GUEST HOSTNAME=G", "SAVE ACTION",  "MERGE ACTIONS",
        "SAVE FILE NAME=FILE", "DEPLOY ACTIONS",           "LIST ACTIONS", "EXIT"};
    cli_run r = shell_session("help\n");
    size_t i;

    ck_assert_int_eq(r.rc, 0);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        ck_assert_msg(strstr(r.out, commands[i]) != NULL, "HELP lacks %s:\n%s", commands[i], r.out);
    cli_run_free(&r);
}
END_TEST

/* The shell's own command line: one FILE at most, which must be readable. */
UNIT_TEST_IN("refused", test_shell_arguments)
{
    cli_run r = cli_call(cmd_shell, &c, "shell", "a.txt", "b.txt", NULL);

    ck_assert_int_eq(r.rc, EXIT_USAGE);
    ck_assert_msg(strstr(r.err, "name at most one command FILE"), "%s", r.err);
    cli_run_free(&r);
    r = cli_call(cmd_shell, &c, "shell", "/nonexistent/commands.txt", NULL);
    ck_assert_int_eq(r.rc, EXIT_FAILED);
    ck_assert_msg(strstr(r.err, "cannot read /nonexistent/commands.txt"), "%s", r.err);
    cli_run_free(&r);
}
END_TEST

int main(void)
{
    return unit_main("cli_parse");
}
