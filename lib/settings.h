/* settings: connection and worker settings shared by kvmove and kvmove-worker.
 * Precedence: defaults < configuration file < environment (KVMOVE_*) < command-line flags. */
#ifndef KVMOVE_SETTINGS_H
#define KVMOVE_SETTINGS_H

#include <stddef.h>

#define SETTINGS_MAX_PROPS 64

typedef struct settings {
    char brokers[512];          /* brokers = ; KVMOVE_BROKERS */
    char db[1024];              /* db = libpq conninfo; KVMOVE_DB ("" = PG* variables) */
    char ssh_user[64];          /* ssh.user (root) */
    int ssh_port;               /* ssh.port (22) */
    char ssh_identity[1024];    /* ssh.identity ("" = libssh defaults) */
    char ssh_known_hosts[1024]; /* ssh.known_hosts ("" = ~/.ssh/known_hosts) */
    int ssh_connect_timeout_ms; /* ssh.connect_timeout_ms (10000) */
    int command_timeout_ms;     /* worker.command_timeout_ms (600000): per host command */
    int step_retries;           /* worker.step_retries (3): transient failures retried */
    int lease_s;                /* worker.lease_s (30) */
    int jobs;                   /* worker.jobs (4): jobs run at once by one worker */
    int max_jobs_per_host;      /* worker.max_jobs_per_host (8): running jobs touching one host,
                                   across all workers */
    char worker_id[128];        /* worker.id ("" = hostname:pid) */
    char group[128];            /* worker.group (kvmove-workers) */
    char migrations_dir[1024];  /* worker.migrations_dir */
    char schema_dir[1024];      /* schema_dir: JSON Schemas and es.xsd */
    char host_profile[32];      /* hosts.profile (exadata) */
    double vcpu_overcommit;     /* preflight.vcpu_overcommit (1.0 = none) */
    char metrics_listen[256];   /* metrics.listen (127.0.0.1:9464): /metrics and /healthz;
                                 * "" = off */
    char log_format[16];        /* log.format (text): text | json */
    int grace_s;                /* worker.grace_s (30): SIGTERM waits this long for steps */
    char key_file[1024];        /* key_file: the CLI's signing key ("" = the default,
                                 * $XDG_CONFIG_HOME/kvmove/key, else ~/.config/kvmove/key) */
    char identity[64];          /* identity: the operator name the CLI signs as ("" = the
                                 * login name); the worker checks it is the key's */
    int auth_required;          /* auth.required (1): the worker takes signed requests only */
    int auth_max_age_s;         /* auth.max_age_s (900): older requests are refused */
    int auth_max_skew_s;        /* auth.max_skew_s (60): requests further in the future too */
    /* librdkafka properties: kafka.KEY = VALUE in the file, -X KEY=VALUE on the command line */
    char *kafka_props[SETTINGS_MAX_PROPS];
    size_t n_kafka_props;
} settings;

/* Fills S with the defaults. Directories default to the source tree when it exists (running
 * from a build directory), else to the installed share/kvmove. */
void settings_defaults(settings *s);
/* Sets KEY (file syntax, e.g. "ssh.port", "kafka.security.protocol", "template.domain_start")
 * to VALUE. Returns 0, or -1 with errstr naming the key and what it accepts. */
int settings_set(settings *s, const char *key, const char *value, char *errstr, size_t errstr_size);
/* Reads "key = value" lines: blanks around key and value are dropped, a value in double quotes
 * loses its quotes, lines starting with # are comments (a # later in a line is part of the
 * value: passwords may hold one). A missing file is an error only when MUST_EXIST. */
int settings_load_file(settings *s, const char *path, int must_exist, char *errstr,
                       size_t errstr_size);
/* Applies the KVMOVE_* environment variables (KVMOVE_BROKERS, KVMOVE_DB, KVMOVE_SSH_PORT, ...:
 * the key upper-cased with '.' as '_'). */
int settings_load_env(settings *s, char *errstr, size_t errstr_size);
/* The configuration file to read: FLAG_PATH if given, else $KVMOVE_CONFIG, else
 * /etc/kvmove/kvmove.conf. *MUST_EXIST is 1 unless it is the default path. */
const char *settings_config_path(const char *flag_path, int *must_exist);
/* Resolves everything in order: defaults, the configuration file (settings_config_path of
 * CONFIG_FLAG), the environment, then FLAGS ("key=value" strings from the command line, e.g.
 * "brokers=host:9092", "kafka.acks=all"). Returns 0 or -1 with errstr. */
int settings_resolve(settings *s, const char *config_flag, const char *const *flags, size_t n_flags,
                     char *errstr, size_t errstr_size);
/* Frees what settings_set allocated (kafka properties). */
void settings_clear(settings *s);

#endif
