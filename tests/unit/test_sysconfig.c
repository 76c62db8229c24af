/* test_sysconfig: the stored es.xml of each system: fetched and loaded in one call, which system a
 * request is for, changes rebased on the newest version, the per-sweep cache (real PostgreSQL). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "esxml.h"
#include "jobstore.h"
#include "sysconfig.h"
#include "unit_pg.h"
#include "unit_request.h"
#include "unit_run.h"
#include "util.h"

static char conninfo[1024], dbname[64], srcdir[1024], schema[1100];
static jobstore *js;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *fixture_text(const char *name)
{
    char path[1200];

    snprintf(path, sizeof(path), "%s/tests/fixtures/%s", srcdir, name);
    return slurp(path);
}

/* TEXT with every FROM replaced by TO (malloc'd). */
static char *replaced(const char *text, const char *from, const char *to)
{
    size_t n = 0, lf = strlen(from), lt = strlen(to);
    const char *p;
    char *out, *o;

    for (p = text; (p = strstr(p, from)) != NULL; p += lf)
        n++;
    out = o = malloc(strlen(text) + n * (lt > lf ? lt - lf : 0) + 1);
    for (p = text; *p;) {
        if (strncmp(p, from, lf) == 0) {
            memcpy(o, to, lt);
            o += lt;
            p += lf;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Loads TEXT and stores it as its system's newest version (sysconfig_store). Returns its code;
 * *VERSION gets the version. */
static int store_text(const char *text, long *version, char *err, size_t err_size)
{
    char xsd[1200];
    esxml *doc = NULL;
    int rc;

    snprintf(xsd, sizeof(xsd), "%s/es.xsd", schema);
    ck_assert_msg(esxml_load_buffer(text, strlen(text), xsd, &doc, err, err_size) == 0, "%s", err);
    rc = sysconfig_store(js, doc, text, "test", version, err, err_size);
    esxml_free(doc);
    return rc;
}

static void setup(void)
{
    char err[1024], mig[1100];
    int applied;
    const char *s = getenv("KVMOVE_SOURCE_DIR");

    snprintf(srcdir, sizeof(srcdir), "%s", s ? s : ".");
    snprintf(schema, sizeof(schema), "%s/schema", srcdir);
    snprintf(mig, sizeof(mig), "%s/migrations", srcdir);
    snprintf(dbname, sizeof(dbname), "unit_sysconfig_%d", (int)getpid());
    ck_assert_int_eq(unit_pg_run(srcdir, "create", dbname, conninfo, sizeof(conninfo)), 0);
    ck_assert_msg(jobstore_connect(conninfo, &js, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(jobstore_migrate(js, mig, &applied, err, sizeof(err)) == 0, "%s", err);
}

static void teardown(void)
{
    jobstore_close(js);
    unit_pg_run(srcdir, "drop", dbname, NULL, 0);
}

UNIT_TCASE("stored es.xml", .setup = setup, .teardown = teardown, .timeout = 60);

UNIT_TEST(test_nothing_stored)
{
    char err[512] = "";
    esxml *doc = (esxml *)1;

    ck_assert_int_eq(sysconfig_load(js, NULL, 0, schema, &doc, NULL, err, sizeof(err)),
                     -JOBSTORE_ENOTFOUND);
    ck_assert_ptr_null(doc);
    ck_assert_ptr_nonnull(strstr(err, "kvmove config load"));
}
END_TEST

UNIT_TEST(test_versions)
{
    char err[512] = "";
    char *fixture = fixture_text("exa01.xml");
    esxml *doc = NULL;
    long v1 = 0, v2 = 0, got = 0;

    ck_assert_int_eq(
        jobstore_config_store(js, "exa01", "loaded", fixture, "v1", &v1, err, sizeof(err)), 0);
    ck_assert_int_eq(
        jobstore_config_store(js, "exa01", "loaded", "<notxml", "broken", &v2, err, sizeof(err)),
        0);
    /* The newest is the broken one: a load error, not a database error, and no document. */
    ck_assert_int_eq(sysconfig_load(js, "exa01", 0, schema, &doc, &got, err, sizeof(err)),
                     -JOBSTORE_EINVALID);
    ck_assert_ptr_null(doc);
    /* A named version loads, validated, and says which version it is. */
    ck_assert_msg(sysconfig_load(js, NULL, v1, schema, &doc, &got, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(got, v1);
    ck_assert_ptr_nonnull(esxml_guest_find(doc, "exa01vm01.example.com"));
    esxml_free(doc);
    doc = NULL;
    ck_assert_int_eq(sysconfig_load(js, NULL, v2 + 100, schema, &doc, &got, err, sizeof(err)),
                     -JOBSTORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "kvmove config list"));
    free(fixture);
}
END_TEST

/* Two systems in one database: each request sees the newest of its own; loading one changes
 * nothing the other sees; without a name there is no "newest" to pick. */
UNIT_TEST(test_two_systems)
{
    char err[1024] = "";
    char *exa = fixture_text("exa01.xml"), *cld = fixture_text("cld02.xml");
    esxml *doc = NULL;
    long ve = 0, vc = 0, vc2 = 0, got = 0;

    ck_assert_msg(store_text(exa, &ve, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(sysconfig_load(js, NULL, 0, schema, &doc, &got, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(got, ve); /* one system: it is the one */
    esxml_free(doc);
    ck_assert_msg(store_text(cld, &vc, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(store_text(cld, &vc2, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(sysconfig_load(js, NULL, 0, schema, &doc, &got, err, sizeof(err)),
                     -JOBSTORE_EINVALID);
    ck_assert_msg(strstr(err, "cld02, exa01") != NULL, "%s", err);
    ck_assert_msg(sysconfig_load(js, "exa01", 0, schema, &doc, &got, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(got, ve);
    ck_assert_str_eq(esxml_system_name(doc), "exa01");
    esxml_free(doc);
    ck_assert_msg(sysconfig_load(js, "cld02", 0, schema, &doc, &got, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(got, vc2);
    esxml_free(doc);
    /* a version of the other system is not one of this system's */
    ck_assert_int_eq(sysconfig_load(js, "exa01", vc, schema, &doc, &got, err, sizeof(err)),
                     -JOBSTORE_ENOTFOUND);
    free(exa);
    free(cld);
}
END_TEST

/* A guest (or KVM host) two systems both name, in any spelling, is refused at load, naming
 * both systems; the earlier system keeps it. */
UNIT_TEST(test_name_claimed_twice)
{
    char err[1024] = "";
    char *exa = fixture_text("exa01.xml"), *cld = fixture_text("cld02.xml");
    char *clash = replaced(cld, "cld02vm05.dbcloud.example.net", "EXA01VM01.example.com");
    jobstore_machine m;
    esxml *doc = NULL;
    long v = 0;

    ck_assert_msg(store_text(exa, &v, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(store_text(clash, &v, err, sizeof(err)), -JOBSTORE_EINVALID);
    ck_assert_msg(strstr(err, "cld02") && strstr(err, "exa01vm01.example.com (system exa01)"), "%s",
                  err);
    ck_assert_int_eq(jobstore_config_machine(js, "Exa01VM01.EXAMPLE.com", &m, err, sizeof(err)), 1);
    ck_assert_str_eq(m.system, "exa01");
    ck_assert_str_eq(m.hostname, "exa01vm01.example.com");
    ck_assert_int_eq(m.is_guest, 1);
    /* nothing of the refused load is stored */
    ck_assert_int_eq(
        jobstore_config_machine(js, "cld02vm01.dbcloud.example.net", &m, err, sizeof(err)), 0);
    ck_assert_int_eq(sysconfig_load(js, "cld02", 0, schema, &doc, NULL, err, sizeof(err)),
                     -JOBSTORE_ENOTFOUND);
    /* a system's own names may be loaded again (a new version of it) */
    ck_assert_msg(store_text(exa, &v, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(store_text(cld, &v, err, sizeof(err)) == 0, "%s", err);
    free(exa);
    free(cld);
    free(clash);
}
END_TEST

/* Which system a request is for, and its names as es.xml spells them. */
UNIT_TEST(test_resolve)
{
    char err[1024] = "";
    char *exa = fixture_text("exa01.xml"), *cld = fixture_text("cld02.xml");
    jobstore_machine g;
    request r;
    long ve = 0, vc = 0;

    ck_assert_msg(store_text(exa, &ve, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(store_text(cld, &vc, err, sizeof(err)) == 0, "%s", err);
    /* the guest's system; the spelling es.xml has (CLD02VM04 is upper case there) */
    unit_move_request(&r, "cld02vm04.dbcloud.example.net", "CLD02KVM02.dbcloud.example.net",
                      "cld02kvm03.DBCLOUD.example.net", MODE_OFFLINE);
    ck_assert_msg(sysconfig_resolve(js, &r, &g, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(r.system, "cld02");
    ck_assert_str_eq(r.guest, "CLD02VM04.dbcloud.example.net");
    ck_assert_str_eq(r.src_host, "cld02kvm02.dbcloud.example.net");
    ck_assert_str_eq(r.tgt_host, "cld02kvm03.dbcloud.example.net");
    ck_assert_int_eq(g.memory_mb, 8192);
    /* a guest no system names: its source host's system; the guest's name is left as given */
    unit_move_request(&r, "EXA01VM09.example.com", "EXA01ADM02.example.com",
                      "exa01adm09.example.com", MODE_OFFLINE);
    ck_assert_msg(sysconfig_resolve(js, &r, &g, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(r.system, "exa01");
    ck_assert_str_eq(r.guest, "EXA01VM09.example.com");
    ck_assert_str_eq(r.src_host, "exa01adm02.example.com");
    ck_assert_int_eq(g.memory_mb, 0);
    /* a host named as the guest is not the guest */
    unit_move_request(&r, "EXA01ADM01.example.com", "exa01adm02.example.com",
                      "exa01adm03.example.com", MODE_OFFLINE);
    ck_assert_msg(sysconfig_resolve(js, &r, &g, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(r.guest, "EXA01ADM01.example.com");
    ck_assert_int_eq(g.memory_mb, 0);
    /* a named system wins; another system's names keep their spelling */
    unit_move_request(&r, "CLD02VM01.dbcloud.example.net", "exa01adm02.example.com",
                      "exa01adm03.example.com", MODE_OFFLINE);
    util_strlcpy(r.system, "exa01", sizeof(r.system));
    ck_assert_msg(sysconfig_resolve(js, &r, &g, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(r.system, "exa01");
    ck_assert_str_eq(r.guest, "CLD02VM01.dbcloud.example.net");
    /* a version names its system */
    r.system[0] = '\0';
    r.config_version = vc;
    ck_assert_msg(sysconfig_resolve(js, &r, &g, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(r.system, "cld02");
    /* what is not stored is refused; what nobody names is not found */
    unit_move_request(&r, "cld02vm01.dbcloud.example.net", "a.example.com", "b.example.com",
                      MODE_OFFLINE);
    util_strlcpy(r.system, "nosuch", sizeof(r.system));
    ck_assert_int_eq(sysconfig_resolve(js, &r, &g, err, sizeof(err)), -JOBSTORE_EINVALID);
    ck_assert_msg(strstr(err, "nosuch") != NULL, "%s", err);
    r.system[0] = '\0';
    r.config_version = vc + 100;
    ck_assert_int_eq(sysconfig_resolve(js, &r, &g, err, sizeof(err)), -JOBSTORE_EINVALID);
    unit_move_request(&r, "x.example.com", "a.example.com", "b.example.com", MODE_OFFLINE);
    ck_assert_int_eq(sysconfig_resolve(js, &r, &g, err, sizeof(err)), -JOBSTORE_ENOTFOUND);
    ck_assert_str_eq(r.system, "");
    free(exa);
    free(cld);
}
END_TEST

typedef struct move_ctx {
    const char *guest, *to;
} move_ctx;

static int move_edit(void *ctx, esxml *doc, char *errstr, size_t errstr_size)
{
    const move_ctx *m = ctx;
    return esxml_guest_move(doc, m->guest, m->to, errstr, errstr_size);
}

static const char *placed_on(const esxml *doc, const char *guest)
{
    const esxml_host *h = esxml_guest_host(doc, esxml_guest_find(doc, guest));
    return h ? h->hostname : "";
}

/* A change made from an older version than the newest is applied to the newest: two moves that
 * overlapped both stay (the lost update of issue 13). The held document saves the parse only
 * when it is the newest. */
UNIT_TEST(test_update_rebased)
{
    char err[1024] = "";
    char *exa = fixture_text("exa01.xml");
    esxml *started = NULL, *doc = NULL;
    sysconfig_change a, b;
    move_ctx ma = {"exa01vm01.example.com", "exa01adm06.example.com"};
    move_ctx mb = {"EXA01VM02.example.com", "exa01adm05.example.com"};
    long v1 = 0, v2 = 0, v3 = 0, got = 0;

    ck_assert_msg(store_text(exa, &v1, err, sizeof(err)) == 0, "%s", err);
    /* both jobs start from version 1 */
    ck_assert_int_eq(sysconfig_load(js, "exa01", 0, schema, &started, NULL, err, sizeof(err)), 0);
    sysconfig_change_init(&a, "exa01", "migration-deployed", "a", schema, move_edit, &ma);
    a.held = started;
    a.held_version = v1;
    ck_assert_msg(sysconfig_update(js, &a, &v2, err, sizeof(err)) == 0, "%s", err);
    ck_assert_ptr_null(a.held); /* used: it was the newest */
    esxml_free(started);
    ck_assert_int_eq(sysconfig_load(js, NULL, v1, schema, &started, NULL, err, sizeof(err)), 0);
    sysconfig_change_init(&b, "exa01", "migration-deployed", "b", schema, move_edit, &mb);
    b.held = started;
    b.held_version = v1;
    ck_assert_msg(sysconfig_update(js, &b, &v3, err, sizeof(err)) == 0, "%s", err);
    ck_assert_ptr_nonnull(b.held); /* not the newest: version 2 was loaded instead */
    ck_assert_int_gt(v3, v2);
    ck_assert_int_eq(sysconfig_load(js, "exa01", 0, schema, &doc, &got, err, sizeof(err)), 0);
    ck_assert_int_eq(got, v3);
    ck_assert_str_eq(placed_on(doc, "exa01vm01.example.com"), "exa01adm06.example.com");
    ck_assert_str_eq(placed_on(doc, "exa01vm02.example.com"), "exa01adm05.example.com");
    esxml_free(doc);
    /* a change that fails stores nothing; best effort says why and lets the commit go on */
    mb.to = "exa01adm99.example.com";
    sysconfig_change_init(&b, "exa01", "migration-deployed", "b", schema, move_edit, &mb);
    ck_assert_int_eq(sysconfig_update(js, &b, &got, err, sizeof(err)), -JOBSTORE_EINVALID);
    ck_assert_msg(strstr(err, "exa01adm99") != NULL, "%s", err);
    b.best_effort = 1;
    ck_assert_int_eq(sysconfig_update(js, &b, &got, err, sizeof(err)), 0);
    ck_assert_int_eq(got, 0);
    ck_assert_msg(strstr(b.error, "exa01adm99") != NULL, "%s", b.error);
    esxml_free(started);
    free(exa);
}
END_TEST

/* The cache loads the newest version of a system once, and again when a newer one is stored. */
UNIT_TEST(test_cache)
{
    char err[1024] = "";
    char *exa = fixture_text("exa01.xml"), *cld = fixture_text("cld02.xml");
    sysconfig_cache *c = sysconfig_cache_new(1);
    const esxml *d1 = NULL, *d2 = NULL, *d3 = NULL;
    long v = 0, got = 0;

    ck_assert_ptr_nonnull(c);
    ck_assert_msg(store_text(exa, &v, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(store_text(cld, &v, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(sysconfig_cache_newest(c, js, "exa01", schema, &d1, &got, err, sizeof(err)),
                     0);
    ck_assert_int_eq(sysconfig_cache_newest(c, js, "exa01", schema, &d2, &got, err, sizeof(err)),
                     0);
    ck_assert_ptr_eq(d1, d2);
    ck_assert_msg(store_text(exa, &v, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(sysconfig_cache_newest(c, js, "exa01", schema, &d3, &got, err, sizeof(err)),
                     0);
    ck_assert_int_eq(got, v);
    ck_assert_int_eq(sysconfig_cache_newest(c, js, "cld02", schema, &d3, &got, err, sizeof(err)),
                     0);
    ck_assert_str_eq(esxml_system_name(d3), "cld02");
    sysconfig_cache_free(c);
    free(exa);
    free(cld);
}
END_TEST

int main(void)
{
    return unit_main("sysconfig");
}
