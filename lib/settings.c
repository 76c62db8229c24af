/* settings: connection and worker settings shared by kvmove and kvmove-worker. */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hostops.h"
#include "util.h"

typedef enum { T_STR, T_INT, T_DOUBLE } value_type;

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
    STR("db", db),
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

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void settings_defaults(settings *s)
{
    memset(s, 0, sizeof(*s));
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
    s->auth_required = 1;
    s->auth_max_age_s = 900;
    s->auth_max_skew_s = 60;
}

int settings_set(settings *s, const char *key, const char *value, char *errstr, size_t errstr_size)
{
    size_t i;

    if (strncmp(key, "kafka.", 6) == 0) {
        char *kv;
        if (key[6] == '\0') {
            util_errf(errstr, errstr_size, "'%s': name a librdkafka property after 'kafka.'", key);
            return -1;
        }
        if (s->n_kafka_props >= SETTINGS_MAX_PROPS) {
            util_errf(errstr, errstr_size, "too many Kafka properties (at most %d)",
                      SETTINGS_MAX_PROPS);
            return -1;
        }
        if (asprintf(&kv, "%s=%s", key + 6, value) < 0)
            return -1;
        s->kafka_props[s->n_kafka_props++] = kv;
        return 0;
    }
    if (strncmp(key, "template.", 9) == 0) {
        hostop op;
        if (hostops_from_name(key + 9, &op) != 0) {
            util_errf(errstr, errstr_size, "unknown host operation in '%s'", key);
            return -1;
        }
        return hostops_set_template(op, value, errstr, errstr_size);
    }
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *field = (char *)s + keys[i].offset, *end;
        if (strcmp(keys[i].key, key) != 0)
            continue;
        switch (keys[i].type) {
        case T_STR:
            if (util_strlcpy(field, value, keys[i].size) != 0) {
                util_errf(errstr, errstr_size, "%s: value too long (at most %zu characters)", key,
                          keys[i].size - 1);
                return -1;
            }
            return 0;
        case T_INT: {
            long v;
            errno = 0;
            v = strtol(value, &end, 10);
            if (errno || end == value || *end || v < keys[i].min || v > keys[i].max) {
                util_errf(errstr, errstr_size, "%s: '%s' is not a number from %d to %d", key, value,
                          keys[i].min, keys[i].max);
                return -1;
            }
            *(int *)field = (int)v;
            return 0;
        }
        case T_DOUBLE: {
            double v = strtod(value, &end);
            if (end == value || *end || v < 1.0 || v > 64.0) {
                util_errf(errstr, errstr_size, "%s: '%s' is not a ratio from 1.0 to 64.0", key,
                          value);
                return -1;
            }
            *(double *)field = v;
            return 0;
        }
        }
    }
    util_errf(errstr, errstr_size, "unknown setting '%s'", key);
    return -1;
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

int settings_load_file(settings *s, const char *path, int must_exist, char *errstr,
                       size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    char line[4096], err[512];
    int lineno = 0, rc = 0;

    if (f == NULL) {
        if (!must_exist && errno == ENOENT)
            return 0;
        util_errf(errstr, errstr_size, "cannot read configuration file %s: %s", path,
                  strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p, *eq, *value;
        size_t n;
        lineno++;
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
        if (settings_set(s, trim(p), value, err, sizeof(err)) != 0) {
            util_errf(errstr, errstr_size, "%s:%d: %s", path, lineno, err);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

int settings_load_env(settings *s, char *errstr, size_t errstr_size)
{
    size_t i, k;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char env[128] = "KVMOVE_";
        const char *v;
        for (k = 0; keys[i].key[k] && k + 8 < sizeof(env); k++)
            env[7 + k] = keys[i].key[k] == '.' ? '_' : (char)toupper((unsigned char)keys[i].key[k]);
        env[7 + k] = '\0';
        v = getenv(env);
        if (v != NULL && settings_set(s, keys[i].key, v, errstr, errstr_size) != 0)
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
    return "/etc/kvmove/kvmove.conf";
}

int settings_resolve(settings *s, const char *config_flag, const char *const *flags, size_t n_flags,
                     char *errstr, size_t errstr_size)
{
    int must_exist;
    const char *path = settings_config_path(config_flag, &must_exist);
    size_t i;

    settings_defaults(s);
    if (settings_load_file(s, path, must_exist, errstr, errstr_size) != 0 ||
        settings_load_env(s, errstr, errstr_size) != 0)
        return -1;
    for (i = 0; i < n_flags; i++) {
        char key[256];
        const char *eq = strchr(flags[i], '=');
        if (eq == NULL || (size_t)(eq - flags[i]) >= sizeof(key)) {
            util_errf(errstr, errstr_size, "'%s': expected KEY=VALUE", flags[i]);
            return -1;
        }
        memcpy(key, flags[i], (size_t)(eq - flags[i]));
        key[eq - flags[i]] = '\0';
        if (settings_set(s, key, eq + 1, errstr, errstr_size) != 0)
            return -1;
    }
    if (hostops_set_profile(s->host_profile, errstr, errstr_size) != 0)
        return -1;
    return 0;
}

void settings_clear(settings *s)
{
    size_t i;

    for (i = 0; i < s->n_kafka_props; i++)
        free(s->kafka_props[i]);
    s->n_kafka_props = 0;
}
