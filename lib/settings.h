/* settings: connection and worker settings shared by kvmove and kvmove-worker.
 * Precedence: defaults < configuration file(s) < environment (KVMOVE_*) < command-line flags. */
#ifndef KVMOVE_SETTINGS_H
#define KVMOVE_SETTINGS_H

#include <stddef.h>

#include "util.h"

#define SETTINGS_MAX_PROPS 64
/* Files read while resolving: configuration files, kafka.config_file, secret files. */
#define SETTINGS_MAX_FILES 16
#define SETTINGS_PATH_MAX 1024
/* The system-wide configuration file (the only one kvmove-worker reads by default). */
#define SETTINGS_SYSTEM_FILE "/etc/kvmove/kvmove.conf"

/* Where a value came from (kvmove config show). */
typedef enum settings_source {
    SETTINGS_FROM_DEFAULT = 0,
    SETTINGS_FROM_FILE, /* a configuration file (or kafka.config_file) */
    SETTINGS_FROM_ENV,  /* KVMOVE_* */
    SETTINGS_FROM_FLAG, /* the command line: -b, --db, -X, -o, ... */
} settings_source;

typedef struct settings_origin {
    settings_source source;
    int file;   /* SETTINGS_FROM_FILE: index in settings.files; else -1 */
    int line;   /* that file's line (0: none) */
    int secret; /* index in settings.files of the file the value was read from (a *_file
                 * setting or a credential), else -1 */
} settings_origin;

/* A file the settings were read from, or looked for. */
typedef struct settings_file {
    char path[SETTINGS_PATH_MAX];
    const char *role; /* "configuration", "kafka properties", "secret", "credential" */
    int read;         /* 1 read; 0 absent or unreadable (a default file: a warning said why) */
} settings_file;

/* A template.OPERATION override, as set (kvmove config show). */
typedef struct settings_template {
    char *key; /* "template.domain_start" (owned) */
    char *value;
    settings_origin origin;
} settings_template;

typedef struct settings {
    char brokers[512]; /* brokers = ; KVMOVE_BROKERS */
    char db[1024];     /* db = libpq conninfo; KVMOVE_DB ("" = PG* variables); with
                        * db.password_file, the password is added here at resolve */
    char db_password_file[SETTINGS_PATH_MAX]; /* db.password_file ("" = none) */
    char ssh_user[64];                        /* ssh.user (root) */
    int ssh_port;                             /* ssh.port (22) */
    char ssh_identity[1024];                  /* ssh.identity ("" = libssh defaults) */
    char ssh_known_hosts[1024];               /* ssh.known_hosts ("" = ~/.ssh/known_hosts) */
    int ssh_connect_timeout_ms;               /* ssh.connect_timeout_ms (10000) */
    int command_timeout_ms;    /* worker.command_timeout_ms (600000): per host command */
    int step_retries;          /* worker.step_retries (3): transient failures retried */
    int lease_s;               /* worker.lease_s (30) */
    int jobs;                  /* worker.jobs (4): jobs run at once by one worker */
    int max_jobs_per_host;     /* worker.max_jobs_per_host (8): running jobs touching one host,
                                  across all workers */
    char worker_id[128];       /* worker.id ("" = hostname:pid) */
    char group[128];           /* worker.group (kvmove-workers) */
    char migrations_dir[1024]; /* worker.migrations_dir */
    char schema_dir[1024];     /* schema_dir: JSON Schemas and es.xsd */
    char host_profile[32];     /* hosts.profile (exadata) */
    double vcpu_overcommit;    /* preflight.vcpu_overcommit (1.0 = none) */
    char metrics_listen[256];  /* metrics.listen (127.0.0.1:9464): /metrics and /healthz;
                                * "" = off */
    char log_format[16];       /* log.format (text): text | json */
    int grace_s;               /* worker.grace_s (30): SIGTERM waits this long for steps */
    int outbox_retention_s;    /* outbox.retention_s (604800 = 7 days): published events are
                                * deleted from the outbox this long after publication */
    int jobs_retention_s;      /* jobs.retention_s (0 = keep): workers prune finished jobs
                                * (kvmove jobs prune) older than this */
    char key_file[1024];       /* key_file: the CLI's signing key ("" = the default,
                                * $XDG_CONFIG_HOME/kvmove/key, else ~/.config/kvmove/key) */
    char identity[64];         /* identity: the operator name the CLI signs as ("" = the
                                * login name); the worker checks it is the key's */
    int auth_required;         /* auth.required (1): the worker takes signed requests only */
    int auth_max_age_s;        /* auth.max_age_s (900): older requests are refused */
    int auth_max_skew_s;       /* auth.max_skew_s (60): requests further in the future too */
    /* librdkafka properties: kafka.KEY = VALUE in the file, -X KEY=VALUE on the command line */
    char *kafka_props[SETTINGS_MAX_PROPS];
    size_t n_kafka_props;
    /* ... and from kafka.config_file (a librdkafka properties file) and kafka.KEY_file (KEY's
     * value read from a file), in the order they were set (librdkafka keeps the last of a key);
     * where each came from. */
    settings_origin kafka_origin[SETTINGS_MAX_PROPS];
    char kafka_config_file[SETTINGS_PATH_MAX]; /* kafka.config_file, the last one read */

    /* --- what resolving found (not settings themselves) --- */
    settings_origin origin[48]; /* per key of the table in settings.c (settings_key) */
    settings_template templates[SETTINGS_MAX_PROPS];
    size_t n_templates;
    settings_file files[SETTINGS_MAX_FILES];
    size_t n_files;
    /* Warnings for the operator, one per line (an unreadable default configuration file, a
     * secret file others can read): the caller prints them (library code does not). */
    util_lines warnings;
} settings;

/* Fills S with the defaults. Directories default to the source tree when it exists (running
 * from a build directory), else to the installed share/kvmove. */
void settings_defaults(settings *s);
/* Sets KEY (file syntax, e.g. "ssh.port", "kafka.security.protocol", "template.domain_start")
 * to VALUE, as a command-line flag would. Numbers are parsed strictly (lib/number.c). Returns
 * 0, or -1 with errstr naming the key and what it accepts. */
int settings_set(settings *s, const char *key, const char *value, char *errstr, size_t errstr_size);
/* Reads "key = value" lines: blanks around key and value are dropped, a value in double quotes
 * loses its quotes, lines starting with # are comments (a # later in a line is part of the
 * value: passwords may hold one). A file that does not exist is an error only when MUST_EXIST;
 * one that exists but cannot be read is an error when MUST_EXIST, else a warning. A file that
 * sets a secret (a password in db, a kafka.* password or secret) and others can read gets a
 * warning. */
int settings_load_file(settings *s, const char *path, int must_exist, char *errstr,
                       size_t errstr_size);
/* Applies the KVMOVE_* environment variables (KVMOVE_BROKERS, KVMOVE_DB, KVMOVE_SSH_PORT, ...:
 * the key upper-cased with '.' as '_'; settings_env_name). */
int settings_load_env(settings *s, char *errstr, size_t errstr_size);
/* The configuration file named explicitly: FLAG_PATH if given, else $KVMOVE_CONFIG, else
 * SETTINGS_SYSTEM_FILE. *MUST_EXIST is 1 unless it is the default path. */
const char *settings_config_path(const char *flag_path, int *must_exist);
/* The operator's own configuration file: $XDG_CONFIG_HOME/kvmove/kvmove.conf, or
 * $HOME/.config/kvmove/kvmove.conf when XDG_CONFIG_HOME is unset, empty or relative. Returns 0
 * with the path in OUT, or -1 when there is no home directory to look in. */
int settings_user_config_path(char *out, size_t out_size);
/* Resolves everything in order: defaults, the configuration file (settings_config_path of
 * CONFIG_FLAG), the environment, then FLAGS ("key=value" strings from the command line, e.g.
 * "brokers=host:9092", "kafka.acks=all"), then the secrets: db.password_file, the credentials
 * in $CREDENTIALS_DIRECTORY, the SSH identity's permissions. For kvmove-worker. Returns 0 or -1
 * with errstr; warnings are left in S->warnings. */
int settings_resolve(settings *s, const char *config_flag, const char *const *flags, size_t n_flags,
                     char *errstr, size_t errstr_size);
/* As settings_resolve, for the operator's CLI: without -c and $KVMOVE_CONFIG, the system file
 * and then the user's file (settings_user_config_path) are read, the user's overriding. */
int settings_resolve_cli(settings *s, const char *config_flag, const char *const *flags,
                         size_t n_flags, char *errstr, size_t errstr_size);
/* Frees what resolving allocated (kafka properties, templates, warnings). */
void settings_clear(settings *s);

/* The I-th key of the settings table ("brokers", "ssh.port", ...), or NULL past the last. */
const char *settings_key(size_t i);
/* The environment variable of KEY into OUT: KVMOVE_ and KEY upper-cased, '.' as '_'. */
void settings_env_name(const char *key, char *out, size_t out_size);
/* 1 if a librdkafka property NAME holds a secret (a password, a secret, a private key). */
int settings_is_secret_property(const char *name);

/* One effective setting, as kvmove config show prints it. */
typedef struct settings_entry {
    const char *key;    /* "ssh.port", "kafka.sasl.username", "template.domain_start" */
    const char *value;  /* as text; a secret is redacted */
    int redacted;       /* 1 when VALUE hides a secret */
    const char *env;    /* the environment variable that sets it, "" when none does */
    const char *origin; /* "default", "file PATH:LINE", "env NAME", "flag", plus
                         * ", value from PATH" when read from a secret file */
    settings_source source;
} settings_entry;

typedef void (*settings_show_fn)(void *ctx, const settings_entry *e);
/* Calls FN for every key of the table, then every effective librdkafka property (the last one
 * set of each name) and every template override, with secrets redacted. Strings are valid
 * during the call. */
void settings_show(const settings *s, settings_show_fn fn, void *ctx);

#endif
