/* jobstore_notify: waking up on PostgreSQL notifications (LISTEN/NOTIFY) instead of polling. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Channel names are SQL identifiers in LISTEN: only kvmove's own lower-case names are let in. */
static int channel_ok(const char *channel)
{
    size_t n = strlen(channel);
    return n > 0 && n < sizeof(((jobstore *)0)->listening[0]) &&
           strspn(channel, "abcdefghijklmnopqrstuvwxyz_") == n;
}

/* A listening connection reads while no statement runs, so a server's message then (a FATAL
 * "terminating connection" when PostgreSQL stops) would reach libpq's default notice processor,
 * which prints it on stderr. The broken connection is what the caller acts on (jobstore_wait
 * fails, jobstore_ensure reconnects); the text is dropped (library code does not print). */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int listen_one(jobstore *js, const char *channel, char *errstr, size_t errstr_size)
{
    char sql[64];

    snprintf(sql, sizeof(sql), "LISTEN %s", channel); /* an identifier, checked: no value */
    return jobstore_cmd(js, "listen", sql, 0, NULL, NULL, errstr, errstr_size);
}

int jobstore_listen(jobstore *js, const char *channel, char *errstr, size_t errstr_size)
{
    int i, rc;

    if (!channel_ok(channel)) {
        util_errf(errstr, errstr_size, "database: cannot listen on '%s': not a kvmove channel",
                  channel);
        return -JOBSTORE_EINVALID;
    }
    for (i = 0; i < js->n_listening; i++)
        if (strcmp(js->listening[i], channel) == 0)
            return 0;
    if (js->n_listening >= (int)(sizeof(js->listening) / sizeof(js->listening[0]))) {
        util_errf(errstr, errstr_size, "database: cannot listen on '%s': too many channels",
                  channel);
        return -JOBSTORE_EINVALID;
    }
    PQsetNoticeProcessor(js->conn, quiet_notice, NULL);
    if ((rc = listen_one(js, channel, errstr, errstr_size)) == 0)
        util_strlcpy(js->listening[js->n_listening++], channel, sizeof(js->listening[0]));
    return rc;
}

int jobstore_relisten(jobstore *js, char *errstr, size_t errstr_size)
{
    int i, rc = 0;

    for (i = 0; i < js->n_listening && rc == 0; i++)
        rc = listen_one(js, js->listening[i], errstr, errstr_size);
    return rc;
}

/* Frees every notification received so far. Returns 1 if there was one. */
static int drain(jobstore *js)
{
    PGnotify *n;
    int got = 0;

    while ((n = PQnotifies(js->conn)) != NULL) {
        PQfreemem(n);
        got = 1;
    }
    return got;
}

int jobstore_wait(jobstore *js, int timeout_ms, char *errstr, size_t errstr_size)
{
    struct pollfd pfd;
    int rc;

    if (PQconsumeInput(js->conn) == 0) {
        util_errf(errstr, errstr_size, "database: waiting for notifications: %s",
                  PQerrorMessage(js->conn));
        return -JOBSTORE_EDB;
    }
    if (drain(js))
        return 1;
    pfd.fd = PQsocket(js->conn);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (pfd.fd < 0) {
        util_errf(errstr, errstr_size, "database: waiting for notifications: no connection");
        return -JOBSTORE_EDB;
    }
    rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0 && errno != EINTR) {
        util_errf(errstr, errstr_size, "database: waiting for notifications: %s", strerror(errno));
        return -JOBSTORE_EDB;
    }
    if (rc <= 0)
        return 0;
    if (PQconsumeInput(js->conn) == 0) {
        util_errf(errstr, errstr_size, "database: waiting for notifications: %s",
                  PQerrorMessage(js->conn));
        return -JOBSTORE_EDB;
    }
    return drain(js);
}
