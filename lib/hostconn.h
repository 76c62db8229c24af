/* hostconn: one SSH session (libssh) to a KVM host, as root, key auth, strict known_hosts. */
#ifndef KVMOVE_HOSTCONN_H
#define KVMOVE_HOSTCONN_H

#include <stddef.h>

typedef struct hostconn hostconn;

typedef struct hostconn_opts {
    const char *user;        /* default "root" */
    int port;                /* default 22 */
    const char *identity;    /* private key file; NULL = libssh's defaults (~/.ssh/id_*) */
    const char *known_hosts; /* known_hosts file; NULL = ~/.ssh/known_hosts */
    int connect_timeout_ms;  /* default 10000 */
} hostconn_opts;

/* Error classes, returned negated, so callers can tell what a retry can fix. */
#define HOSTCONN_EUNREACHABLE 1 /* could not connect (refused, timeout, no route) */
#define HOSTCONN_EHOSTKEY 2     /* host key unknown or changed: never retried */
#define HOSTCONN_EAUTH 3        /* key authentication refused */
#define HOSTCONN_ETIMEOUT 4     /* command exceeded its timeout (channel closed) */
#define HOSTCONN_EIO 5          /* session broke during a command */

/* Connects and authenticates to ADDRESS (hostname or IP) with OPTS (NULL = defaults), checking
 * the host key against known_hosts strictly (unknown or changed key = failure). Returns 0 and
 * *OUT (free with hostconn_close), or -HOSTCONN_E* with the reason in errstr. */
int hostconn_open(const char *address, const hostconn_opts *opts, hostconn **out, char *errstr,
                  size_t errstr_size);

/* Runs COMMAND on a new channel of the session, collecting stdout and stderr (each capped at
 * 1 MiB) until it exits or TIMEOUT_MS passes (0 = no limit). Returns 0 and sets *EXIT_STATUS,
 * *OUT and *ERR (malloc'd, NUL-terminated, caller frees; OUT/ERR may be NULL to discard), or
 * -HOSTCONN_E* with errstr. A broken session is reopened once before the command is sent. */
int hostconn_exec(hostconn *c, const char *command, int timeout_ms, int *exit_status, char **out,
                  char **err, char *errstr, size_t errstr_size);

/* Outcome of one command of hostconn_exec_many. */
typedef struct hostconn_result {
    int exit_status; /* the command's exit status; -1 if it died of a signal or sent none */
    char *out;       /* stdout, capped at 1 MiB, NUL-terminated; owned, see hostconn_result_free */
    char *err;       /* stderr, same */
    int error;       /* 0 = the command ran to its end, else -HOSTCONN_E* (out/err are partial) */
} hostconn_result;

/* Maximum number of commands hostconn_exec_many runs at the same time on one session (OpenSSH's
 * MaxSessions defaults to 10); further commands start as earlier ones finish. */
#define HOSTCONN_MAX_PARALLEL 8

/* Runs the N COMMANDS concurrently, each on its own channel of the one session, driven by a
 * single loop, until all exit or TIMEOUT_MS (for the whole batch; 0 = no limit) passes; commands
 * still running then are sent SIGTERM and their channel is closed (OpenSSH ignores the signal for
 * root logins: the command may run on to its end on the host, so its outcome is unknown). Fills
 * RESULTS[0..N-1] (caller's array; the strings in it are malloc'd, free with hostconn_result_free).
 * A broken session is reopened once, before any command is sent. Returns 0 if every command ran to
 * its end (whatever its exit status), else the first failing command's -HOSTCONN_E* with its reason
 * in errstr. */
int hostconn_exec_many(hostconn *c, const char *const *commands, size_t n, int timeout_ms,
                       hostconn_result *results, char *errstr, size_t errstr_size);

/* Runs the N COMMANDS on C as ONE command (one SSH channel, one round trip): a compound shell
 * command (hostconn_batch_command) that runs each in a subshell of the host's shell, one after
 * the other in the given order, stdin /dev/null, whatever the previous ones' exit statuses, and
 * follows each one's stdout and stderr with a separator line carrying a marker drawn at random
 * for this call (never written whole in the command line, so no output can carry it unless the
 * host reconstructs it on purpose) and its exit status. RESULTS[0..N-1] get what N hostconn_exec
 * calls would have: each command's own stdout, stderr and exit status (a command killed by a
 * signal reads as the shell reports it, 128 + signal, not -1). The 1 MiB cap applies to the
 * whole batch's output. A command whose separator never came (timeout, a broken session, output
 * cut at the cap or not in the batch's form) has error -HOSTCONN_E* and the partial output; the
 * ones before it are complete. Returns 0 if every command ran to its end, else the first
 * incomplete command's code with errstr naming it, as hostconn_exec_many. */
int hostconn_exec_batch(hostconn *c, const char *const *commands, size_t n, int timeout_ms,
                        hostconn_result *results, char *errstr, size_t errstr_size);

/* Length of a batch marker (hex digits); the command carries it in two halves. */
#define HOSTCONN_BATCH_MARKER_LEN 32

/* The compound command of hostconn_exec_batch for the N COMMANDS and MARKER
 * (HOSTCONN_BATCH_MARKER_LEN hex digits): "kvmove_batch() {...}; kvmove_batch 'HALF1' 'HALF2'
 * 'COMMAND'..." with each command single-quoted (tests/hostsim/COMMANDS.md describes the form
 * for the fixtures). Returns it malloc'd, or NULL (out of memory, bad marker). */
char *hostconn_batch_command(const char *const *commands, size_t n, const char *marker);

/* Splits the stdout OUT and stderr ERR of a batch command (either may be NULL: empty) into
 * RESULTS[0..N-1] (caller's array, strings malloc'd): the parts whose separators came in order
 * on both streams get their output and exit status, error 0; the first one without (missing,
 * out of order or malformed) gets what is left of each stream, exit status -1 and error
 * -HOSTCONN_EIO, the ones after it nothing and the same error. Returns the number of complete
 * parts. */
size_t hostconn_batch_split(const char *marker, size_t n, const char *out, const char *err,
                            hostconn_result *results);

/* Frees the strings of RESULTS[0..N-1] (not the array) and sets them to NULL. Accepts NULL. */
void hostconn_result_free(hostconn_result *results, size_t n);

/* The commands this process has sent to hosts so far (every session; one SSH channel each). */
unsigned long hostconn_commands(void);

/* 1 if C's session is still open as far as can be told without a round trip, 0 if it is
 * gone: libssh saw it close, or its socket has been closed by the peer (the host's sshd stopped,
 * the host powered off) while nobody read it. An idle session is the one case this matters:
 * its next command would first find out, and reconnect. */
int hostconn_alive(hostconn *c);

/* The address this connection was opened to. */
const char *hostconn_address(const hostconn *c);
void hostconn_close(hostconn *c); /* accepts NULL */

#endif
