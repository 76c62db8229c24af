/* test_request: request messages (JSON) and the spec's MIGRATE GUEST command. */
#include <check.h>
#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "util.h"
#include "unit_run.h"

/* Every step name, as the parser's messages list them. */
#define ALL_STEPS                                                                                  \
    "STOP_GUEST, DETACH_INTERFACES, DETACH_VOLUMES, ATTACH_VOLUMES, CREATE_BRIDGES, "              \
    "MIGRATE_GUEST, REMOVE_BRIDGES, REMOVE_NAT_BRIDGE_SRC, CREATE_NAT_BRIDGE_TGT, "                \
    "ATTACH_INTERFACES, STARTUP_GUEST)"
#define ID "6f1c2a52-3d0e-4b8e-9a51-0c7e4f2b9d10"
#define JOB "3d2e1f0a-9b8c-4d7e-8f6a-5b4c3d2e1f0a"
#define TAIL "\"submitted_by\":\"alice\",\"submitted_at\":\"2025-07-30T16:11:46.123Z\"}"
#define MIGRATE_HEAD                                                                               \
    "{\"request_id\":\"" ID "\",\"action\":\"migrate_guest\",\"guest\":\"exa01vm01.example.com\"," \
    "\"mode\":\"OFFLINE\",\"src_host\":\"exa01adm02.example.com\","                                \
    "\"tgt_host\":\"exa01adm06.example.com\","
#define REPLAY_HEAD "{\"request_id\":\"" ID "\",\"action\":\"replay\",\"job_id\":\"" JOB "\","

/* ---- JSON: the error names the field, the value and what is expected ---- */

static const struct {
    const char *json;
    const char *error; /* NULL: accepted; else substrings joined by '|' */
    int id_kept;       /* on failure, request_id still read */
} json_cases[] = {
    {MIGRATE_HEAD TAIL, NULL, 1},
    {MIGRATE_HEAD "\"step\":\"STARTUP_GUEST\",\"config\":7," TAIL, NULL, 1},
    {REPLAY_HEAD TAIL, NULL, 1},
    {REPLAY_HEAD "\"from_step\":\"ATTACH_VOLUMES\"," TAIL, NULL, 1},
    {"", "not valid JSON", 0},
    {"{", "not valid JSON", 0},
    {"[1]", "must be a JSON object, got an array", 0},
    {MIGRATE_HEAD "\"extra\":1," TAIL, "unknown field \"extra\"", 1},
    {MIGRATE_HEAD "\"guest\":\"x\"," TAIL, "not valid JSON|duplicate", 1},
    {"{\"request_id\":\"nope\"}", "field request_id: \"nope\" is not a UUID", 0},
    {"{\"request_id\":7}", "field request_id must be a string, got an integer", 0},
    {"{\"action\":\"replay\"}", "missing required field request_id", 0},
    {"{\"request_id\":\"" ID "\"}", "missing required field action", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"migrate\"}",
     "field action: \"migrate\" is not an action (expected \"migrate_guest\", \"replay\", "
     "\"cancel\", \"rollback\" or \"return\")",
     1},
    {"{\"request_id\":\"" ID "\",\"action\":\"cancel\",\"job_id\":\"" JOB
     "\",\"guest\":\"vm1\"," TAIL,
     "field guest is not valid with action cancel (it acts on the job as recorded)", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"rollback\"," TAIL,
     "missing required field job_id (the job to rollback) for action rollback", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"return\",\"guest\":\"vm1\",\"mode\":"
     "\"OFFLINE\",\"src_host\":\"kvm1\",\"tgt_host\":\"kvm2\"," TAIL,
     "missing required field evacuation", 1},
    {MIGRATE_HEAD "\"allow_colocation\":true," TAIL, "field allow_colocation needs a reason", 1},
    {MIGRATE_HEAD "\"reason\":\"a\\u0007b\"," TAIL, "field reason: contains a control character",
     1},
    {MIGRATE_HEAD "\"reason\":\"\"," TAIL, "field reason: is empty", 1},
    {MIGRATE_HEAD "\"on_failure\":\"retry\"," TAIL,
     "field on_failure: \"retry\" is not a policy (expected \"stop\" or \"rollback\")", 1},
    {MIGRATE_HEAD "\"target_state\":\"paused\"," TAIL,
     "field target_state: \"paused\" is not a state", 1},
    {MIGRATE_HEAD "\"step\":\"ROLLBACK_MIGRATE_GUEST\"," TAIL, "is not a migration step", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"migrate_guest\"," TAIL,
     "missing required field guest (the guest hostname) for action migrate_guest", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"migrate_guest\",\"guest\":\"a;rm -rf /\"," TAIL,
     "field guest: guest name \"a;rm -rf /\" is not a valid hostname", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"migrate_guest\",\"guest\":\"vm\\nx\"," TAIL,
     "guest name \"vm\\nx\"", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"migrate_guest\",\"src_host\":\"-x\"," TAIL,
     "field src_host: source host name \"-x\" is not a valid hostname", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"migrate_guest\",\"mode\":\"offline\"," TAIL,
     "field mode: \"offline\" is not a mode (expected \"OFFLINE\" or \"OFFLINEFORCE\")", 1},
    {MIGRATE_HEAD "\"step\":\"stop_guest\"," TAIL,
     "field step: \"stop_guest\" is not a migration step (expected one of " ALL_STEPS, 1},
    {MIGRATE_HEAD "\"from_step\":\"STOP_GUEST\"," TAIL,
     "field from_step is only valid with action replay", 1},
    {MIGRATE_HEAD "\"job_id\":\"" JOB "\"," TAIL, "field job_id is only valid with action replay",
     1},
    {REPLAY_HEAD "\"step\":\"STOP_GUEST\",\"from_step\":\"STOP_GUEST\"," TAIL,
     "step and from_step are mutually exclusive", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"replay\"," TAIL,
     "missing required field job_id (the job to replay) for action replay", 1},
    {MIGRATE_HEAD "\"config\":\"3\"," TAIL, "field config must be an integer", 1},
    /* JSON Schema's integer, as the published schema and third-party clients have it */
    {MIGRATE_HEAD "\"config\":4.0," TAIL, NULL, 1},
    {MIGRATE_HEAD "\"config\":4e0," TAIL, NULL, 1},
    {MIGRATE_HEAD "\"config\":4.5," TAIL, "field config must be an integer|with a fraction", 1},
    {MIGRATE_HEAD "\"config\":1e300," TAIL, "field config must be an integer", 1},
    {MIGRATE_HEAD "\"config\":0," TAIL, "field config: 0 is not an es.xml version", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"migrate_guest\",\"guest\":\"vm1\",\"mode\":"
     "\"OFFLINE\",\"src_host\":\"kvm1\",\"tgt_host\":\"KVM1\"," TAIL,
     "src_host and tgt_host are both \"kvm1\"", 1},
    {MIGRATE_HEAD "\"submitted_by\":\"a b\",\"submitted_at\":\"2025-07-30T16:11:46Z\"}",
     "field submitted_by: \"a b\" is not a user name", 1},
    {MIGRATE_HEAD "\"submitted_by\":\"a\",\"submitted_at\":\"now\"}",
     "field submitted_at: \"now\" is not an RFC 3339 timestamp", 1},
    {MIGRATE_HEAD "\"submitted_by\":\"a\"}", "missing required field submitted_at", 1},
    {"{\"request_id\":\"" ID "\",\"action\":\"migrate_guest\",\"guest\":\"vm1\",\"src_host\":"
     "\"kvm1\",\"tgt_host\":\"kvm2\"," TAIL,
     "missing required field mode (\"OFFLINE\" or \"OFFLINEFORCE\") for action migrate_guest", 1},
};

static void assert_error_has(const char *err, const char *want, int idx)
{
    char copy[512], *save = NULL, *part;
    int any = 0;

    util_strlcpy(copy, want, sizeof(copy));
    /* alternatives: any one substring is enough */
    for (part = strtok_r(copy, "|", &save); part != NULL; part = strtok_r(NULL, "|", &save))
        any = any || strstr(err, part) != NULL;
    ck_assert_msg(any, "case %d: \"%s\" lacks \"%s\"", idx, err, want);
}

UNIT_TCASE("json");
UNIT_TCASE("command");

UNIT_LOOP(test_json_table, json_cases)
{
    char err[1024] = "";
    request r;
    int rc;

    memset(&r, 'Z', sizeof(r));
    rc = request_parse_json(json_cases[_i].json, strlen(json_cases[_i].json), &r, err, sizeof(err));
    if (json_cases[_i].error == NULL) {
        ck_assert_msg(rc == 0, "case %d: %s", _i, err);
        ck_assert_str_eq(r.request_id, ID);
        return;
    }
    ck_assert_msg(rc == -1, "case %d accepted", _i);
    assert_error_has(err, json_cases[_i].error, _i);
    ck_assert_str_eq(r.request_id, json_cases[_i].id_kept ? ID : "");
}
END_TEST

/* "config": 4.0 is the es.xml version 4 (the schema's integer), not a refusal. */
UNIT_TEST(test_json_config_integral_real)
{
    const char *j = MIGRATE_HEAD "\"config\":4.0," TAIL;
    char err[1024] = "";
    request r;

    ck_assert_msg(request_parse_json(j, strlen(j), &r, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(r.config_version, 4);
}
END_TEST

UNIT_TEST(test_json_fields)
{
    const char *j = MIGRATE_HEAD "\"step\":\"STARTUP_GUEST\",\"config\":7," TAIL;
    char err[512];
    request r;

    ck_assert_int_eq(request_parse_json(j, strlen(j), &r, err, sizeof(err)), 0);
    ck_assert_int_eq(r.action, ACTION_MIGRATE_GUEST);
    ck_assert_str_eq(r.guest, "exa01vm01.example.com");
    ck_assert_int_eq(r.mode, MODE_OFFLINE);
    ck_assert_int_eq(r.has_mode, 1);
    ck_assert_str_eq(r.src_host, "exa01adm02.example.com");
    ck_assert_str_eq(r.tgt_host, "exa01adm06.example.com");
    ck_assert_int_eq(r.has_step, 1);
    ck_assert_int_eq(r.step, STEP_STARTUP_GUEST);
    ck_assert_int_eq(r.has_from_step, 0);
    ck_assert_str_eq(r.job_id, "");
    ck_assert_int_eq(r.config_version, 7);
    ck_assert_str_eq(r.submitted_by, "alice");
    ck_assert_str_eq(r.submitted_at, "2025-07-30T16:11:46.123Z");

    j = REPLAY_HEAD "\"from_step\":\"MIGRATE_GUEST\"," TAIL;
    ck_assert_int_eq(request_parse_json(j, strlen(j), &r, err, sizeof(err)), 0);
    ck_assert_int_eq(r.action, ACTION_REPLAY);
    ck_assert_str_eq(r.job_id, JOB);
    ck_assert_str_eq(r.guest, "");
    ck_assert_int_eq(r.has_mode, 0);
    ck_assert_int_eq(r.has_from_step, 1);
    ck_assert_int_eq(r.from_step, STEP_MIGRATE_GUEST);
    ck_assert_int_eq(r.config_version, 0);
}
END_TEST

/* The buffer need not be NUL-terminated: only LEN bytes are read. */
UNIT_TEST(test_json_length_bounded)
{
    const char *j = MIGRATE_HEAD TAIL "garbage";
    char err[512];
    request r;

    ck_assert_int_eq(request_parse_json(j, strlen(j) - strlen("garbage"), &r, err, sizeof(err)), 0);
    ck_assert_int_eq(request_parse_json(j, strlen(j), &r, err, sizeof(err)), -1);
}
END_TEST

static int same_request(const request *a, const request *b)
{
    return strcmp(a->request_id, b->request_id) == 0 && a->action == b->action &&
           strcmp(a->guest, b->guest) == 0 && a->mode == b->mode && a->has_mode == b->has_mode &&
           strcmp(a->src_host, b->src_host) == 0 && strcmp(a->tgt_host, b->tgt_host) == 0 &&
           a->has_step == b->has_step && (!a->has_step || a->step == b->step) &&
           a->has_from_step == b->has_from_step &&
           (!a->has_from_step || a->from_step == b->from_step) &&
           strcmp(a->job_id, b->job_id) == 0 && a->config_version == b->config_version &&
           strcmp(a->system, b->system) == 0 && strcmp(a->submitted_by, b->submitted_by) == 0 &&
           strcmp(a->submitted_at, b->submitted_at) == 0 && strcmp(a->reason, b->reason) == 0 &&
           a->has_on_failure == b->has_on_failure &&
           a->on_failure_rollback == b->on_failure_rollback &&
           a->has_target_state == b->has_target_state && a->target_stopped == b->target_stopped &&
           a->allow_colocation == b->allow_colocation && a->evacuation == b->evacuation;
}

/* Every good fixture parses, serialises and parses back to the same request. */
UNIT_TEST(test_good_fixtures_round_trip)
{
    char dir[1024], file[1400], err[1024];
    struct dirent *e;
    int n = 0;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/tests/fixtures/messages/requests/good", unit_source_dir());
    d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s (set KVMOVE_SOURCE_DIR)", dir);
    while ((e = readdir(d)) != NULL) {
        FILE *fp;
        char buf[8192], *out;
        size_t len;
        request a, b;

        if (strstr(e->d_name, ".json") == NULL)
            continue;
        snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        fp = fopen(file, "rb");
        ck_assert_ptr_nonnull(fp);
        len = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        ck_assert_msg(request_parse_json(buf, len, &a, err, sizeof(err)) == 0, "%s: %s", file, err);
        out = request_to_json(&a);
        ck_assert_ptr_nonnull(out);
        ck_assert_msg(request_parse_json(out, strlen(out), &b, err, sizeof(err)) == 0,
                      "%s re-serialised as %s: %s", file, out, err);
        ck_assert_msg(same_request(&a, &b), "%s changed in a round trip: %s", file, out);
        free(out);
        n++;
    }
    closedir(d);
    ck_assert_int_gt(n, 0);
}
END_TEST

UNIT_TEST(test_init)
{
    char err[512];
    request r, r2;
    regex_t re;

    request_init(&r);
    request_init(&r2);
    ck_assert(util_is_uuid(r.request_id));
    ck_assert_str_ne(r.request_id, r2.request_id);
    ck_assert_int_eq(r.action, ACTION_MIGRATE_GUEST);
    ck_assert_int_eq(r.mode, MODE_OFFLINE);
    ck_assert_int_gt(strlen(r.submitted_by), 0);
    ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    ck_assert_msg(regexec(&re, r.submitted_at, 0, NULL, 0) == 0, "%s", r.submitted_at);
    regfree(&re);
    /* without names a migration is incomplete; request_validate says which field */
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "missing required field guest"));
}
END_TEST

/* A replay built in C serialises without mode unless one was set, and parses back. */
UNIT_TEST(test_replay_to_json)
{
    char err[512], *s;
    request r, back;

    request_init(&r);
    r.action = ACTION_REPLAY;
    util_strlcpy(r.job_id, JOB, sizeof(r.job_id));
    r.has_step = 1;
    r.step = STEP_STARTUP_GUEST;
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), 0);
    s = request_to_json(&r);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(strstr(s, "\"mode\""));
    ck_assert_ptr_null(strstr(s, "\"guest\""));
    ck_assert_ptr_null(strstr(s, "\"config\""));
    ck_assert_ptr_nonnull(strstr(s, "\"action\":\"replay\""));
    ck_assert_ptr_nonnull(strstr(s, "\"step\":\"STARTUP_GUEST\""));
    ck_assert_int_eq(request_parse_json(s, strlen(s), &back, err, sizeof(err)), 0);
    ck_assert_int_eq(back.has_mode, 0);
    free(s);

    r.has_mode = 1;
    r.mode = MODE_OFFLINEFORCE;
    s = request_to_json(&r);
    ck_assert_ptr_nonnull(strstr(s, "\"mode\":\"OFFLINEFORCE\""));
    free(s);
}
END_TEST

/* A cancel built in C carries its job and reason only, and parses back; it refuses the fields
 * it takes from the job. */
UNIT_TEST(test_cancel_to_json)
{
    char err[512], *s;
    request r, back;

    request_init(&r);
    r.action = ACTION_CANCEL;
    util_strlcpy(r.job_id, JOB, sizeof(r.job_id));
    util_strlcpy(r.reason, "wrong target", sizeof(r.reason));
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), 0);
    s = request_to_json(&r);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(strstr(s, "\"action\":\"cancel\""));
    ck_assert_ptr_nonnull(strstr(s, "\"reason\":\"wrong target\""));
    ck_assert_ptr_null(strstr(s, "\"mode\""));
    ck_assert_int_eq(request_parse_json(s, strlen(s), &back, err, sizeof(err)), 0);
    ck_assert_int_eq(back.action, ACTION_CANCEL);
    ck_assert_str_eq(back.reason, "wrong target");
    free(s);
    r.has_target_state = 1;
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "field target_state is not valid with action cancel"));
    r.has_target_state = 0;
    util_strlcpy(r.reason, "bad \x1b[2J", sizeof(r.reason));
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), -1);
    util_strlcpy(r.reason, "\xff\xfe", sizeof(r.reason)); /* not UTF-8 */
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), -1);
    ck_assert_str_eq(request_action_to_string(ACTION_RETURN), "return");
    ck_assert_ptr_null(request_action_to_string(ACTION__COUNT));
    ck_assert_int_eq(request_action_names_job(ACTION_ROLLBACK), 1);
    ck_assert_int_eq(request_action_names_job(ACTION_RETURN), 0);
}
END_TEST

/* ---- the spec's command form ---- */

static const struct {
    const char *command;
    const char *error; /* NULL: accepted */
    const char *guest, *src, *tgt;
    int mode;
    int step; /* -1: none */
} cmd_cases[] = {
    {"MIGRATE GUEST HOSTNAME=exa01vm01.example.com MODE=OFFLINE SRCHOST=exa01adm02.example.com "
     "TGTHOST=exa01adm06.example.com",
     NULL, "exa01vm01.example.com", "exa01adm02.example.com", "exa01adm06.example.com",
     MODE_OFFLINE, -1},
    {"MIGRATE GUEST HOSTNAME=exa01vm01.example.com MODE=OFFLINE SRCHOST=exa01adm02.example.com "
     "TGTHOST=exa01adm06.example.com WHERE STEPNAME=STARTUP_GUEST",
     NULL, "exa01vm01.example.com", "exa01adm02.example.com", "exa01adm06.example.com",
     MODE_OFFLINE, STEP_STARTUP_GUEST},
    /* as the spec's deploy log echoes it: lower case */
    {"migrate guest hostname=exa01vm01.example.com mode=offline srchost=exa01adm02.example.com "
     "tgthost=exa01adm06.example.com",
     NULL, "exa01vm01.example.com", "exa01adm02.example.com", "exa01adm06.example.com",
     MODE_OFFLINE, -1},
    /* any order, extra blanks, trailing newline */
    {"  Migrate  Guest\tTGTHOST=kvm2 SRCHOST=kvm1 MODE=OfflineForce HOSTNAME=vm1 where "
     "stepname=migrate_guest\n",
     NULL, "vm1", "kvm1", "kvm2", MODE_OFFLINEFORCE, STEP_MIGRATE_GUEST},
    {"", "empty command", NULL, NULL, NULL, 0, -1},
    {"   \n", "empty command", NULL, NULL, NULL, 0, -1},
    {"DEPLOY ACTIONS", "unknown command \"DEPLOY\"", NULL, NULL, NULL, 0, -1},
    {"MIGRATE", "expected GUEST after MIGRATE, got \"\"", NULL, NULL, NULL, 0, -1},
    {"MIGRATE HOST HOSTNAME=a", "expected GUEST after MIGRATE, got \"HOST\"", NULL, NULL, NULL, 0,
     -1},
    {"MIGRATE GUEST",
     "missing HOSTNAME=guest_name, MODE=OFFLINE|OFFLINEFORCE, "
     "SRCHOST=source_host, TGTHOST=target_host",
     NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 MODE=OFFLINE SRCHOST=kvm1",
     "missing TGTHOST=target_host (expected MIGRATE GUEST", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 HOSTNAME=vm2 MODE=OFFLINE SRCHOST=kvm1 TGTHOST=kvm2",
     "parameter HOSTNAME is given twice", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME = vm1 MODE=OFFLINE SRCHOST=kvm1 TGTHOST=kvm2",
     "expected KEY=VALUE, got \"HOSTNAME\"", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME= MODE=OFFLINE SRCHOST=kvm1 TGTHOST=kvm2",
     "parameter HOSTNAME has no value", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST NAME=vm1 MODE=OFFLINE SRCHOST=kvm1 TGTHOST=kvm2",
     "unknown parameter \"NAME\" (expected HOSTNAME, MODE, SRCHOST and TGTHOST)", NULL, NULL, NULL,
     0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 MODE=ONLINE SRCHOST=kvm1 TGTHOST=kvm2",
     "MODE: \"ONLINE\" is not a mode (expected OFFLINE or OFFLINEFORCE)", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1;reboot MODE=OFFLINE SRCHOST=kvm1 TGTHOST=kvm2",
     "HOSTNAME: guest name \"vm1;reboot\" is not a valid hostname", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 MODE=OFFLINE SRCHOST=$(id) TGTHOST=kvm2",
     "SRCHOST: source host name \"$(id)\" is not a valid hostname", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 MODE=OFFLINE SRCHOST=kvm1 TGTHOST=\"kvm2\"",
     "TGTHOST: target host name \"\\\"kvm2\\\"\"", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 MODE=OFFLINE SRCHOST=kvm1 TGTHOST=KVM1",
     "SRCHOST and TGTHOST are both kvm1", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 MODE=OFFLINE SRCHOST=kvm1 TGTHOST=kvm2 WHERE",
     "WHERE must be followed by STEPNAME=step", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 MODE=OFFLINE SRCHOST=kvm1 TGTHOST=kvm2 WHERE STEP=STOP_GUEST",
     "unknown condition \"STEP\" after WHERE", NULL, NULL, NULL, 0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 MODE=OFFLINE SRCHOST=kvm1 TGTHOST=kvm2 WHERE STEPNAME=REBOOT",
     "STEPNAME: \"REBOOT\" is not a migration step (expected one of " ALL_STEPS, NULL, NULL, NULL,
     0, -1},
    {"MIGRATE GUEST HOSTNAME=vm1 MODE=OFFLINE SRCHOST=kvm1 TGTHOST=kvm2 WHERE "
     "STEPNAME=STOP_GUEST AND",
     "unexpected \"AND\" after WHERE STEPNAME=STOP_GUEST", NULL, NULL, NULL, 0, -1},
};

UNIT_LOOP_IN("command", test_command_table, cmd_cases)
{
    char err[1024] = "";
    request r, before;
    int rc;

    request_init(&r);
    r.config_version = 3;
    before = r;
    rc = request_parse_command(cmd_cases[_i].command, &r, err, sizeof(err));
    if (cmd_cases[_i].error != NULL) {
        ck_assert_msg(rc == -1, "case %d accepted", _i);
        ck_assert_msg(strstr(err, cmd_cases[_i].error) != NULL, "case %d: \"%s\" lacks \"%s\"", _i,
                      err, cmd_cases[_i].error);
        /* OUT is untouched on failure */
        ck_assert(memcmp(&r, &before, sizeof(r)) == 0);
        return;
    }
    ck_assert_msg(rc == 0, "case %d: %s", _i, err);
    ck_assert_int_eq(r.action, ACTION_MIGRATE_GUEST);
    ck_assert_str_eq(r.guest, cmd_cases[_i].guest);
    ck_assert_str_eq(r.src_host, cmd_cases[_i].src);
    ck_assert_str_eq(r.tgt_host, cmd_cases[_i].tgt);
    ck_assert_int_eq(r.mode, cmd_cases[_i].mode);
    ck_assert_int_eq(r.has_mode, 1);
    ck_assert_int_eq(r.has_step, cmd_cases[_i].step >= 0);
    if (cmd_cases[_i].step >= 0)
        ck_assert_int_eq(r.step, cmd_cases[_i].step);
    /* the prepared id, timestamps and config version are kept */
    ck_assert_str_eq(r.request_id, before.request_id);
    ck_assert_str_eq(r.submitted_at, before.submitted_at);
    ck_assert_int_eq(r.config_version, 3);
}
END_TEST

/* The command and the JSON it turns into are the same request. */
UNIT_TEST_IN("command", test_command_to_json)
{
    const char *cmd = "MIGRATE GUEST HOSTNAME=exa01vm01.example.com MODE=OFFLINE "
                      "SRCHOST=exa01adm02.example.com TGTHOST=exa01adm06.example.com WHERE "
                      "STEPNAME=STARTUP_GUEST";
    char err[512], *s;
    request r, back;

    request_init(&r);
    ck_assert_int_eq(request_parse_command(cmd, &r, err, sizeof(err)), 0);
    s = request_to_json(&r);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(strstr(s, "\"action\":\"migrate_guest\""));
    ck_assert_ptr_nonnull(strstr(s, "\"step\":\"STARTUP_GUEST\""));
    ck_assert_int_eq(request_parse_json(s, strlen(s), &back, err, sizeof(err)), 0);
    ck_assert(same_request(&r, &back));
    free(s);
}
END_TEST

/* request_validate on structs built in C (the producer's path). */
UNIT_TEST(test_validate_struct)
{
    char err[512];
    request r;

    request_init(&r);
    util_strlcpy(r.guest, "vm1", sizeof(r.guest));
    util_strlcpy(r.src_host, "kvm1", sizeof(r.src_host));
    util_strlcpy(r.tgt_host, "kvm2", sizeof(r.tgt_host));
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), 0); /* mode defaults to OFFLINE */
    util_strlcpy(r.tgt_host, "kvm2 ", sizeof(r.tgt_host));
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "target host name \"kvm2 \""));
    util_strlcpy(r.tgt_host, "kvm2", sizeof(r.tgt_host));
    r.step = (step_id)99;
    r.has_step = 1;
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), -1);
    r.has_step = 0;
    r.config_version = -4;
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), -1);
    r.config_version = 0;
    util_strlcpy(r.request_id, "x", sizeof(r.request_id));
    ck_assert_int_eq(request_validate(&r, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "request_id"));
}
END_TEST

int main(void)
{
    return unit_main("request");
}
