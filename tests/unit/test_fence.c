/* test_fence: fence_guest removes a stale copy of a guest from its old host (host simulator). */
#include "fence.h"

#include <check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_hostsim.h"
#include "unit_run.h"

#define GUEST "exa01vm01.example.com"
#define SRC "exa01adm02.example.com" /* where the stale copy is */
#define TGT "exa01adm06.example.com" /* where the guest runs now */
#define CFGDEV "exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f"

static esxml *doc;

static void fixture_setup(void)
{
    sim_init(500); /* 26500-26999: test_migrate has 26000-26499 */
}

static void fixture_teardown(void)
{
    sim_fini();
}

UNIT_TCASE("hostsim", .setup_once = fixture_setup, .teardown_once = fixture_teardown,
           .timeout = 60);

/* A fresh simulator root NAME and the es.xml its hosts were made from. */
static void hosts_fresh(const char *name)
{
    sim_fresh(name);
    doc = sim_load_esxml();
}

/* The end of a test against the simulator: sessions, es.xml, hosts. */
static void hosts_done(sim_pool *pool)
{
    sim_pool_close(pool);
    esxml_free(doc);
    sim_stop_all();
}

/* The state an OFFLINEFORCE migration leaves (sim_make_stale_copy), then the source came back. */
static void make_stale_copy(void)
{
    sim_make_stale_copy(GUEST, CFGDEV, SRC, TGT);
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
}

/* Runs fence_guest on the source; returns its output (caller frees). */
static char *fence_ok(sim_pool *pool)
{
    hostconn *c = NULL;
    char errstr[512], *output = NULL;
    int rc;

    ck_assert_int_eq(sim_connect(pool, esxml_host_find(doc, SRC), &c, errstr, sizeof(errstr)), 0);
    rc = fence_guest(c, doc, SRC, GUEST, 20000, &output, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "fence_guest: %d %s\n%s", rc, errstr, output ? output : "");
    ck_assert_ptr_nonnull(output);
    return output;
}

/* Nothing of GUEST is left on the source; the shared bridge and the other guest are. */
static void assert_fenced(void)
{
    char *s = sim_state(SRC), *t = sim_state(TGT);

    sim_assert_guest_left(s, GUEST);
    ck_assert_msg(strstr(s, CFGDEV) == NULL, "source still has its cfg device:\n%s", s);
    ck_assert_msg(sim_has_line(s, "bridge vmbondeth1.202 202"), "other guest's bridge removed:\n%s",
                  s);
    ck_assert_msg(sim_has_line(s, "autostart exa01vm02.example.com"), "other guest hurt:\n%s", s);
    ck_assert_msg(strstr(s, "/EXAVMIMAGES/GuestImages/exa01vm02.example.com xfs") != NULL,
                  "other guest's fstab entry gone:\n%s", s);
    ck_assert_msg(sim_has_line(s, "attached exa01vm02_sys"), "other guest's volume gone:\n%s", s);
    /* the moved guest is untouched */
    ck_assert_msg(sim_has_line(t, "domain " GUEST " running"), "target:\n%s", t);
    ck_assert_msg(sim_has_line(t, "attached exa01vm01_sys"), "target:\n%s", t);
    ck_assert_int_eq(sim_violations(), 0);
    free(s);
    free(t);
}

UNIT_TEST(test_fence_stale_copy_twice)
{
    sim_pool pool = {0};
    char *s, *out, *before, *after;

    hosts_fresh("stale");
    make_stale_copy();
    s = sim_state(SRC);
    /* the stale copy as the source came back: defined, autostart, fstab entry, its bridge;
     * not running (its disks are gone), its cfg volume not mounted */
    ck_assert_msg(sim_has_line(s, "domain " GUEST " shut off") &&
                      sim_has_line(s, "autostart " GUEST),
                  "%s", s);
    ck_assert_msg(strstr(s, "fstab /dev/exc/" CFGDEV) != NULL, "%s", s);
    ck_assert_msg(sim_has_line(s, "bridge vmbondeth1.102 102"), "%s", s);
    free(s);

    out = fence_ok(&pool);
    ck_assert_msg(strstr(out, "Undefining stale guest " GUEST) != NULL, "%s", out);
    ck_assert_msg(strstr(out, "Removing bridge vmbondeth1.102") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "Removing bridge vmbondeth0.101") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "destroying") == NULL, "%s", out); /* it was not running */
    free(out);
    assert_fenced();

    /* again: safe, and nothing changes */
    before = sim_state_all();
    out = fence_ok(&pool);
    ck_assert_msg(strstr(out, "is not defined on " SRC) != NULL, "%s", out);
    ck_assert_msg(strstr(out, "Undefining") == NULL && strstr(out, "Removing") == NULL &&
                      strstr(out, "Detaching") == NULL,
                  "second run acted:\n%s", out);
    free(out);
    after = sim_state_all();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    assert_fenced();
    hosts_done(&pool);
}
END_TEST

UNIT_TEST(test_fence_running_copy_destroyed_first)
{
    sim_pool pool = {0};
    char *s, *out, *d, *u;

    hosts_fresh("running");
    /* a source that rebooted with its volumes still attached: the copy runs again */
    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, SRC), 0);
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    s = sim_state(SRC);
    ck_assert_msg(sim_has_line(s, "domain " GUEST " running"), "%s", s);
    free(s);

    out = fence_ok(&pool);
    d = strstr(out, "destroying it");
    u = strstr(out, "Undefining stale guest");
    ck_assert_msg(d != NULL && u != NULL && d < u, "not destroyed before undefine:\n%s", out);
    ck_assert_msg(strstr(out, "Unmounting Guest Configuration Files of " GUEST) != NULL, "%s", out);
    ck_assert_msg(strstr(out, "Detaching EDV Volume exa01vm01_sys from KVM host " SRC) != NULL,
                  "%s", out);
    free(out);
    s = sim_state(SRC);
    ck_assert_msg(strstr(s, GUEST) == NULL, "%s", s);
    ck_assert_msg(strstr(s, "exa01vm01_") == NULL, "volumes still attached:\n%s", s);
    ck_assert_msg(!sim_has_line(s, "bridge vmbondeth1.102 102"), "%s", s);
    ck_assert_msg(sim_has_line(s, "bridge vmbondeth0.101 101"), "%s", s);
    ck_assert_msg(sim_has_line(s, "domain exa01vm02.example.com running"), "%s", s);
    free(s);
    /* the volumes are free for the target now */
    ck_assert_int_eq(sim_cmd("ssh '%s' %s 'edvutil attach exa01vm01_sys x'", sim.root, TGT), 0);
    ck_assert_int_eq(sim_violations(), 0);
    hosts_done(&pool);
}
END_TEST

UNIT_TEST(test_fence_unknown_guest)
{
    sim_pool pool = {0};
    hostconn *c = NULL;
    char errstr[512], *output = NULL, *before, *after;

    hosts_fresh("unknown");
    before = sim_state(SRC);
    ck_assert_int_eq(sim_connect(&pool, esxml_host_find(doc, SRC), &c, errstr, sizeof(errstr)), 0);
    ck_assert_int_lt(
        fence_guest(c, doc, SRC, "nosuch.example.com", 20000, &output, errstr, sizeof(errstr)), 0);
    ck_assert_ptr_nonnull(strstr(errstr, "nosuch.example.com"));
    free(output);
    after = sim_state(SRC);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    hosts_done(&pool);
}
END_TEST

UNIT_TEST(test_fence_cannot_ask_is_not_undefined)
{
    sim_pool pool = {0};
    hostconn *c = NULL;
    char errstr[1024], *output = NULL, *before, *after, *s;
    int rc;

    hosts_fresh("cannot-ask");
    make_stale_copy();
    /* libvirtd on the stale host does not answer: that is not "the guest is not defined" */
    ck_assert_int_eq(sim_cmd("fault '%s' %s fail-always 'virsh '", sim.root, SRC), 0);
    before = sim_state(SRC);
    ck_assert_int_eq(sim_connect(&pool, esxml_host_find(doc, SRC), &c, errstr, sizeof(errstr)), 0);
    rc = fence_guest(c, doc, SRC, GUEST, 20000, &output, errstr, sizeof(errstr));
    ck_assert_msg(rc < 0, "fence_guest succeeded without asking libvirt:\n%s", output);
    ck_assert_msg(strstr(errstr, "injected failure") != NULL, "%s", errstr);
    ck_assert_msg(strstr(output ? output : "", "is not defined") == NULL, "%s", output);
    free(output);
    after = sim_state(SRC);
    ck_assert_str_eq(before, after); /* nothing was half done */
    free(before);
    free(after);
    /* libvirtd answers again: the cleanup completes */
    ck_assert_int_eq(sim_cmd("fault '%s' %s clear", sim.root, SRC), 0);
    free(fence_ok(&pool));
    assert_fenced();
    s = sim_state(SRC);
    ck_assert_msg(!sim_has_line(s, "autostart " GUEST), "%s", s);
    free(s);
    hosts_done(&pool);
}
END_TEST

int main(void)
{
    return unit_main("fence");
}
