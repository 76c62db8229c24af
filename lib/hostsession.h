/* hostsession: the SSH sessions one thread keeps to KVM hosts, one per address, pinned in use. */
#ifndef KVMOVE_HOSTSESSION_H
#define KVMOVE_HOSTSESSION_H

#include <stddef.h>

#include "esxml.h"
#include "failure.h"
#include "hostconn.h"
#include "settings.h"

/* A pool of sessions keyed by host address. Not thread-safe: one pool per thread. */
typedef struct hostsession hostsession;

/* The address kvmove connects to for HOST: its adminIp, else its hostname (borrowed). */
const char *hostsession_address(const esxml_host *host);

/* Creates a pool that opens sessions with S's SSH settings (ssh.*, copied: S need not outlive
 * the pool; this is the one place they become hostconn_opts), the connect timeout capped at
 * CONNECT_TIMEOUT_MAX_MS when > 0. It holds at most CAPACITY sessions, closing the least
 * recently used idle one to make room; a pinned session is never closed, so while more than
 * CAPACITY are pinned it holds more. Returns 0 and *OUT (free with hostsession_free), or -1
 * when out of memory. */
int hostsession_new(const settings *s, size_t capacity, int connect_timeout_max_ms,
                    hostsession **out);

/* The session to ADDRESS, reused or opened, and pinned until hostsession_put. An idle session
 * the host has closed meanwhile (hostconn_alive) is not reused: a new one is opened, so a host
 * that went down is unreachable here, as for a first connection. Returns 0 and *OUT (owned by
 * the pool: never close it), or -HOSTCONN_E* with errstr. */
int hostsession_get(hostsession *p, const char *address, hostconn **out, char *errstr,
                    size_t errstr_size);

/* Unpins C (one hostsession_put per hostsession_get). RC: 0, or the negative code of a command
 * that failed on C. A session whose command failed in failure_of_hostconn's transient class
 * (broken, timed out) is never handed out again: it is closed as soon as nobody holds it, and
 * the next get opens a new one. */
void hostsession_put(hostsession *p, hostconn *c, int rc);

/* Closes every session nobody holds. */
void hostsession_drop_idle(hostsession *p);

/* The number of sessions the pool holds (pinned or idle). */
size_t hostsession_count(const hostsession *p);
/* The number of connections the pool has opened since hostsession_new. */
unsigned long hostsession_opened(const hostsession *p);

/* Closes every session and frees P (no session may still be pinned). Accepts NULL. */
void hostsession_free(hostsession *p);

/* As migrate_env.connect and preflight_input.connect (CTX: a hostsession): hostsession_get for
 * HOST's address (hostsession_address). */
int hostsession_connect(void *ctx, const esxml_host *host, hostconn **out, char *errstr,
                        size_t errstr_size);
/* As migrate_env.release and preflight_input.release (CTX: a hostsession): hostsession_put. */
void hostsession_release(void *ctx, hostconn *c, int rc);

#endif
