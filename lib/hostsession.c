/* hostsession: the SSH sessions one thread keeps to KVM hosts, one per address, pinned in use. */
#include "hostsession.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct entry {
    char *address;
    hostconn *c;
    int pins;           /* users that hold it now */
    int broken;         /* a user found it broken: closed when the last one lets go, never
                           handed out again */
    unsigned long used; /* the pool's clock at its last get: least recently used goes first */
} entry;

struct hostsession {
    char *user, *identity, *known_hosts; /* NULL = hostconn's defaults */
    hostconn_opts opts;                  /* points at the strings above */
    size_t capacity;
    entry *e;
    size_t n, cap_e;
    unsigned long clock;
    unsigned long opened;
};

const char *hostsession_address(const esxml_host *host)
{
    return host->admin_ip && host->admin_ip[0] ? host->admin_ip : host->hostname;
}

static char *dup_setting(const char *v)
{
    return v[0] ? strdup(v) : NULL;
}

int hostsession_new(const settings *s, size_t capacity, int connect_timeout_max_ms,
                    hostsession **out)
{
    hostsession *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (p == NULL)
        return -1;
    p->user = dup_setting(s->ssh_user);
    p->identity = dup_setting(s->ssh_identity);
    p->known_hosts = dup_setting(s->ssh_known_hosts);
    if ((s->ssh_user[0] && !p->user) || (s->ssh_identity[0] && !p->identity) ||
        (s->ssh_known_hosts[0] && !p->known_hosts)) {
        hostsession_free(p);
        return -1;
    }
    p->opts.user = p->user;
    p->opts.port = s->ssh_port;
    p->opts.identity = p->identity;
    p->opts.known_hosts = p->known_hosts;
    p->opts.connect_timeout_ms = s->ssh_connect_timeout_ms;
    if (connect_timeout_max_ms > 0 &&
        (p->opts.connect_timeout_ms <= 0 || p->opts.connect_timeout_ms > connect_timeout_max_ms))
        p->opts.connect_timeout_ms = connect_timeout_max_ms;
    p->capacity = capacity;
    *out = p;
    return 0;
}

static void entry_close(hostsession *p, size_t i)
{
    hostconn_close(p->e[i].c);
    free(p->e[i].address);
    p->e[i] = p->e[--p->n];
}

/* Closes idle sessions, least recently used first, until the pool holds at most LIMIT (or
 * every session left is pinned). */
static void trim(hostsession *p, size_t limit)
{
    while (p->n > limit) {
        size_t i, oldest = p->n;
        for (i = 0; i < p->n; i++)
            if (p->e[i].pins == 0 && (oldest == p->n || p->e[i].used < p->e[oldest].used))
                oldest = i;
        if (oldest == p->n)
            return;
        entry_close(p, oldest);
    }
}

int hostsession_get(hostsession *p, const char *address, hostconn **out, char *errstr,
                    size_t errstr_size)
{
    hostconn *c = NULL;
    size_t i;
    int rc;

    *out = NULL;
    for (i = 0; i < p->n; i++) {
        if (strcmp(p->e[i].address, address) != 0 || p->e[i].broken)
            continue;
        /* An idle session whose host went away meanwhile is not handed out as connected: the
         * caller gets what a connection now gets (the host unreachable, say), not a session
         * whose first command reconnects and fails as if a command had broken. */
        if (p->e[i].pins == 0 && !hostconn_alive(p->e[i].c)) {
            entry_close(p, i);
            break;
        }
        p->e[i].pins++;
        p->e[i].used = ++p->clock;
        *out = p->e[i].c;
        return 0;
    }
    if (p->n == p->cap_e) {
        size_t cap = p->cap_e ? p->cap_e * 2 : 8;
        entry *e = realloc(p->e, cap * sizeof(*e));
        if (e == NULL) {
            util_errf(errstr, errstr_size, "out of memory opening a session to %s", address);
            return -HOSTCONN_EUNREACHABLE;
        }
        p->e = e;
        p->cap_e = cap;
    }
    trim(p, p->capacity > 0 ? p->capacity - 1 : 0); /* room for the new one */
    rc = hostconn_open(address, &p->opts, &c, errstr, errstr_size);
    if (rc < 0)
        return rc;
    p->e[p->n].address = strdup(address);
    if (p->e[p->n].address == NULL) {
        hostconn_close(c);
        util_errf(errstr, errstr_size, "out of memory opening a session to %s", address);
        return -HOSTCONN_EUNREACHABLE;
    }
    p->e[p->n].c = c;
    p->e[p->n].pins = 1;
    p->e[p->n].broken = 0;
    p->e[p->n].used = ++p->clock;
    p->n++;
    p->opened++;
    *out = c;
    return 0;
}

void hostsession_put(hostsession *p, hostconn *c, int rc)
{
    int broken = rc < 0 && failure_of_hostconn(rc) == FAILURE_TRANSIENT;
    size_t i;

    for (i = 0; i < p->n; i++) {
        if (p->e[i].c != c)
            continue;
        if (p->e[i].pins > 0)
            p->e[i].pins--;
        p->e[i].broken |= broken;
        if (p->e[i].pins == 0 && p->e[i].broken)
            entry_close(p, i);
        break;
    }
    trim(p, p->capacity);
}

void hostsession_drop_idle(hostsession *p)
{
    trim(p, 0);
}

size_t hostsession_count(const hostsession *p)
{
    return p->n;
}

unsigned long hostsession_opened(const hostsession *p)
{
    return p->opened;
}

void hostsession_free(hostsession *p)
{
    if (p == NULL)
        return;
    while (p->n > 0)
        entry_close(p, p->n - 1);
    free(p->e);
    free(p->user);
    free(p->identity);
    free(p->known_hosts);
    free(p);
}

int hostsession_connect(void *ctx, const esxml_host *host, hostconn **out, char *errstr,
                        size_t errstr_size)
{
    return hostsession_get(ctx, hostsession_address(host), out, errstr, errstr_size);
}

void hostsession_release(void *ctx, hostconn *c, int rc)
{
    hostsession_put(ctx, c, rc);
}
