/* test_settings: precedence defaults < file < environment < flags, the file syntax, errors. */
#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "settings.h"
#include "unit_run.h"

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
    "KVMOVE_DB_PASSWORD_FILE",
    "KVMOVE_KAFKA_CONFIG_FILE",
    "KVMOVE_SSH_IDENTITY",
    "KVMOVE_WORKER_JOBS",
    "CREDENTIALS_DIRECTORY",
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
     "preflight.vcpu_overcommit: '0.5' is not a number from 1 to 64"},
    /* numbers are parsed strictly (lib/number.c): what strtol or atoi would have let through */
    {"a port with a sign", NULL, NULL, {NULL}, {"ssh.port=+22"}, NULL, "'+22' is not a number"},
    {"a port in hexadecimal", NULL, NULL, {NULL}, {"ssh.port=0x16"}, NULL, "is not a number"},
    {"jobs with a unit",
     NULL,
     NULL,
     {"KVMOVE_WORKER_JOBS=4x"},
     {NULL},
     NULL,
     "worker.jobs: '4x' is not a number from 1 to 256"},
    {"an empty number",
     "worker.lease_s =\n",
     NULL,
     {NULL},
     {NULL},
     NULL,
     ":1: worker.lease_s: '' is not a number"},
    {"overcommit as inf",
     NULL,
     NULL,
     {NULL},
     {"preflight.vcpu_overcommit=inf"},
     NULL,
     "'inf' is not a number"},
    {"blanks around a number in the file are the file's, not the number's",
     "ssh.port =  2200  \n",
     NULL,
     {NULL},
     {NULL},
     "ssh.port",
     "2200"},
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
    else if (strcmp(key, "ssh.identity") == 0)
        snprintf(out, size, "%s", s->ssh_identity);
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

UNIT_LOOP(test_resolve, cases)
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
UNIT_TEST(test_config_path)
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
UNIT_TEST(test_long_line)
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
UNIT_TEST(test_missing_file)
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

/* ---- files: the user's file, kafka.config_file, secrets, credentials, warnings ---- */

#define MAX_FILES 3

/* A file a case writes under the test directory ("@/" in any text stands for that directory).
 */
typedef struct case_file {
    const char *name; /* relative to the directory; NULL ends the list */
    const char *text; /* "(dir)": a directory instead */
    mode_t mode;
} case_file;

typedef struct files_case {
    const char *name;
    case_file files[MAX_FILES];
    const char *config;           /* -c FILE (under the directory), NULL: none (the CLI's files) */
    const char *env[MAX_ITEMS];   /* "NAME=value" */
    const char *flags[MAX_ITEMS]; /* "key=value" */
    const char *key;              /* NULL: an error is expected */
    const char *want;             /* the key's value (value_of), or the error */
    const char *warning;          /* a substring of the warnings; NULL: no warning at all */
} files_case;

static const files_case files_cases[] = {
    {"the user's file over the system's (XDG_CONFIG_HOME)",
     {{"xdg/kvmove/kvmove.conf", "brokers = user:1\n", 0600}},
     NULL,
     {NULL},
     {NULL},
     "brokers",
     "user:1",
     NULL},
    {"the user's file under HOME when XDG_CONFIG_HOME is relative",
     {{"home/.config/kvmove/kvmove.conf", "brokers = home:1\n", 0600}},
     NULL,
     {"XDG_CONFIG_HOME=relative/dir"},
     {NULL},
     "brokers",
     "home:1",
     NULL},
    {"the environment over the user's file",
     {{"xdg/kvmove/kvmove.conf", "brokers = user:1\n", 0600}},
     NULL,
     {"KVMOVE_BROKERS=env:1"},
     {NULL},
     "brokers",
     "env:1",
     NULL},
    {"-c replaces the default files, the user's too",
     {{"xdg/kvmove/kvmove.conf", "brokers = user:1\n", 0600}, {"c.conf", "db = dbname=c\n", 0600}},
     "c.conf",
     {NULL},
     {NULL},
     "brokers",
     "127.0.0.1:9092",
     NULL},
    {"an unreadable default file is a warning (a directory here)",
     {{"xdg/kvmove/kvmove.conf", "(dir)", 0700}},
     NULL,
     {NULL},
     {NULL},
     "brokers",
     "127.0.0.1:9092",
     "cannot read configuration file @/xdg/kvmove/kvmove.conf: Is a directory; going on"},
    {"an unreadable -c file is an error",
     {{"c.conf", "(dir)", 0700}},
     "c.conf",
     {NULL},
     {NULL},
     NULL,
     "cannot read configuration file @/c.conf: Is a directory",
     NULL},
    {"kafka.config_file: librdkafka properties as kcat -F reads them",
     {{"xdg/kvmove/kvmove.conf", "kafka.acks = 1\nkafka.config_file = @/k.properties\n", 0600},
      {"k.properties",
       "# client.properties\n\nsecurity.protocol=sasl_ssl\n  sasl.username = alice  \n"
       "sasl.password=p\\=w#1\n",
       0600}},
     NULL,
     {NULL},
     {"kafka.linger.ms=5"},
     "kafka",
     "acks=1,security.protocol=sasl_ssl,sasl.username=alice,sasl.password=p=w#1,linger.ms=5",
     NULL},
    {"kafka.config_file from the environment, after the file's properties",
     {{"xdg/kvmove/kvmove.conf", "kafka.acks = 1\n", 0600}, {"k.properties", "acks=all\n", 0600}},
     NULL,
     {"KVMOVE_KAFKA_CONFIG_FILE=@/k.properties"},
     {NULL},
     "kafka",
     "acks=1,acks=all",
     NULL},
    {"kafka.config_file that does not exist",
     {{NULL}},
     NULL,
     {NULL},
     {"kafka.config_file=@/nosuch.properties"},
     NULL,
     "kafka.config_file: cannot read @/nosuch.properties",
     NULL},
    {"kafka.config_file: a line that is no property",
     {{"k.properties", "sasl.mechanism\n", 0600}},
     NULL,
     {NULL},
     {"kafka.config_file=@/k.properties"},
     NULL,
     "@/k.properties:1: expected property=value",
     NULL},
    {"kafka.config_file with a password others may read",
     {{"k.properties", "sasl.password=x\n", 0644}},
     NULL,
     {NULL},
     {"kafka.config_file=@/k.properties"},
     "kafka",
     "sasl.password=x",
     "permissions 0644 for '@/k.properties' are too open"},
    {"kafka.PROPERTY_file: the property's value from a file (its first line)",
     {{"sasl", "s3cret\nsecond line\n", 0600}},
     NULL,
     {NULL},
     {"kafka.sasl.password_file=@/sasl"},
     "kafka",
     "sasl.password=s3cret",
     NULL},
    {"db.password_file: the password joins the conninfo",
     {{"pg", "pw'1\\\n", 0600}},
     NULL,
     {"KVMOVE_DB=host=/run/pg dbname=kvmove"},
     {"db.password_file=@/pg"},
     "db.password",
     "pw'1\\",
     NULL},
    {"db.password_file wins over a password in db",
     {{"pg", "fromfile\n", 0600}},
     NULL,
     {"KVMOVE_DB=host=/run/pg password=inline"},
     {"db.password_file=@/pg"},
     "db.password",
     "fromfile",
     NULL},
    {"db.password_file with a URI",
     {{"pg", "pw\n", 0600}},
     NULL,
     {"KVMOVE_DB=postgresql://kvmove@db.example.com:5433/kvmove"},
     {"db.password_file=@/pg"},
     "db",
     "user='kvmove' dbname='kvmove' host='db.example.com' port='5433' password='pw'",
     NULL},
    {"db.password_file and PG* variables (db empty)",
     {{"pg", "pw\n", 0600}},
     NULL,
     {"KVMOVE_DB_PASSWORD_FILE=@/pg"},
     {NULL},
     "db",
     "password='pw'",
     NULL},
    {"db.password_file missing",
     {{NULL}},
     NULL,
     {NULL},
     {"db.password_file=@/nosuch"},
     NULL,
     "db.password_file: cannot read @/nosuch: No such file or directory",
     NULL},
    {"a secret file other users can read",
     {{"pg", "pw\n", 0604}},
     NULL,
     {NULL},
     {"db.password_file=@/pg"},
     "db.password",
     "pw",
     "permissions 0604 for '@/pg' are too open: it holds a secret and is readable by other users"},
    {"a secret file of ours its group can read",
     {{"pg", "pw\n", 0640}},
     NULL,
     {NULL},
     {"db.password_file=@/pg"},
     "db.password",
     "pw",
     "readable by its group"},
    {"a relative *_file names a systemd credential",
     {{"creds/pgpass", "fromcred\n", 0400}},
     NULL,
     {"CREDENTIALS_DIRECTORY=@/creds"},
     {"db.password_file=pgpass"},
     "db.password",
     "fromcred",
     NULL},
    {"the db.password credential without any setting",
     {{"creds/db.password", "implicit\n", 0400}},
     NULL,
     {"CREDENTIALS_DIRECTORY=@/creds", "KVMOVE_DB=dbname=kvmove"},
     {NULL},
     "db.password",
     "implicit",
     NULL},
    {"the kafka.sasl.password credential without any setting",
     {{"creds/kafka.sasl.password", "implicit\n", 0400}},
     NULL,
     {"CREDENTIALS_DIRECTORY=@/creds"},
     {"kafka.sasl.username=alice"},
     "kafka",
     "sasl.username=alice,sasl.password=implicit",
     NULL},
    {"a relative ssh.identity names a credential",
     {{"creds/id_ed25519", "KEY\n", 0400}},
     NULL,
     {"CREDENTIALS_DIRECTORY=@/creds"},
     {"ssh.identity=id_ed25519"},
     "ssh.identity",
     "@/creds/id_ed25519",
     NULL},
    {"an SSH identity other users can read",
     {{"id", "KEY\n", 0644}},
     NULL,
     {NULL},
     {"ssh.identity=@/id"},
     "ssh.identity",
     "@/id",
     "it holds an SSH private key and is readable by other users"},
    {"a configuration file with a password others can read",
     {{"xdg/kvmove/kvmove.conf", "db = dbname=x password=pw\n", 0644}},
     NULL,
     {NULL},
     {NULL},
     "db.password",
     "pw",
     "it holds a password and is readable by other users"},
    {"a configuration file naming a secret file holds no secret itself",
     {{"xdg/kvmove/kvmove.conf", "kafka.sasl.password_file = @/sasl\n", 0644},
      {"sasl", "pw\n", 0600}},
     NULL,
     {NULL},
     {NULL},
     "kafka",
     "sasl.password=pw",
     NULL},
    {"a configuration file without secrets may be read by anyone",
     {{"xdg/kvmove/kvmove.conf", "brokers = k:1\nkafka.sasl.username = alice\n", 0644}},
     NULL,
     {NULL},
     {NULL},
     "brokers",
     "k:1",
     NULL},
};

/* TEXT with every "@/" replaced by DIR and a slash, into OUT. */
static const char *expand(const char *text, char *out, size_t size)
{
    size_t n = 0;

    for (; *text && n + 1 < size; text++) {
        if (text[0] == '@' && text[1] == '/')
            n += (size_t)snprintf(out + n, size - n, "%s", dir);
        else
            out[n++] = *text;
    }
    out[n < size ? n : size - 1] = '\0';
    return out;
}

/* mkdir -p of the directories above PATH. */
static void make_parents(const char *path)
{
    char p[1100];
    char *s;

    snprintf(p, sizeof(p), "%s", path);
    for (s = p + strlen(dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        mkdir(p, 0700);
        *s = '/';
    }
}

/* The value of the password in conninfo DB, or "" (static). */
static const char *password_of(const char *db)
{
    static char pw[256];
    PQconninfoOption *opts = PQconninfoParse(db, NULL), *o;

    pw[0] = '\0';
    for (o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val)
            snprintf(pw, sizeof(pw), "%s", o->val);
    PQconninfoFree(opts);
    return pw;
}

UNIT_LOOP(test_files, files_cases)
{
    const files_case *tc = &files_cases[_i];
    char err[1024] = "", got[1024], buf[2048], path[1100], want[1100], cpath[1100];
    char *flags[MAX_ITEMS];
    settings s;
    size_t i, n_flags = 0;
    int rc;

    {
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "rm -rf %s/*", dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    snprintf(path, sizeof(path), "%s/xdg", dir);
    setenv("XDG_CONFIG_HOME", path, 1);
    snprintf(path, sizeof(path), "%s/home", dir);
    setenv("HOME", path, 1);
    for (i = 0; i < MAX_FILES && tc->files[i].name; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, tc->files[i].name);
        make_parents(path);
        if (strcmp(tc->files[i].text, "(dir)") == 0) {
            ck_assert_int_eq(mkdir(path, tc->files[i].mode), 0);
        } else {
            FILE *f = fopen(path, "w");
            ck_assert_ptr_nonnull(f);
            fputs(expand(tc->files[i].text, buf, sizeof(buf)), f);
            fclose(f);
            ck_assert_int_eq(chmod(path, tc->files[i].mode), 0);
        }
    }
    for (i = 0; i < MAX_ITEMS && tc->env[i]; i++) {
        char name[128];
        const char *eq = strchr(tc->env[i], '=');
        snprintf(name, sizeof(name), "%.*s", (int)(eq - tc->env[i]), tc->env[i]);
        setenv(name, expand(eq + 1, buf, sizeof(buf)), 1);
    }
    while (n_flags < MAX_ITEMS && tc->flags[n_flags]) {
        flags[n_flags] = strdup(expand(tc->flags[n_flags], buf, sizeof(buf)));
        n_flags++;
    }
    if (tc->config)
        snprintf(cpath, sizeof(cpath), "%s/%s", dir, tc->config);
    /* the machine's /etc/kvmove/kvmove.conf is read too, if it has one: the cases set what
     * they check */
    rc = settings_resolve_cli(&s, tc->config ? cpath : NULL, (const char *const *)flags, n_flags,
                              err, sizeof(err));
    expand(tc->want, want, sizeof(want));
    if (tc->key == NULL) {
        ck_assert_msg(rc != 0, "%s: resolved, expected an error with '%s'", tc->name, want);
        ck_assert_msg(strstr(err, want) != NULL, "%s: error '%s' lacks '%s'", tc->name, err, want);
    } else {
        ck_assert_msg(rc == 0, "%s: %s", tc->name, err);
        if (strcmp(tc->key, "db.password") == 0)
            snprintf(got, sizeof(got), "%s", password_of(s.db));
        else
            value_of(&s, tc->key, got, sizeof(got));
        ck_assert_msg(strcmp(got, want) == 0, "%s: %s is '%s', expected '%s'", tc->name, tc->key,
                      got, want);
    }
    if (tc->warning == NULL)
        ck_assert_msg(s.warnings.buf == NULL, "%s: unexpected warning '%s'", tc->name,
                      s.warnings.buf);
    else
        ck_assert_msg(
            s.warnings.buf && strstr(s.warnings.buf, expand(tc->warning, buf, sizeof(buf))) != NULL,
            "%s: warnings '%s' lack '%s'", tc->name, s.warnings.buf ? s.warnings.buf : "", buf);
    settings_clear(&s);
    while (n_flags > 0)
        free(flags[--n_flags]);
}
END_TEST

/* A default file kvmove may not read is a warning; a named one an error. Runs as nobody (the
 * case runs in a child of its own), since root reads any file. */
UNIT_TEST(test_unreadable_default)
{
    char path[1100], err[512] = "";
    settings s;
    FILE *f;

    snprintf(path, sizeof(path), "%s/unreadable.conf", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("brokers = k:1\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0600), 0);
    if (geteuid() == 0) {
        ck_assert_int_eq(chmod(dir, 0755), 0);
        ck_assert_int_eq(setgid(65534), 0);
        ck_assert_int_eq(setuid(65534), 0);
    }
    settings_defaults(&s);
    ck_assert_int_eq(settings_load_file(&s, path, 0, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(s.warnings.buf);
    ck_assert_ptr_nonnull(strstr(s.warnings.buf, "Permission denied; going on without it"));
    ck_assert_str_eq(s.brokers, "127.0.0.1:9092");
    settings_clear(&s);
    settings_defaults(&s);
    ck_assert_int_eq(settings_load_file(&s, path, 1, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "Permission denied"));
    settings_clear(&s);
}
END_TEST

/* config show: every key once, with its environment variable; secrets redacted; the origin. */
typedef struct shown_entry {
    int n;
    char seen[64][64];
    char db[1100], sasl[256], acks_origin[256], port_origin[256];
} shown_entry;

static void collect(void *ctx, const settings_entry *e)
{
    shown_entry *se = ctx;
    char env[128];

    ck_assert_int_lt(se->n, 64);
    snprintf(se->seen[se->n++], sizeof(se->seen[0]), "%s", e->key);
    if (strncmp(e->key, "kafka.", 6) != 0 && strncmp(e->key, "template.", 9) != 0) {
        settings_env_name(e->key, env, sizeof(env));
        ck_assert_str_eq(e->env, env);
    }
    if (strcmp(e->key, "db") == 0)
        snprintf(se->db, sizeof(se->db), "%s", e->value);
    if (strcmp(e->key, "kafka.sasl.password") == 0)
        snprintf(se->sasl, sizeof(se->sasl), "%s|%d", e->value, e->redacted);
    if (strcmp(e->key, "kafka.acks") == 0)
        snprintf(se->acks_origin, sizeof(se->acks_origin), "%s=%s", e->value, e->origin);
    if (strcmp(e->key, "ssh.port") == 0)
        snprintf(se->port_origin, sizeof(se->port_origin), "%s", e->origin);
}

UNIT_TEST(test_show)
{
    const char *flags[] = {"kafka.sasl.password=hunter2", "kafka.acks=all",
                           "db=host=/run/pg password=hunter2"};
    char err[512] = "", path[1100];
    shown_entry se;
    settings s;
    size_t i, n_keys = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/show.conf", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("# a comment\nkafka.acks = 1\n\nssh.port = 2222\n", f);
    fclose(f);
    unsetenv("KVMOVE_SSH_PORT");
    memset(&se, 0, sizeof(se));
    ck_assert_msg(settings_resolve(&s, path, flags, 3, err, sizeof(err)) == 0, "%s", err);
    settings_show(&s, collect, &se);
    while (settings_key(n_keys))
        n_keys++;
    for (i = 0; i < n_keys; i++)
        ck_assert_str_eq(se.seen[i], settings_key(i));
    /* then the effective Kafka properties: the last of each */
    ck_assert_int_eq(se.n, (int)n_keys + 2);
    ck_assert_str_eq(se.db, "host='/run/pg' password=<redacted>");
    ck_assert_str_eq(se.sasl, "<redacted>|1");
    ck_assert_str_eq(se.acks_origin, "all=flag");
    snprintf(path + strlen(path), sizeof(path) - strlen(path), ":4");
    ck_assert_str_eq(se.port_origin + 5, path);
    ck_assert_int_eq(strncmp(se.port_origin, "file ", 5), 0);
    settings_clear(&s);
}
END_TEST

/* The suite's scratch directory, made once before its tests and removed after them. */
static void dir_make(void)
{
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void dir_remove(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

UNIT_TCASE("core", .setup_once = dir_make, .teardown_once = dir_remove);

int main(void)
{
    return unit_main("settings");
}
