/* notify: the systemd notification protocol (sd_notify(3)) over $NOTIFY_SOCKET, without
 * libsystemd. */
#include "notify.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

/* Sends the datagram MSG to $NOTIFY_SOCKET. Returns as notify_send. */
static int send_datagram(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t sa_len;
    size_t n;
    int fd, rc = -1;

    if (path == NULL || path[0] == '\0')
        return 0;
    n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace: no terminating NUL is part of it */
    sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len) >= 0)
        rc = 1;
    close(fd);
    return rc;
}

int notify_send(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return send_datagram(msg);
}

int notify_status(const char *fmt, ...)
{
    char msg[1024] = "STATUS=", *p;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
    va_end(ap);
    for (p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return send_datagram(msg);
}

static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;
static int64_t watchdog_every_ms; /* 0: no watchdog */
static int64_t watchdog_last_ms;

static void watchdog_init(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    long long us = usec ? strtoll(usec, NULL, 10) : 0;

    if (us <= 0 || (pid != NULL && strtol(pid, NULL, 10) != (long)getpid()))
        return;
    /* every half interval, as sd_watchdog_enabled(3) advises */
    watchdog_every_ms = us / 2000 > 0 ? us / 2000 : 1;
}

void notify_watchdog(void)
{
    int64_t now;

    pthread_once(&watchdog_once, watchdog_init);
    if (watchdog_every_ms == 0)
        return;
    now = util_now_ms();
    if (now - watchdog_last_ms < watchdog_every_ms)
        return;
    watchdog_last_ms = now;
    notify_send("WATCHDOG=1");
}
