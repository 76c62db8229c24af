/* hostconn: one SSH session (libssh) to a KVM host, as root, key auth, strict known_hosts. */
#include "hostconn.h"
#include "util.h"

#include <libssh/libssh.h>

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUTPUT_CAP (1024 * 1024) /* per stream, as the header promises */
#define WAIT_SLICE_MS 100        /* longest single wait for the socket; deadlines are rechecked */

struct hostconn {
    char *address;
    char *user;
    char *identity;    /* NULL = default key files */
    char *known_hosts; /* always a path: the default is resolved at open */
    int port;
    int timeout_ms;
    ssh_session session; /* NULL when closed; reopened by session_ensure */
};

/* Collected output of one stream: at most OUTPUT_CAP bytes kept, the rest read and dropped so
 * the remote side never blocks on a full window. */
struct obuf {
    char *data;
    size_t len, size;
};

enum run_state { RUN_PENDING, RUN_RUNNING, RUN_DONE };

struct run {
    ssh_channel ch;
    enum run_state state;
    int out_eof, err_eof;
    struct obuf out, err;
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void session_drop(hostconn *c)
{
    if (c->session == NULL)
        return;
    ssh_disconnect(c->session);
    ssh_free(c->session);
    c->session = NULL;
}

/* Writes the SHA256 fingerprint of the server's host key into OUT ("unknown" if unavailable). */
static void server_fingerprint(ssh_session s, char *out, size_t out_size)
{
    ssh_key key = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL;

    util_strlcpy(out, "unknown", out_size);
    if (ssh_get_server_publickey(s, &key) != SSH_OK)
        goto out;
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0)
        goto out;
    fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (fp != NULL)
        util_strlcpy(out, fp, out_size);
out:
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(key);
}

/* The way the host is written in known_hosts and in ssh commands, for messages. */
static void host_label(const hostconn *c, char *out, size_t out_size)
{
    if (c->port == 22)
        snprintf(out, out_size, "%s", c->address);
    else
        snprintf(out, out_size, "[%s]:%d", c->address, c->port);
}

static int check_host_key(hostconn *c, char *errstr, size_t errstr_size)
{
    char label[300], fp[128];
    enum ssh_known_hosts_e st = ssh_session_is_known_server(c->session);

    if (st == SSH_KNOWN_HOSTS_OK)
        return 0;
    host_label(c, label, sizeof(label));
    server_fingerprint(c->session, fp, sizeof(fp));
    switch (st) {
    case SSH_KNOWN_HOSTS_CHANGED:
        util_errf(errstr, errstr_size,
                  "host key of %s (%s) does NOT match the one recorded in %s: the host was "
                  "reinstalled or someone is in the middle; verify the fingerprint out of band, "
                  "then replace the host's line in %s",
                  label, fp, c->known_hosts, c->known_hosts);
        break;
    case SSH_KNOWN_HOSTS_OTHER:
        util_errf(errstr, errstr_size,
                  "host %s presented a key (%s) of a type %s does not record for it, while "
                  "it records another: treat it as a changed key; verify the fingerprint out "
                  "of band, then fix the host's lines in %s",
                  label, fp, c->known_hosts, c->known_hosts);
        break;
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
        util_errf(errstr, errstr_size,
                  "host %s is not in %s (its key is %s); verify that fingerprint, then add the "
                  "host's key to %s (e.g. ssh-keyscan -p %d %s >> %s)",
                  label, c->known_hosts, fp, c->known_hosts, c->port, c->address, c->known_hosts);
        break;
    default:
        util_errf(errstr, errstr_size, "cannot check the host key of %s against %s: %s", label,
                  c->known_hosts, ssh_get_error(c->session));
        break;
    }
    return -HOSTCONN_EHOSTKEY;
}

/* Authenticates with one private key file. Returns 0, 1 if the server refused this key, or a
 * negative code (errstr set). */
static int auth_with_file(hostconn *c, const char *path, char *errstr, size_t errstr_size)
{
    ssh_key key = NULL;
    int rc;

    if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK) {
        util_errf(errstr, errstr_size,
                  "cannot load the private key %s for %s (it must exist, be readable and have "
                  "no passphrase)",
                  path, c->address);
        return -HOSTCONN_EAUTH;
    }
    rc = ssh_userauth_publickey(c->session, NULL, key);
    ssh_key_free(key);
    if (rc == SSH_AUTH_SUCCESS)
        return 0;
    if (rc == SSH_AUTH_DENIED || rc == SSH_AUTH_PARTIAL)
        return 1;
    util_errf(errstr, errstr_size, "authentication to %s failed: %s", c->address,
              ssh_get_error(c->session));
    return -HOSTCONN_EUNREACHABLE;
}

static int authenticate(hostconn *c, char *errstr, size_t errstr_size)
{
    static const char *const defaults[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
    const char *home = getenv("HOME");
    char path[PATH_MAX], tried[3 * PATH_MAX] = "";
    size_t i;
    int rc;

    if (c->identity != NULL) {
        rc = auth_with_file(c, c->identity, errstr, errstr_size);
        if (rc == 1) {
            util_errf(errstr, errstr_size,
                      "%s@%s refused the key %s (add its public key to the host's "
                      "authorized_keys, or use the right identity file)",
                      c->user, c->address, c->identity);
            rc = -HOSTCONN_EAUTH;
        }
        return rc;
    }
    /* The default keys, as ssh would try them, but never through an agent. */
    for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        snprintf(path, sizeof(path), "%s/.ssh/%s", home != NULL ? home : "", defaults[i]);
        if (access(path, R_OK) != 0)
            continue;
        rc = auth_with_file(c, path, errstr, errstr_size);
        if (rc <= 0)
            return rc;
        snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried), "%s%s",
                 tried[0] != '\0' ? ", " : "", path);
    }
    if (tried[0] == '\0')
        util_errf(errstr, errstr_size,
                  "no identity file for %s: none given and no ~/.ssh/id_ed25519, id_ecdsa or "
                  "id_rsa readable",
                  c->address);
    else
        util_errf(errstr, errstr_size,
                  "%s@%s refused every default key (%s); add one to the host's "
                  "authorized_keys or configure an identity file",
                  c->user, c->address, tried);
    return -HOSTCONN_EAUTH;
}

/* Opens c->session from the stored parameters. */
static int session_connect(hostconn *c, char *errstr, size_t errstr_size)
{
    ssh_session s;
    long timeout_usec = (long)c->timeout_ms * 1000;
    int no = 0, yes = 1;
    int rc;

    session_drop(c);
    s = ssh_new();
    if (s == NULL) {
        util_errf(errstr, errstr_size, "out of memory creating an SSH session to %s", c->address);
        return -HOSTCONN_EUNREACHABLE;
    }
    c->session = s;
    /* No ~/.ssh/config: every setting that matters comes from kvmove's own configuration. */
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_HOST, c->address) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &c->port) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_USER, c->user) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, c->known_hosts) != 0 ||
        /* Only the given known_hosts counts, not /etc/ssh/ssh_known_hosts. */
        ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") != 0 ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &timeout_usec) != 0 ||
        /* Small request/reply packets: without this, Nagle and delayed ACKs add ~40 ms to
         * every command. */
        ssh_options_set(s, SSH_OPTIONS_NODELAY, &yes) != 0) {
        util_errf(errstr, errstr_size, "invalid SSH options for %s: %s", c->address,
                  ssh_get_error(s));
        rc = -HOSTCONN_EUNREACHABLE;
        goto fail;
    }
    if (ssh_connect(s) != SSH_OK) {
        util_errf(errstr, errstr_size, "cannot connect to %s port %d: %s", c->address, c->port,
                  ssh_get_error(s));
        rc = -HOSTCONN_EUNREACHABLE;
        goto fail;
    }
    rc = check_host_key(c, errstr, errstr_size);
    if (rc != 0)
        goto fail;
    rc = authenticate(c, errstr, errstr_size);
    if (rc != 0)
        goto fail;
    return 0;
fail:
    session_drop(c);
    return rc;
}

static int session_broken(const hostconn *c)
{
    return c->session == NULL || !ssh_is_connected(c->session) ||
           (ssh_get_status(c->session) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0;
}

int hostconn_open(const char *address, const hostconn_opts *opts, hostconn **out, char *errstr,
                  size_t errstr_size)
{
    hostconn *c = NULL;
    const char *home = getenv("HOME");
    int rc;

    *out = NULL;
    if (address == NULL || address[0] == '\0') {
        util_errf(errstr, errstr_size, "no host address given");
        return -HOSTCONN_EUNREACHABLE;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    c->address = strdup(address);
    c->user = strdup(opts != NULL && opts->user != NULL ? opts->user : "root");
    c->identity = dup_or_null(opts != NULL ? opts->identity : NULL);
    if (opts != NULL && opts->known_hosts != NULL) {
        c->known_hosts = strdup(opts->known_hosts);
    } else if (asprintf(&c->known_hosts, "%s/.ssh/known_hosts", home != NULL ? home : "") < 0) {
        c->known_hosts = NULL;
    }
    c->port = opts != NULL && opts->port > 0 ? opts->port : 22;
    c->timeout_ms = opts != NULL && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 10000;
    if (c->address == NULL || c->user == NULL || c->known_hosts == NULL ||
        (opts != NULL && opts->identity != NULL && c->identity == NULL))
        goto nomem;
    rc = session_connect(c, errstr, errstr_size);
    if (rc != 0) {
        hostconn_close(c);
        return rc;
    }
    *out = c;
    return 0;
nomem:
    hostconn_close(c);
    util_errf(errstr, errstr_size, "out of memory opening a connection to %s", address);
    return -HOSTCONN_EUNREACHABLE;
}

static void obuf_add(struct obuf *b, const char *data, size_t n)
{
    size_t want;
    char *p;

    if (b->len + n > OUTPUT_CAP)
        n = OUTPUT_CAP - b->len;
    if (n == 0)
        return;
    if (b->len + n + 1 > b->size) {
        want = b->size != 0 ? b->size : 4096;
        while (want < b->len + n + 1)
            want *= 2;
        if (want > OUTPUT_CAP + 1)
            want = OUTPUT_CAP + 1;
        p = realloc(b->data, want);
        if (p == NULL)
            return; /* keep what we have: output is informative, not worth failing for */
        b->data = p;
        b->size = want;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Hands the collected text over (never NULL on success: "" when nothing came). */
static char *obuf_take(struct obuf *b)
{
    char *s = b->data;

    if (s == NULL)
        s = strdup("");
    b->data = NULL;
    b->len = b->size = 0;
    return s;
}

static void run_fail(struct run *r, hostconn_result *res, int code)
{
    if (r->ch != NULL) {
        ssh_channel_free(r->ch); /* libssh finishes the close when the peer answers */
        r->ch = NULL;
    }
    r->state = RUN_DONE;
    res->error = code;
}

/* Commands this process sent to hosts (hostconn_commands). */
static atomic_ulong n_commands;

unsigned long hostconn_commands(void)
{
    return atomic_load(&n_commands);
}

/* Opens a channel and sends COMMAND. Returns 0, 1 if the channel could not be opened (nothing
 * sent), or -HOSTCONN_EIO if the exec request failed (outcome unknown). */
static int run_start(hostconn *c, struct run *r, const char *command, char *why, size_t why_size)
{
    r->ch = ssh_channel_new(c->session);
    if (r->ch == NULL || ssh_channel_open_session(r->ch) != SSH_OK) {
        util_errf(why, why_size, "cannot open an SSH channel on %s: %s", c->address,
                  ssh_get_error(c->session));
        if (r->ch != NULL)
            ssh_channel_free(r->ch);
        r->ch = NULL;
        return 1;
    }
    if (ssh_channel_request_exec(r->ch, command) != SSH_OK) {
        util_errf(why, why_size, "sending a command to %s failed (it may or may not have run): %s",
                  c->address, ssh_get_error(c->session));
        ssh_channel_free(r->ch);
        r->ch = NULL;
        return -HOSTCONN_EIO;
    }
    r->state = RUN_RUNNING;
    atomic_fetch_add(&n_commands, 1);
    return 0;
}

/* Reads what is available on one stream. Returns 1 if anything happened, 0 if nothing, -1 if the
 * session broke. */
static int pump_stream(struct run *r, int is_stderr)
{
    char buf[16384];
    int *eof = is_stderr ? &r->err_eof : &r->out_eof;
    struct obuf *b = is_stderr ? &r->err : &r->out;
    int progress = 0;
    int n;

    while (!*eof) {
        n = ssh_channel_read_nonblocking(r->ch, buf, sizeof(buf), is_stderr);
        if (n == SSH_EOF) {
            *eof = 1;
            return 1;
        }
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        obuf_add(b, buf, (size_t)n);
        progress = 1;
    }
    return progress;
}

/* Drives one running command. Returns 1 if anything happened, 0 if nothing, -1 if the session
 * broke under it. */
static int run_pump(struct run *r, hostconn_result *res)
{
    int a, b;

    a = pump_stream(r, 0);
    b = a < 0 ? -1 : pump_stream(r, 1);
    if (a < 0 || b < 0)
        return -1;
    /* The exit status comes before the channel's close: wait for the close, then it is known
     * without blocking. */
    if (r->out_eof && r->err_eof && ssh_channel_is_closed(r->ch)) {
        if (!ssh_is_connected(ssh_channel_get_session(r->ch)))
            return -1;
        res->exit_status = ssh_channel_get_exit_status(r->ch);
        ssh_channel_free(r->ch);
        r->ch = NULL;
        r->state = RUN_DONE;
        return 1;
    }
    return a || b;
}

/* Waits up to TIMEOUT_MS for the session's socket, processing what arrives into the channels.
 * Returns 0, or -1 if the session broke. */
static int session_wait(hostconn *c, int timeout_ms)
{
    ssh_event ev = ssh_event_new();
    int rc = -1;

    if (ev == NULL)
        return -1;
    if (ssh_event_add_session(ev, c->session) != SSH_OK)
        goto out;
    rc = ssh_event_dopoll(ev, timeout_ms) == SSH_ERROR ? -1 : 0;
    ssh_event_remove_session(ev, c->session);
out:
    ssh_event_free(ev);
    return rc;
}

/* Clears ERRSTR and gives each of the N RESULTS "did not run" (exit status -1, no output). */
static void results_init(hostconn_result *results, size_t n, char *errstr, size_t errstr_size)
{
    size_t i;

    if (errstr_size > 0)
        errstr[0] = '\0';
    for (i = 0; i < n; i++) {
        results[i].exit_status = -1;
        results[i].out = results[i].err = NULL;
        results[i].error = 0;
    }
}

int hostconn_exec_many(hostconn *c, const char *const *commands, size_t n, int timeout_ms,
                       hostconn_result *results, char *errstr, size_t errstr_size)
{
    struct run *runs = NULL;
    char why[1024];
    int64_t deadline = timeout_ms > 0 ? util_now_ms() + timeout_ms : 0;
    size_t next = 0, active = 0, done = 0, i;
    int sent_any = 0, reconnected = 0;
    int first_err = 0;
    int rc, progress, left;

    results_init(results, n, errstr, errstr_size);
    if (n == 0)
        return 0;
    runs = calloc(n, sizeof(*runs));
    if (runs == NULL) {
        util_errf(errstr, errstr_size, "out of memory running commands on %s", c->address);
        first_err = -HOSTCONN_EIO;
        for (i = 0; i < n; i++)
            results[i].error = first_err;
        return first_err;
    }
    if (session_broken(c)) {
        reconnected = 1;
        rc = session_connect(c, errstr, errstr_size);
        if (rc != 0) {
            first_err = rc;
            for (i = 0; i < n; i++) {
                runs[i].state = RUN_DONE;
                results[i].error = rc;
            }
            done = n;
        }
    }
    while (done < n) {
        /* Start what the slots allow. */
        while (next < n && active < HOSTCONN_MAX_PARALLEL) {
            rc = run_start(c, &runs[next], commands[next], why, sizeof(why));
            if (rc == 1 && !sent_any && !reconnected && session_broken(c)) {
                /* Broken before anything of ours was sent: safe to reopen and go on. */
                reconnected = 1;
                rc = session_connect(c, why, sizeof(why));
                if (rc == 0)
                    continue;
                for (i = next; i < n; i++) {
                    run_fail(&runs[i], &results[i], rc);
                    done++;
                }
                if (first_err == 0) {
                    first_err = rc;
                    util_strlcpy(errstr, why, errstr_size);
                }
                next = n;
                break;
            }
            if (rc != 0) {
                /* 1: not sent, but this session refuses channels; EIO in both cases, as the
                 * caller cannot tell a half-dead session from a dead one. */
                run_fail(&runs[next], &results[next], -HOSTCONN_EIO);
                if (rc < 0)
                    sent_any = 1;
                if (first_err == 0) {
                    first_err = -HOSTCONN_EIO;
                    util_strlcpy(errstr, why, errstr_size);
                }
                done++;
                next++;
                continue;
            }
            sent_any = 1;
            active++;
            next++;
        }
        if (done == n)
            break;
        progress = 0;
        for (i = 0; i < next; i++) {
            if (runs[i].state != RUN_RUNNING)
                continue;
            rc = run_pump(&runs[i], &results[i]);
            if (rc < 0) {
                run_fail(&runs[i], &results[i], -HOSTCONN_EIO);
                if (first_err == 0) {
                    first_err = -HOSTCONN_EIO;
                    util_errf(errstr, errstr_size,
                              "the SSH session to %s broke while '%s' ran (it may or may not "
                              "have completed): %s",
                              c->address, commands[i], ssh_get_error(c->session));
                }
            }
            if (runs[i].state == RUN_DONE) {
                active--;
                done++;
                progress = 1;
            } else if (rc > 0) {
                progress = 1;
            }
        }
        if (done == n || progress)
            continue;
        left = WAIT_SLICE_MS;
        if (deadline != 0) {
            int64_t rem = deadline - util_now_ms();
            if (rem <= 0) {
                for (i = 0; i < n; i++) {
                    if (runs[i].state == RUN_DONE)
                        continue;
                    if (runs[i].ch != NULL) {
                        /* Ask for the command to end. OpenSSH refuses signals for root
                         * logins, so with the default user it runs on to its end on the host:
                         * a timed-out command's outcome is unknown. */
                        ssh_channel_request_send_signal(runs[i].ch, "TERM");
                        ssh_channel_close(runs[i].ch);
                    }
                    run_fail(&runs[i], &results[i], -HOSTCONN_ETIMEOUT);
                    if (first_err == 0) {
                        first_err = -HOSTCONN_ETIMEOUT;
                        util_errf(errstr, errstr_size,
                                  "'%s' on %s did not finish within %d ms (channel closed; the "
                                  "command may still be running on the host)",
                                  commands[i], c->address, timeout_ms);
                    }
                    done++;
                }
                break;
            }
            if (rem < left)
                left = (int)rem;
        }
        if (session_wait(c, left) != 0 && session_broken(c)) {
            for (i = 0; i < next; i++) {
                if (runs[i].state != RUN_RUNNING)
                    continue;
                run_fail(&runs[i], &results[i], -HOSTCONN_EIO);
                active--;
                done++;
                if (first_err == 0) {
                    first_err = -HOSTCONN_EIO;
                    util_errf(errstr, errstr_size,
                              "the SSH session to %s broke while '%s' ran (it may or may not "
                              "have completed)",
                              c->address, commands[i]);
                }
            }
        }
    }
    for (i = 0; i < n; i++) {
        results[i].out = obuf_take(&runs[i].out);
        results[i].err = obuf_take(&runs[i].err);
        if (runs[i].ch != NULL)
            ssh_channel_free(runs[i].ch);
    }
    free(runs);
    return first_err;
}

int hostconn_exec(hostconn *c, const char *command, int timeout_ms, int *exit_status, char **out,
                  char **err, char *errstr, size_t errstr_size)
{
    hostconn_result r;
    int rc;

    rc = hostconn_exec_many(c, &command, 1, timeout_ms, &r, errstr, errstr_size);
    if (out != NULL)
        *out = rc == 0 ? r.out : NULL;
    if (err != NULL)
        *err = rc == 0 ? r.err : NULL;
    if (rc == 0 && exit_status != NULL)
        *exit_status = r.exit_status;
    if (rc != 0 || out == NULL)
        free(r.out);
    if (rc != 0 || err == NULL)
        free(r.err);
    return rc;
}

/* The batch's shell function: runs each command in a subshell, then writes the separators.
 * The marker comes as two arguments so that the command line never holds it whole. */
static const char batch_function[] =
    "kvmove_batch() { kvmove_m=$1$2; shift 2; kvmove_i=0; for kvmove_p in \"$@\"; do "
    "(set --; eval \"$kvmove_p\") </dev/null; "
    "printf '\\n%s %d %d\\n' \"$kvmove_m\" \"$kvmove_i\" \"$?\"; "
    "printf '\\n%s %d\\n' \"$kvmove_m\" \"$kvmove_i\" >&2; "
    "kvmove_i=$((kvmove_i + 1)); done; }; kvmove_batch";

static int is_marker(const char *m)
{
    return m != NULL && strlen(m) == HOSTCONN_BATCH_MARKER_LEN &&
           strspn(m, "0123456789abcdef") == HOSTCONN_BATCH_MARKER_LEN;
}

/* Length of " 'TEXT'" with TEXT single-quoted for a POSIX shell (' as '\''). */
static size_t quoted_len(const char *text, size_t len)
{
    size_t i, q = 0;

    for (i = 0; i < len; i++)
        q += text[i] == '\'';
    return len + 3 * q + 3;
}

/* Writes " 'TEXT'" quoted at W; returns the end. */
static char *quote_put(char *w, const char *text, size_t len)
{
    size_t i;

    *w++ = ' ';
    *w++ = '\'';
    for (i = 0; i < len; i++) {
        if (text[i] == '\'') {
            memcpy(w, "'\\''", 4);
            w += 4;
        } else {
            *w++ = text[i];
        }
    }
    *w++ = '\'';
    return w;
}

char *hostconn_batch_command(const char *const *commands, size_t n, const char *marker)
{
    size_t half = HOSTCONN_BATCH_MARKER_LEN / 2, i, total = sizeof(batch_function) + 2 * (half + 3);
    char *out, *w;

    if (!is_marker(marker))
        return NULL;
    for (i = 0; i < n; i++)
        total += quoted_len(commands[i], strlen(commands[i]));
    out = malloc(total);
    if (out == NULL)
        return NULL;
    memcpy(out, batch_function, sizeof(batch_function) - 1);
    w = out + sizeof(batch_function) - 1;
    w = quote_put(w, marker, half);
    w = quote_put(w, marker + half, half);
    for (i = 0; i < n; i++)
        w = quote_put(w, commands[i], strlen(commands[i]));
    *w = '\0';
    return out;
}

/* Finds the separator of part I on one stream from POS: "\nMARKER I[ STATUS]\n". On success
 * returns the part's text (malloc'd), sets *STATUS (with_status) and *NEXT past it; NULL when
 * the separator is missing or malformed. */
static char *separator_next(const char *marker, size_t i, int with_status, const char *pos,
                            const char **next, int *status)
{
    char want[HOSTCONN_BATCH_MARKER_LEN + 2];
    const char *at, *p;
    char *end, *text;
    long idx, st = 0;

    snprintf(want, sizeof(want), "\n%s", marker);
    at = strstr(pos, want);
    if (at == NULL)
        return NULL;
    p = at + strlen(want);
    if (*p++ != ' ' || *p < '0' || *p > '9')
        return NULL;
    errno = 0;
    idx = strtol(p, &end, 10);
    if (errno != 0 || idx != (long)i)
        return NULL;
    p = end;
    if (with_status) {
        if (*p++ != ' ' || *p < '0' || *p > '9')
            return NULL;
        st = strtol(p, &end, 10);
        if (errno != 0 || st > 255)
            return NULL;
        p = end;
    }
    if (*p != '\n')
        return NULL;
    text = malloc((size_t)(at - pos) + 1);
    if (text == NULL)
        return NULL;
    memcpy(text, pos, (size_t)(at - pos));
    text[at - pos] = '\0';
    if (status != NULL)
        *status = (int)st;
    *next = p + 1;
    return text;
}

size_t hostconn_batch_split(const char *marker, size_t n, const char *out, const char *err,
                            hostconn_result *results)
{
    const char *po = out ? out : "", *pe = err ? err : "";
    size_t i, done = 0;

    for (i = 0; i < n; i++) {
        results[i].exit_status = -1;
        results[i].out = results[i].err = NULL;
        results[i].error = -HOSTCONN_EIO;
    }
    if (!is_marker(marker))
        return 0;
    for (i = 0; i < n; i++) {
        const char *no = po, *ne = pe;
        int status = -1;
        char *o = separator_next(marker, i, 1, po, &no, &status);
        char *e = o ? separator_next(marker, i, 0, pe, &ne, NULL) : NULL;
        if (o == NULL || e == NULL) {
            free(o);
            break;
        }
        po = no;
        pe = ne;
        results[i].out = o;
        results[i].err = e;
        results[i].exit_status = status;
        results[i].error = 0;
        done++;
    }
    if (done < n) {
        /* The incomplete part gets what its streams said so far. */
        results[done].out = strdup(po);
        results[done].err = strdup(pe);
    }
    return done;
}

int hostconn_exec_batch(hostconn *c, const char *const *commands, size_t n, int timeout_ms,
                        hostconn_result *results, char *errstr, size_t errstr_size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[HOSTCONN_BATCH_MARKER_LEN / 2];
    char marker[HOSTCONN_BATCH_MARKER_LEN + 1];
    hostconn_result whole = {-1, NULL, NULL, 0};
    char *command = NULL;
    size_t i, got = 0, done;
    int rc;

    results_init(results, n, errstr, errstr_size);
    if (n == 0)
        return 0;
    while (got < sizeof(rnd)) {
        ssize_t r = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (errno != EINTR)
            break;
    }
    for (i = 0; i < sizeof(rnd); i++) {
        marker[2 * i] = hex[rnd[i] >> 4];
        marker[2 * i + 1] = hex[rnd[i] & 15];
    }
    marker[HOSTCONN_BATCH_MARKER_LEN] = '\0';
    if (got < sizeof(rnd) || (command = hostconn_batch_command(commands, n, marker)) == NULL) {
        util_errf(errstr, errstr_size, "cannot build a batch of %zu commands for %s", n,
                  c->address);
        for (i = 0; i < n; i++)
            results[i].error = -HOSTCONN_EIO;
        return -HOSTCONN_EIO;
    }
    rc = hostconn_exec_many(c, (const char *const *)&command, 1, timeout_ms, &whole, errstr,
                            errstr_size);
    done = hostconn_batch_split(marker, n, whole.out, whole.err, results);
    if (done < n) {
        int code = rc < 0 ? rc : -HOSTCONN_EIO;
        for (i = done; i < n; i++)
            results[i].error = code;
        /* errstr names the command that did not end, not the whole batch. */
        if (rc == -HOSTCONN_ETIMEOUT)
            util_errf(errstr, errstr_size,
                      "'%s' on %s did not finish within %d ms (channel closed; the command may "
                      "still be running on the host)",
                      commands[done], c->address, timeout_ms);
        else if (rc == -HOSTCONN_EIO && strstr(errstr, "kvmove_batch()") != NULL)
            util_errf(errstr, errstr_size,
                      "the SSH session to %s broke while '%s' ran (it may or may not have "
                      "completed)",
                      c->address, commands[done]);
        else if (rc == 0)
            util_errf(errstr, errstr_size,
                      "'%s' on %s: the host's answer to a batch of %zu commands ended before "
                      "this one's end (exit status %d; output cut or not in the batch's form)",
                      commands[done], c->address, n, whole.exit_status);
        rc = code;
    } else {
        rc = 0; /* every part ended: what happened after (a timeout, a break) changes nothing */
        if (errstr_size > 0)
            errstr[0] = '\0';
    }
    hostconn_result_free(&whole, 1);
    free(command);
    return rc;
}

void hostconn_result_free(hostconn_result *results, size_t n)
{
    size_t i;

    if (results == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(results[i].out);
        free(results[i].err);
        results[i].out = results[i].err = NULL;
    }
}

int hostconn_alive(hostconn *c)
{
    char b;
    int tries;

    for (tries = 0; tries < 2; tries++) {
        socket_t fd;
        ssize_t n;
        if (session_broken(c) || (fd = ssh_get_fd(c->session)) == SSH_INVALID_SOCKET)
            return 0;
        n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0)
            return 0; /* the peer closed it */
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        /* SSH traffic nobody read yet (a late channel close, a keepalive): let libssh take
         * it, then look again */
        if (session_wait(c, 0) != 0 && session_broken(c))
            return 0;
    }
    return !session_broken(c);
}

const char *hostconn_address(const hostconn *c)
{
    return c->address;
}

void hostconn_close(hostconn *c)
{
    if (c == NULL)
        return;
    session_drop(c);
    free(c->address);
    free(c->user);
    free(c->identity);
    free(c->known_hosts);
    free(c);
}
