/* test_migrate: plans, the summary line, and the eleven steps against the host simulator. */
#include "migrate.h"
#include "hostconn.h"

#include <check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_hostsim.h"
#include "unit_run.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define GUEST "exa01vm01.example.com"
#define SRC "exa01adm02.example.com"
#define TGT "exa01adm06.example.com"

/* ---- plans, hosts, summary line (no simulator) ---------------------------------------------- */

UNIT_TEST(test_plan_sequential_is_spec_order)
{
    step_id order[STEP__COUNT];
    int s;

    migrate_plan(1, order);
    for (s = 0; s < STEP__COUNT; s++)
        ck_assert_msg(order[s] == (step_id)s, "position %d: %s", s, step_to_string(order[s]));
}
END_TEST

UNIT_TEST(test_plan_default_downtime_aware)
{
    /* migrate.h: target bridges before STOP_GUEST, source cleanup after STARTUP_GUEST, the
     * downtime steps in the spec's order between them. */
    static const step_id expected[STEP__COUNT] = {
        STEP_CREATE_BRIDGES,    STEP_CREATE_NAT_BRIDGE_TGT, STEP_STOP_GUEST,
        STEP_DETACH_INTERFACES, STEP_DETACH_VOLUMES,        STEP_ATTACH_VOLUMES,
        STEP_MIGRATE_GUEST,     STEP_ATTACH_INTERFACES,     STEP_STARTUP_GUEST,
        STEP_REMOVE_BRIDGES,    STEP_REMOVE_NAT_BRIDGE_SRC,
    };
    step_id order[STEP__COUNT];
    int seen[STEP__COUNT] = {0}, pos[STEP__COUNT], s;

    migrate_plan(0, order);
    for (s = 0; s < STEP__COUNT; s++) {
        ck_assert_msg(order[s] >= 0 && order[s] < STEP__COUNT, "position %d out of range", s);
        ck_assert_msg(!seen[order[s]], "%s twice", step_to_string(order[s]));
        seen[order[s]] = 1;
        pos[order[s]] = s;
    }
    /* a permutation of all eleven */
    for (s = 0; s < STEP__COUNT; s++)
        ck_assert_msg(seen[s], "%s missing", step_to_string((step_id)s));
    ck_assert_int_lt(pos[STEP_CREATE_BRIDGES], pos[STEP_STOP_GUEST]);
    ck_assert_int_lt(pos[STEP_CREATE_NAT_BRIDGE_TGT], pos[STEP_STOP_GUEST]);
    ck_assert_int_gt(pos[STEP_REMOVE_BRIDGES], pos[STEP_STARTUP_GUEST]);
    ck_assert_int_gt(pos[STEP_REMOVE_NAT_BRIDGE_SRC], pos[STEP_STARTUP_GUEST]);
    for (s = 0; s < STEP__COUNT; s++)
        ck_assert_msg(order[s] == expected[s], "position %d: %s, expected %s", s,
                      step_to_string(order[s]), step_to_string(expected[s]));
}
END_TEST

static esxml *doc;

static void env_for(migrate_env *env, const char *guest, const char *src, const char *tgt,
                    migrate_mode mode, int sequential, sim_pool *pool)
{
    memset(env, 0, sizeof(*env));
    env->doc = doc;
    env->guest = esxml_guest_find(doc, guest);
    env->src = esxml_host_find(doc, src);
    env->tgt = esxml_host_find(doc, tgt);
    ck_assert_ptr_nonnull(env->guest);
    ck_assert_ptr_nonnull(env->src);
    ck_assert_ptr_nonnull(env->tgt);
    env->mode = mode;
    env->sequential = sequential;
    env->command_timeout_ms = 20000;
    env->connect = sim_connect;
    env->release = sim_release;
    env->ctx = pool;
    ck_assert_int_eq(migrate_env_init(env), 0);
}

static const struct {
    step_id step;
    int on_source;
} host_cases[] = {
    {STEP_STOP_GUEST, 1},
    {STEP_DETACH_INTERFACES, 1},
    {STEP_DETACH_VOLUMES, 1},
    {STEP_ATTACH_VOLUMES, 0},
    {STEP_CREATE_BRIDGES, 0},
    {STEP_MIGRATE_GUEST, 0},
    {STEP_REMOVE_BRIDGES, 1},
    {STEP_REMOVE_NAT_BRIDGE_SRC, 1},
    {STEP_CREATE_NAT_BRIDGE_TGT, 0},
    {STEP_ATTACH_INTERFACES, 0},
    {STEP_STARTUP_GUEST, 0},
    /* a rollback step acts on the host its name ends with */
    {STEP_ROLLBACK_DETACH_VOLUMES_TGT, 0},
    {STEP_ROLLBACK_CREATE_BRIDGES_SRC, 1},
    {STEP_ROLLBACK_CREATE_NAT_BRIDGE_SRC, 1},
    {STEP_ROLLBACK_ATTACH_VOLUMES_SRC, 1},
    {STEP_ROLLBACK_MIGRATE_GUEST, 1},
    {STEP_ROLLBACK_ATTACH_INTERFACES_SRC, 1},
    {STEP_ROLLBACK_STARTUP_GUEST_SRC, 1},
    {STEP_ROLLBACK_REMOVE_BRIDGES_TGT, 0},
    {STEP_ROLLBACK_REMOVE_NAT_BRIDGE_TGT, 0},
};

UNIT_LOOP(test_step_host, host_cases)
{
    migrate_env env;
    sim_pool pool = {0};
    const esxml_host *h;

    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    h = migrate_step_host(&env, host_cases[_i].step);
    ck_assert_msg(h == (host_cases[_i].on_source ? env.src : env.tgt), "%s acts on %s",
                  step_to_string(host_cases[_i].step), h ? h->hostname : "NULL");
    migrate_env_free(&env);
}
END_TEST

UNIT_TEST(test_step_table_edges)
{
    migrate_env env;
    sim_pool pool = {0};
    migrate_result res;
    int s;

    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    ck_assert_int_eq(migrate_step(&env, STEP__ALL, &res), -1);
    ck_assert_int_eq(migrate_step(&env, (step_id)-1, &res), -1);
    ck_assert_ptr_null(migrate_step_host(&env, STEP__ALL));
    /* the fixture is not a cloud deployment: only the NAT steps do nothing in it */
    for (s = 0; s < STEP__COUNT; s++)
        ck_assert_msg(migrate_step_applies(&env, (step_id)s) ==
                          (s != STEP_REMOVE_NAT_BRIDGE_SRC && s != STEP_CREATE_NAT_BRIDGE_TGT),
                      "%s", step_to_string((step_id)s));
    ck_assert_uint_eq(sim_pool_opened(&pool), 0);
    migrate_env_free(&env);
}
END_TEST

UNIT_TEST(test_summary_line)
{
    migrate_env env;
    sim_pool pool = {0};
    char buf[512], small[20];

    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    migrate_summary_line(&env, STEP_STOP_GUEST, buf, sizeof(buf));
    /* the spec's log, word for word */
    ck_assert_str_eq(buf, "Migrate guest exa01vm01.example.com from exa01adm02.example.com to "
                          "exa01adm06.example.com. Step STOP_GUEST completed successfully...");
    migrate_summary_line(&env, STEP_REMOVE_NAT_BRIDGE_SRC, buf, sizeof(buf));
    ck_assert_str_eq(buf, "Migrate guest exa01vm01.example.com from exa01adm02.example.com to "
                          "exa01adm06.example.com. Step REMOVE_NAT_BRIDGE_SRC completed "
                          "successfully...");
    migrate_summary_line(&env, STEP_STOP_GUEST, small, sizeof(small));
    ck_assert_str_eq(small, "Migrate guest exa01");
    migrate_env_free(&env);
}
END_TEST

/* Which rollback steps undo which migration step, and which a rollback runs. */
UNIT_TEST(test_rollback_plan_table)
{
    step_state st[STEP__COUNT];
    step_id order[STEP__ALL];
    size_t n;
    int s;

    for (s = 0; s < STEP__COUNT; s++)
        st[s] = STEP_PENDING;
    ck_assert_uint_eq(migrate_rollback_plan(st, order), 0); /* nothing ran: nothing to undo */
    ck_assert_int_eq(migrate_committed(st), 0);
    ck_assert_int_eq(migrate_undo_step(STEP_ATTACH_VOLUMES), STEP_ROLLBACK_DETACH_VOLUMES_TGT);
    ck_assert_int_eq(migrate_undo_step(STEP_STOP_GUEST), STEP_ROLLBACK_STARTUP_GUEST_SRC);
    ck_assert_int_eq(migrate_undo_step(STEP_MIGRATE_GUEST), STEP_ROLLBACK_MIGRATE_GUEST);
    ck_assert_int_eq(migrate_undo_step(STEP_STARTUP_GUEST), STEP__ALL);
    ck_assert_int_eq(migrate_undo_step(STEP_ATTACH_INTERFACES), STEP__ALL);
    ck_assert_int_eq(migrate_undo_step(STEP_ROLLBACK_MIGRATE_GUEST), STEP__ALL);
    /* CREATE_BRIDGES alone (it runs before the guest stops): its bridges go, the guest is
     * (still) running on the source */
    st[STEP_CREATE_BRIDGES] = STEP_SUCCEEDED;
    n = migrate_rollback_plan(st, order);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(order[0], STEP_ROLLBACK_STARTUP_GUEST_SRC);
    ck_assert_int_eq(order[1], STEP_ROLLBACK_REMOVE_BRIDGES_TGT);
    /* a failed (partly done) step is undone too; a skipped one did nothing */
    st[STEP_STOP_GUEST] = STEP_SUCCEEDED;
    st[STEP_DETACH_VOLUMES] = STEP_SUCCEEDED;
    st[STEP_ATTACH_VOLUMES] = STEP_FAILED;
    st[STEP_CREATE_NAT_BRIDGE_TGT] = STEP_SKIPPED;
    n = migrate_rollback_plan(st, order);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(order[0], STEP_ROLLBACK_DETACH_VOLUMES_TGT);
    ck_assert_int_eq(order[1], STEP_ROLLBACK_ATTACH_VOLUMES_SRC);
    ck_assert_int_eq(order[2], STEP_ROLLBACK_STARTUP_GUEST_SRC);
    ck_assert_int_eq(order[3], STEP_ROLLBACK_REMOVE_BRIDGES_TGT);
    st[STEP_MIGRATE_GUEST] = STEP_FAILED;
    ck_assert_int_eq(migrate_committed(st), 0);
    st[STEP_MIGRATE_GUEST] = STEP_SUCCEEDED;
    ck_assert_int_eq(migrate_committed(st), 1);
    for (s = STEP__COUNT; s < STEP__ALL; s++)
        ck_assert_int_eq(step_is_rollback((step_id)s), 1);
}
END_TEST

/* ---- against the simulator --------------------------------------------------------------- */

static void doc_setup(void)
{
    sim_init(0);
}

static void doc_teardown(void)
{
    sim_fini();
}

/* A fresh simulator root NAME and the es.xml its hosts were made from. */
static void hosts_fresh(const char *name)
{
    sim_fresh(name);
    doc = sim_load_esxml();
}

/* The end of a test against the simulator: sessions, env, es.xml, hosts. */
static void hosts_done(sim_pool *pool, migrate_env *env)
{
    sim_pool_close(pool);
    migrate_env_free(env);
    esxml_free(doc);
    sim_stop_all();
}

/* Runs STEP; returns its result (output freed; the message kept). */
static migrate_result run_step(migrate_env *env, step_id step)
{
    migrate_result res;

    ck_assert_int_eq(migrate_step(env, step, &res), 0);
    ck_assert_msg(res.state == STEP_SUCCEEDED || res.state == STEP_SKIPPED ||
                      res.state == STEP_FAILED,
                  "%s: state %d", step_to_string(step), res.state);
    migrate_result_free(&res);
    return res;
}

/* Runs the whole plan; every step must end succeeded or skipped. */
static void run_plan(migrate_env *env, int sequential)
{
    step_id order[STEP__COUNT];
    migrate_result res;
    int s;

    migrate_plan(sequential, order);
    for (s = 0; s < STEP__COUNT; s++) {
        res = run_step(env, order[s]);
        ck_assert_msg(res.state != STEP_FAILED, "%s failed: %s", step_to_string(order[s]),
                      res.message);
        ck_assert_int_eq(res.cleanup_pending, 0);
    }
}

/* The guest has moved: nothing of it left on the source, all of it on the target. */
static void assert_moved(void)
{
    char *s = sim_state(SRC), *t = sim_state(TGT);

    sim_assert_guest_left(s, GUEST);
    ck_assert_msg(sim_has_line(s, "attached exa01vm02_sys"), "other guest's volume gone:\n%s", s);
    ck_assert_msg(sim_has_line(t, "domain " GUEST " running"), "target:\n%s", t);
    ck_assert_msg(sim_has_line(t, "autostart " GUEST), "target autostart:\n%s", t);
    ck_assert_msg(sim_has_line(t, "attached exa01vm01_sys"), "target:\n%s", t);
    ck_assert_msg(sim_has_line(t, "attached exa01vm01_cfg"), "target:\n%s", t);
    ck_assert_msg(sim_has_line(t, "mount /dev/exc/exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f "
                                  "/EXAVMIMAGES/GuestImages/" GUEST),
                  "target mount:\n%s", t);
    /* the options may differ from the seeded entry's (e.g. nofail); device and mount point */
    ck_assert_msg(strstr(t, "\nfstab /dev/exc/exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f "
                            "/EXAVMIMAGES/GuestImages/" GUEST " xfs ") != NULL,
                  "target fstab:\n%s", t);
    ck_assert_msg(sim_has_line(t, "bridge vmbondeth0.101 101") &&
                      sim_has_line(t, "bridge vmbondeth1.102 102"),
                  "target bridges:\n%s", t);
    ck_assert_int_eq(sim_violations(), 0);
    free(s);
    free(t);
}

/* Host commands that change something (a read-only observation matches none of them). */
static const char *const effectful[] = {
    "--stop-domain",
    "--start-domain",
    "virsh define",
    "virsh undefine",
    "virsh autostart",
    "virsh start",
    "virsh shutdown",
    "virsh destroy",
    "--attach-interface",
    "--detach-interface",
    "--add-bridge",
    "--remove-bridge",
    "edvutil attach",
    "edvutil detach",
    "umount",
    "mount /dev/",
    "mount -a",
    "mkdir",
    "rmdir",
    "sed -i",
    ">>",
    "rm ",
};

/* Commands that are no-ops when their effect is there already ("test ! -d D || rmdir D",
 * "mkdir -p D"): allowed in a second run; the state comparison shows they did nothing. */
static int self_guarded(const char *line)
{
    if (strstr(line, "&&") != NULL || strchr(line, ';') != NULL || strchr(line, '>') != NULL)
        return 0;
    return (strncmp(line, "test ! -d ", 10) == 0 && strstr(line, " || rmdir ") != NULL &&
            strstr(line, "|| rmdir ") == strstr(line, "||")) ||
           (strncmp(line, "mkdir -p ", 9) == 0 && strchr(line, '|') == NULL);
}

static void assert_no_effect(const char *log, const char *what)
{
    const char *p = log;
    size_t i;

    while (p && *p) {
        const char *nl = strchr(p, '\n');
        char line[4096];

        snprintf(line, sizeof(line), "%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
        for (i = 0; i < sizeof(effectful) / sizeof(effectful[0]) && !self_guarded(line); i++)
            ck_assert_msg(strstr(line, effectful[i]) == NULL,
                          "%s: a second run sent an effectful command (%s):\n%s", what,
                          effectful[i], log);
        p = nl ? nl + 1 : NULL;
    }
}

UNIT_TEST_IN("hostsim", test_whole_plan_then_each_step_again)
{
    migrate_env env;
    sim_pool pool = {0};
    step_id order[STEP__COUNT];
    char *before, *after, *log;
    long ns, nt;
    int s;

    hosts_fresh("plan");
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    run_plan(&env, 0);
    assert_moved();
    /* every step again, alone (a crash after it, a replay): nothing changes */
    before = sim_state_all();
    migrate_plan(0, order);
    for (s = 0; s < STEP__COUNT; s++) {
        migrate_result res;
        migrate_env env2;
        char what[64];

        ns = sim_log_count(SRC);
        nt = sim_log_count(TGT);
        env_for(&env2, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
        res = run_step(&env2, order[s]);
        migrate_env_free(&env2);
        ck_assert_msg(res.state == STEP_SUCCEEDED || res.state == STEP_SKIPPED, "%s again: %s",
                      step_to_string(order[s]), res.message);
        after = sim_state_all();
        ck_assert_msg(strcmp(before, after) == 0, "%s again changed the hosts:\n%s\n---\n%s",
                      step_to_string(order[s]), before, after);
        free(after);
        snprintf(what, sizeof(what), "%s on the source", step_to_string(order[s]));
        log = sim_log_since(SRC, ns);
        assert_no_effect(log, what);
        free(log);
        snprintf(what, sizeof(what), "%s on the target", step_to_string(order[s]));
        log = sim_log_since(TGT, nt);
        assert_no_effect(log, what);
        free(log);
    }
    free(before);
    /* one session per host for the whole run */
    ck_assert_uint_eq(sim_pool_opened(&pool), 2);
    hosts_done(&pool, &env);
}
END_TEST

/* The default plan sends a step's commands that depend on each other, and every step's commands
 * outside the downtime, as batches (one exec, in order); inside the downtime the commands that do
 * not depend on each other go at once on channels of their own. So fewer SSH execs than host
 * commands (one per part in commands.log); the sequential plan sends one exec per command.
 * (Failed on the code before batches: 38 execs for 38 commands.) */
UNIT_TEST_IN("hostsim", test_plan_batches_host_commands)
{
    migrate_env env;
    sim_pool pool = {0};
    unsigned long execs;
    long cmds;

    hosts_fresh("execs");
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    cmds = sim_log_count(SRC) + sim_log_count(TGT);
    execs = hostconn_commands();
    run_plan(&env, 0);
    execs = hostconn_commands() - execs;
    cmds = sim_log_count(SRC) + sim_log_count(TGT) - cmds;
    assert_moved();
    /* the bridges' and interfaces' loops, define + autostart and start + state are one exec each */
    ck_assert_msg((long)execs + 8 <= cmds, "%lu execs for %ld host commands", execs, cmds);
    hosts_done(&pool, &env);

    hosts_fresh("execs-seq");
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 1, &pool);
    cmds = sim_log_count(SRC) + sim_log_count(TGT);
    execs = hostconn_commands();
    run_plan(&env, 1);
    ck_assert_int_eq((long)(hostconn_commands() - execs),
                     sim_log_count(SRC) + sim_log_count(TGT) - cmds);
    assert_moved();
    hosts_done(&pool, &env);
}
END_TEST

/* A batch whose part fails (one volume's detach): the others are done, the step fails naming
 * that part, and the step run again re-observes and sends only what is left. */
UNIT_TEST_IN("hostsim", test_batch_part_fails_then_replay_does_the_rest)
{
    migrate_env env;
    sim_pool pool = {0};
    migrate_result res;
    char *log, *t;
    long ns;

    hosts_fresh("partfail");
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    ck_assert_int_eq(run_step(&env, STEP_STOP_GUEST).state, STEP_SUCCEEDED);
    ck_assert_int_eq(run_step(&env, STEP_DETACH_INTERFACES).state, STEP_SUCCEEDED);
    ck_assert_int_eq(
        sim_cmd("fault '%s' %s fail-once 'edvutil detach exa01vm01_gih01'", sim.root, SRC), 0);
    ck_assert_int_eq(migrate_step(&env, STEP_DETACH_VOLUMES, &res), 0);
    ck_assert_int_eq(res.state, STEP_FAILED);
    ck_assert_msg(strstr(res.message, "edvutil detach exa01vm01_gih01") != NULL &&
                      strstr(res.message, "injected failure") != NULL,
                  "%s", res.message);
    migrate_result_free(&res);
    t = sim_state(SRC);
    ck_assert_msg(sim_has_line(t, "attached exa01vm01_gih01"), "%s", t);
    ck_assert_msg(!sim_has_line(t, "attached exa01vm01_sys") &&
                      !sim_has_line(t, "attached exa01vm01_u01"),
                  "the other parts ran:\n%s", t);
    free(t);
    ns = sim_log_count(SRC);
    migrate_env_free(&env);
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    ck_assert_int_eq(run_step(&env, STEP_DETACH_VOLUMES).state, STEP_SUCCEEDED);
    log = sim_log_since(SRC, ns);
    /* only gih01 is detached again */
    ck_assert_msg(strstr(log, "edvutil detach exa01vm01_gih01") != NULL &&
                      strstr(log, "edvutil detach exa01vm01_sys") == NULL &&
                      strstr(log, "edvutil detach exa01vm01_u01") == NULL,
                  "%s", log);
    free(log);
    t = sim_state(SRC);
    ck_assert_msg(strstr(t, "exa01vm01_") == NULL, "%s", t);
    free(t);
    hosts_done(&pool, &env);
}
END_TEST

UNIT_TEST_IN("hostsim", test_sequential_and_batch_same_final_state)
{
    migrate_env env;
    sim_pool pool = {0};
    char *batch, *seq;

    hosts_fresh("batch");
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    run_plan(&env, 0);
    migrate_env_free(&env);
    sim_pool_close(&pool);
    batch = sim_state_all();

    sim_fresh("sequential");
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 1, &pool);
    run_plan(&env, 1);
    migrate_env_free(&env);
    sim_pool_close(&pool);
    assert_moved();
    seq = sim_state_all();
    ck_assert_msg(strcmp(batch, seq) == 0, "batch:\n%s\n---\nsequential:\n%s", batch, seq);
    free(batch);
    free(seq);
    esxml_free(doc);
    sim_stop_all();
}
END_TEST

/* The hosts' state with kvmove's fstab option (nofail) taken out: the seeded entries lack it,
 * and an entry kvmove writes back is as good. Edits STATE in place and returns it. */
static char *without_nofail(char *state)
{
    char *p;

    while ((p = strstr(state, ",nofail")) != NULL)
        memmove(p, p + 7, strlen(p + 7) + 1);
    return state;
}

/* Stopped after each step of the plan before the commit point (a cancel, a failure), the
 * rollback puts the hosts back as they were: the guest running with autostart on its source
 * only, its volumes and mount there, the target's new bridges gone. Run again (a crash, a
 * re-run), it changes nothing. In both plans. */
UNIT_LOOP_RANGE_IN("hostsim", test_rollback_after_each_step, 0, 2 * STEP__COUNT)
{
    int sequential = _i % 2, stop_after = _i / 2;
    migrate_env env;
    sim_pool pool = {0};
    step_id order[STEP__COUNT], undo[STEP__ALL];
    step_state st[STEP__COUNT];
    char *initial, *after, *again;
    char name[32];
    size_t n, i;
    int k;

    migrate_plan(sequential, order);
    for (k = 0; k <= stop_after; k++)
        if (order[k] == STEP_MIGRATE_GUEST)
            return; /* past the commit point: nothing to roll back */
    snprintf(name, sizeof(name), "rollback%d", _i);
    hosts_fresh(name);
    initial = without_nofail(sim_state_all());
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, sequential, &pool);
    for (k = 0; k < STEP__COUNT; k++)
        st[k] = STEP_PENDING;
    for (k = 0; k <= stop_after; k++) {
        migrate_result res = run_step(&env, order[k]);
        ck_assert_msg(res.state != STEP_FAILED, "%s: %s", step_to_string(order[k]), res.message);
        st[order[k]] = res.state;
    }
    ck_assert_int_eq(migrate_committed(st), 0);
    n = migrate_rollback_plan(st, undo);
    ck_assert_uint_gt(n, 0);
    for (i = 0; i < n; i++) {
        migrate_result res = run_step(&env, undo[i]);
        ck_assert_msg(res.state != STEP_FAILED, "after %s, %s: %s",
                      step_to_string(order[stop_after]), step_to_string(undo[i]), res.message);
    }
    after = without_nofail(sim_state_all());
    if (strcmp(initial, after) != 0)
        fprintf(stderr, "before:\n%s\n---\nafter the rollback:\n%s\n", initial, after);
    ck_assert_msg(strcmp(initial, after) == 0,
                  "rolled back after %s (%s plan): the hosts differ (on stderr)",
                  step_to_string(order[stop_after]), sequential ? "sequential" : "default");
    ck_assert_int_eq(sim_violations(), 0);
    /* again, each rollback step with a fresh env (another worker took it over) */
    for (i = 0; i < n; i++) {
        migrate_env env2;
        migrate_result res;
        env_for(&env2, GUEST, SRC, TGT, MODE_OFFLINE, sequential, &pool);
        res = run_step(&env2, undo[i]);
        migrate_env_free(&env2);
        ck_assert_msg(res.state != STEP_FAILED, "%s again: %s", step_to_string(undo[i]),
                      res.message);
    }
    again = without_nofail(sim_state_all());
    if (strcmp(after, again) != 0)
        fprintf(stderr, "after the rollback:\n%s\n---\nafter a second one:\n%s\n", after, again);
    ck_assert_msg(strcmp(after, again) == 0, "a second rollback changed the hosts (on stderr)");
    free(initial);
    free(after);
    free(again);
    hosts_done(&pool, &env);
}
END_TEST

/* STARTUP_GUEST with target state stopped: the guest stays defined, with autostart, shut off
 * on the target; the step is skipped, saying why. */
UNIT_TEST_IN("hostsim", test_target_state_stopped)
{
    migrate_env env;
    sim_pool pool = {0};
    step_id order[STEP__COUNT];
    char *t;
    int k;

    hosts_fresh("stopped");
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    env.target_stopped = 1;
    env.reason = "storage firmware upgrade";
    migrate_plan(0, order);
    for (k = 0; k < STEP__COUNT; k++) {
        migrate_result res = run_step(&env, order[k]);
        ck_assert_msg(res.state != STEP_FAILED, "%s: %s", step_to_string(order[k]), res.message);
        if (order[k] == STEP_STARTUP_GUEST)
            ck_assert_int_eq(res.state, STEP_SKIPPED);
    }
    t = sim_state(TGT);
    ck_assert_msg(!sim_has_line(t, "domain " GUEST " running"), "target:\n%s", t);
    ck_assert_msg(strstr(t, "domain " GUEST " ") != NULL, "not defined on the target:\n%s", t);
    ck_assert_msg(sim_has_line(t, "autostart " GUEST), "target autostart:\n%s", t);
    free(t);
    t = sim_state(SRC);
    ck_assert_msg(strstr(t, GUEST) == NULL, "source still has the guest:\n%s", t);
    free(t);
    hosts_done(&pool, &env);
}
END_TEST

UNIT_TEST_IN("hostsim", test_offline_source_down_fails_transient)
{
    migrate_env env;
    sim_pool pool = {0};
    migrate_result res;
    char *t;

    hosts_fresh("offline-down");
    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, SRC), 0);
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    res = run_step(&env, STEP_STOP_GUEST);
    ck_assert_int_eq(res.state, STEP_FAILED);
    ck_assert_int_eq(res.transient, 1);
    ck_assert_int_eq(res.cleanup_pending, 0);
    ck_assert_msg(strstr(res.message, "OFFLINEFORCE") != NULL, "%s", res.message);
    ck_assert_msg(strstr(res.message, SRC) != NULL, "%s", res.message);
    /* nothing happened on the target */
    t = sim_state(TGT);
    ck_assert_msg(strstr(t, GUEST) == NULL, "%s", t);
    free(t);
    hosts_done(&pool, &env);
}
END_TEST

UNIT_TEST_IN("hostsim", test_offlineforce_source_down)
{
    migrate_env env;
    sim_pool pool = {0};
    step_id order[STEP__COUNT];
    migrate_result res[STEP__COUNT];
    char *t;
    int s;

    hosts_fresh("force-down");
    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, SRC), 0);
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINEFORCE, 0, &pool);
    migrate_plan(0, order);
    for (s = 0; s < STEP__COUNT; s++) {
        res[order[s]] = run_step(&env, order[s]);
        ck_assert_msg(res[order[s]].state != STEP_FAILED, "%s failed: %s", step_to_string(order[s]),
                      res[order[s]].message);
    }
    /* the steps that act on the source were skipped, leaving a cleanup */
    ck_assert_int_eq(res[STEP_STOP_GUEST].state, STEP_SKIPPED);
    ck_assert_int_eq(res[STEP_STOP_GUEST].cleanup_pending, 1);
    ck_assert_int_eq(res[STEP_DETACH_INTERFACES].state, STEP_SKIPPED);
    ck_assert_int_eq(res[STEP_DETACH_INTERFACES].cleanup_pending, 1);
    ck_assert_int_eq(res[STEP_REMOVE_BRIDGES].state, STEP_SKIPPED);
    ck_assert_int_eq(res[STEP_REMOVE_BRIDGES].cleanup_pending, 1);
    /* volumes were detached storage-side, the guest defined on the target: cleanup pending */
    ck_assert_int_eq(res[STEP_DETACH_VOLUMES].state, STEP_SUCCEEDED);
    ck_assert_int_eq(res[STEP_DETACH_VOLUMES].cleanup_pending, 1);
    ck_assert_int_eq(res[STEP_MIGRATE_GUEST].state, STEP_SUCCEEDED);
    ck_assert_int_eq(res[STEP_MIGRATE_GUEST].cleanup_pending, 1);
    /* target-side steps need no cleanup */
    ck_assert_int_eq(res[STEP_STARTUP_GUEST].state, STEP_SUCCEEDED);
    ck_assert_int_eq(res[STEP_STARTUP_GUEST].cleanup_pending, 0);
    ck_assert_int_eq(res[STEP_ATTACH_VOLUMES].cleanup_pending, 0);
    t = sim_state(TGT);
    ck_assert_msg(sim_has_line(t, "domain " GUEST " running"), "%s", t);
    /* autostart waits for the stale copy's removal (never on two hosts) */
    ck_assert_msg(!sim_has_line(t, "autostart " GUEST), "%s", t);
    free(t);
    ck_assert_int_eq(sim_violations(), 0);
    hosts_done(&pool, &env);
}
END_TEST

UNIT_TEST_IN("hostsim", test_migrate_guest_refuses_running_source)
{
    migrate_env env;
    sim_pool pool = {0};
    migrate_result res;
    char *s, *t;

    hosts_fresh("refuse");
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINE, 0, &pool);
    res = run_step(&env, STEP_MIGRATE_GUEST);
    ck_assert_int_eq(res.state, STEP_FAILED);
    ck_assert_int_eq(res.transient, 0);
    ck_assert_msg(strstr(res.message, "running") != NULL, "%s", res.message);
    s = sim_state(SRC);
    t = sim_state(TGT);
    ck_assert_msg(sim_has_line(s, "domain " GUEST " running") &&
                      sim_has_line(s, "autostart " GUEST),
                  "%s", s);
    ck_assert_msg(strstr(t, GUEST) == NULL, "%s", t);
    free(s);
    free(t);
    /* in OFFLINEFORCE too: a reachable running source is never undefined */
    migrate_env_free(&env);
    env_for(&env, GUEST, SRC, TGT, MODE_OFFLINEFORCE, 0, &pool);
    res = run_step(&env, STEP_MIGRATE_GUEST);
    ck_assert_int_eq(res.state, STEP_FAILED);
    s = sim_state(SRC);
    ck_assert_msg(sim_has_line(s, "domain " GUEST " running"), "%s", s);
    free(s);
    hosts_done(&pool, &env);
}
END_TEST

/* ---- connect failures: one classification in every step ------------------------------------ */

typedef enum { FAULT_DOWN, FAULT_HOSTKEY } connect_fault;

/* Makes HOST unreachable (powered off) or makes its host key differ from known_hosts (the key
 * of another simulated host is recorded for it). */
static void inject_connect_fault(const char *host, connect_fault fault)
{
    const esxml_host *h = esxml_host_find(doc, host);
    const char *other = strcmp(h->admin_ip, "127.0.1.5") == 0 ? "127.0.1.4" : "127.0.1.5";

    if (fault == FAULT_DOWN) {
        ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, host), 0);
        return;
    }
    ck_assert_int_eq(sim_sh("k=$(grep '^\\[%s\\]:' '%s/known_hosts' | cut -d' ' -f2-) && "
                            "[ -n \"$k\" ] && sed -i \"s|^\\(\\[%s\\]:[0-9]*\\) .*|\\1 $k|\" "
                            "'%s/known_hosts'",
                            other, sim.root, h->admin_ip, sim.root),
                     0);
}

/* What a step must report when it cannot connect. */
static const struct {
    const char *faulted; /* the host that cannot be used */
    connect_fault fault;
    migrate_mode mode;
    step_id step;
    int transient;         /* a retry may help (unreachable) or not (host key, authentication) */
    int offlineforce_hint; /* the message says to use OFFLINEFORCE if the host is really down */
} connect_cases[] = {
    /* OFFLINE with the source down: retried (a host that blinks), then the job fails saying
     * what to do if the host is really down. */
    {SRC, FAULT_DOWN, MODE_OFFLINE, STEP_STOP_GUEST, 1, 1},
    {SRC, FAULT_DOWN, MODE_OFFLINE, STEP_DETACH_INTERFACES, 1, 1},
    {SRC, FAULT_DOWN, MODE_OFFLINE, STEP_DETACH_VOLUMES, 1, 1},
    {SRC, FAULT_DOWN, MODE_OFFLINE, STEP_MIGRATE_GUEST, 1, 1},
    {SRC, FAULT_DOWN, MODE_OFFLINE, STEP_REMOVE_BRIDGES, 1, 1},
    /* A changed host key is never retried, whatever the mode: it is not "down". */
    {SRC, FAULT_HOSTKEY, MODE_OFFLINE, STEP_STOP_GUEST, 0, 0},
    {SRC, FAULT_HOSTKEY, MODE_OFFLINE, STEP_DETACH_INTERFACES, 0, 0},
    {SRC, FAULT_HOSTKEY, MODE_OFFLINE, STEP_DETACH_VOLUMES, 0, 0},
    {SRC, FAULT_HOSTKEY, MODE_OFFLINE, STEP_MIGRATE_GUEST, 0, 0},
    {SRC, FAULT_HOSTKEY, MODE_OFFLINE, STEP_REMOVE_BRIDGES, 0, 0},
    {SRC, FAULT_HOSTKEY, MODE_OFFLINEFORCE, STEP_STOP_GUEST, 0, 0},
    {SRC, FAULT_HOSTKEY, MODE_OFFLINEFORCE, STEP_DETACH_VOLUMES, 0, 0},
    {SRC, FAULT_HOSTKEY, MODE_OFFLINEFORCE, STEP_MIGRATE_GUEST, 0, 0},
    /* The target: down is worth a retry, a changed key is not. */
    {TGT, FAULT_DOWN, MODE_OFFLINE, STEP_CREATE_BRIDGES, 1, 0},
    {TGT, FAULT_DOWN, MODE_OFFLINE, STEP_ATTACH_VOLUMES, 1, 0},
    {TGT, FAULT_DOWN, MODE_OFFLINE, STEP_MIGRATE_GUEST, 1, 0},
    {TGT, FAULT_DOWN, MODE_OFFLINE, STEP_ATTACH_INTERFACES, 1, 0},
    {TGT, FAULT_DOWN, MODE_OFFLINE, STEP_STARTUP_GUEST, 1, 0},
    {TGT, FAULT_HOSTKEY, MODE_OFFLINE, STEP_CREATE_BRIDGES, 0, 0},
    {TGT, FAULT_HOSTKEY, MODE_OFFLINE, STEP_ATTACH_VOLUMES, 0, 0},
    {TGT, FAULT_HOSTKEY, MODE_OFFLINE, STEP_MIGRATE_GUEST, 0, 0},
    {TGT, FAULT_HOSTKEY, MODE_OFFLINE, STEP_ATTACH_INTERFACES, 0, 0},
    {TGT, FAULT_HOSTKEY, MODE_OFFLINE, STEP_STARTUP_GUEST, 0, 0},
};

UNIT_LOOP_IN("hostsim", test_connect_failure_classified, connect_cases)
{
    migrate_env env;
    sim_pool pool = {0};
    migrate_result res;
    char *before, *after;

    hosts_fresh("connect");
    /* the guest is stopped, so that MIGRATE_GUEST gets as far as the faulted host */
    ck_assert_int_eq(sim_cmd("ssh '%s' %s 'vm_maker --stop-domain %s'", sim.root, SRC, GUEST), 0);
    inject_connect_fault(connect_cases[_i].faulted, connect_cases[_i].fault);
    before = sim_state_all();
    env_for(&env, GUEST, SRC, TGT, connect_cases[_i].mode, 0, &pool);
    res = run_step(&env, connect_cases[_i].step);
    ck_assert_msg(res.state == STEP_FAILED, "%s: %s", step_to_string(connect_cases[_i].step),
                  res.message);
    ck_assert_msg(res.transient == connect_cases[_i].transient, "%s with %s %s: transient %d: %s",
                  step_to_string(connect_cases[_i].step), connect_cases[_i].faulted,
                  connect_cases[_i].fault == FAULT_DOWN ? "down" : "with a changed host key",
                  res.transient, res.message);
    ck_assert_msg((strstr(res.message, "use MODE=OFFLINEFORCE") != NULL) ==
                      connect_cases[_i].offlineforce_hint,
                  "%s: the OFFLINEFORCE hint %s: %s", step_to_string(connect_cases[_i].step),
                  connect_cases[_i].offlineforce_hint ? "is missing" : "is out of place",
                  res.message);
    ck_assert_int_eq(res.cleanup_pending, 0);
    after = sim_state_all();
    ck_assert_msg(strcmp(before, after) == 0, "a failed connect changed a host:\n%s\n---\n%s",
                  before, after);
    free(before);
    free(after);
    hosts_done(&pool, &env);
}
END_TEST

/* ---- the bridges a rollback removes ------------------------------------------------------ */

/* migrate_bridge_fate_of, the one rule: a bridge other guests use stays; a rollback of a job
 * that recorded what it created removes only those; with no record (the forward removal from
 * the source, a job from before the record) every other bridge goes. */
static const struct {
    const char *bridge;
    int in_use;
    const char *created;
    migrate_bridge_fate fate;
} fate_cases[] = {
    {"vmbondeth0.101", 0, NULL, MIGRATE_BRIDGE_REMOVE},
    {"vmbondeth0.101", 1, NULL, MIGRATE_BRIDGE_IN_USE},
    {"vmbondeth0.101", 0, "vmbondeth0.101\n", MIGRATE_BRIDGE_REMOVE},
    {"vmbondeth0.101", 0, "vmbondeth1.102\nvmbondeth0.101", MIGRATE_BRIDGE_REMOVE},
    {"vmbondeth0.101", 1, "vmbondeth0.101\n", MIGRATE_BRIDGE_IN_USE},
    {"vmbondeth0.101", 0, "", MIGRATE_BRIDGE_PREEXISTING},
    {"vmbondeth0.101", 0, "vmbondeth1.102\n", MIGRATE_BRIDGE_PREEXISTING},
    /* whole names only */
    {"vmbondeth0.101", 0, "vmbondeth0.1011\nvmbondeth0.10\n", MIGRATE_BRIDGE_PREEXISTING},
    {"vmbondeth0.101", 1, "", MIGRATE_BRIDGE_IN_USE},
};

UNIT_LOOP(test_bridge_fate, fate_cases)
{
    ck_assert_msg(migrate_bridge_fate_of(fate_cases[_i].bridge, fate_cases[_i].in_use,
                                         fate_cases[_i].created) == fate_cases[_i].fate,
                  "case %d: %s (in use %d, created \"%s\")", _i, fate_cases[_i].bridge,
                  fate_cases[_i].in_use,
                  fate_cases[_i].created ? fate_cases[_i].created : "(no record)");
}
END_TEST

/* The job store as the bridge steps see it (migrate_env.bridges_record / bridges_created): one
 * record per CREATE step, the union of what every attempt recorded; NULL when none did. */
static struct {
    const char *guest, *src, *tgt; /* the job's */
    char *created[STEP__COUNT];
    int calls;
    int target_had_them; /* a recorded bridge was on the target already when it was recorded */
} rec = {GUEST, SRC, TGT, {NULL}, 0, 0};

static void rec_reset(void)
{
    int s;

    for (s = 0; s < STEP__COUNT; s++) {
        free(rec.created[s]);
        rec.created[s] = NULL;
    }
    rec.calls = 0;
    rec.target_had_them = 0;
}

static int rec_record(void *ctx, step_id step, const char *names, char *errstr, size_t errstr_size)
{
    char *t = sim_state(rec.tgt), *all;
    const char *p = names;
    size_t n;

    (void)ctx;
    ck_assert_msg(step == STEP_CREATE_BRIDGES || step == STEP_CREATE_NAT_BRIDGE_TGT, "%s",
                  step_to_string(step));
    while (p && *p) { /* recorded before the step sends its changes */
        char line[300];
        n = strcspn(p, "\n");
        snprintf(line, sizeof(line), "bridge %.*s", (int)n, p);
        if (strstr(t, line) != NULL)
            rec.target_had_them = 1;
        p += n + (p[n] == '\n');
    }
    free(t);
    n = (rec.created[step] ? strlen(rec.created[step]) : 0) + strlen(names) + 1;
    all = calloc(1, n);
    ck_assert_ptr_nonnull(all);
    snprintf(all, n, "%s%s", rec.created[step] ? rec.created[step] : "", names);
    free(rec.created[step]);
    rec.created[step] = all;
    rec.calls++;
    (void)errstr;
    (void)errstr_size;
    return 0;
}

static int rec_created(void *ctx, step_id step, char **names, char *errstr, size_t errstr_size)
{
    (void)ctx;
    (void)errstr;
    (void)errstr_size;
    *names = rec.created[step] ? strdup(rec.created[step]) : NULL;
    return 0;
}

/* Runs STEP with the record and returns its output (malloc'd) in *OUT. */
static migrate_result run_recorded(step_id step, char **out, sim_pool *pool)
{
    migrate_env env;
    migrate_result res;

    env_for(&env, rec.guest, rec.src, rec.tgt, MODE_OFFLINE, 0, pool);
    env.bridges_record = rec_record;
    env.bridges_created = rec_created;
    ck_assert_int_eq(migrate_step(&env, step, &res), 0);
    *out = res.output;
    res.output = NULL;
    migrate_env_free(&env);
    return res;
}

/* The target had one of the guest's two bridges before the job (an operator made it): the
 * rollback keeps it, saying so, and removes the one the job created. A replay of CREATE_BRIDGES
 * in between (it finds both there) does not make the created one the operator's. (Failed on the
 * code before the record: the rollback removed both.) */
UNIT_TEST_IN("hostsim", test_rollback_keeps_preexisting_bridge)
{
    sim_pool pool = {0};
    migrate_result res;
    char *out, *t;

    hosts_fresh("bridge-before");
    rec_reset();
    ck_assert_int_eq(
        sim_cmd("ssh '%s' %s 'vm_maker --add-bridge vmbondeth0.101 --vlan 101'", sim.root, TGT), 0);
    res = run_recorded(STEP_CREATE_BRIDGES, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    free(out);
    ck_assert_int_eq(rec.calls, 1);
    ck_assert_int_eq(rec.target_had_them, 0);
    ck_assert_ptr_nonnull(rec.created[STEP_CREATE_BRIDGES]);
    ck_assert_str_eq(rec.created[STEP_CREATE_BRIDGES], "vmbondeth1.102\n");
    /* the replay records that nothing is missing now, keeping the first attempt's record */
    res = run_recorded(STEP_CREATE_BRIDGES, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    free(out);
    ck_assert_int_eq(rec.calls, 2);
    ck_assert_str_eq(rec.created[STEP_CREATE_BRIDGES], "vmbondeth1.102\n");
    res = run_recorded(STEP_ROLLBACK_REMOVE_BRIDGES_TGT, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    ck_assert_msg(strstr(out, "Keeping bridge vmbondeth0.101 on KVM host " TGT
                              ": it was there before the migration\n") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "Removing bridge vmbondeth1.102 from KVM host " TGT) != NULL, "%s",
                  out);
    free(out);
    ck_assert_int_eq(rec.calls, 2); /* a rollback records nothing */
    t = sim_state(TGT);
    ck_assert_msg(sim_has_line(t, "bridge vmbondeth0.101 101"), "the operator's bridge:\n%s", t);
    ck_assert_msg(!sim_has_line(t, "bridge vmbondeth1.102 102"), "the job's bridge:\n%s", t);
    free(t);
    /* again (a takeover of the rollback): nothing changes */
    res = run_recorded(STEP_ROLLBACK_REMOVE_BRIDGES_TGT, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    free(out);
    t = sim_state(TGT);
    ck_assert_msg(sim_has_line(t, "bridge vmbondeth0.101 101"), "the operator's bridge:\n%s", t);
    free(t);
    ck_assert_int_eq(sim_violations(), 0);
    rec_reset();
    sim_pool_close(&pool);
    esxml_free(doc);
    sim_stop_all();
}
END_TEST

/* The first attempt of CREATE_BRIDGES created one of the two bridges and failed on the other;
 * its replay finds the first there and creates the second: both are the job's, and the
 * rollback removes both. */
UNIT_TEST_IN("hostsim", test_rollback_after_partial_create_and_replay)
{
    sim_pool pool = {0};
    migrate_result res;
    char *out, *t;

    hosts_fresh("bridge-partial");
    rec_reset();
    ck_assert_int_eq(
        sim_cmd("fault '%s' %s fail-always '--add-bridge vmbondeth1.102'", sim.root, TGT), 0);
    res = run_recorded(STEP_CREATE_BRIDGES, &out, &pool);
    ck_assert_int_eq(res.state, STEP_FAILED);
    free(out);
    ck_assert_int_eq(sim_cmd("fault '%s' %s clear", sim.root, TGT), 0);
    t = sim_state(TGT);
    ck_assert_msg(sim_has_line(t, "bridge vmbondeth0.101 101") &&
                      !sim_has_line(t, "bridge vmbondeth1.102 102"),
                  "after the partial attempt:\n%s", t);
    free(t);
    res = run_recorded(STEP_CREATE_BRIDGES, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    free(out);
    res = run_recorded(STEP_ROLLBACK_REMOVE_BRIDGES_TGT, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    ck_assert_msg(strstr(out, "it was there before") == NULL, "%s", out);
    free(out);
    t = sim_state(TGT);
    ck_assert_msg(!sim_has_line(t, "bridge vmbondeth0.101 101") &&
                      !sim_has_line(t, "bridge vmbondeth1.102 102"),
                  "after the rollback:\n%s", t);
    free(t);
    ck_assert_int_eq(sim_violations(), 0);
    rec_reset();
    sim_pool_close(&pool);
    esxml_free(doc);
    sim_stop_all();
}
END_TEST

/* The same for the NAT bridge of a cloud deployment: one the target had before the job stays,
 * saying so; the job's client bridge goes. */
UNIT_TEST_IN("hostsim", test_rollback_keeps_preexisting_nat_bridge)
{
#define CG "cld02vm05.dbcloud.example.net"
#define CS "cld02kvm03.dbcloud.example.net"
#define CT "cld02kvm04.dbcloud.example.net"
    char exa[sizeof(sim.esxml)];
    sim_pool pool = {0};
    migrate_result res;
    char *out, *t;

    util_strlcpy(exa, sim.esxml, sizeof(exa));
    snprintf(sim.esxml, sizeof(sim.esxml), "%s/tests/fixtures/cld02.xml", sim.srcdir);
    hosts_fresh("nat-before");
    util_strlcpy(sim.esxml, exa, sizeof(sim.esxml));
    rec_reset();
    rec.guest = CG;
    rec.src = CS;
    rec.tgt = CT;
    ck_assert_int_eq(sim_cmd("ssh '%s' %s 'vm_maker --add-bridge vmnat0.3003'", sim.root, CT), 0);
    res = run_recorded(STEP_CREATE_BRIDGES, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    free(out);
    res = run_recorded(STEP_CREATE_NAT_BRIDGE_TGT, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    free(out);
    ck_assert_ptr_nonnull(rec.created[STEP_CREATE_NAT_BRIDGE_TGT]);
    ck_assert_str_eq(rec.created[STEP_CREATE_NAT_BRIDGE_TGT], "");
    ck_assert_str_eq(rec.created[STEP_CREATE_BRIDGES], "vmbondeth0.3003\n");
    res = run_recorded(STEP_ROLLBACK_REMOVE_NAT_BRIDGE_TGT, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    ck_assert_msg(strstr(out, "Keeping NAT bridge vmnat0.3003 on KVM host " CT
                              ": it was there before the migration\n") != NULL,
                  "%s", out);
    free(out);
    res = run_recorded(STEP_ROLLBACK_REMOVE_BRIDGES_TGT, &out, &pool);
    ck_assert_msg(res.state == STEP_SUCCEEDED, "%s", res.message);
    free(out);
    t = sim_state(CT);
    ck_assert_msg(sim_has_line(t, "bridge vmnat0.3003"), "the operator's NAT bridge:\n%s", t);
    ck_assert_msg(strstr(t, "bridge vmbondeth0.3003") == NULL, "the job's bridge:\n%s", t);
    free(t);
    ck_assert_int_eq(sim_violations(), 0);
    rec_reset();
    rec.guest = GUEST;
    rec.src = SRC;
    rec.tgt = TGT;
    sim_pool_close(&pool);
    esxml_free(doc);
    sim_stop_all();
#undef CG
#undef CS
#undef CT
}
END_TEST

static void load_doc(void)
{
    doc = sim_load_esxml();
}

static void free_doc(void)
{
    esxml_free(doc);
    doc = NULL;
}

UNIT_TCASE("plan", .setup = load_doc, .teardown = free_doc);
UNIT_TCASE("hostsim", .setup_once = doc_setup, .teardown_once = doc_teardown, .timeout = 60);

int main(void)
{
    sim_find_srcdir();
    snprintf(sim.esxml, sizeof(sim.esxml), "%s/tests/fixtures/exa01.xml", sim.srcdir);
    return unit_main("migrate");
}
