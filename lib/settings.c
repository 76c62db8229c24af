/* settings: connection and worker settings shared by kvmove and kvmove-worker. */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "hostops.h"
#include "number.h"
#include "util.h"

typedef enum { T_STR, T_INT, T_DOUBLE, T_KAFKA_FILE } value_type;

/* One table for the file keys, the environment names and the struct fields. */
static const struct {
    const char *key;
    value_type type;
    size_t offset;
    size_t size;
    int min, max;
} keys[] = {
#define STR(k, f)                                                                                  \
    {                                                                                              \
        k, T_STR, offsetof(settings, f), sizeof(((settings *)0)->f), 0, 0                          \
    }
#define INT(k, f, lo, hi)                                                                          \
    {                                                                                              \
        k, T_INT, offsetof(settings, f), sizeof(int), lo, hi                                       \
    }
    STR("brokers", brokers),
    {"kafka.config_file", T_KAFKA_FILE, offsetof(settings, kafka_config_file),
     sizeof(((settings *)0)->kafka_config_file), 0, 0},
    STR("db", db),
    STR("db.password_file", db_password_file),
    STR("ssh.user", ssh_user),
    INT("ssh.port", ssh_port, 1, 65535),
    STR("ssh.identity", ssh_identity),
    STR("ssh.known_hosts", ssh_known_hosts),
    INT("ssh.connect_timeout_ms", ssh_connect_timeout_ms, 100, 600000),
    INT("worker.command_timeout_ms", command_timeout_ms, 0, 86400000),
    INT("worker.step_retries", step_retries, 0, 100),
    INT("worker.lease_s", lease_s, 2, 3600),
    INT("worker.jobs", jobs, 1, 256),
    INT("worker.max_jobs_per_host", max_jobs_per_host, 1, 1024),
    STR("worker.id", worker_id),
    STR("worker.group", group),
    STR("worker.migrations_dir", migrations_dir),
    STR("schema_dir", schema_dir),
    STR("hosts.profile", host_profile),
    STR("metrics.listen", metrics_listen),
    STR("log.format", log_format),
    INT("worker.grace_s", grace_s, 0, 86400),
    INT("outbox.retention_s", outbox_retention_s, 0, 2000000000),
    INT("jobs.retention_s", jobs_retention_s, 0, 2000000000),
    STR("key_file", key_file),
    STR("identity", identity),
    INT("auth.required", auth_required, 0, 1),
    INT("auth.max_age_s", auth_max_age_s, 1, 86400),
    INT("auth.max_skew_s", auth_max_skew_s, 0, 3600),
    {"preflight.vcpu_overcommit", T_DOUBLE, offsetof(settings, vcpu_overcommit), sizeof(double), 0,
     0},
#undef STR
#undef INT
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(N_KEYS <= sizeof(((settings *)0)->origin) / sizeof(settings_origin),
               "settings.origin has a slot per key");

/* The credentials kvmove looks for in $CREDENTIALS_DIRECTORY (systemd LoadCredential=) when the
 * setting they stand for is not given otherwise. */
#define CREDENTIAL_DB_PASSWORD "db.password"
#define CREDENTIAL_SASL_PASSWORD "kafka.sasl.password"

static const settings_origin default_origin = {SETTINGS_FROM_DEFAULT, -1, 0, -1};
static const settings_origin flag_origin = {SETTINGS_FROM_FLAG, -1, 0, -1};
static const settings_origin env_origin = {SETTINGS_FROM_ENV, -1, 0, -1};

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void warn(settings *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(settings *s, const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    util_lines_add(&s->warnings, line); /* out of memory: the warning is lost, nothing else */
}

void settings_defaults(settings *s)
{
    size_t i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < N_KEYS; i++)
        s->origin[i] = default_origin;
    util_strlcpy(s->brokers, "127.0.0.1:9092", sizeof(s->brokers));
    util_strlcpy(s->ssh_user, "root", sizeof(s->ssh_user));
    s->ssh_port = 22;
    s->ssh_connect_timeout_ms = 10000;
    s->command_timeout_ms = 600000;
    s->step_retries = 3;
    s->lease_s = 30;
    s->jobs = 4;
    s->max_jobs_per_host = 8;
    util_strlcpy(s->group, "kvmove-workers", sizeof(s->group));
    if (is_dir(KVMOVE_SOURCE_DIR "/migrations")) {
        util_strlcpy(s->migrations_dir, KVMOVE_SOURCE_DIR "/migrations", sizeof(s->migrations_dir));
        util_strlcpy(s->schema_dir, KVMOVE_SOURCE_DIR "/schema", sizeof(s->schema_dir));
    } else {
        util_strlcpy(s->migrations_dir, KVMOVE_DATADIR "/migrations", sizeof(s->migrations_dir));
        util_strlcpy(s->schema_dir, KVMOVE_DATADIR "/schema", sizeof(s->schema_dir));
    }
    util_strlcpy(s->host_profile, "exadata", sizeof(s->host_profile));
    s->vcpu_overcommit = 1.0;
    util_strlcpy(s->metrics_listen, "127.0.0.1:9464", sizeof(s->metrics_listen));
    util_strlcpy(s->log_format, "text", sizeof(s->log_format));
    s->grace_s = 30;
    s->outbox_retention_s = 7 * 86400;
    s->auth_required = 1;
    s->auth_max_age_s = AUTH_MAX_AGE_S_DEFAULT;
    s->auth_max_skew_s = 60;
}

/* ---- files ---- */

/* Records PATH in S->files. Returns its index, or -1 when the list is full. */
static int file_add(settings *s, const char *path, const char *role, int read)
{
    settings_file *f;

    if (s->n_files >= SETTINGS_MAX_FILES)
        return -1;
    f = &s->files[s->n_files];
    util_strlcpy(f->path, path, sizeof(f->path));
    f->role = role;
    f->read = read;
    return (int)s->n_files++;
}

/* A file named by a *_file setting or kafka.config_file: a relative PATH names a systemd
 * credential when $CREDENTIALS_DIRECTORY is set (LoadCredential=NAME:/real/path). */
static void file_locate(const char *path, char *out, size_t out_size)
{
    const char *creds = getenv("CREDENTIALS_DIRECTORY");

    if (path[0] != '/' && creds && *creds)
        snprintf(out, out_size, "%s/%s", creds, path);
    else
        util_strlcpy(out, path, out_size);
}

/* Warns when others may read the secret file PATH (WHAT says what it holds), as OpenSSH does
 * for private keys: access for other users is always too open; access for its group is too
 * open when the file is ours and its group our own (OpenSSH's case). A grant to another group
 * is deliberate and left alone: root:kvmove 0640 is how the service user gets to read it. */
static void check_secret_mode(settings *s, const char *path, const char *what)
{
    struct stat st;
    const char *who = NULL;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    if (st.st_mode & S_IRWXO)
        who = "other users";
    else if ((st.st_mode & S_IRWXG) && st.st_uid == geteuid() && st.st_gid == getegid())
        who = "its group";
    if (who)
        warn(s,
             "permissions %04o for '%s' are too open: it holds %s and is readable by %s "
             "(chmod go-rwx '%s')",
             (unsigned)(st.st_mode & 07777), path, what, who, path);
}

/* Reads the secret in PATH (resolved by file_locate) into OUT: the file's first line, without
 * its newline. Records the file in S->files, *FILE_IDX its index there (-1 when the list is
 * full). Returns 0, or -1 with errstr. WHO is the setting that names it. */
static int secret_read(settings *s, const char *who, const char *path, const char *role, char *out,
                       size_t out_size, int *file_idx, char *errstr, size_t errstr_size)
{
    char where[SETTINGS_PATH_MAX], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *f;

    file_locate(path, where, sizeof(where));
    f = fopen(where, "r");
    if (f == NULL) {
        util_errf(errstr, errstr_size, "%s: cannot read %s: %s", who, where, strerror(errno));
        return -1;
    }
    n = getline(&line, &cap, f);
    fclose(f);
    if (n < 0)
        n = 0;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (line)
        line[n] = '\0';
    if (util_strlcpy(out, line ? line : "", out_size) != 0) {
        util_errf(errstr, errstr_size, "%s: the secret in %s is too long (at most %zu bytes)", who,
                  where, out_size - 1);
        free(line);
        return -1;
    }
    free(line);
    check_secret_mode(s, where, "a secret");
    *file_idx = file_add(s, where, role, 1);
    return 0;
}

/* ---- librdkafka properties ---- */

int settings_is_secret_property(const char *name)
{
    return strstr(name, "password") != NULL || strstr(name, "secret") != NULL ||
           strcmp(name, "ssl.key.pem") == 0;
}

/* Appends librdkafka property NAME=VALUE. */
static int kafka_add(settings *s, const char *name, const char *value, settings_origin origin,
                     char *errstr, size_t errstr_size)
{
    char *kv;

    if (*name == '\0') {
        util_errf(errstr, errstr_size, "'kafka.%s': name a librdkafka property after 'kafka.'",
                  name);
        return -1;
    }
    if (s->n_kafka_props >= SETTINGS_MAX_PROPS) {
        util_errf(errstr, errstr_size, "too many Kafka properties (at most %d)",
                  SETTINGS_MAX_PROPS);
        return -1;
    }
    if (asprintf(&kv, "%s=%s", name, value) < 0) {
        util_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    s->kafka_origin[s->n_kafka_props] = origin;
    s->kafka_props[s->n_kafka_props++] = kv;
    return 0;
}

static char *trim(char *p)
{
    char *e;

    while (isspace((unsigned char)*p))
        p++;
    e = p + strlen(p);
    while (e > p && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return p;
}

/* Removes the backslash of "\:" and "\=" (Java properties files escape them; kcat does the
 * same). */
static void unescape_java(char *p)
{
    char *w = p;

    for (; *p; p++) {
        if (p[0] == '\\' && (p[1] == ':' || p[1] == '='))
            p++;
        *w++ = *p;
    }
    *w = '\0';
}

/* kafka.config_file: reads the librdkafka properties file PATH (the file `kcat -F` reads:
 * "property=value" lines, # comment lines, blank lines) into S's Kafka properties, after the
 * ones set so far. */
static int kafka_config_file_read(settings *s, const char *path, char *errstr, size_t errstr_size)
{
    char where[SETTINGS_PATH_MAX], line[4096];
    FILE *f;
    int lineno = 0, idx, rc = 0, secret = 0;

    file_locate(path, where, sizeof(where));
    f = fopen(where, "r");
    if (f == NULL) {
        util_errf(errstr, errstr_size, "kafka.config_file: cannot read %s: %s", where,
                  strerror(errno));
        return -1;
    }
    idx = file_add(s, where, "kafka properties", 1);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p, *eq;
        settings_origin o = {SETTINGS_FROM_FILE, idx, 0, -1};
        lineno++;
        o.line = lineno;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            util_errf(errstr, errstr_size, "%s:%d: line too long", where, lineno);
            rc = -1;
            break;
        }
        p = trim(line);
        if (*p == '\0' || *p == '#')
            continue;
        unescape_java(p);
        eq = strchr(p, '=');
        if (eq == NULL || eq == p) {
            util_errf(errstr, errstr_size, "%s:%d: expected property=value", where, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        p = trim(p);
        secret |= settings_is_secret_property(p);
        if (kafka_add(s, p, trim(eq + 1), o, errstr, errstr_size) != 0) {
            rc = -1;
            break;
        }
    }
    fclose(f);
    if (rc == 0 && secret)
        check_secret_mode(s, where, "a Kafka password");
    return rc;
}

/* ---- one setting ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Index of KEY in the table, or -1. */
static int key_index(const char *key)
{
    size_t i;

    for (i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].key, key) == 0)
            return (int)i;
    return -1;
}

/* Sets KEY to VALUE, which came from ORIGIN. */
static int set_from(settings *s, const char *key, const char *value, settings_origin origin,
                    char *errstr, size_t errstr_size)
{
    int i = key_index(key);
    char *field;

    if (i < 0 && strncmp(key, "kafka.", 6) == 0) {
        const char *name = key + 6;
        size_t n = strlen(name);
        /* kafka.PROPERTY_file: PROPERTY's value is in a file (no librdkafka property ends so) */
        if (n > 5 && ends_with(name, "_file")) {
            char prop[256], secret[4096];
            int rc;
            if (n - 5 >= sizeof(prop)) {
                util_errf(errstr, errstr_size, "'%s': property name too long", key);
                return -1;
            }
            memcpy(prop, name, n - 5);
            prop[n - 5] = '\0';
            if (secret_read(s, key, value, "secret", secret, sizeof(secret), &origin.secret, errstr,
                            errstr_size) != 0)
                return -1;
            rc = kafka_add(s, prop, secret, origin, errstr, errstr_size);
            explicit_bzero(secret, sizeof(secret));
            return rc;
        }
        return kafka_add(s, name, value, origin, errstr, errstr_size);
    }
    if (i < 0 && strncmp(key, "template.", 9) == 0) {
        hostop op;
        settings_template *t;
        if (hostops_from_name(key + 9, &op) != 0) {
            util_errf(errstr, errstr_size, "unknown host operation in '%s'", key);
            return -1;
        }
        if (hostops_set_template(op, value, errstr, errstr_size) != 0)
            return -1;
        if (s->n_templates < SETTINGS_MAX_PROPS) {
            t = &s->templates[s->n_templates];
            t->key = strdup(key);
            t->value = strdup(value);
            t->origin = origin;
            if (t->key && t->value)
                s->n_templates++;
            else {
                free(t->key);
                free(t->value);
            }
        }
        return 0;
    }
    if (i < 0) {
        util_errf(errstr, errstr_size, "unknown setting '%s'", key);
        return -1;
    }
    field = (char *)s + keys[i].offset;
    switch (keys[i].type) {
    case T_STR:
        if (util_strlcpy(field, value, keys[i].size) != 0) {
            util_errf(errstr, errstr_size, "%s: value too long (at most %zu characters)", key,
                      keys[i].size - 1);
            return -1;
        }
        break;
    case T_INT:
        if (number_parse_int(key, value, keys[i].min, keys[i].max, (int *)field, errstr,
                             errstr_size) != 0)
            return -1;
        break;
    case T_DOUBLE:
        if (number_parse_double(key, value, 1.0, 64.0, (double *)field, errstr, errstr_size) != 0)
            return -1;
        break;
    case T_KAFKA_FILE:
        if (util_strlcpy(field, value, keys[i].size) != 0) {
            util_errf(errstr, errstr_size, "%s: path too long", key);
            return -1;
        }
        if (kafka_config_file_read(s, value, errstr, errstr_size) != 0)
            return -1;
        break;
    }
    s->origin[i] = origin;
    return 0;
}

int settings_set(settings *s, const char *key, const char *value, char *errstr, size_t errstr_size)
{
    return set_from(s, key, value, flag_origin, errstr, errstr_size);
}

/* 1 if the libpq conninfo CONNINFO carries a password. */
static int conninfo_has_password(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL), *o;
    int has = 0;

    for (o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            has = 1;
    PQconninfoFree(opts);
    return has;
}

int settings_load_file(settings *s, const char *path, int must_exist, char *errstr,
                       size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    char line[4096], err[512];
    int lineno = 0, rc = 0, idx, secret = 0;
    struct stat st;

    if (f != NULL && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        f = NULL;
        errno = EISDIR;
    }
    if (f == NULL) {
        if (!must_exist && errno == ENOENT) {
            file_add(s, path, "configuration", 0);
            return 0;
        }
        if (!must_exist) {
            /* The default file is optional: one we may not read is not the operator's
             * choice, and the command may well work without it. */
            warn(s, "cannot read configuration file %s: %s; going on without it", path,
                 strerror(errno));
            file_add(s, path, "configuration", 0);
            return 0;
        }
        util_errf(errstr, errstr_size, "cannot read configuration file %s: %s", path,
                  strerror(errno));
        return -1;
    }
    idx = file_add(s, path, "configuration", 1);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p, *eq, *value, *key;
        settings_origin o = {SETTINGS_FROM_FILE, idx, 0, -1};
        size_t n;
        lineno++;
        o.line = lineno;
        /* A line longer than the buffer would otherwise be read as two lines. */
        if (strchr(line, '\n') == NULL && !feof(f)) {
            util_errf(errstr, errstr_size, "%s:%d: line too long (at most %zu characters)", path,
                      lineno, sizeof(line) - 2);
            rc = -1;
            break;
        }
        p = trim(line);
        if (*p == '\0' || *p == '#')
            continue;
        eq = strchr(p, '=');
        if (eq == NULL) {
            util_errf(errstr, errstr_size, "%s:%d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        value = trim(eq + 1);
        /* "a value" keeps its blanks; the quotes are not part of it. */
        n = strlen(value);
        if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
            value[n - 1] = '\0';
            value++;
        }
        key = trim(p);
        if (set_from(s, key, value, o, err, sizeof(err)) != 0) {
            util_errf(errstr, errstr_size, "%s:%d: %s", path, lineno, err);
            rc = -1;
            break;
        }
        /* kafka.sasl.password_file names a file: the secret is in that file, not here */
        if ((strncmp(key, "kafka.", 6) == 0 && settings_is_secret_property(key + 6) &&
             !ends_with(key, "_file")) ||
            (strcmp(key, "db") == 0 && conninfo_has_password(value)))
            secret = 1;
    }
    fclose(f);
    if (rc == 0 && secret)
        check_secret_mode(s, path, "a password");
    return rc;
}

void settings_env_name(const char *key, char *out, size_t out_size)
{
    size_t k;

    snprintf(out, out_size, "KVMOVE_");
    for (k = 0; key[k] && 7 + k + 1 < out_size; k++)
        out[7 + k] = key[k] == '.' ? '_' : (char)toupper((unsigned char)key[k]);
    out[7 + k] = '\0';
}

int settings_load_env(settings *s, char *errstr, size_t errstr_size)
{
    size_t i;

    for (i = 0; i < N_KEYS; i++) {
        char env[128];
        const char *v;
        settings_env_name(keys[i].key, env, sizeof(env));
        v = getenv(env);
        if (v != NULL && set_from(s, keys[i].key, v, env_origin, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

const char *settings_config_path(const char *flag_path, int *must_exist)
{
    const char *env = getenv("KVMOVE_CONFIG");

    *must_exist = 1;
    if (flag_path && *flag_path)
        return flag_path;
    if (env && *env)
        return env;
    *must_exist = 0;
    return SETTINGS_SYSTEM_FILE;
}

int settings_user_config_path(char *out, size_t out_size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

    /* The XDG Base Directory rule: a relative XDG_CONFIG_HOME is ignored. */
    if (xdg && xdg[0] == '/')
        return snprintf(out, out_size, "%s/kvmove/kvmove.conf", xdg) < (int)out_size ? 0 : -1;
    if (home && *home)
        return snprintf(out, out_size, "%s/.config/kvmove/kvmove.conf", home) < (int)out_size ? 0
                                                                                              : -1;
    return -1;
}

/* Quotes VALUE for a libpq conninfo: 'value' with \ and ' escaped. */
static int conninfo_append(char *out, size_t out_size, const char *keyword, const char *value)
{
    size_t n = strlen(out);

    if (n + strlen(keyword) + 4 >= out_size)
        return -1;
    n += (size_t)snprintf(out + n, out_size - n, "%s%s='", n ? " " : "", keyword);
    for (; *value; value++) {
        if (n + 3 >= out_size)
            return -1;
        if (*value == '\\' || *value == '\'')
            out[n++] = '\\';
        out[n++] = *value;
    }
    if (n + 2 >= out_size)
        return -1;
    out[n++] = '\'';
    out[n] = '\0';
    return 0;
}

/* Rewrites CONNINFO (either form, or "") as keyword='value' pairs without its password, then
 * with PASSWORD when not NULL (REDACT: the word <redacted> instead of any password it had).
 * Returns 0, or -1 when CONNINFO does not parse (errstr) or OUT is too small. */
static int conninfo_rewrite(const char *conninfo, const char *password, int redact, char *out,
                            size_t out_size, char *errstr, size_t errstr_size)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr), *o;
    int rc = 0, had = 0;

    out[0] = '\0';
    if (opts == NULL) {
        util_errf(errstr, errstr_size, "db: %s", perr ? trim(perr) : "out of memory");
        PQfreemem(perr);
        return -1;
    }
    for (o = opts; o->keyword && rc == 0; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            had = 1;
            continue;
        }
        rc = conninfo_append(out, out_size, o->keyword, o->val);
    }
    if (rc == 0 && password)
        rc = conninfo_append(out, out_size, "password", password);
    else if (rc == 0 && redact && had) {
        size_t n = strlen(out);
        rc = snprintf(out + n, out_size - n, "%spassword=<redacted>", n ? " " : "") <
                     (int)(out_size - n)
                 ? 0
                 : -1;
    }
    PQconninfoFree(opts);
    if (rc != 0)
        util_errf(errstr, errstr_size, "db: the connection string is too long");
    return rc;
}

/* The secrets, once every other setting is known: the credentials systemd passes for what is
 * not set otherwise, db.password_file into the conninfo, the SSH identity's location and
 * permissions. */
static int resolve_secrets(settings *s, char *errstr, size_t errstr_size)
{
    const char *creds = getenv("CREDENTIALS_DIRECTORY");
    char password[1024], path[SETTINGS_PATH_MAX], conninfo[sizeof(s->db)];
    int idx = -1, have = 0, db_i = key_index("db"), id_i = key_index("ssh.identity");
    size_t i;

    if (creds && *creds) {
        int has_sasl = 0;
        for (i = 0; i < s->n_kafka_props; i++)
            if (strncmp(s->kafka_props[i], "sasl.password=", 14) == 0)
                has_sasl = 1;
        snprintf(path, sizeof(path), "%s/%s", creds, CREDENTIAL_SASL_PASSWORD);
        if (!has_sasl && access(path, F_OK) == 0) {
            settings_origin o = default_origin;
            if (secret_read(s, "credential " CREDENTIAL_SASL_PASSWORD, path, "credential", password,
                            sizeof(password), &o.secret, errstr, errstr_size) != 0 ||
                kafka_add(s, "sasl.password", password, o, errstr, errstr_size) != 0)
                return -1;
        }
        snprintf(path, sizeof(path), "%s/%s", creds, CREDENTIAL_DB_PASSWORD);
        if (s->db_password_file[0] == '\0' && access(path, F_OK) == 0) {
            if (secret_read(s, "credential " CREDENTIAL_DB_PASSWORD, path, "credential", password,
                            sizeof(password), &idx, errstr, errstr_size) != 0)
                return -1;
            have = 1;
        }
    }
    if (!have && s->db_password_file[0]) {
        if (secret_read(s, "db.password_file", s->db_password_file, "secret", password,
                        sizeof(password), &idx, errstr, errstr_size) != 0)
            return -1;
        have = 1;
    }
    if (have) {
        /* The password file wins over a password in db: it is the more specific setting. */
        if (conninfo_rewrite(s->db, password, 0, conninfo, sizeof(conninfo), errstr, errstr_size) !=
            0)
            return -1;
        util_strlcpy(s->db, conninfo, sizeof(s->db));
        s->origin[db_i].secret = idx;
    }
    explicit_bzero(password, sizeof(password));
    if (s->ssh_identity[0]) {
        file_locate(s->ssh_identity, path, sizeof(path));
        if (strcmp(path, s->ssh_identity) != 0) {
            util_strlcpy(s->ssh_identity, path, sizeof(s->ssh_identity));
            s->origin[id_i].secret = file_add(s, path, "credential", 1);
        }
        check_secret_mode(s, s->ssh_identity, "an SSH private key");
    }
    return 0;
}

/* FLAGS are "key=value" strings from the command line. */
static int apply_flags(settings *s, const char *const *flags, size_t n_flags, char *errstr,
                       size_t errstr_size)
{
    size_t i;

    for (i = 0; i < n_flags; i++) {
        char key[256];
        const char *eq = strchr(flags[i], '=');
        if (eq == NULL || (size_t)(eq - flags[i]) >= sizeof(key)) {
            util_errf(errstr, errstr_size, "'%s': expected KEY=VALUE", flags[i]);
            return -1;
        }
        memcpy(key, flags[i], (size_t)(eq - flags[i]));
        key[eq - flags[i]] = '\0';
        if (set_from(s, key, eq + 1, flag_origin, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

static int resolve(settings *s, const char *config_flag, int user_file, const char *const *flags,
                   size_t n_flags, char *errstr, size_t errstr_size)
{
    int must_exist;
    const char *path = settings_config_path(config_flag, &must_exist);
    char user[SETTINGS_PATH_MAX];

    settings_defaults(s);
    if (settings_load_file(s, path, must_exist, errstr, errstr_size) != 0)
        return -1;
    /* An explicit file (-c, $KVMOVE_CONFIG) is the whole configuration; the default files
     * are layered: the system's, then the user's. */
    if (!must_exist && user_file && settings_user_config_path(user, sizeof(user)) == 0 &&
        settings_load_file(s, user, 0, errstr, errstr_size) != 0)
        return -1;
    if (settings_load_env(s, errstr, errstr_size) != 0 ||
        apply_flags(s, flags, n_flags, errstr, errstr_size) != 0 ||
        resolve_secrets(s, errstr, errstr_size) != 0)
        return -1;
    if (hostops_set_profile(s->host_profile, errstr, errstr_size) != 0)
        return -1;
    return 0;
}

int settings_resolve(settings *s, const char *config_flag, const char *const *flags, size_t n_flags,
                     char *errstr, size_t errstr_size)
{
    return resolve(s, config_flag, 0, flags, n_flags, errstr, errstr_size);
}

int settings_resolve_cli(settings *s, const char *config_flag, const char *const *flags,
                         size_t n_flags, char *errstr, size_t errstr_size)
{
    return resolve(s, config_flag, 1, flags, n_flags, errstr, errstr_size);
}

void settings_clear(settings *s)
{
    size_t i;

    for (i = 0; i < s->n_kafka_props; i++) {
        explicit_bzero(s->kafka_props[i], strlen(s->kafka_props[i]));
        free(s->kafka_props[i]);
    }
    s->n_kafka_props = 0;
    for (i = 0; i < s->n_templates; i++) {
        free(s->templates[i].key);
        free(s->templates[i].value);
    }
    s->n_templates = 0;
    free(s->warnings.buf);
    memset(&s->warnings, 0, sizeof(s->warnings));
}

const char *settings_key(size_t i)
{
    return i < N_KEYS ? keys[i].key : NULL;
}

/* ---- kvmove config show ---- */

static void origin_text(const settings *s, settings_origin o, const char *env, char *out,
                        size_t out_size)
{
    size_t n;

    switch (o.source) {
    case SETTINGS_FROM_FILE:
        if (o.file >= 0 && (size_t)o.file < s->n_files)
            snprintf(out, out_size, "file %s:%d", s->files[o.file].path, o.line);
        else
            snprintf(out, out_size, "file");
        break;
    case SETTINGS_FROM_ENV:
        snprintf(out, out_size, "env %s", env);
        break;
    case SETTINGS_FROM_FLAG:
        snprintf(out, out_size, "flag");
        break;
    default:
        snprintf(out, out_size, "default");
    }
    n = strlen(out);
    if (o.secret >= 0 && (size_t)o.secret < s->n_files)
        snprintf(out + n, out_size - n, ", secret from %s", s->files[o.secret].path);
}

void settings_show(const settings *s, settings_show_fn fn, void *ctx)
{
    char value[4096], origin[2 * SETTINGS_PATH_MAX + 64], env[128], err[256];
    size_t i, k;

    for (i = 0; i < N_KEYS; i++) {
        const char *field = (const char *)s + keys[i].offset;
        settings_entry e = {keys[i].key, value, 0, env, origin, s->origin[i].source};
        settings_env_name(keys[i].key, env, sizeof(env));
        switch (keys[i].type) {
        case T_INT:
            snprintf(value, sizeof(value), "%d", *(const int *)field);
            break;
        case T_DOUBLE:
            snprintf(value, sizeof(value), "%g", *(const double *)field);
            break;
        default:
            util_strlcpy(value, field, sizeof(value));
        }
        if (strcmp(keys[i].key, "db") == 0 && conninfo_has_password(field)) {
            if (conninfo_rewrite(field, NULL, 1, value, sizeof(value), err, sizeof(err)) != 0)
                util_strlcpy(value, "<redacted>", sizeof(value));
            e.redacted = 1;
        }
        origin_text(s, s->origin[i], env, origin, sizeof(origin));
        fn(ctx, &e);
    }
    for (i = 0; i < s->n_kafka_props; i++) {
        const char *kv = s->kafka_props[i], *eq = strchr(kv, '=');
        char key[300];
        int later = 0;
        settings_entry e = {key, value, 0, "", origin, s->kafka_origin[i].source};
        if (eq == NULL)
            continue;
        /* librdkafka keeps the last value of a property: show that one only. */
        for (k = i + 1; k < s->n_kafka_props && !later; k++)
            later = strncmp(s->kafka_props[k], kv, (size_t)(eq - kv) + 1) == 0;
        if (later)
            continue;
        snprintf(key, sizeof(key), "kafka.%.*s", (int)(eq - kv), kv);
        e.redacted = settings_is_secret_property(key + 6);
        util_strlcpy(value, e.redacted ? "<redacted>" : eq + 1, sizeof(value));
        origin_text(s, s->kafka_origin[i], "", origin, sizeof(origin));
        fn(ctx, &e);
    }
    for (i = 0; i < s->n_templates; i++) {
        int later = 0;
        settings_entry e = {s->templates[i].key,          s->templates[i].value, 0, "", origin,
                            s->templates[i].origin.source};
        for (k = i + 1; k < s->n_templates && !later; k++)
            later = strcmp(s->templates[k].key, s->templates[i].key) == 0;
        if (later)
            continue;
        origin_text(s, s->templates[i].origin, "", origin, sizeof(origin));
        fn(ctx, &e);
    }
}
