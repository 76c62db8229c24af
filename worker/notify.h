/* notify: tells systemd (Type=notify) how the worker is doing, per sd_notify(3). */
#ifndef KVMOVE_NOTIFY_H
#define KVMOVE_NOTIFY_H

/* Sends one notification, e.g. "READY=1", "STOPPING=1" or "STATUS=consuming ...", formatted
 * like printf, to $NOTIFY_SOCKET (a datagram socket path, "@" for an abstract one). kvmove
 * speaks the protocol itself (one datagram, newline-separated assignments) instead of linking
 * libsystemd: the worker builds and runs the same without systemd, where there is no
 * $NOTIFY_SOCKET and every call does nothing. Returns 1 when sent, 0 without a socket, -1 when
 * the send failed (not fatal: the service manager then treats the worker as if it said
 * nothing). Safe from any thread. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As notify_send("STATUS=..."): the one-line status `systemctl status` shows. Line breaks in
 * the text (error messages may hold some) become spaces. */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Pings the watchdog (WATCHDOG=1) when half of $WATCHDOG_USEC has passed since the last ping;
 * does nothing when systemd asked for no watchdog ($WATCHDOG_USEC unset, or $WATCHDOG_PID
 * another process). Cheap: call it on every turn of the main loop, and in every loop that
 * waits inside it, so that only a main loop that is really stuck lets the watchdog fire. One
 * thread only (the main loop). */
void notify_watchdog(void);

#endif
