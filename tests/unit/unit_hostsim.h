/* unit_hostsim.h: the host simulator (tests/hostsim) as a fixture for unit suites (test code). */
#ifndef KVMOVE_UNIT_HOSTSIM_H
#define KVMOVE_UNIT_HOSTSIM_H

#include <check.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "esxml.h"
#include "hostconn.h"
#include "hostsession.h"
#include "settings.h"
#include "util.h"

/* Not every suite uses every helper. */
#define UNIT_UNUSED __attribute__((unused))

/* 1 if TEXT (a `hostsim state` dump) has LINE as a whole line. */
static UNIT_UNUSED int sim_has_line(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);

    while (p && *p) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

/* One simulator per test process: roots live under BASE (one per test, made fresh), all on
 * loopback addresses from the fixture es.xml, every host's sshd on PORT. */
static struct {
    char srcdir[2048];
    char base[256];
    char root[PATH_MAX];
    char esxml[PATH_MAX];
    int port;
} sim;

static UNIT_UNUSED void sim_find_srcdir(void)
{
    const char *env = getenv("KVMOVE_SOURCE_DIR");
    const char *at;

    if (env != NULL && *env) {
        util_strlcpy(sim.srcdir, env, sizeof(sim.srcdir));
        return;
    }
#ifdef KVMOVE_SOURCE_DIR
    util_strlcpy(sim.srcdir, KVMOVE_SOURCE_DIR, sizeof(sim.srcdir));
    (void)at;
#else
    at = strstr(__FILE__, "/tests/unit/");
    snprintf(sim.srcdir, sizeof(sim.srcdir), "%.*s", at ? (int)(at - __FILE__) : 1,
             at ? __FILE__ : ".");
#endif
}

/* Runs a shell command (printf-formatted); returns its exit status (-1 if it did not run). */
static UNIT_UNUSED int sim_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static UNIT_UNUSED int sim_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Stdout of a shell command (printf-formatted), malloc'd ("" when it printed nothing). */
static UNIT_UNUSED char *sim_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static UNIT_UNUSED char *sim_out(const char *fmt, ...)
{
    char cmd[8192], chunk[4096];
    va_list ap;
    util_lines l = {0};
    FILE *f;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    f = popen(cmd, "r");
    ck_assert_msg(f != NULL, "cannot run %s", cmd);
    while (fgets(chunk, sizeof(chunk), f) != NULL) {
        chunk[strcspn(chunk, "\n")] = '\0';
        ck_assert_int_eq(util_lines_add(&l, chunk), 0);
    }
    pclose(f);
    return l.buf ? l.buf : strdup("");
}

/* Once per process (unchecked setup): a base directory and a port of our own: the one ctest
 * gives the test (KVMOVE_TEST_PORT, unique among the tests that may run in parallel), else
 * OFFSET picks the suite's part of 26000-27499 (integration tests use 23000-24999). */
static UNIT_UNUSED void sim_init(int offset)
{
    sim_find_srcdir();
    snprintf(sim.base, sizeof(sim.base), "/tmp/kvmove-unit-hostsim.XXXXXX");
    if (mkdtemp(sim.base) == NULL) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
    snprintf(sim.esxml, sizeof(sim.esxml), "%s/tests/fixtures/exa01.xml", sim.srcdir);
    sim.port = getenv("KVMOVE_TEST_PORT") ? atoi(getenv("KVMOVE_TEST_PORT"))
                                          : 26000 + offset + (int)(getpid() % 500);
}

/* Stops every simulator root of this process (no process is left behind). */
static UNIT_UNUSED void sim_stop_all(void)
{
    sim_sh("for d in '%s'/*/; do [ -d \"$d/hosts\" ] && '%s/tests/hostsim/hostsim' stop \"$d\" "
           ">/dev/null 2>&1; done; true",
           sim.base, sim.srcdir);
}

/* Unchecked teardown: stop everything, remove the base directory. */
static UNIT_UNUSED void sim_fini(void)
{
    sim_stop_all();
    sim_sh("rm -rf '%s'", sim.base);
}

/* A fresh simulator root NAME (init from the fixture es.xml, start). */
static UNIT_UNUSED void sim_fresh(const char *name)
{
    sim_stop_all(); /* an earlier test that failed may have left its hosts up */
    snprintf(sim.root, sizeof(sim.root), "%s/%s", sim.base, name);
    sim_sh("rm -rf '%s'", sim.root);
    ck_assert_msg(sim_sh("'%s/tests/hostsim/hostsim' init '%s' '%s' --port %d >/dev/null",
                         sim.srcdir, sim.root, sim.esxml, sim.port) == 0,
                  "hostsim init %s failed", sim.root);
    ck_assert_msg(
        sim_sh("'%s/tests/hostsim/hostsim' start '%s' >/dev/null", sim.srcdir, sim.root) == 0,
        "hostsim start %s failed (port %d taken?)", sim.root, sim.port);
}

/* Runs `hostsim ARGS` on the current root (ARGS printf-formatted); returns its exit status. */
static UNIT_UNUSED int sim_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static UNIT_UNUSED int sim_cmd(const char *fmt, ...)
{
    char args[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return sim_sh("'%s/tests/hostsim/hostsim' %s >/dev/null 2>&1", sim.srcdir, args);
}

/* `hostsim state ROOT HOST`, malloc'd. */
static UNIT_UNUSED char *sim_state(const char *host)
{
    return sim_out("'%s/tests/hostsim/hostsim' state '%s' '%s'", sim.srcdir, sim.root, host);
}

/* `hostsim state` of every host, concatenated with headers, malloc'd. */
static UNIT_UNUSED char *sim_state_all(void)
{
    return sim_out("for h in '%s'/hosts/*; do echo \"== ${h##*/}\"; '%s/tests/hostsim/hostsim' "
                   "state '%s' \"${h##*/}\"; done",
                   sim.root, sim.srcdir, sim.root);
}

/* Number of lines in HOST's commands.log. */
static UNIT_UNUSED long sim_log_count(const char *host)
{
    char *s = sim_out("cat '%s/hosts/%s/commands.log' 2>/dev/null | wc -l", sim.root, host);
    long n = atol(s);

    free(s);
    return n;
}

/* The commands (4th field) logged on HOST after the first SKIP lines, malloc'd. */
static UNIT_UNUSED char *sim_log_since(const char *host, long skip)
{
    return sim_out("tail -n +%ld '%s/hosts/%s/commands.log' 2>/dev/null | cut -f4-", skip + 1,
                   sim.root, host);
}

/* 1 if the simulator recorded a safety-invariant violation. */
static UNIT_UNUSED int sim_violations(void)
{
    return sim_cmd("check '%s'", sim.root) != 0;
}

/* ---- the worker's session pool (lib/hostsession) on the simulator ------------------------- */

/* Settings that reach the current root's hosts (the worker's ssh.* keys). */
static UNIT_UNUSED void sim_settings(settings *s)
{
    settings_defaults(s);
    ck_assert_int_lt(
        snprintf(s->ssh_identity, sizeof(s->ssh_identity), "%.1000s/id_ed25519", sim.root),
        (int)sizeof(s->ssh_identity));
    ck_assert_int_lt(
        snprintf(s->ssh_known_hosts, sizeof(s->ssh_known_hosts), "%.1000s/known_hosts", sim.root),
        (int)sizeof(s->ssh_known_hosts));
    s->ssh_port = sim.port;
    s->ssh_connect_timeout_ms = 3000;
}

/* A hostsession made at the first connect (the current root's settings): the tests count its
 * connections, not a cache of their own. */
typedef struct sim_pool {
    hostsession *hs;
} sim_pool;

/* migrate_env.connect (CTX: a sim_pool). */
static UNIT_UNUSED int sim_connect(void *ctx, const esxml_host *host, hostconn **out, char *errstr,
                                   size_t errstr_size)
{
    sim_pool *p = ctx;
    settings s;

    if (p->hs == NULL) {
        sim_settings(&s);
        ck_assert_int_eq(hostsession_new(&s, 16, 0, &p->hs), 0);
    }
    return hostsession_connect(p->hs, host, out, errstr, errstr_size);
}

/* migrate_env.release (CTX: a sim_pool). */
static UNIT_UNUSED void sim_release(void *ctx, hostconn *c, int rc)
{
    sim_pool *p = ctx;

    hostsession_release(p->hs, c, rc);
}

/* Connections the pool has opened. */
static UNIT_UNUSED unsigned long sim_pool_opened(const sim_pool *p)
{
    return p->hs ? hostsession_opened(p->hs) : 0;
}

static UNIT_UNUSED void sim_pool_close(sim_pool *p)
{
    hostsession_free(p->hs);
    p->hs = NULL;
}

/* Loads the fixture es.xml (validated against schema/es.xsd). */
static UNIT_UNUSED esxml *sim_load_esxml(void)
{
    char xsd[PATH_MAX + 32], errstr[512];
    esxml *doc = NULL;

    snprintf(xsd, sizeof(xsd), "%s/schema/es.xsd", sim.srcdir);
    ck_assert_msg(esxml_load_file(sim.esxml, xsd, &doc, errstr, sizeof(errstr)) == 0, "%s", errstr);
    return doc;
}

/* Runs COMMAND on HOST through the simulator's ssh; a failure fails the test. */
static UNIT_UNUSED void sim_on_host(const char *host, const char *command)
{
    ck_assert_msg(sim_cmd("ssh '%s' %s \"%s\"", sim.root, host, command) == 0, "on %s: %s", host,
                  command);
}

/* The state an OFFLINEFORCE migration of the fixture's GUEST (its configuration device CFGDEV,
 * its bridges vmbondeth0.101 and vmbondeth1.102) leaves when SRC died with the guest on it: its
 * volumes detached storage-side and attached for TGT, the bridges and the configuration mount
 * made on TGT (with its fstab entry, as ATTACH_VOLUMES adds it) and the guest defined and
 * started there (without autostart: that waits for the fence). SRC stays powered off. */
static UNIT_UNUSED void sim_make_stale_copy(const char *guest, const char *cfgdev, const char *src,
                                            const char *tgt)
{
    esxml *doc = sim_load_esxml();
    const esxml_guest *g = esxml_guest_find(doc, guest);
    char cmd[1024];
    size_t i;

    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, src), 0);
    for (i = 0; i < g->n_volumes; i++) {
        snprintf(cmd, sizeof(cmd), "edvutil detach %s --host %s", g->volumes[i].name, src);
        sim_on_host(tgt, cmd);
        snprintf(cmd, sizeof(cmd), "edvutil attach %s %s", g->volumes[i].name,
                 g->volumes[i].device);
        sim_on_host(tgt, cmd);
    }
    sim_on_host(tgt, "vm_maker --add-bridge vmbondeth0.101 --vlan 101");
    sim_on_host(tgt, "vm_maker --add-bridge vmbondeth1.102 --vlan 102");
    snprintf(cmd, sizeof(cmd),
             "mkdir -p /EXAVMIMAGES/GuestImages/%s && mount /dev/exc/%s "
             "/EXAVMIMAGES/GuestImages/%s && echo '/dev/exc/%s /EXAVMIMAGES/GuestImages/%s xfs "
             "defaults,nofail 0 0' >> /etc/fstab",
             guest, cfgdev, guest, cfgdev, guest);
    sim_on_host(tgt, cmd);
    snprintf(cmd, sizeof(cmd), "virsh define /EXAVMIMAGES/GuestImages/%s/%s.xml", guest, guest);
    sim_on_host(tgt, cmd);
    snprintf(cmd, sizeof(cmd), "vm_maker --start-domain %s", guest);
    sim_on_host(tgt, cmd);
    esxml_free(doc);
}

/* Asserts that S, the state of the host GUEST (the fixture's exa01vm01) left, keeps nothing of
 * it (its domain, its volumes, its own bridge vmbondeth1.102) and all that exa01vm02 there
 * uses (the shared bridge vmbondeth0.101, its running domain). */
static UNIT_UNUSED void sim_assert_guest_left(const char *s, const char *guest)
{
    ck_assert_msg(strstr(s, guest) == NULL, "source still has %s:\n%s", guest, s);
    ck_assert_msg(strstr(s, "exa01vm01_") == NULL, "source still has its volumes:\n%s", s);
    ck_assert_msg(!sim_has_line(s, "bridge vmbondeth1.102 102"), "guest-only bridge left:\n%s", s);
    ck_assert_msg(sim_has_line(s, "bridge vmbondeth0.101 101"), "shared bridge removed:\n%s", s);
    ck_assert_msg(sim_has_line(s, "domain exa01vm02.example.com running"), "other guest hurt:\n%s",
                  s);
}

#endif
