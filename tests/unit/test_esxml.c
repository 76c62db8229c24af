/* test_esxml: Check suite for lib/esxml (fixture tests/fixtures/exa01.xml and
 * tests/fixtures/esxml/). */
#include "esxml.h"
#include "names.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_run.h"

static char g_fixture[4096];
static char g_xsd[4096];
static char g_dir[4096];

static void paths_init(void)
{
    const char *src = getenv("KVMOVE_SOURCE_DIR");

    if (src == NULL || src[0] == '\0')
        src = ".";
    snprintf(g_fixture, sizeof(g_fixture), "%s/tests/fixtures/exa01.xml", src);
    snprintf(g_xsd, sizeof(g_xsd), "%s/schema/es.xsd", src);
    snprintf(g_dir, sizeof(g_dir), "%s/tests/fixtures/esxml", src);
}

static esxml *load_fixture(void)
{
    char err[1024] = "";
    esxml *doc = NULL;

    ck_assert_msg(esxml_load_file(g_fixture, g_xsd, &doc, err, sizeof(err)) == 0, "loading %s: %s",
                  g_fixture, err);
    ck_assert_ptr_nonnull(doc);
    return doc;
}

/* ---- the spec's system ------------------------------------------------------------------ */

UNIT_TCASE("load");
UNIT_TCASE("reject");
UNIT_TCASE("edit");

UNIT_TEST(test_system)
{
    esxml *doc = load_fixture();

    ck_assert_str_eq(esxml_system_name(doc), "exa01");
    ck_assert_int_eq(esxml_is_cloud(doc), 0);
    ck_assert_int_eq(esxml_uses_exascale(doc), 1);
    ck_assert_str_eq(esxml_exascale_cluster(doc), "exa01exc");
    ck_assert_str_eq(esxml_exascale_vault(doc), "vmvault");
    ck_assert_uint_eq(esxml_storage_server_count(doc), 3);
    ck_assert_str_eq(esxml_storage_server(doc, 0), "exa01celadm01.example.com");
    ck_assert_str_eq(esxml_storage_server(doc, 2), "exa01celadm03.example.com");
    ck_assert_ptr_null(esxml_storage_server(doc, 3));
    ck_assert_uint_eq(esxml_host_count(doc), 6);
    ck_assert_uint_eq(esxml_guest_count(doc), 3);
    ck_assert_ptr_null(esxml_host_at(doc, 6));
    ck_assert_ptr_null(esxml_guest_at(doc, 3));
    esxml_free(doc);
}
END_TEST

static const struct {
    const char *hostname;
    const char *id;
    const char *admin_ip;
    const char *software_version;
    const char *guests; /* space-separated guest ids */
} host_cases[] = {
    {"exa01adm01.example.com", "exa01adm01_id", "127.0.1.1", "25.1.0.0.0.250101", "exa01vm03_id"},
    {"exa01adm02.example.com", "exa01adm02_id", "127.0.1.2", "25.1.0.0.0.250101",
     "exa01vm01_id exa01vm02_id"},
    {"exa01adm03.example.com", "exa01adm03_id", "127.0.1.3", "25.1.0.0.0.250101", ""},
    {"exa01adm04.example.com", "exa01adm04_id", "127.0.1.4", "25.1.0.0.0.250101", ""},
    {"exa01adm05.example.com", "exa01adm05_id", "127.0.1.5", "25.1.0.0.0.250101", ""},
    {"EXA01ADM06.example.com", "exa01adm06_id", "127.0.1.6", "25.1.1.0.0.250301", ""},
};

UNIT_LOOP(test_hosts, host_cases)
{
    esxml *doc = load_fixture();
    const esxml_host *h = esxml_host_find(doc, host_cases[_i].hostname);
    char ids[512] = "";
    size_t k;

    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_eq(h, esxml_host_at(doc, (size_t)_i));
    ck_assert_str_eq(h->id, host_cases[_i].id);
    ck_assert_str_eq(h->admin_ip, host_cases[_i].admin_ip);
    ck_assert_str_eq(h->software_version, host_cases[_i].software_version);
    ck_assert_str_eq(h->model, "X8M-2");
    ck_assert_str_eq(h->fabric, "RoCE");
    ck_assert_int_eq(h->sockets, 2);
    ck_assert_int_eq(h->cores, 48);
    ck_assert_int_eq(h->memory_mb, 131072);
    ck_assert_int_eq(h->vf_pools, 1);
    ck_assert_int_eq(h->liveupdate_pending, 0);
    for (k = 0; k < h->n_guests; k++) {
        if (k > 0)
            strcat(ids, " ");
        strcat(ids, h->guest_ids[k]);
    }
    ck_assert_str_eq(ids, host_cases[_i].guests);
    esxml_free(doc);
}
END_TEST

static const struct {
    const char *hostname;
    const char *id;
    int cores;
    long memory_mb;
    const char *host;
    size_t n_volumes;
    const char *config_device;
} guest_cases[] = {
    {"exa01vm01.example.com", "exa01vm01_id", 4, 16384, "exa01adm02.example.com", 5,
     "exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f"},
    {"exa01vm02.example.com", "exa01vm02_id", 4, 16384, "exa01adm02.example.com", 3,
     "exa01vm02_cfg_2d1f6e8b5c3a4f9e0b7c4d3e2f1a0b9c"},
    {"Exa01vm03.Example.com", "exa01vm03_id", 8, 32768, "exa01adm01.example.com", 3,
     "exa01vm03_cfg_5a4c9b1e8f6d4c2b3e0f7a6b5c4d3e2f"},
};

UNIT_LOOP(test_guests, guest_cases)
{
    esxml *doc = load_fixture();
    const esxml_guest *g = esxml_guest_find(doc, guest_cases[_i].hostname);
    const esxml_host *h;
    const char *cfg = NULL;
    size_t k, n_cfg = 0;

    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_eq(g, esxml_guest_at(doc, (size_t)_i));
    ck_assert_ptr_eq(g, esxml_guest_find_id(doc, guest_cases[_i].id));
    ck_assert_int_eq(g->cores, guest_cases[_i].cores);
    ck_assert_int_eq(g->memory_mb, guest_cases[_i].memory_mb);
    ck_assert_int_eq(g->liveupdate_pending, 0);
    h = esxml_guest_host(doc, g);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(h->hostname, guest_cases[_i].host);
    ck_assert_uint_eq(g->n_volumes, guest_cases[_i].n_volumes);
    for (k = 0; k < g->n_volumes; k++) {
        if (g->volumes[k].is_config) {
            n_cfg++;
            cfg = g->volumes[k].device;
        }
    }
    ck_assert_uint_eq(n_cfg, 1);
    ck_assert_str_eq(cfg, guest_cases[_i].config_device);
    ck_assert_uint_eq(g->n_networks, 4);
    esxml_free(doc);
}
END_TEST

/* The five EDV volumes of the spec's log, in its order. */
static const esxml_volume vm01_volumes[] = {
    {"exa01vm01_sys", "exa01vm01_sys_95d9f89aeacf4e7f8997972b2e1354ff", 0},
    {"exa01vm01_cfg", "exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f", 1},
    {"exa01vm01_gih01", "exa01vm01_gih01_5ea0689d6e4f4eedbde29fcf3f9f618d", 0},
    {"exa01vm01_dbh01", "exa01vm01_dbh01_95370e3d9cfe49639c8943a659137265", 0},
    {"exa01vm01_u01", "exa01vm01_u01_0b66086a58474595a3d2f00b1bd7bb63", 0},
};

UNIT_LOOP(test_vm01_volumes, vm01_volumes)
{
    esxml *doc = load_fixture();
    const esxml_guest *g = esxml_guest_find(doc, "exa01vm01.example.com");

    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->n_volumes, 5);
    ck_assert_str_eq(g->volumes[_i].name, vm01_volumes[_i].name);
    ck_assert_str_eq(g->volumes[_i].device, vm01_volumes[_i].device);
    ck_assert_int_eq(g->volumes[_i].is_config, vm01_volumes[_i].is_config);
    esxml_free(doc);
}
END_TEST

static const esxml_network vm01_networks[] = {
    {"exa01vm01_client", "client", "vmbondeth0.101", 101, "eth0", NULL},
    {"exa01vm01_backup", "backup", "vmbondeth1.102", 102, "eth1", NULL},
    {"exa01vm01_priv0", "private", NULL, 0, "re0", NULL},
    {"exa01vm01_priv1", "private", NULL, 0, "re1", NULL},
};

UNIT_LOOP(test_vm01_networks, vm01_networks)
{
    esxml *doc = load_fixture();
    const esxml_guest *g = esxml_guest_find(doc, "exa01vm01.example.com");
    const esxml_network *n, *want = &vm01_networks[_i];

    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->n_networks, 4);
    n = &g->networks[_i];
    ck_assert_str_eq(n->name, want->name);
    ck_assert_str_eq(n->type, want->type);
    if (want->bridge == NULL)
        ck_assert_ptr_null(n->bridge);
    else
        ck_assert_str_eq(n->bridge, want->bridge);
    ck_assert_int_eq(n->vlan, want->vlan);
    ck_assert_str_eq(n->iface, want->iface);
    ck_assert_ptr_null(n->nat_bridge);
    esxml_free(doc);
}
END_TEST

UNIT_TEST(test_actions)
{
    esxml *doc = load_fixture();
    const esxml_action *a;

    ck_assert_uint_eq(esxml_action_count(doc), 1);
    a = esxml_action_at(doc, 0);
    ck_assert_int_eq(a->id, 27);
    ck_assert_int_eq(a->merged, 1);
    ck_assert_int_eq(a->deployed, 1);
    ck_assert_str_eq(a->subcommand,
                     "ADD GUEST HOSTNAME=exa01vm03.example.com SRCHOST=exa01adm01.example.com");
    ck_assert_ptr_null(esxml_action_at(doc, 1));
    esxml_free(doc);
    esxml_free(NULL);
}
END_TEST

static const char *const unknown_names[] = {"exa01vm09.example.com", "exa01vm01", "",
                                            "exa01adm02.example.com"};

UNIT_LOOP(test_lookup_misses, unknown_names)
{
    esxml *doc = load_fixture();

    ck_assert_ptr_null(esxml_guest_find(doc, unknown_names[_i]));
    ck_assert_ptr_null(esxml_guest_find_id(doc, unknown_names[_i]));
    if (_i != 3) /* exa01adm02 is a host, and must not be found as a guest */
        ck_assert_ptr_null(esxml_host_find(doc, unknown_names[_i]));
    else
        ck_assert_ptr_nonnull(esxml_host_find(doc, unknown_names[_i]));
    ck_assert_ptr_null(esxml_guest_find(doc, NULL));
    ck_assert_ptr_null(esxml_host_find(doc, NULL));
    esxml_free(doc);
}
END_TEST

/* ---- names: one comparison rule, the es.xml spelling is canonical ----------------------- */

static const struct {
    const char *given; /* as a request might spell it */
    const char *guest; /* esxml_guest_canonical_name, NULL: not a guest */
    const char *host;  /* esxml_host_canonical_name, NULL: not a KVM host */
} canonical_cases[] = {
    {"exa01vm01.example.com", "exa01vm01.example.com", NULL},
    {"EXA01VM01.EXAMPLE.COM", "exa01vm01.example.com", NULL},
    {"Exa01Vm02.example.COM", "exa01vm02.example.com", NULL},
    {"exa01adm02.example.com", NULL, "exa01adm02.example.com"},
    {"EXA01ADM06.Example.Com", NULL, "exa01adm06.example.com"},
    {"exa01vm01", NULL, NULL}, /* short names are not hostnames */
    {"exa01vm01.example.com.", NULL, NULL},
    {"exa01vm01_id", NULL, NULL}, /* ids are not names */
    {"", NULL, NULL},
    {NULL, NULL, NULL},
};

UNIT_LOOP(test_canonical_names, canonical_cases)
{
    esxml *doc = load_fixture();
    const char *given = canonical_cases[_i].given;
    const char *g = esxml_guest_canonical_name(doc, given);
    const char *h = esxml_host_canonical_name(doc, given);

    if (canonical_cases[_i].guest == NULL)
        ck_assert_ptr_null(g);
    else
        ck_assert_str_eq(g, canonical_cases[_i].guest);
    if (canonical_cases[_i].host == NULL)
        ck_assert_ptr_null(h);
    else
        ck_assert_str_eq(h, canonical_cases[_i].host);
    /* The canonical name is the view's own hostname field, and finds the same view. */
    if (g != NULL) {
        ck_assert_ptr_eq(g, esxml_guest_find(doc, given)->hostname);
        ck_assert_int_eq(esxml_name_equal(g, given), 1);
    }
    if (h != NULL)
        ck_assert_ptr_eq(h, esxml_host_find(doc, given)->hostname);
    esxml_free(doc);
}
END_TEST

/* The spelling survives edits: views rebuilt after a move keep es.xml's names, and a name
 * taken before the edit stays readable. */
UNIT_TEST(test_canonical_after_edit)
{
    char err[512];
    esxml *doc = load_fixture();
    const char *before = esxml_guest_canonical_name(doc, "EXA01VM01.example.com");

    ck_assert_int_eq(
        esxml_guest_move(doc, "EXA01VM01.example.com", "exa01ADM03.example.com", err, sizeof(err)),
        0);
    ck_assert_str_eq(before, "exa01vm01.example.com");
    ck_assert_str_eq(esxml_guest_canonical_name(doc, "exa01vm01.EXAMPLE.com"),
                     "exa01vm01.example.com");
    ck_assert_str_eq(
        esxml_guest_host(doc, esxml_guest_find(doc, "Exa01vm01.example.com"))->hostname,
        "exa01adm03.example.com");
    esxml_free(doc);
}
END_TEST

static const struct {
    const char *a, *b;
    int equal;
} name_pairs[] = {
    {"exa01vm01.example.com", "EXA01VM01.EXAMPLE.COM", 1},
    {"a-b.c", "A-B.C", 1},
    {"exa01vm01.example.com", "exa01vm01.example.co", 0},
    {"exa01vm01", "exa01vm01.example.com", 0},
    {"a_b", "a-b", 0},
    {"", "", 1},
    {"x", NULL, 0},
    {NULL, NULL, 0},
};

UNIT_LOOP(test_name_equal, name_pairs)
{
    ck_assert_int_eq(esxml_name_equal(name_pairs[_i].a, name_pairs[_i].b), name_pairs[_i].equal);
    ck_assert_int_eq(esxml_name_equal(name_pairs[_i].b, name_pairs[_i].a), name_pairs[_i].equal);
}
END_TEST

/* Many machines: every lookup by index must find the machine a linear scan would. The document
 * has K hosts with G guests each, written here (no fixture file is that large). */
static char *many_machines(int hosts, int per_host, size_t *len)
{
    size_t cap = (size_t)hosts * (size_t)per_host * 1024 + 65536, n = 0;
    char *b = malloc(cap);
    int h, g;

#define PUT(...) (n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__))
    ck_assert_ptr_nonnull(b);
    PUT("<engineeredSystem name=\"big\" deploymentType=\"onpremise\"><machines>");
    for (h = 0; h < hosts; h++) {
        PUT("<machine id=\"h%d\"><osType>LinuxKVM</osType><hostName>big%03d.example.com"
            "</hostName>",
            h, h);
        for (g = 0; g < per_host; g++)
            PUT("<machine id=\"g%d\"/>", h * per_host + g);
        PUT("</machine>");
    }
    for (g = 0; g < hosts * per_host; g++)
        PUT("<machine id=\"g%d\"><osType>LinuxKVMGuest</osType><hostName>BigVm%05d.Example.com"
            "</hostName><guestCores>1</guestCores><guestMemory>1024</guestMemory><edvVolumes>"
            "<edvVolume id=\"v%d\"/></edvVolumes><networks><network id=\"n%d\"/></networks>"
            "</machine>",
            g, g, g, g);
    PUT("</machines><networks>");
    for (g = 0; g < hosts * per_host; g++)
        PUT("<network id=\"n%d\"><networkType>private</networkType><interfaceName>re0"
            "</interfaceName></network>",
            g);
    PUT("</networks><storage><edvVolumes>");
    for (g = 0; g < hosts * per_host; g++)
        PUT("<edvVolume id=\"v%d\"><name>bigvm%05d_cfg</name><device>bigvm%05d_cfg_d</device>"
            "<role>config</role></edvVolume>",
            g, g, g);
    PUT("</edvVolumes></storage></engineeredSystem>");
#undef PUT
    ck_assert_uint_lt(n, cap);
    *len = n;
    return b;
}

UNIT_TEST(test_many_machines)
{
    const int hosts = 16, per_host = 200;
    char err[1024] = "", name[64], id[32];
    size_t len;
    char *xml = many_machines(hosts, per_host, &len);
    esxml *doc = NULL;
    int g;

    ck_assert_msg(esxml_load_buffer(xml, len, g_xsd, &doc, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(esxml_guest_count(doc), (size_t)(hosts * per_host));
    ck_assert_uint_eq(esxml_host_count(doc), (size_t)hosts);
    for (g = 0; g < hosts * per_host; g++) {
        const esxml_guest *v;
        const esxml_host *h;

        snprintf(name, sizeof(name), "bigvm%05d.example.com", g);
        snprintf(id, sizeof(id), "g%d", g);
        v = esxml_guest_find(doc, name);
        ck_assert_ptr_nonnull(v);
        ck_assert_ptr_eq(v, esxml_guest_at(doc, (size_t)g));
        ck_assert_ptr_eq(v, esxml_guest_find_id(doc, id));
        ck_assert_str_eq(v->volumes[0].device, esxml_guest_at(doc, (size_t)g)->volumes[0].device);
        h = esxml_guest_host(doc, v);
        ck_assert_ptr_eq(h, esxml_host_at(doc, (size_t)(g / per_host)));
        ck_assert_ptr_null(esxml_host_find(doc, name));
    }
    ck_assert_ptr_nonnull(esxml_host_find(doc, "BIG015.example.com"));
    ck_assert_ptr_null(esxml_guest_find_id(doc, "h3")); /* a host's id */
    ck_assert_ptr_null(esxml_guest_find(doc, "bigvm99999.example.com"));
    esxml_free(doc);
    free(xml);
}
END_TEST

/* Threads validating at once (the worker's executors do): each gets a compiled schema of its
 * own, and every load still validates (wrong_order.xml is refused by the schema alone). */
static void *load_many(void *arg)
{
    char path[4200], err[1024];
    int i, *bad = arg;

    snprintf(path, sizeof(path), "%s/wrong_order.xml", g_dir);
    for (i = 0; i < 25; i++) {
        esxml *doc = NULL;
        if (esxml_load_file(g_fixture, g_xsd, &doc, err, sizeof(err)) != 0)
            (*bad)++;
        esxml_free(doc);
        if (esxml_load_file(path, g_xsd, &doc, err, sizeof(err)) != -1 ||
            strstr(err, "does not match the schema") == NULL)
            (*bad)++;
    }
    return NULL;
}

UNIT_TEST(test_threads_validate)
{
    pthread_t t[4];
    int bad[4] = {0, 0, 0, 0}, i;

    for (i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, load_many, &bad[i]), 0);
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(bad[i], 0);
    }
}
END_TEST

/* esxml's own name checks must never accept what lib/names refuses later, right before a
 * host command is built: every name the loaders accept passes name_check(). */
static void names_all_pass(const esxml *doc)
{
    char err[512];
    size_t i, k;

    for (i = 0; i < esxml_host_count(doc); i++) {
        const esxml_host *h = esxml_host_at(doc, i);
        ck_assert_msg(name_check(NAME_HOST, "host", h->hostname, err, sizeof(err)) == 0, "%s", err);
        if (h->admin_ip != NULL)
            ck_assert_msg(name_check(NAME_HOST, "admin", h->admin_ip, err, sizeof(err)) == 0, "%s",
                          err);
    }
    for (i = 0; i < esxml_guest_count(doc); i++) {
        const esxml_guest *g = esxml_guest_at(doc, i);
        ck_assert_msg(name_check(NAME_GUEST, "guest", g->hostname, err, sizeof(err)) == 0, "%s",
                      err);
        for (k = 0; k < g->n_volumes; k++) {
            ck_assert_int_eq(name_check(NAME_VOLUME, "v", g->volumes[k].name, err, sizeof(err)), 0);
            ck_assert_int_eq(name_check(NAME_DEVICE, "d", g->volumes[k].device, err, sizeof(err)),
                             0);
        }
        for (k = 0; k < g->n_networks; k++) {
            const esxml_network *n = &g->networks[k];
            ck_assert_int_eq(name_check(NAME_IFACE, "i", n->iface, err, sizeof(err)), 0);
            if (n->bridge != NULL)
                ck_assert_int_eq(name_check(NAME_BRIDGE, "b", n->bridge, err, sizeof(err)), 0);
            if (n->nat_bridge != NULL)
                ck_assert_int_eq(name_check(NAME_BRIDGE, "b", n->nat_bridge, err, sizeof(err)), 0);
        }
    }
}

static const char *const good_files[] = {"exa01.xml", "cld02.xml", "rac01.xml", "esxml/minimal.xml",
                                         "esxml/cloud.xml"};

/* tests/fixtures/rac01.xml: rac01vm01 and rac01vm03 form VM cluster rac01c1; rac01vm02 is in
 * none. The one rule says who may not share a host, also after an edit rebuilds the views. */
UNIT_TEST(test_vm_clusters)
{
    char path[4200], err[1024] = "";
    const char *src = getenv("KVMOVE_SOURCE_DIR");
    esxml *doc = NULL;
    const esxml_guest *a, *b, *c;

    snprintf(path, sizeof(path), "%s/tests/fixtures/rac01.xml", src && *src ? src : ".");
    ck_assert_msg(esxml_load_file(path, g_xsd, &doc, err, sizeof(err)) == 0, "%s", err);
    a = esxml_guest_find(doc, "rac01vm01.example.com");
    b = esxml_guest_find(doc, "RAC01VM03.example.com");
    c = esxml_guest_find(doc, "rac01vm02.example.com");
    ck_assert_str_eq(a->vm_cluster, "rac01c1");
    ck_assert_str_eq(b->vm_cluster, "rac01c1");
    ck_assert_ptr_null(c->vm_cluster);
    ck_assert_int_eq(esxml_vm_cluster_peers(a, b), 1);
    ck_assert_int_eq(esxml_vm_cluster_peers(b, a), 1);
    ck_assert_int_eq(esxml_vm_cluster_peers(a, a), 0); /* not its own peer */
    ck_assert_int_eq(esxml_vm_cluster_peers(a, c), 0);
    ck_assert_int_eq(esxml_vm_cluster_peers(c, c), 0);
    ck_assert_int_eq(esxml_vm_cluster_peers(NULL, a), 0);
    ck_assert_int_eq(
        esxml_guest_move(doc, "rac01vm01.example.com", "rac01adm04.example.com", err, sizeof(err)),
        0);
    ck_assert_str_eq(esxml_guest_find(doc, "rac01vm01.example.com")->vm_cluster, "rac01c1");
    ck_assert_int_eq(esxml_action_add(doc, "MIGRATE GUEST HOSTNAME=rac01vm02.example.com", NULL,
                                      err, sizeof(err)),
                     0);
    {
        char *buf = NULL;
        size_t len = 0;
        esxml *back = NULL;
        ck_assert_int_eq(esxml_dump(doc, &buf, &len, err, sizeof(err)), 0);
        /* <clusters> stays before <actions>, so the written document still validates */
        ck_assert_msg(esxml_load_buffer(buf, len, g_xsd, &back, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(esxml_guest_find(back, "rac01vm03.example.com")->vm_cluster, "rac01c1");
        esxml_free(back);
        free(buf);
    }
    esxml_free(doc);
}
END_TEST

UNIT_LOOP(test_names_agree, good_files)
{
    char path[4200], err[1024] = "";
    const char *src = getenv("KVMOVE_SOURCE_DIR");
    esxml *doc = NULL;

    snprintf(path, sizeof(path), "%s/tests/fixtures/%s", src && *src ? src : ".", good_files[_i]);
    ck_assert_msg(esxml_load_file(path, g_xsd, &doc, err, sizeof(err)) == 0, "%s", err);
    names_all_pass(doc);
    esxml_free(doc);
}
END_TEST

UNIT_TEST(test_cloud_fixture)
{
    char path[4200], err[1024] = "";
    esxml *doc = NULL;
    const esxml_guest *g;
    const esxml_host *h;

    snprintf(path, sizeof(path), "%s/cloud.xml", g_dir);
    ck_assert_msg(esxml_load_file(path, g_xsd, &doc, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(esxml_is_cloud(doc), 1);
    ck_assert_uint_eq(esxml_storage_server_count(doc), 0);
    h = esxml_host_find(doc, "cl01adm01.example.com");
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_null(h->admin_ip);
    ck_assert_str_eq(h->fabric, "InfiniBand");
    ck_assert_int_eq(h->vf_pools, 0);
    ck_assert_int_eq(h->liveupdate_pending, 1);
    ck_assert_uint_eq(h->n_guests, 0);
    g = esxml_guest_find(doc, "cl01vm01.example.com");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->liveupdate_pending, 1);
    ck_assert_ptr_null(esxml_guest_host(doc, g)); /* placed on no host */
    ck_assert_uint_eq(g->n_volumes, 0);
    ck_assert_uint_eq(g->n_networks, 1);
    ck_assert_str_eq(g->networks[0].nat_bridge, "vmeth0nat");
    ck_assert_int_eq(g->networks[0].vlan, 7);
    esxml_free(doc);
}
END_TEST

/* The second system (tests/fixtures/cld02.xml): what sets it apart from exa01 is read. */
static const struct {
    const char *host;
    int vf_pools;
    const char *version;
    const char *guests; /* ids */
} cld02_hosts[] = {
    {"cld02kvm01.dbcloud.example.net", 1, "25.1.0.0.0.250101", "cld02vm01_id cld02vm02_id"},
    {"cld02kvm02.dbcloud.example.net", 0, "25.1.2.0.0.250415", "cld02vm03_id cld02vm04_id"},
    {"cld02kvm03.dbcloud.example.net", 1, "25.2.0.0.0.250801", "cld02vm05_id"},
    {"cld02kvm04.dbcloud.example.net", 0, "25.2.0.0.0.250801", ""},
};

UNIT_LOOP(test_cld02_hosts, cld02_hosts)
{
    char path[4200], err[1024] = "", ids[256] = "";
    const char *src = getenv("KVMOVE_SOURCE_DIR");
    esxml *doc = NULL;
    const esxml_host *h;
    size_t k;

    snprintf(path, sizeof(path), "%s/tests/fixtures/cld02.xml", src && *src ? src : ".");
    ck_assert_msg(esxml_load_file(path, g_xsd, &doc, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(esxml_system_name(doc), "cld02");
    ck_assert_int_eq(esxml_is_cloud(doc), 1);
    ck_assert_uint_eq(esxml_host_count(doc), 4);
    ck_assert_uint_eq(esxml_guest_count(doc), 5);
    h = esxml_host_find(doc, cld02_hosts[_i].host);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(h->vf_pools, cld02_hosts[_i].vf_pools);
    ck_assert_str_eq(h->software_version, cld02_hosts[_i].version);
    for (k = 0; k < h->n_guests; k++)
        snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%s", k ? " " : "",
                 h->guest_ids[k]);
    ck_assert_str_eq(ids, cld02_hosts[_i].guests);
    esxml_free(doc);
}
END_TEST

/* esxml_bridge_in_use on cld02: a bridge or NAT bridge stays while another guest of the host
 * uses it; the guest itself, other hosts' guests and unknown names do not count. */
static const struct {
    const char *host, *except, *bridge;
    int expected;
} bridge_use_cases[] = {
    /* kvm01 holds vm01 and vm02, which share vmbondeth0.3001 and NAT bridge vmnat0.3001 */
    {"cld02kvm01.dbcloud.example.net", "cld02vm01.dbcloud.example.net", "vmbondeth0.3001", 1},
    {"cld02kvm01.dbcloud.example.net", "cld02vm01.dbcloud.example.net", "vmnat0.3001", 1},
    /* only vm01 uses the untagged backup bridge there */
    {"cld02kvm01.dbcloud.example.net", "cld02vm01.dbcloud.example.net", "vmbondeth1", 0},
    {"cld02kvm01.dbcloud.example.net", NULL, "vmbondeth1", 1},
    /* vm05 is alone on kvm03: its NAT bridge is its own */
    {"cld02kvm03.dbcloud.example.net", "cld02vm05.dbcloud.example.net", "vmnat0.3003", 0},
    /* another host's guests do not count */
    {"cld02kvm04.dbcloud.example.net", NULL, "vmnat0.3001", 0},
    /* names compare exactly (Linux interface names are case-sensitive) */
    {"cld02kvm01.dbcloud.example.net", NULL, "VMNAT0.3001", 0},
    {"cld02kvm02.dbcloud.example.net", "cld02vm03.dbcloud.example.net", "vmnat0.3002", 1},
    {"cld02kvm02.dbcloud.example.net", "CLD02VM04.dbcloud.example.net", "vmbondeth1.3102", 1},
    {"cld02kvm02.dbcloud.example.net", "cld02vm03.dbcloud.example.net", "vmbondeth1.3102", 0},
};

UNIT_LOOP(test_cld02_bridge_in_use, bridge_use_cases)
{
    char path[4200], err[1024] = "";
    const char *src = getenv("KVMOVE_SOURCE_DIR");
    esxml *doc = NULL;
    const esxml_host *h;
    const esxml_guest *except = NULL;

    snprintf(path, sizeof(path), "%s/tests/fixtures/cld02.xml", src && *src ? src : ".");
    ck_assert_msg(esxml_load_file(path, g_xsd, &doc, err, sizeof(err)) == 0, "%s", err);
    h = esxml_host_find(doc, bridge_use_cases[_i].host);
    ck_assert_ptr_nonnull(h);
    if (bridge_use_cases[_i].except) {
        except = esxml_guest_find(doc, bridge_use_cases[_i].except);
        ck_assert_ptr_nonnull(except);
    }
    ck_assert_int_eq(esxml_bridge_in_use(doc, h, except, bridge_use_cases[_i].bridge),
                     bridge_use_cases[_i].expected);
    ck_assert_int_eq(esxml_bridge_in_use(doc, NULL, except, bridge_use_cases[_i].bridge), 0);
    ck_assert_int_eq(esxml_bridge_in_use(doc, h, except, NULL), 0);
    esxml_free(doc);
}
END_TEST

UNIT_TEST(test_cld02_guests)
{
    char path[4200], err[1024] = "";
    const char *src = getenv("KVMOVE_SOURCE_DIR");
    esxml *doc = NULL;
    const esxml_guest *a, *b, *g4, *g5;
    size_t i;

    snprintf(path, sizeof(path), "%s/tests/fixtures/cld02.xml", src && *src ? src : ".");
    ck_assert_msg(esxml_load_file(path, g_xsd, &doc, err, sizeof(err)) == 0, "%s", err);
    a = esxml_guest_find(doc, "cld02vm01.dbcloud.example.net");
    b = esxml_guest_find(doc, "cld02vm02.dbcloud.example.net");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(a->n_volumes, 4);
    ck_assert_uint_eq(b->n_volumes, 3);
    /* Two guests of one host share the client bridge and its NAT bridge. */
    ck_assert_str_eq(a->networks[0].nat_bridge, "vmnat0.3001");
    ck_assert_str_eq(b->networks[0].nat_bridge, "vmnat0.3001");
    ck_assert_str_eq(a->networks[0].bridge, b->networks[0].bridge);
    /* An untagged backup bridge. */
    ck_assert_str_eq(a->networks[1].bridge, "vmbondeth1");
    ck_assert_int_eq(a->networks[1].vlan, 0);
    ck_assert_ptr_null(a->networks[1].nat_bridge);
    /* Spelled in upper case in es.xml: found in any case, named as es.xml spells it. */
    g4 = esxml_guest_find(doc, "cld02vm04.dbcloud.example.net");
    ck_assert_ptr_nonnull(g4);
    ck_assert_str_eq(g4->hostname, "CLD02VM04.dbcloud.example.net");
    ck_assert_str_eq(esxml_guest_canonical_name(doc, "cld02vm04.DBCLOUD.example.net"),
                     "CLD02VM04.dbcloud.example.net");
    /* One RoCE interface only. */
    g5 = esxml_guest_find(doc, "cld02vm05.dbcloud.example.net");
    ck_assert_uint_eq(g5->n_networks, 2);
    ck_assert_str_eq(g5->networks[1].iface, "re0");
    for (i = 0; i < esxml_guest_count(doc); i++) {
        const esxml_guest *g = esxml_guest_at(doc, i);
        ck_assert_uint_ge(g->n_volumes, 3);
        ck_assert_uint_le(g->n_volumes, 4);
        ck_assert_ptr_nonnull(esxml_guest_host(doc, g));
    }
    esxml_free(doc);
}
END_TEST

/* ---- negative fixtures: each must fail, with XSD and without (the C checks alone) --------- */

static const struct {
    const char *file;
    const char *err_plain; /* expected substring without the schema; NULL: loads fine */
    const char *err_xsd;   /* expected substring with the schema */
} bad_cases[] = {
    {"dangling_guest.xml",
     "line 8: KVM host h1.example.com places machine g9_id, which is not "
     "defined in es.xml",
     NULL},
    {"dangling_volume.xml",
     "line 16: guest g1.example.com uses EDV volume g1_u01_vol, which is "
     "not defined in es.xml",
     NULL},
    {"dangling_network.xml",
     "line 19: guest g1.example.com uses network g1_backup, which is not "
     "defined in es.xml",
     NULL},
    {"duplicate_id.xml", "line 10: machine id g1_id is defined twice", NULL},
    {"two_hosts.xml",
     "guest g1.example.com is placed on two KVM hosts, h1.example.com and "
     "h2.example.com",
     NULL},
    {"shared_volume.xml", "EDV volume g1_cfg_vol is used by two guests", NULL},
    {"entity_xxe.xml", "line 3: a DOCTYPE is not allowed", NULL},
    {"entity_laughs.xml", "line 3: a DOCTYPE is not allowed", NULL},
    {"wrong_root.xml", "the root element is <exadata>, not <engineeredSystem>", NULL},
    {"memory_nan.xml", "line 14: guestMemory '8G' of guest g1.example.com is not a number", NULL},
    {"hostile_hostname.xml", "line 12: hostName 'a;rm -rf /' of machine g1_id is not valid", NULL},
    {"hostile_device.xml", "device 'g1_cfg$(reboot)' of EDV volume g1_cfg_vol is not valid", NULL},
    {"hostile_bridge.xml", "bridge '-x vmbond' of network g1_client is not valid", NULL},
    {"guest_field_on_host.xml", "KVM host h1.example.com has <guestCores>", NULL},
    {"nat_onpremise.xml", "NAT bridges exist only in cloud deployments", NULL},
    {"private_bridge.xml", "private (RoCE) network and cannot have a <bridge>", NULL},
    {"unknown_element.xml", "unexpected element <password> in <machine> of machine g1_id", NULL},
    {"not_wellformed.xml", "not well-formed XML", NULL},
    {"vlan_range.xml", "vlanId 5000 of network g1_client is out of range (1..4094)", NULL},
    {"no_such_file.xml", "cannot open", NULL},
    /* Only the schema knows element order. */
    {"wrong_order.xml", NULL, "line 6: does not match the schema"},
};

UNIT_LOOP_IN("reject", test_bad_fixture_plain, bad_cases)
{
    char path[4200], err[1024] = "";
    esxml *doc = (esxml *)&doc; /* must be reset to NULL on failure */

    snprintf(path, sizeof(path), "%s/%s", g_dir, bad_cases[_i].file);
    if (bad_cases[_i].err_plain == NULL) {
        ck_assert_msg(esxml_load_file(path, NULL, &doc, err, sizeof(err)) == 0, "%s", err);
        esxml_free(doc);
        return;
    }
    ck_assert_int_eq(esxml_load_file(path, NULL, &doc, err, sizeof(err)), -1);
    ck_assert_ptr_null(doc);
    ck_assert_msg(strstr(err, bad_cases[_i].err_plain) != NULL, "%s: got '%s', want '%s'",
                  bad_cases[_i].file, err, bad_cases[_i].err_plain);
}
END_TEST

UNIT_LOOP_IN("reject", test_bad_fixture_xsd, bad_cases)
{
    char path[4200], err[1024] = "";
    esxml *doc = NULL;
    const char *want;

    snprintf(path, sizeof(path), "%s/%s", g_dir, bad_cases[_i].file);
    ck_assert_int_eq(esxml_load_file(path, g_xsd, &doc, err, sizeof(err)), -1);
    ck_assert_ptr_null(doc);
    /* The loader's own checks run before the schema, so their message wins. */
    want = bad_cases[_i].err_xsd ? bad_cases[_i].err_xsd : bad_cases[_i].err_plain;
    ck_assert_msg(strstr(err, want) != NULL, "%s: got '%s', want '%s'", bad_cases[_i].file, err,
                  want);
}
END_TEST

UNIT_TEST(test_minimal_fixture_ok)
{
    char path[4200], err[1024] = "";
    esxml *doc = NULL;

    snprintf(path, sizeof(path), "%s/minimal.xml", g_dir);
    ck_assert_msg(esxml_load_file(path, g_xsd, &doc, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(esxml_host_count(doc), 1);
    ck_assert_int_eq(esxml_uses_exascale(doc), 0);
    ck_assert_ptr_null(esxml_exascale_vault(doc));
    ck_assert_uint_eq(esxml_action_count(doc), 0);
    esxml_free(doc);
}
END_TEST

/* Small in-memory documents for what fixtures on disk do not cover. */
static const struct {
    const char *xml;
    const char *err;
} bad_buffers[] = {
    {NULL, "es.xml is empty"},
    {"", "es.xml is empty"},
    {"   ", "not well-formed XML"},
    {"<engineeredSystem name=\"x\" deploymentType=\"onpremise\"><machines>"
     "<machine id=\"h\"><osType>LinuxKVM</osType><hostName>&undefined;</hostName></machine>"
     "</machines></engineeredSystem>",
     "not well-formed XML"},
    {"<!DOCTYPE engineeredSystem SYSTEM \"http://127.0.0.1:1/es.dtd\">"
     "<engineeredSystem name=\"x\" deploymentType=\"onpremise\"><machines/></engineeredSystem>",
     "line 1: a DOCTYPE is not allowed"},
    {"<engineeredSystem name=\"x\" deploymentType=\"hybrid\"><machines/></engineeredSystem>",
     "deploymentType 'hybrid' is not onpremise or cloud"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"></engineeredSystem>",
     "has no <machines>"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines><machine id=\"m\">"
     "<osType>Linux</osType><hostName>m</hostName></machine></machines></engineeredSystem>",
     "osType 'Linux' of machine m is not LinuxKVM or LinuxKVMGuest"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines><machine id=\"m\">"
     "<osType>LinuxKVMGuest</osType><hostName>m</hostName><guestCores>1</guestCores>"
     "</machine></machines></engineeredSystem>",
     "guest m has no <guestMemory>"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines><machine id=\"m\">"
     "<osType>LinuxKVM</osType><hostName>m</hostName><hostName>n</hostName>"
     "</machine></machines></engineeredSystem>",
     "<hostName> appears twice"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"a\"><osType>LinuxKVM</osType><hostName>h.example.com</hostName></machine>"
     "<machine id=\"b\"><osType>LinuxKVM</osType><hostName>H.example.com</hostName></machine>"
     "</machines></engineeredSystem>",
     "hostname H.example.com is used by two machines, a and b"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"a\"><osType>LinuxKVM</osType><hostName>a</hostName><machine id=\"b\"/>"
     "</machine><machine id=\"b\"><osType>LinuxKVM</osType><hostName>b</hostName></machine>"
     "</machines></engineeredSystem>",
     "places machine b, which is a KVM host, not a guest"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"a\"><osType>LinuxKVM</osType><hostName>-a</hostName></machine>"
     "</machines></engineeredSystem>",
     "hostName '-a' of machine a is not valid"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines/><actions>"
     "<action id=\"3\" merged=\"true\" deployed=\"false\"><subCommand>A</subCommand></action>"
     "<action id=\"3\" merged=\"true\" deployed=\"yes\"><subCommand>B</subCommand></action>"
     "</actions></engineeredSystem>",
     "action id 3 is defined twice"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines/><actions>"
     "<action id=\"3\" merged=\"maybe\" deployed=\"false\"><subCommand>A</subCommand></action>"
     "</actions></engineeredSystem>",
     "merged 'maybe' of an action is not a boolean"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines/><actions>"
     "<action id=\"-3\" merged=\"true\" deployed=\"false\"><subCommand>A</subCommand></action>"
     "</actions></engineeredSystem>",
     "id '-3' of an action is not a number"},
    /* Every identity constraint of es.xsd is the loader's too (the schema's are not compiled). */
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"a\"><osType>LinuxKVM</osType><hostName>a.example.com</hostName></machine>"
     "<machine id=\"b\"><osType>LinuxKVMGuest</osType><hostName>A.Example.COM</hostName>"
     "<guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines></engineeredSystem>",
     "hostname A.Example.COM is used by two machines, a and b"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"a\"><osType>LinuxKVM</osType><hostName>a</hostName><machine id=\"g\"/>"
     "<machine id=\"g\"/></machine><machine id=\"g\"><osType>LinuxKVMGuest</osType>"
     "<hostName>g</hostName><guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines></engineeredSystem>",
     "KVM host a places guest g twice"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines/><networks>"
     "<network id=\"n\"><networkType>private</networkType><interfaceName>re0</interfaceName>"
     "</network><network id=\"n\"><networkType>private</networkType><interfaceName>re1"
     "</interfaceName></network></networks></engineeredSystem>",
     "network id n is defined twice (first at line 1)"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines/><storage><edvVolumes>"
     "<edvVolume id=\"v\"><name>a</name><device>a</device><role>system</role></edvVolume>"
     "<edvVolume id=\"v\"><name>b</name><device>b</device><role>system</role></edvVolume>"
     "</edvVolumes></storage></engineeredSystem>",
     "EDV volume id v is defined twice"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines/><storage>"
     "<storageServers><storageServer id=\"c\">c1.example.com</storageServer>"
     "<storageServer id=\"c\">c2.example.com</storageServer></storageServers></storage>"
     "</engineeredSystem>",
     "storage server id c is defined twice"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines/><actions>"
     "<action id=\"27\" merged=\"true\" deployed=\"false\"><subCommand>A</subCommand></action>"
     "<action id=\"027\" merged=\"true\" deployed=\"false\"><subCommand>B</subCommand>"
     "</action></actions></engineeredSystem>",
     "action id 27 is defined twice"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines><machine id=\"m\">"
     "<osType>LinuxKVMGuest</osType><hostName>m</hostName><guestCores>99999999999999999999"
     "</guestCores><guestMemory>1</guestMemory></machine></machines></engineeredSystem>",
     "guestCores 99999999999999999999 of guest m is out of range"},
    /* VM clusters (<clusters>): references to guests, each guest in one cluster at most. */
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"h\"><osType>LinuxKVM</osType><hostName>h</hostName><machine id=\"g\"/>"
     "<machine id=\"k\"/></machine><machine id=\"g\"><osType>LinuxKVMGuest</osType>"
     "<hostName>g</hostName><guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "<machine id=\"k\"><osType>LinuxKVMGuest</osType><hostName>k</hostName><guestCores>1"
     "</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines><clusters><cluster id=\"c\"><clusterName>rac</clusterName><machines><machine "
     "id=\"x\"/></machines></cluster></clusters></engineeredSystem>",
     "VM cluster c names machine x, which is not defined in es.xml"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"h\"><osType>LinuxKVM</osType><hostName>h</hostName><machine id=\"g\"/>"
     "<machine id=\"k\"/></machine><machine id=\"g\"><osType>LinuxKVMGuest</osType>"
     "<hostName>g</hostName><guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "<machine id=\"k\"><osType>LinuxKVMGuest</osType><hostName>k</hostName><guestCores>1"
     "</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines><clusters><cluster id=\"c\"><clusterName>rac</clusterName><machines><machine "
     "id=\"h\"/></machines></cluster></clusters></engineeredSystem>",
     "VM cluster c names machine h, which is a KVM host, not a guest"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"h\"><osType>LinuxKVM</osType><hostName>h</hostName><machine id=\"g\"/>"
     "<machine id=\"k\"/></machine><machine id=\"g\"><osType>LinuxKVMGuest</osType>"
     "<hostName>g</hostName><guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "<machine id=\"k\"><osType>LinuxKVMGuest</osType><hostName>k</hostName><guestCores>1"
     "</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines><clusters><cluster id=\"c\"><clusterName>rac</clusterName><machines><machine "
     "id=\"g\"/></machines></cluster><cluster "
     "id=\"d\"><clusterName>rac2</clusterName><machines><machine "
     "id=\"g\"/></machines></cluster></clusters></engineeredSystem>",
     "guest g is in two VM clusters, rac and rac2"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"h\"><osType>LinuxKVM</osType><hostName>h</hostName><machine id=\"g\"/>"
     "<machine id=\"k\"/></machine><machine id=\"g\"><osType>LinuxKVMGuest</osType>"
     "<hostName>g</hostName><guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "<machine id=\"k\"><osType>LinuxKVMGuest</osType><hostName>k</hostName><guestCores>1"
     "</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines><clusters><cluster id=\"c\"><clusterName>rac</clusterName><machines><machine "
     "id=\"g\"/></machines></cluster><cluster "
     "id=\"c\"><clusterName>rac2</clusterName><machines><machine "
     "id=\"k\"/></machines></cluster></clusters></engineeredSystem>",
     "VM cluster id c is defined twice"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"h\"><osType>LinuxKVM</osType><hostName>h</hostName><machine id=\"g\"/>"
     "<machine id=\"k\"/></machine><machine id=\"g\"><osType>LinuxKVMGuest</osType>"
     "<hostName>g</hostName><guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "<machine id=\"k\"><osType>LinuxKVMGuest</osType><hostName>k</hostName><guestCores>1"
     "</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines><clusters><cluster id=\"c\"><clusterName>rac</clusterName><machines><machine "
     "id=\"g\"/></machines></cluster><cluster "
     "id=\"d\"><clusterName>rac</clusterName><machines><machine "
     "id=\"k\"/></machines></cluster></clusters></engineeredSystem>",
     "VM cluster name rac is used twice"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"h\"><osType>LinuxKVM</osType><hostName>h</hostName><machine id=\"g\"/>"
     "<machine id=\"k\"/></machine><machine id=\"g\"><osType>LinuxKVMGuest</osType>"
     "<hostName>g</hostName><guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "<machine id=\"k\"><osType>LinuxKVMGuest</osType><hostName>k</hostName><guestCores>1"
     "</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines><clusters><cluster id=\"c\"><machines><machine "
     "id=\"g\"/></machines></cluster></clusters></engineeredSystem>",
     "VM cluster c has no <clusterName>"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"h\"><osType>LinuxKVM</osType><hostName>h</hostName><machine id=\"g\"/>"
     "<machine id=\"k\"/></machine><machine id=\"g\"><osType>LinuxKVMGuest</osType>"
     "<hostName>g</hostName><guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "<machine id=\"k\"><osType>LinuxKVMGuest</osType><hostName>k</hostName><guestCores>1"
     "</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines><clusters><cluster "
     "id=\"c\"><clusterName>rac</clusterName><machines/></cluster></clusters></engineeredSystem>",
     "<machines> of VM cluster c is empty"},
    {"<engineeredSystem name=\"x\" deploymentType=\"cloud\"><machines>"
     "<machine id=\"h\"><osType>LinuxKVM</osType><hostName>h</hostName><machine id=\"g\"/>"
     "<machine id=\"k\"/></machine><machine id=\"g\"><osType>LinuxKVMGuest</osType>"
     "<hostName>g</hostName><guestCores>1</guestCores><guestMemory>1</guestMemory></machine>"
     "<machine id=\"k\"><osType>LinuxKVMGuest</osType><hostName>k</hostName><guestCores>1"
     "</guestCores><guestMemory>1</guestMemory></machine>"
     "</machines><clusters><cluster id=\"c\"><clusterName>r;ac</clusterName><machines><machine "
     "id=\"g\"/></machines></cluster></clusters></engineeredSystem>",
     "clusterName 'r;ac' of VM cluster c is not valid"},
};

UNIT_LOOP_IN("reject", test_bad_buffer, bad_buffers)
{
    char err[1024] = "";
    esxml *doc = NULL;
    const char *xml = bad_buffers[_i].xml;

    ck_assert_int_eq(esxml_load_buffer(xml, xml ? strlen(xml) : 0, NULL, &doc, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(doc);
    ck_assert_msg(strstr(err, bad_buffers[_i].err) != NULL, "case %d: got '%s', want '%s'", _i, err,
                  bad_buffers[_i].err);
    /* With the schema too: the loader's message comes first. */
    ck_assert_int_eq(esxml_load_buffer(xml, xml ? strlen(xml) : 0, g_xsd, &doc, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, bad_buffers[_i].err) != NULL, "case %d (schema): got '%s', want '%s'",
                  _i, err, bad_buffers[_i].err);
}
END_TEST

/* ---- edits and round trip ------------------------------------------------------------- */

static const char *const migrate_cmd =
    "MIGRATE GUEST HOSTNAME=exa01vm01.example.com MODE=OFFLINE SRCHOST=exa01adm02.example.com "
    "TGTHOST=exa01adm06.example.com";

UNIT_TEST_IN("edit", test_round_trip)
{
    char err[1024] = "";
    esxml *doc = load_fixture(), *again = NULL;
    const esxml_guest *g = esxml_guest_find(doc, "exa01vm01.example.com");
    const esxml_host *h;
    const esxml_action *a;
    char *buf = NULL;
    size_t len = 0;
    int id = 0;

    ck_assert_int_eq(esxml_action_add(doc, migrate_cmd, &id, err, sizeof(err)), 0);
    ck_assert_int_eq(id, 28); /* the spec's log: "Deploying Action ID : 28" */
    ck_assert_uint_eq(esxml_action_count(doc), 2);
    a = esxml_action_at(doc, 1);
    ck_assert_int_eq(a->merged, 1);
    ck_assert_int_eq(a->deployed, 0);

    /* G is from before the edit: its strings must still be readable as arguments. */
    ck_assert_msg(esxml_guest_move(doc, g->hostname, "exa01adm06.example.com", err, sizeof(err)) ==
                      0,
                  "%s", err);
    ck_assert_int_eq(esxml_action_set_deployed(doc, 28, err, sizeof(err)), 0);
    ck_assert_int_eq(esxml_action_at(doc, 1)->deployed, 1);
    ck_assert_int_eq(esxml_dump(doc, &buf, &len, err, sizeof(err)), 0);
    ck_assert_uint_eq(strlen(buf), len);

    ck_assert_msg(esxml_load_buffer(buf, len, g_xsd, &again, err, sizeof(err)) == 0,
                  "reloading the dump: %s\n%s", err, buf);
    g = esxml_guest_find(again, "exa01vm01.example.com");
    h = esxml_guest_host(again, g);
    ck_assert_str_eq(h->hostname, "exa01adm06.example.com");
    ck_assert_uint_eq(h->n_guests, 1);
    ck_assert_str_eq(h->guest_ids[0], "exa01vm01_id");
    h = esxml_host_find(again, "exa01adm02.example.com");
    ck_assert_uint_eq(h->n_guests, 1);
    ck_assert_str_eq(h->guest_ids[0], "exa01vm02_id");
    ck_assert_uint_eq(g->n_volumes, 5); /* the rest of the guest is untouched */
    ck_assert_uint_eq(esxml_action_count(again), 2);
    a = esxml_action_at(again, 0);
    ck_assert_int_eq(a->id, 27);
    ck_assert_int_eq(a->deployed, 1);
    a = esxml_action_at(again, 1);
    ck_assert_int_eq(a->id, 28);
    ck_assert_int_eq(a->merged, 1);
    ck_assert_int_eq(a->deployed, 1);
    ck_assert_str_eq(a->subcommand, migrate_cmd);
    free(buf);
    esxml_free(again);
    esxml_free(doc);
}
END_TEST

UNIT_TEST_IN("edit", test_action_add_creates_section)
{
    char path[4200], err[1024] = "", *buf = NULL;
    esxml *doc = NULL, *again = NULL;
    size_t len = 0;
    int id = 0;

    snprintf(path, sizeof(path), "%s/minimal.xml", g_dir);
    ck_assert_int_eq(esxml_load_file(path, g_xsd, &doc, err, sizeof(err)), 0);
    ck_assert_int_eq(esxml_action_add(doc, "A & <B>", &id, err, sizeof(err)), 0);
    ck_assert_int_eq(id, 1);
    ck_assert_int_eq(esxml_action_add(doc, "C", &id, err, sizeof(err)), 0);
    ck_assert_int_eq(id, 2);
    ck_assert_int_eq(esxml_dump(doc, &buf, &len, err, sizeof(err)), 0);
    ck_assert_msg(esxml_load_buffer(buf, len, g_xsd, &again, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(esxml_action_count(again), 2);
    ck_assert_str_eq(esxml_action_at(again, 0)->subcommand, "A & <B>");
    free(buf);
    esxml_free(again);
    esxml_free(doc);
}
END_TEST

UNIT_TEST_IN("edit", test_move_is_idempotent)
{
    char err[1024] = "", *b1 = NULL, *b2 = NULL;
    esxml *doc = load_fixture();
    size_t l1 = 0, l2 = 0;

    ck_assert_int_eq(
        esxml_guest_move(doc, "exa01vm03.example.com", "exa01adm04.example.com", err, sizeof(err)),
        0);
    ck_assert_int_eq(esxml_dump(doc, &b1, &l1, err, sizeof(err)), 0);
    ck_assert_int_eq(
        esxml_guest_move(doc, "exa01vm03.example.com", "exa01adm04.example.com", err, sizeof(err)),
        0);
    ck_assert_int_eq(esxml_dump(doc, &b2, &l2, err, sizeof(err)), 0);
    ck_assert_uint_eq(l1, l2);
    ck_assert_int_eq(memcmp(b1, b2, l1), 0);
    ck_assert_uint_eq(esxml_host_find(doc, "exa01adm01.example.com")->n_guests, 0);
    ck_assert_str_eq(
        esxml_guest_host(doc, esxml_guest_find(doc, "exa01vm03.example.com"))->hostname,
        "exa01adm04.example.com");
    free(b1);
    free(b2);
    esxml_free(doc);
}
END_TEST

/* Edits that must fail, leaving the document as it was. */
enum { E_MOVE, E_DEPLOY, E_ADD };
static const struct {
    int op;
    const char *a, *b;
    int id;
    const char *err;
} bad_edits[] = {
    {E_MOVE, "exa01vm09.example.com", "exa01adm06.example.com", 0,
     "guest exa01vm09.example.com is not defined in es.xml"},
    {E_MOVE, "exa01vm01.example.com", "exa01adm09.example.com", 0,
     "KVM host exa01adm09.example.com is not defined in es.xml"},
    {E_MOVE, "exa01vm01.example.com", "exa01vm02.example.com", 0,
     "KVM host exa01vm02.example.com is not defined in es.xml"},
    {E_DEPLOY, NULL, NULL, 99, "action 99 is not defined in es.xml"},
    {E_ADD, "MIGRATE GUEST\nHOSTNAME=x", NULL, 0, "control character"},
    {E_ADD, "", NULL, 0, "empty subcommand"},
    {E_ADD, "\xff\xfe", NULL, 0, "UTF-8"},
};

UNIT_LOOP_IN("edit", test_bad_edit, bad_edits)
{
    char err[1024] = "", *before = NULL, *after = NULL;
    esxml *doc = load_fixture();
    size_t lb = 0, la = 0;
    int rc = 0, id = -5;

    ck_assert_int_eq(esxml_dump(doc, &before, &lb, err, sizeof(err)), 0);
    switch (bad_edits[_i].op) {
    case E_MOVE:
        rc = esxml_guest_move(doc, bad_edits[_i].a, bad_edits[_i].b, err, sizeof(err));
        break;
    case E_DEPLOY:
        rc = esxml_action_set_deployed(doc, bad_edits[_i].id, err, sizeof(err));
        break;
    case E_ADD:
        rc = esxml_action_add(doc, bad_edits[_i].a, &id, err, sizeof(err));
        ck_assert_int_eq(id, -5);
        break;
    }
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err, bad_edits[_i].err) != NULL, "case %d: got '%s', want '%s'", _i, err,
                  bad_edits[_i].err);
    ck_assert_int_eq(esxml_dump(doc, &after, &la, err, sizeof(err)), 0);
    ck_assert_uint_eq(lb, la);
    ck_assert_int_eq(memcmp(before, after, lb), 0);
    free(before);
    free(after);
    esxml_free(doc);
}
END_TEST

int main(void)
{
    paths_init();
    return unit_main("esxml");
}
