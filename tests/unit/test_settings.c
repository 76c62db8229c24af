/* test_settings: precedence defaults < file < environment < flags, the file syntax, errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"

/* Every environment variable a case may set; cleared before each case. */
static const char *const env_names[] = {
    "KVMOVE_CONFIG",
    "KVMOVE_BROKERS",
    "KVMOVE_DB",
    "KVMOVE_SSH_PORT",
    "KVMOVE_WORKER_LEASE_S",
    "KVMOVE_SCHEMA_DIR",
    "KVMOVE_PREFLIGHT_VCPU_OVERCOMMIT",
    "KVMOVE_SSH_USER",
};

#define MAX_ITEMS 4

/* One case: a configuration file (NULL: none written), environment, flags; then one key whose
 * resolved value is checked, or the error expected (a substring of errstr). */
typedef struct resolve_case {
    const char *name;
    const char *file;             /* contents of the file given with -c (NULL: no -c) */
    const char *env_file;         /* contents of the file named by KVMOVE_CONFIG */
    const char *env[MAX_ITEMS];   /* "NAME=value" */
    const char *flags[MAX_ITEMS]; /* "key=value", as -b/--db/-X/-o make them */
    const char *key;              /* e.g. "brokers"; NULL when an error is expected */
    const char *want;             /* expected value as text, or expected error substring */
} resolve_case;

static const resolve_case cases[] = {
    {"defaults", NULL, NULL, {NULL}, {NULL}, "brokers", "127.0.0.1:9092"},
    {"default ssh port", NULL, NULL, {NULL}, {NULL}, "ssh.port", "22"},
    {"default worker lease", NULL, NULL, {NULL}, {NULL}, "worker.lease_s", "30"},
    {"default db is empty (PG* variables)", NULL, NULL, {NULL}, {NULL}, "db", ""},
    {"file over defaults",
     "brokers = kafka1:9092\n",
     NULL,
     {NULL},
     {NULL},
     "brokers",
     "kafka1:9092"},
    {"env over file",
     "brokers = kafka1:9092\n",
     NULL,
     {"KVMOVE_BROKERS=kafka2:9092"},
     {NULL},
     "brokers",
     "kafka2:9092"},
    {"flag over env over file",
     "brokers = kafka1:9092\n",
     NULL,
     {"KVMOVE_BROKERS=kafka2:9092"},
     {"brokers=kafka3:9092"},
     "brokers",
     "kafka3:9092"},
    {"flag over file",
     "brokers = kafka1:9092\n",
     NULL,
     {NULL},
     {"brokers=kafka3:9092"},
     "brokers",
     "kafka3:9092"},
    {"env over defaults", NULL, NULL, {"KVMOVE_SSH_PORT=2222"}, {NULL}, "ssh.port", "2222"},
    {"dotted key from env",
     "worker.lease_s = 10\n",
     NULL,
     {"KVMOVE_WORKER_LEASE_S=12"},
     {NULL},
     "worker.lease_s",
     "12"},
    {"file keeps what env does not set",
     "ssh.user = admin\nbrokers = k:1\n",
     NULL,
     {"KVMOVE_BROKERS=k:2"},
     {NULL},
     "ssh.user",
     "admin"},
    {"db conninfo from file, quoted",
     "db = \"host=/run/pg dbname=kvmove\"\n",
     NULL,
     {NULL},
     {NULL},
     "db",
     "host=/run/pg dbname=kvmove"},
    {"db: --db over KVMOVE_DB",
     NULL,
     NULL,
     {"KVMOVE_DB=dbname=a"},
     {"db=dbname=b"},
     "db",
     "dbname=b"},
    {"comments and blank lines",
     "# kvmove\n\n   # indented comment\nbrokers=k:9\n",
     NULL,
     {NULL},
     {NULL},
     "brokers",
     "k:9"},
    {"a # inside a value is kept",
     "kafka.sasl.password = a#b\n",
     NULL,
     {NULL},
     {NULL},
     "kafka",
     "sasl.password=a#b"},
    {"KVMOVE_CONFIG names the file",
     NULL,
     "brokers = from-env-file:1\n",
     {NULL},
     {NULL},
     "brokers",
     "from-env-file:1"},
    {"-c over KVMOVE_CONFIG",
     "brokers = from-flag-file:1\n",
     "brokers = from-env-file:1\n",
     {NULL},
     {NULL},
     "brokers",
     "from-flag-file:1"},
    {"kafka properties: file first, -X last (librdkafka keeps the last)",
     "kafka.acks = 1\n",
     NULL,
     {NULL},
     {"kafka.acks=all"},
     "kafka",
     "acks=1,acks=all"},
    {"vcpu overcommit from env",
     NULL,
     NULL,
     {"KVMOVE_PREFLIGHT_VCPU_OVERCOMMIT=2.5"},
     {NULL},
     "preflight.vcpu_overcommit",
     "2.50"},
    /* errors name the file and line, or the key, and what it accepts */
    {"unknown key in file",
     "brokers = k:1\nbrokerz = k:2\n",
     NULL,
     {NULL},
     {NULL},
     NULL,
     ":2: unknown setting 'brokerz'"},
    {"line without =", "brokers\n", NULL, {NULL}, {NULL}, NULL, ":1: expected 'key = value'"},
    {"port out of range in file",
     "ssh.port = 70000\n",
     NULL,
     {NULL},
     {NULL},
     NULL,
     "ssh.port: '70000' is not a number from 1 to 65535"},
    {"port not a number in env",
     NULL,
     NULL,
     {"KVMOVE_SSH_PORT=22x"},
     {NULL},
     NULL,
     "ssh.port: '22x' is not a number"},
    {"bad flag", NULL, NULL, {NULL}, {"brokers"}, NULL, "expected KEY=VALUE"},
    {"unknown flag key", NULL, NULL, {NULL}, {"nosuch=1"}, NULL, "unknown setting 'nosuch'"},
    {"empty kafka property name",
     NULL,
     NULL,
     {NULL},
     {"kafka.=1"},
     NULL,
     "name a librdkafka property"},
    {"overcommit below 1",
     NULL,
     NULL,
     {NULL},
     {"preflight.vcpu_overcommit=0.5"},
     NULL,
     "not a ratio from 1.0 to 64.0"},
    {"-c names a missing file",
     "(missing)",
     NULL,
     {NULL},
     {NULL},
     NULL,
     "cannot read configuration file"},
    {"KVMOVE_CONFIG names a missing file",
     NULL,
     "(missing)",
     {NULL},
     {NULL},
     NULL,
     "cannot read configuration file"},
};

static char dir[] = "/tmp/test_settings.XXXXXX";

/* Writes TEXT to DIR/NAME and returns the path (static buffer per name); "(missing)" returns a
 * path that does not exist. */
static const char *write_file(const char *name, const char *text, char *path, size_t size)
{
    FILE *f;

    snprintf(path, size, "%s/%s", dir, name);
    unlink(path);
    if (strcmp(text, "(missing)") == 0)
        return path;
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* The resolved value of KEY as text ("kafka": the properties joined by ','). */
static void value_of(const settings *s, const char *key, char *out, size_t size)
{
    size_t i, n = 0;

    out[0] = '\0';
    if (strcmp(key, "brokers") == 0)
        snprintf(out, size, "%s", s->brokers);
    else if (strcmp(key, "db") == 0)
        snprintf(out, size, "%s", s->db);
    else if (strcmp(key, "ssh.port") == 0)
        snprintf(out, size, "%d", s->ssh_port);
    else if (strcmp(key, "ssh.user") == 0)
        snprintf(out, size, "%s", s->ssh_user);
    else if (strcmp(key, "worker.lease_s") == 0)
        snprintf(out, size, "%d", s->lease_s);
    else if (strcmp(key, "preflight.vcpu_overcommit") == 0)
        snprintf(out, size, "%.2f", s->vcpu_overcommit);
    else if (strcmp(key, "kafka") == 0)
        for (i = 0; i < s->n_kafka_props; i++)
            n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "," : "", s->kafka_props[i]);
    else
        ck_abort_msg("test table names an unknown key %s", key);
}

START_TEST(test_resolve)
{
    const resolve_case *tc = &cases[_i];
    char err[1024] = "", got[1024], cpath[1100], epath[1100];
    const char *config_flag = NULL;
    settings s;
    size_t i, n_flags = 0;
    int rc;

    for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    if (tc->file)
        config_flag = write_file("flag.conf", tc->file, cpath, sizeof(cpath));
    if (tc->env_file)
        setenv("KVMOVE_CONFIG", write_file("env.conf", tc->env_file, epath, sizeof(epath)), 1);
    else
        setenv("KVMOVE_CONFIG", "/dev/null", 1); /* never the machine's /etc/kvmove */
    for (i = 0; i < MAX_ITEMS && tc->env[i]; i++) {
        char name[128];
        const char *eq = strchr(tc->env[i], '=');
        snprintf(name, sizeof(name), "%.*s", (int)(eq - tc->env[i]), tc->env[i]);
        setenv(name, eq + 1, 1);
    }
    while (n_flags < MAX_ITEMS && tc->flags[n_flags])
        n_flags++;
    rc = settings_resolve(&s, config_flag, tc->flags, n_flags, err, sizeof(err));
    if (tc->key == NULL) {
        ck_assert_msg(rc != 0, "%s: resolved, expected an error with '%s'", tc->name, tc->want);
        ck_assert_msg(strstr(err, tc->want) != NULL, "%s: error '%s' lacks '%s'", tc->name, err,
                      tc->want);
    } else {
        ck_assert_msg(rc == 0, "%s: %s", tc->name, err);
        value_of(&s, tc->key, got, sizeof(got));
        ck_assert_msg(strcmp(got, tc->want) == 0, "%s: %s is '%s', expected '%s'", tc->name,
                      tc->key, got, tc->want);
    }
    settings_clear(&s);
}
END_TEST

/* settings_config_path: -c, then KVMOVE_CONFIG, then the default (which may be absent). */
START_TEST(test_config_path)
{
    static const struct {
        const char *flag, *env, *want;
        int must_exist;
    } t[] = {
        {"/x/flag.conf", "/x/env.conf", "/x/flag.conf", 1},
        {NULL, "/x/env.conf", "/x/env.conf", 1},
        {"", "/x/env.conf", "/x/env.conf", 1},
        {NULL, NULL, "/etc/kvmove/kvmove.conf", 0},
        {NULL, "", "/etc/kvmove/kvmove.conf", 0},
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int must_exist = -1;
        const char *p;
        if (t[i].env)
            setenv("KVMOVE_CONFIG", t[i].env, 1);
        else
            unsetenv("KVMOVE_CONFIG");
        p = settings_config_path(t[i].flag, &must_exist);
        ck_assert_str_eq(p, t[i].want);
        ck_assert_int_eq(must_exist, t[i].must_exist);
    }
}
END_TEST

/* A line longer than the reader's buffer is refused, not split into two settings. */
START_TEST(test_long_line)
{
    char path[1100], err[512], *text = malloc(9000);
    settings s;

    memcpy(text, "brokers = ", 10);
    memset(text + 10, 'a', 8000);
    strcpy(text + 8010, "\nbrokers = short:1\n");
    write_file("long.conf", text, path, sizeof(path));
    settings_defaults(&s);
    ck_assert_int_eq(settings_load_file(&s, path, 1, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, ":1: line too long"));
    settings_clear(&s);
    free(text);
}
END_TEST

/* The default file may be missing; a named one may not. */
START_TEST(test_missing_file)
{
    char err[512];
    settings s;

    settings_defaults(&s);
    ck_assert_int_eq(settings_load_file(&s, "/nonexistent/kvmove.conf", 0, err, sizeof(err)), 0);
    ck_assert_int_eq(settings_load_file(&s, "/nonexistent/kvmove.conf", 1, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/kvmove.conf"));
    settings_clear(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("settings");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    tcase_add_loop_test(tc, test_resolve, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_config_path);
    tcase_add_test(tc, test_long_line);
    tcase_add_test(tc, test_missing_file);
    suite_add_tcase(su, tc);
    sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return failed ? 1 : 0;
}
