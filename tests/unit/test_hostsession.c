/* test_hostsession: the worker's SSH session pool, against the host simulator: reuse, pinning,
 * broken sessions, options from the settings; connections are also counted on the host side. */
#include "hostsession.h"

#include <check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "unit_hostsim.h"
#include "unit_run.h"

#define H1 "127.0.1.1"
#define H2 "127.0.1.2"
#define H3 "127.0.1.3"

static esxml *doc;

static void fixture_setup(void)
{
    sim_init(250); /* test_migrate starts at 26000, test_fence at 26500 */
}

static void fixture_teardown(void)
{
    sim_fini();
}

UNIT_TCASE("hostsim", .setup_once = fixture_setup, .teardown_once = fixture_teardown,
           .timeout = 60);

static hostsession *pool_of(size_t capacity)
{
    settings s;
    hostsession *p = NULL;

    sim_settings(&s);
    ck_assert_int_eq(hostsession_new(&s, capacity, 0, &p), 0);
    /* the pool copied what it needs: the settings may go away */
    memset(&s, 0, sizeof(s));
    return p;
}

/* SSH connections this process has open to ADDRESS, as the kernel sees them (host side of the
 * count: not the pool's own bookkeeping). */
static long tcp_to(const char *address)
{
    char *o = sim_out("ss -Htn state established '( dst %s and dport = :%d )' | wc -l", address,
                      sim.port);
    long n = atol(o);

    free(o);
    return n;
}

static hostconn *get(hostsession *p, const char *address)
{
    hostconn *c = NULL;
    char err[1024];

    ck_assert_msg(hostsession_get(p, address, &c, err, sizeof(err)) == 0, "%s: %s", address, err);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* Runs a command on C; asserts it worked (the session is open and usable). */
static void works(hostconn *c)
{
    char err[1024], *out = NULL;
    int st = -1;

    ck_assert_msg(
        hostconn_exec(c, "virsh list --all --name", 10000, &st, &out, NULL, err, sizeof(err)) == 0,
        "%s: %s", hostconn_address(c), err);
    ck_assert_int_eq(st, 0);
    free(out);
}

UNIT_TEST(test_sessions_reused)
{
    hostsession *p;
    hostconn *a, *b;
    int i;

    sim_fresh("reuse");
    p = pool_of(4);
    a = get(p, H1);
    works(a);
    hostsession_put(p, a, 0);
    for (i = 0; i < 5; i++) {
        b = get(p, H1);
        ck_assert_ptr_eq(a, b);
        works(b);
        hostsession_put(p, b, 0);
    }
    ck_assert_uint_eq(hostsession_opened(p), 1);
    ck_assert_uint_eq(hostsession_count(p), 1);
    ck_assert_int_eq(tcp_to(H1), 1);
    /* a command that failed without breaking the session (permanent class) keeps it */
    b = get(p, H1);
    hostsession_put(p, b, -HOSTCONN_EHOSTKEY);
    ck_assert_ptr_eq(get(p, H1), a);
    hostsession_put(p, a, 0);
    ck_assert_uint_eq(hostsession_opened(p), 1);
    hostsession_free(p);
    ck_assert_int_eq(tcp_to(H1), 0);
    sim_stop_all();
}
END_TEST

UNIT_TEST(test_pinned_session_never_closed)
{
    hostsession *p;
    hostconn *a, *b, *c;

    sim_fresh("pinned");
    p = pool_of(2);
    a = get(p, H1); /* held by a step for what follows */
    b = get(p, H2);
    hostsession_put(p, b, 0);
    c = get(p, H3); /* full: the idle H2 makes room, not the pinned H1 */
    ck_assert_uint_eq(hostsession_count(p), 2);
    ck_assert_int_eq(tcp_to(H1), 1);
    ck_assert_int_eq(tcp_to(H2), 0);
    ck_assert_int_eq(tcp_to(H3), 1);
    works(a);
    works(c);
    ck_assert_ptr_eq(get(p, H1), a); /* still the same session, pinned twice now */
    hostsession_put(p, a, 0);
    ck_assert_uint_eq(hostsession_opened(p), 3);

    /* every session pinned: the pool holds more than its capacity, closes none */
    b = get(p, H2);
    ck_assert_uint_eq(hostsession_count(p), 3);
    ck_assert_int_eq(tcp_to(H1) + tcp_to(H2) + tcp_to(H3), 3);
    works(a);
    works(b);
    works(c);
    /* let go: back to the capacity, the least recently used idle one closed */
    hostsession_put(p, c, 0);
    hostsession_put(p, b, 0);
    ck_assert_uint_eq(hostsession_count(p), 2);
    ck_assert_int_eq(tcp_to(H3), 0);
    works(a);
    hostsession_put(p, a, 0);
    ck_assert_uint_eq(hostsession_count(p), 2);
    hostsession_free(p);
    sim_stop_all();
}
END_TEST

UNIT_TEST(test_broken_session_dropped_and_reopened)
{
    hostsession *p;
    hostconn *a, *b;

    sim_fresh("broken");
    p = pool_of(4);
    a = get(p, H1);
    b = get(p, H1); /* two users */
    ck_assert_ptr_eq(a, b);
    hostsession_put(p, a, -HOSTCONN_EIO);       /* one of them saw it break */
    ck_assert_uint_eq(hostsession_count(p), 1); /* the other still holds it */
    works(b);
    hostsession_put(p, b, 0);
    ck_assert_uint_eq(hostsession_count(p), 0);
    ck_assert_int_eq(tcp_to(H1), 0);
    a = get(p, H1); /* a new one */
    ck_assert_uint_eq(hostsession_opened(p), 2);
    works(a);
    hostsession_put(p, a, -HOSTCONN_ETIMEOUT);
    ck_assert_uint_eq(hostsession_count(p), 0);
    a = get(p, H1);
    ck_assert_uint_eq(hostsession_opened(p), 3);
    hostsession_put(p, a, 0);
    hostsession_drop_idle(p);
    ck_assert_uint_eq(hostsession_count(p), 0);
    ck_assert_int_eq(tcp_to(H1), 0);
    hostsession_free(p);
    sim_stop_all();
}
END_TEST

/* An idle session whose host went down is not handed out again: the caller learns the host is
 * unreachable, as on a first connection (before, it got the dead session, whose first command
 * failed as a broken session: OFFLINEFORCE then failed instead of skipping the source). */
UNIT_TEST(test_idle_session_to_dead_host_not_reused)
{
    hostsession *p;
    hostconn *a, *c = NULL;
    char err[1024];

    sim_fresh("dead");
    p = pool_of(4);
    a = get(p, H2);
    works(a);
    hostsession_put(p, a, 0);
    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, H2), 0);
    ck_assert_int_eq(hostsession_get(p, H2, &c, err, sizeof(err)), -HOSTCONN_EUNREACHABLE);
    ck_assert_ptr_null(c);
    ck_assert_uint_eq(hostsession_count(p), 0);
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, H2), 0);
    a = get(p, H2);
    works(a);
    ck_assert_uint_eq(hostsession_opened(p), 2);
    hostsession_put(p, a, 0);
    /* a live idle session is still reused */
    ck_assert_ptr_eq(get(p, H2), a);
    hostsession_put(p, a, 0);
    ck_assert_uint_eq(hostsession_opened(p), 2);
    hostsession_free(p);
    sim_stop_all();
}
END_TEST

UNIT_TEST(test_options_from_settings)
{
    settings s;
    hostsession *p = NULL;
    hostconn *c = NULL;
    char err[1024];

    sim_fresh("settings");
    /* a known_hosts that does not know the host: refused, permanently */
    sim_settings(&s);
    snprintf(s.ssh_known_hosts, sizeof(s.ssh_known_hosts), "%.1000s/empty_known_hosts", sim.root);
    ck_assert_int_eq(sim_sh("touch '%s'", s.ssh_known_hosts), 0);
    ck_assert_int_eq(hostsession_new(&s, 4, 0, &p), 0);
    ck_assert_int_eq(hostsession_get(p, H1, &c, err, sizeof(err)), -HOSTCONN_EHOSTKEY);
    ck_assert_msg(strstr(err, "empty_known_hosts") != NULL, "%s", err);
    ck_assert_uint_eq(hostsession_count(p), 0);
    hostsession_free(p);
    /* the port: nobody listens there */
    sim_settings(&s);
    s.ssh_port = sim.port + 1;
    ck_assert_int_eq(hostsession_new(&s, 4, 0, &p), 0);
    ck_assert_int_eq(hostsession_get(p, H1, &c, err, sizeof(err)), -HOSTCONN_EUNREACHABLE);
    hostsession_free(p);
    sim_stop_all();
}
END_TEST

/* What the pool looked like while MIGRATE_GUEST was defining the guest on the target. */
static struct {
    int seen;
    size_t count;
    long src_conns, tgt_conns;
} during;

static void log_line(void *ctx, const char *line)
{
    if (strncmp(line, "Defining guest", 14) != 0 && strncmp(line, "Enabling autostart", 18) != 0)
        return;
    during.seen = 1;
    during.count = hostsession_count(ctx);
    during.src_conns = tcp_to("127.0.1.2");
    during.tgt_conns = tcp_to("127.0.1.6");
}

/* A whole migration through a pool with room for one session: MIGRATE_GUEST holds the source
 * and the target at once, and neither is closed under it. */
UNIT_TEST(test_step_pins_both_hosts)
{
    hostsession *p;
    migrate_env env;
    migrate_result res;
    step_id order[STEP__COUNT];
    char *t;
    int i;

    sim_fresh("step");
    doc = sim_load_esxml();
    p = pool_of(1);
    memset(&env, 0, sizeof(env));
    env.doc = doc;
    env.guest = esxml_guest_find(doc, "exa01vm01.example.com");
    env.src = esxml_host_find(doc, "exa01adm02.example.com");
    env.tgt = esxml_host_find(doc, "exa01adm06.example.com");
    env.mode = MODE_OFFLINE;
    env.command_timeout_ms = 20000;
    env.connect = hostsession_connect;
    env.release = hostsession_release;
    env.log = log_line;
    env.ctx = p;
    ck_assert_int_eq(migrate_env_init(&env), 0);
    migrate_plan(0, order);
    memset(&during, 0, sizeof(during));
    for (i = 0; i < STEP__COUNT; i++) {
        ck_assert_int_eq(migrate_step(&env, order[i], &res), 0);
        ck_assert_msg(res.state != STEP_FAILED, "%s: %s", step_to_string(order[i]), res.message);
        migrate_result_free(&res);
        ck_assert_uint_le(hostsession_count(p), 1); /* back to the capacity after each step */
    }
    ck_assert(during.seen);
    ck_assert_uint_eq(during.count, 2);
    ck_assert_int_eq(during.src_conns, 1);
    ck_assert_int_eq(during.tgt_conns, 1);
    t = sim_state("exa01adm06.example.com");
    ck_assert_msg(sim_has_line(t, "domain exa01vm01.example.com running") &&
                      sim_has_line(t, "autostart exa01vm01.example.com"),
                  "%s", t);
    free(t);
    ck_assert_int_eq(sim_violations(), 0);
    migrate_env_free(&env);
    hostsession_free(p);
    esxml_free(doc);
    sim_stop_all();
}
END_TEST

int main(void)
{
    return unit_main("hostsession");
}
