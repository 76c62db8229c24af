/* test_preflight: the check table, the es.xml-only checks and the live-answer rules. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preflight.h"

#include "unit_run.h"

#define G1 "exa01vm01.example.com"
#define A01 "exa01adm01.example.com"
#define A02 "exa01adm02.example.com"
#define A03 "exa01adm03.example.com"
#define A06 "exa01adm06.example.com"

static esxml *load(const char *file)
{
    const char *top = getenv("KVMOVE_SOURCE_DIR");
    char path[1024], err[512];
    esxml *doc = NULL;

    snprintf(path, sizeof(path), "%s/tests/fixtures/%s", top ? top : ".", file);
    ck_assert_msg(esxml_load_file(path, NULL, &doc, err, sizeof(err)) == 0, "%s: %s", path, err);
    return doc;
}

UNIT_TCASE("preflight");

/* Checks that must pass on the unchanged fixture, es.xml only. */
UNIT_TEST(test_table_complete)
{
    int i;
    preflight_check c;

    for (i = 0; i < PREFLIGHT__COUNT; i++) {
        const preflight_def *d = preflight_def_of((preflight_check)i);
        ck_assert_ptr_nonnull(d);
        ck_assert_int_eq(d->id, i);
        ck_assert_ptr_nonnull(d->name);
        ck_assert_ptr_nonnull(d->requirement);
        ck_assert_ptr_nonnull(d->reads);
        ck_assert_int_eq(preflight_from_name(d->name, &c), 0);
        ck_assert_int_eq(c, i);
    }
    ck_assert_ptr_null(preflight_def_of(PREFLIGHT__COUNT));
    ck_assert_int_eq(preflight_from_name("no_such_check", &c), -1);
    ck_assert_str_eq(preflight_status_to_string(PREFLIGHT_WARNING), "warning");
}
END_TEST

static const struct {
    const char *a, *b;
    int sign;
} versions[] = {
    {"25.1.0", "25.1.0", 0},
    {"25.1", "25.1.0", 0},
    {"25.1.0.0.0.250101", "25.1.0", 1},
    {"24.1.9.0.0.240601", "25.1.0", -1},
    {"25.1.1.0.0.250301", "25.1.0.0.0.250101", 1},
    {"25.10.0", "25.9.0", 1},
    {"", "25.1.0", -1},
};

UNIT_LOOP(test_version_cmp, versions)
{
    int r = preflight_version_cmp(versions[_i].a, versions[_i].b);
    ck_assert_int_eq(r < 0 ? -1 : r > 0, versions[_i].sign);
}
END_TEST

/* How a case changes the live facts of a host (live cases only). */
typedef enum {
    F_SAME,        /* what the fixture's es.xml says */
    F_DOWN,        /* unreachable */
    F_REFUSED,     /* key auth refused */
    F_OLD_MODEL,   /* Model X7-2 */
    F_OLD_VERSION, /* Version 24.1.0 */
    F_NEW_VERSION, /* Version 25.2.0 */
    F_LIVEUPDATE,  /* LiveUpdatePending yes */
    F_FREE_8G,     /* FreeMemoryMB 8192 */
    F_VCPUS_46,    /* UsedVcpus 46 */
    F_DEFINES_G1,  /* virsh list shows exa01vm01 */
    F_NO_G1,       /* virsh list does not show exa01vm01 */
    F_NO_VFPOOLS,
    F_CELLS_ONE, /* StorageServers: exa01celadm01 only */
    F_NOT_KVM,   /* NodeType DOM0 */
    F_BAD_BYTES, /* Model "X7\xff-2" (not UTF-8) */
} facts_mod;

/* Facts as the simulator would report them for HOST of the fixture, changed by MOD. */
static void facts_for(const esxml *doc, const char *host, facts_mod mod, preflight_facts *f)
{
    const esxml_host *h = esxml_host_find(doc, host);
    size_t k;
    long used = 0;
    int vcpus = 0;

    preflight_facts_init(f, PREFLIGHT_FACTS_OK);
    ck_assert_ptr_nonnull(h);
    snprintf(f->model, sizeof(f->model), "%s", h->model);
    f->sockets = h->sockets;
    snprintf(f->fabric, sizeof(f->fabric), "%s", h->fabric);
    snprintf(f->version, sizeof(f->version), "%s", h->software_version);
    f->cores = h->cores;
    f->memory_mb = h->memory_mb;
    f->liveupdate = h->liveupdate_pending;
    snprintf(f->node_type, sizeof(f->node_type), "KVMHOST");
    f->have_domains = 1;
    f->have_bridges = 1;
    for (k = 0; k < h->n_guests; k++) {
        const esxml_guest *g = esxml_guest_find_id(doc, h->guest_ids[k]);
        used += g->memory_mb;
        vcpus += g->cores;
        strcat(f->domains, g->hostname);
        strcat(f->domains, "\n");
    }
    f->free_memory_mb = h->memory_mb - used;
    f->used_vcpus = vcpus;
    f->vf_pools = h->vf_pools ? 2 : 0;
    switch (mod) {
    case F_SAME:
        break;
    case F_DOWN:
        preflight_facts_init(f, PREFLIGHT_FACTS_UNREACHABLE);
        snprintf(f->error, sizeof(f->error), "connection refused");
        break;
    case F_REFUSED:
        preflight_facts_init(f, PREFLIGHT_FACTS_REFUSED);
        snprintf(f->error, sizeof(f->error), "public key refused");
        break;
    case F_OLD_MODEL:
        snprintf(f->model, sizeof(f->model), "X7-2");
        break;
    case F_BAD_BYTES:
        snprintf(f->model, sizeof(f->model), "X7\xff-2");
        break;
    case F_OLD_VERSION:
        snprintf(f->version, sizeof(f->version), "24.1.0.0.0.240601");
        break;
    case F_NEW_VERSION:
        snprintf(f->version, sizeof(f->version), "25.2.0.0.0.250901");
        break;
    case F_LIVEUPDATE:
        f->liveupdate = 1;
        break;
    case F_FREE_8G:
        f->free_memory_mb = 8192;
        break;
    case F_VCPUS_46:
        f->used_vcpus = 46;
        break;
    case F_DEFINES_G1:
        strcat(f->domains, G1 "\n");
        break;
    case F_NO_G1:
        f->domains[0] = '\0';
        break;
    case F_NO_VFPOOLS:
        f->vf_pools = 0;
        break;
    case F_CELLS_ONE:
        snprintf(f->storage_servers, sizeof(f->storage_servers), "exa01celadm01.example.com");
        break;
    case F_NOT_KVM:
        snprintf(f->node_type, sizeof(f->node_type), "DOM0");
        break;
    }
}

typedef struct {
    const char *file; /* fixture es.xml */
    const char *guest, *src, *tgt;
    migrate_mode mode;
    int resume;
    int live;
    facts_mod src_mod, tgt_mod;
    long reserved_mb; /* one reservation by job "11111111-..." */
    double overcommit;
    preflight_check check;     /* the check under test */
    preflight_status expected; /* its status */
    const char *contains;      /* substring of its message */
    int only;                  /* 1: no other check may fail */
} pf_case;

#define ES "exa01.xml"
#define PF(f) "preflight/" f ".xml"

static const pf_case cases[] = {
    /* es.xml only (kvmove submit's MERGE ACTIONS) */
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_ESXML_CURRENT, PREFLIGHT_PASSED,
     "version 7", 1},
    {ES, "exa01vm09.example.com", A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_ESXML_CURRENT,
     PREFLIGHT_FAILED, "kvmove config load", 0},
    {ES, G1, A02, "exa01adm09.example.com", MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_SAME_SYSTEM,
     PREFLIGHT_FAILED, "target exa01adm09.example.com not a KVM host", 0},
    {ES, G1, A02, A02, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_DISTINCT_HOSTS, PREFLIGHT_FAILED,
     "both " A02, 0},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_SSH_SOURCE, PREFLIGHT_SKIPPED,
     "es.xml-only", 1},
    {PF("old_hardware"), G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_HARDWARE_TARGET,
     PREFLIGHT_FAILED, "has model X7-2, InfiniBand fabric", 1},
    {PF("old_hardware"), G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_HARDWARE_SOURCE,
     PREFLIGHT_PASSED, "X8M-2 with 2 sockets and RoCE", 0},
    {PF("old_software"), G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_SOFTWARE_TARGET,
     PREFLIGHT_FAILED, "24.1.0.0.0.240601; required: 25.1.0", 1},
    {PF("old_software"), G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_TARGET_VERSION,
     PREFLIGHT_SKIPPED, "below the minimum", 0},
    {ES, G1, A06, A02, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_TARGET_VERSION, PREFLIGHT_FAILED,
     "runs Exadata System Software 25.1.0.0.0.250101, older than 25.1.1", 0},
    {PF("no_exascale"), G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_EXASCALE_STORAGE,
     PREFLIGHT_FAILED, "no Exascale cluster", 1},
    {PF("no_storage_servers"), G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0,
     PREFLIGHT_STORAGE_SERVERS, PREFLIGHT_FAILED, "lists no storage servers", 1},
    {PF("vlan_conflict"), G1, A02, A01, MODE_OFFLINE, 0, 0, 0, 0, 0, 0,
     PREFLIGHT_NETWORK_VISIBILITY, PREFLIGHT_FAILED,
     "bridge vmbondeth0.101 on target KVM host " A01 " carries VLAN 301 for guest "
     "exa01vm03.example.com; guest " G1 " needs it with VLAN 101",
     1},
    {PF("host_liveupdate"), G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0,
     PREFLIGHT_LIVEUPDATE_TARGET, PREFLIGHT_FAILED, "target KVM host " A06 " has outstanding", 1},
    {PF("guest_liveupdate"), G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0,
     PREFLIGHT_LIVEUPDATE_GUEST, PREFLIGHT_FAILED, "guest " G1 " has outstanding", 1},
    {ES, G1, A03, A06, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_GUEST_ON_SOURCE, PREFLIGHT_FAILED,
     "placed on " A02 " in es.xml version 7, not on source KVM host " A03, 1},
    {ES, G1, A03, A06, MODE_OFFLINE, 1, 0, 0, 0, 0, 0, PREFLIGHT_GUEST_ON_SOURCE, PREFLIGHT_SKIPPED,
     "resumes an earlier attempt", 1},
    {ES, "exa01vm03.example.com", A02, A01, MODE_OFFLINE, 0, 0, 0, 0, 0, 0,
     PREFLIGHT_GUEST_NAME_FREE, PREFLIGHT_FAILED, "es.xml version 7 places it there", 0},
    {PF("small_target"), G1, A02, A01, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_TARGET_MEMORY,
     PREFLIGHT_FAILED,
     "target KVM host " A01 " has 7232 MiB free (40000 total - 32768 placed - 0 reserved), "
     "guest " G1 " needs 16384 MiB; memory cannot be over-committed",
     1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 120000, 0, PREFLIGHT_TARGET_MEMORY,
     PREFLIGHT_FAILED,
     "has 11072 MiB free (131072 total - 0 placed - 120000 reserved by job "
     "11111111-1111-4111-8111-111111111111)",
     1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 0, 0, 0, 114688, 0, PREFLIGHT_TARGET_MEMORY,
     PREFLIGHT_PASSED, "16384 MiB free", 1},
    {PF("few_cores"), G1, A02, A01, MODE_OFFLINE, 0, 0, 0, 0, 0, 0, PREFLIGHT_TARGET_VCPUS,
     PREFLIGHT_FAILED,
     "8 vCPUs in use + 0 reserved + 4 for guest " G1 " = 12; 10 allowed (10 "
     "cores x vCPU over-commit ratio 1.00",
     1},
    {PF("few_cores"), G1, A02, A01, MODE_OFFLINE, 0, 0, 0, 0, 0, 1.5, PREFLIGHT_TARGET_VCPUS,
     PREFLIGHT_PASSED, "15 allowed (10 cores x vCPU over-commit ratio 1.50", 1},

    /* live answers (facts as the hosts would give them) */
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_SAME, 0, 0, PREFLIGHT_SSH_SOURCE,
     PREFLIGHT_PASSED, "root@" A02, 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_DOWN, F_SAME, 0, 0, PREFLIGHT_SSH_SOURCE,
     PREFLIGHT_FAILED, "use MODE=OFFLINEFORCE", 1},
    {ES, G1, A02, A06, MODE_OFFLINEFORCE, 0, 1, F_DOWN, F_SAME, 0, 0, PREFLIGHT_SSH_SOURCE,
     PREFLIGHT_SKIPPED, "MODE=OFFLINEFORCE proceeds without it", 1},
    {ES, G1, A02, A06, MODE_OFFLINEFORCE, 0, 1, F_DOWN, F_SAME, 0, 0, PREFLIGHT_SOFTWARE_SOURCE,
     PREFLIGHT_SKIPPED, "unreachable and MODE=OFFLINEFORCE", 1},
    {ES, G1, A02, A06, MODE_OFFLINEFORCE, 0, 1, F_REFUSED, F_SAME, 0, 0, PREFLIGHT_SSH_SOURCE,
     PREFLIGHT_FAILED, "refused root with key authentication", 0},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_DOWN, 0, 0, PREFLIGHT_SSH_TARGET,
     PREFLIGHT_FAILED, "target KVM host " A06 " is unreachable", 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_OLD_MODEL, F_SAME, 0, 0, PREFLIGHT_HARDWARE_SOURCE,
     PREFLIGHT_FAILED, "es.xml says model X8M-2 for " A02 " but the host reports X7-2", 1},
    /* a host's answer that is not UTF-8 reaches the message as '?' (events take UTF-8 only) */
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_BAD_BYTES, F_SAME, 0, 0, PREFLIGHT_HARDWARE_SOURCE,
     PREFLIGHT_FAILED, "but the host reports X7?-2", 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_NOT_KVM, 0, 0, PREFLIGHT_HARDWARE_TARGET,
     PREFLIGHT_FAILED, "node type DOM0", 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_NEW_VERSION, 0, 0, PREFLIGHT_SOFTWARE_TARGET,
     PREFLIGHT_WARNING,
     "es.xml says Exadata software version 25.1.1.0.0.250301 for " A06
     " but the host reports 25.2.0.0.0.250901",
     1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_OLD_VERSION, F_SAME, 0, 0, PREFLIGHT_SOFTWARE_SOURCE,
     PREFLIGHT_FAILED, "24.1.0.0.0.240601", 1},
    {ES, G1, A02, A03, MODE_OFFLINE, 0, 1, F_NEW_VERSION, F_SAME, 0, 0, PREFLIGHT_TARGET_VERSION,
     PREFLIGHT_FAILED, "older than 25.2.0.0.0.250901 on source KVM host " A02, 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_CELLS_ONE, 0, 0, PREFLIGHT_STORAGE_SERVERS,
     PREFLIGHT_FAILED, "but target KVM host " A06 " to exa01celadm01.example.com;", 1},
    /* VF pools on the source only: the steps detach nothing there and attach re0/re1 on the
     * target (see test_cld02_moves); es.xml's disagreement with the host is the note. */
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_NO_VFPOOLS, 0, 0, PREFLIGHT_NETWORK_VISIBILITY,
     PREFLIGHT_WARNING,
     "are attached on target " A06 " (no VF pools there); es.xml says VF pools in use on " A06
     " but the host reports none",
     1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_LIVEUPDATE, F_SAME, 0, 0, PREFLIGHT_LIVEUPDATE_SOURCE,
     PREFLIGHT_FAILED, "LiveUpdatePending: yes", 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_NO_G1, F_SAME, 0, 0, PREFLIGHT_GUEST_ON_SOURCE,
     PREFLIGHT_FAILED, "not defined on source KVM host " A02, 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_DEFINES_G1, 0, 0, PREFLIGHT_GUEST_NAME_FREE,
     PREFLIGHT_FAILED, "virsh list shows a domain of that name", 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 1, 1, F_NO_G1, F_DEFINES_G1, 0, 0, PREFLIGHT_GUEST_NAME_FREE,
     PREFLIGHT_SKIPPED, "resumes an earlier attempt", 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 1, 1, F_NO_G1, F_DEFINES_G1, 0, 0, PREFLIGHT_TARGET_MEMORY,
     PREFLIGHT_SKIPPED, "already defined on target", 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_FREE_8G, 0, 0, PREFLIGHT_TARGET_MEMORY,
     PREFLIGHT_FAILED,
     "has 8192 MiB free (131072 total - 122880 placed - 0 reserved), guest " G1
     " needs 16384 MiB; memory cannot be over-committed",
     1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_VCPUS_46, 0, 0, PREFLIGHT_TARGET_VCPUS,
     PREFLIGHT_FAILED, "46 vCPUs in use", 1},
    {ES, G1, A02, A06, MODE_OFFLINE, 0, 1, F_SAME, F_VCPUS_46, 0, 2.0, PREFLIGHT_TARGET_VCPUS,
     PREFLIGHT_WARNING, "96 allowed", 1},
};

UNIT_LOOP(test_case, cases)
{
    const pf_case *tc = &cases[_i];
    esxml *doc = load(tc->file);
    preflight_facts sf, tf;
    preflight_reservation rv = {"11111111-1111-4111-8111-111111111111", "exa01vm02.example.com",
                                tc->reserved_mb, 0};
    preflight_input in = {0};
    preflight_report *r = calloc(1, sizeof(*r));
    char err[256];
    int i, n_failed;

    in.doc = doc;
    in.config_version = 7;
    in.guest = tc->guest;
    in.src_host = tc->src;
    in.tgt_host = tc->tgt;
    in.mode = tc->mode;
    in.resume = tc->resume;
    in.live = tc->live;
    in.vcpu_overcommit = tc->overcommit;
    if (tc->live) {
        facts_for(doc, tc->src, tc->src_mod, &sf);
        facts_for(doc, tc->tgt, tc->tgt_mod, &tf);
        in.src_facts = &sf;
        in.tgt_facts = &tf;
    }
    if (tc->reserved_mb) {
        in.reservations = &rv;
        in.n_reservations = 1;
    }
    ck_assert_int_eq(preflight_run(&in, r, err, sizeof(err)), 0);
    ck_assert_msg(r->results[tc->check].status == tc->expected, "case %d %s: status %s: %s", _i,
                  preflight_name(tc->check),
                  preflight_status_to_string(r->results[tc->check].status),
                  r->results[tc->check].message);
    ck_assert_msg(strstr(r->results[tc->check].message, tc->contains) != NULL,
                  "case %d %s: message lacks \"%s\": %s", _i, preflight_name(tc->check),
                  tc->contains, r->results[tc->check].message);
    if (tc->only)
        for (i = 0; i < PREFLIGHT__COUNT; i++)
            ck_assert_msg(i == (int)tc->check || r->results[i].status != PREFLIGHT_FAILED,
                          "case %d: %s failed too: %s", _i, preflight_name((preflight_check)i),
                          r->results[i].message);
    /* The verdict follows the results as the case expects them, counted here: a case where
     * its check alone fails does not pass, one where nothing fails does. */
    n_failed = 0;
    for (i = 0; i < PREFLIGHT__COUNT; i++)
        n_failed += r->results[i].status == PREFLIGHT_FAILED;
    ck_assert_int_eq(r->n_failed, n_failed);
    if (tc->only)
        ck_assert_int_eq(n_failed, tc->expected == PREFLIGHT_FAILED);
    if (tc->expected == PREFLIGHT_FAILED)
        ck_assert_msg(!preflight_passed(r), "case %d: %s failed, yet the preflight passed", _i,
                      preflight_name(tc->check));
    ck_assert_int_eq(preflight_passed(r), n_failed == 0);
    free(r);
    esxml_free(doc);
}
END_TEST

/* The unchanged fixture passes everything, es.xml only and live. */
UNIT_TEST(test_clean_passes)
{
    esxml *doc = load(ES);
    preflight_facts sf, tf;
    preflight_input in = {0};
    preflight_report *r = calloc(1, sizeof(*r));
    json_t *failed;
    char err[256];
    int live;

    for (live = 0; live <= 1; live++) {
        memset(&in, 0, sizeof(in));
        in.doc = doc;
        in.guest = G1;
        in.src_host = A02;
        in.tgt_host = A06;
        in.live = live;
        facts_for(doc, A02, F_SAME, &sf);
        facts_for(doc, A06, F_SAME, &tf);
        in.src_facts = &sf;
        in.tgt_facts = &tf;
        ck_assert_int_eq(preflight_run(&in, r, err, sizeof(err)), 0);
        ck_assert_int_eq(r->n_failed, 0);
        ck_assert_int_eq(r->n_warnings, 0);
        ck_assert_int_eq(r->n_skipped, live ? 0 : 2); /* the SSH checks */
        ck_assert(preflight_passed(r));
        failed = preflight_failed_json(r);
        ck_assert_int_eq(json_array_size(failed), 0);
        json_decref(failed);
    }
    free(r);
    esxml_free(doc);
}
END_TEST

/* The second fixture system (cld02: cloud, VF pools on kvm01 and kvm03 only, three software
 * versions): every move to a host with the same or a newer version passes, es.xml only and
 * live, whichever hosts have VF pools. The interface steps decide per host (DETACH_INTERFACES
 * leaves re* interfaces alone on a source with VF pools, ATTACH_INTERFACES attaches them on a
 * target without), so mixed VF pools are a move the steps can do; the message says how. */
#define C2(n) n ".dbcloud.example.net"
static const struct {
    const char *guest, *src, *tgt;
    const char *network; /* substring of network_visibility's message */
} cld02_moves[] = {
    {C2("cld02vm01"), C2("cld02kvm01"), C2("cld02kvm02"),
     "RoCE interfaces re0, re1 come from VF pools on source " C2(
         "cld02kvm01") " (nothing to "
                       "detach) and are attached on target " C2(
                           "cld02kvm02") " (no VF pools there)"},
    {C2("cld02vm02"), C2("cld02kvm01"), C2("cld02kvm03"),
     "RoCE interfaces re0, re1 use VF pools on both hosts"},
    {C2("cld02vm03"), C2("cld02kvm02"), C2("cld02kvm03"),
     "RoCE interfaces re0, re1 are detached on source " C2(
         "cld02kvm02") " (no VF pools there) "
                       "and come from VF pools on target " C2("cld02kvm03")},
    {"cld02vm04.dbcloud.example.net", C2("cld02kvm02"), C2("cld02kvm04"),
     "RoCE interfaces re0, re1 are detached on source " C2(
         "cld02kvm02") " and attached on "
                       "target " C2("cld02kvm04") " (no VF pools on either)"},
    {C2("cld02vm05"), C2("cld02kvm03"), C2("cld02kvm04"),
     "RoCE interfaces re0 come from VF pools on source " C2("cld02kvm03")},
    {C2("cld02vm01"), C2("cld02kvm01"), C2("cld02kvm04"), "2 bridged network(s)"},
};

UNIT_LOOP(test_cld02_moves, cld02_moves)
{
    esxml *doc = load("cld02.xml");
    preflight_facts sf, tf;
    preflight_input in = {0};
    preflight_report *r = calloc(1, sizeof(*r));
    char err[256];
    int live, i;

    for (live = 0; live <= 1; live++) {
        memset(&in, 0, sizeof(in));
        in.doc = doc;
        in.config_version = 3;
        in.guest = cld02_moves[_i].guest;
        in.src_host = cld02_moves[_i].src;
        in.tgt_host = cld02_moves[_i].tgt;
        in.live = live;
        facts_for(doc, in.src_host, F_SAME, &sf);
        facts_for(doc, in.tgt_host, F_SAME, &tf);
        in.src_facts = &sf;
        in.tgt_facts = &tf;
        ck_assert_int_eq(preflight_run(&in, r, err, sizeof(err)), 0);
        for (i = 0; i < PREFLIGHT__COUNT; i++)
            ck_assert_msg(r->results[i].status != PREFLIGHT_FAILED &&
                              r->results[i].status != PREFLIGHT_WARNING,
                          "move %d (live %d): %s %s: %s", _i, live,
                          preflight_name((preflight_check)i),
                          preflight_status_to_string(r->results[i].status), r->results[i].message);
        ck_assert_msg(strstr(r->results[PREFLIGHT_NETWORK_VISIBILITY].message,
                             cld02_moves[_i].network) != NULL,
                      "move %d: network_visibility: %s", _i,
                      r->results[PREFLIGHT_NETWORK_VISIBILITY].message);
        ck_assert(preflight_passed(r));
    }
    free(r);
    esxml_free(doc);
}
END_TEST

/* VM cluster anti-affinity (tests/fixtures/rac01.xml: rac01vm01 on adm02 and rac01vm03 on adm01
 * form VM cluster rac01c1; rac01vm02, on adm02, is in none). */
#define R(n) "rac01" n ".example.com"
static const struct {
    const char *guest, *tgt;
    int live;
    const char *tgt_domains; /* live: the target's virsh list instead of es.xml's placement */
    const char *resv_guest;  /* a reservation on the target (NULL: none) */
    const char *resv_job;    /* its job ("": a planned move of kvmove evacuate) */
    int allow;
    preflight_status expected;
    const char *contains;
} clusters[] = {
    {R("vm01"), R("adm01"), 0, NULL, NULL, NULL, 0, PREFLIGHT_FAILED,
     "target KVM host " R("adm01") " already hosts or receives " R(
         "vm03") " (placed there in "
                 "es.xml version 7) of VM cluster rac01c1"},
    {R("vm01"), R("adm01"), 1, R("vm03") "\n", NULL, NULL, 0, PREFLIGHT_FAILED,
     R("vm03") " (defined there) of VM cluster rac01c1"},
    /* the live answer wins: vm03 has left adm01 since this es.xml version */
    {R("vm01"), R("adm01"), 1, "", NULL, NULL, 0, PREFLIGHT_PASSED,
     "no other member of VM cluster rac01c1 is on target KVM host " R("adm01")},
    {R("vm01"), R("adm06"), 1, R("vm03") "\n", NULL, NULL, 0, PREFLIGHT_FAILED, "(defined there)"},
    {R("vm01"), R("adm06"), 1, NULL, R("vm03"), "22222222-2222-4222-8222-222222222222", 0,
     PREFLIGHT_FAILED, R("vm03") " (job 22222222-2222-4222-8222-222222222222 brings it)"},
    {R("vm01"), R("adm06"), 0, NULL, "RAC01VM03.example.com", "", 0, PREFLIGHT_FAILED,
     R("vm03") " (the planned move of it)"},
    {R("vm01"), R("adm06"), 1, NULL, R("vm02"), "22222222-2222-4222-8222-222222222222", 0,
     PREFLIGHT_PASSED, "no other member"},
    {R("vm02"), R("adm01"), 1, NULL, R("vm03"), "", 0, PREFLIGHT_PASSED, "is in no VM cluster"},
    {R("vm01"), R("adm01"), 1, NULL, NULL, NULL, 1, PREFLIGHT_WARNING,
     "shares VM cluster rac01c1 of guest " R("vm01") " with " R(
         "vm03") " (defined there); "
                 "allowed by --allow-colocation: RAC node 2 rebuilt on new hardware"},
};

UNIT_LOOP(test_vm_cluster, clusters)
{
    esxml *doc = load("rac01.xml");
    preflight_facts sf, tf;
    preflight_reservation rv = {"", "", 16384, 4};
    preflight_input in = {0};
    preflight_report *r = calloc(1, sizeof(*r));
    const preflight_result *res = &r->results[PREFLIGHT_VM_CLUSTER];
    char err[256];
    int i;

    in.doc = doc;
    in.config_version = 7;
    in.guest = clusters[_i].guest;
    in.src_host = esxml_guest_host(doc, esxml_guest_find(doc, in.guest))->hostname;
    in.tgt_host = clusters[_i].tgt;
    in.live = clusters[_i].live;
    in.allow_colocation = clusters[_i].allow;
    in.colocation_reason = "RAC node 2 rebuilt on new hardware";
    facts_for(doc, in.src_host, F_SAME, &sf);
    facts_for(doc, in.tgt_host, F_SAME, &tf);
    if (clusters[_i].tgt_domains)
        snprintf(tf.domains, sizeof(tf.domains), "%s", clusters[_i].tgt_domains);
    tf.free_memory_mb = tf.memory_mb; /* room for everyone: only the cluster decides */
    in.src_facts = &sf;
    in.tgt_facts = &tf;
    if (clusters[_i].resv_guest) {
        snprintf(rv.job_id, sizeof(rv.job_id), "%s", clusters[_i].resv_job);
        snprintf(rv.guest, sizeof(rv.guest), "%s", clusters[_i].resv_guest);
        in.reservations = &rv;
        in.n_reservations = 1;
    }
    ck_assert_int_eq(preflight_run(&in, r, err, sizeof(err)), 0);
    ck_assert_msg(res->status == clusters[_i].expected, "case %d: %s: %s", _i,
                  preflight_status_to_string(res->status), res->message);
    ck_assert_msg(strstr(res->message, clusters[_i].contains) != NULL,
                  "case %d: message lacks \"%s\": %s", _i, clusters[_i].contains, res->message);
    for (i = 0; i < PREFLIGHT__COUNT; i++) /* no other check is in the way */
        ck_assert_msg(i == PREFLIGHT_VM_CLUSTER || i == PREFLIGHT_GUEST_NAME_FREE ||
                          r->results[i].status != PREFLIGHT_FAILED,
                      "case %d: %s failed: %s", _i, preflight_name((preflight_check)i),
                      r->results[i].message);
    free(r);
    esxml_free(doc);
}
END_TEST

UNIT_TEST(test_failed_json_and_input)
{
    esxml *doc = load(ES);
    preflight_input in = {0};
    preflight_report *r = calloc(1, sizeof(*r));
    json_t *failed;
    char err[256];

    in.doc = doc;
    in.guest = "exa01vm09.example.com";
    in.src_host = A02;
    in.tgt_host = A06;
    ck_assert_int_eq(preflight_run(&in, r, err, sizeof(err)), 0);
    failed = preflight_failed_json(r);
    ck_assert_int_eq(json_array_size(failed), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(failed, 0), "check")),
                     "esxml_current");
    json_decref(failed);
    in.live = 1; /* neither facts nor a connect function */
    ck_assert_int_eq(preflight_run(&in, r, err, sizeof(err)), -1);
    in.live = 0;
    in.doc = NULL;
    ck_assert_int_eq(preflight_run(&in, r, err, sizeof(err)), -1);
    free(r);
    esxml_free(doc);
}
END_TEST

/* Every failed check is in preflight_failed_json, also when the host answered bytes that are not
 * UTF-8 (the old code dropped such a check from the job.failed event: json_pack refused it). */
UNIT_TEST(test_failed_json_bad_bytes)
{
    esxml *doc = load(ES);
    preflight_facts sf, tf;
    preflight_input in = {0};
    preflight_report *r = calloc(1, sizeof(*r));
    json_t *failed;
    char err[256];

    in.doc = doc;
    in.guest = G1;
    in.src_host = A02;
    in.tgt_host = A06;
    in.live = 1;
    facts_for(doc, A02, F_BAD_BYTES, &sf);
    facts_for(doc, A06, F_SAME, &tf);
    in.src_facts = &sf;
    in.tgt_facts = &tf;
    ck_assert_int_eq(preflight_run(&in, r, err, sizeof(err)), 0);
    ck_assert_int_eq(r->n_failed, 1);
    failed = preflight_failed_json(r);
    ck_assert_int_eq(json_array_size(failed), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(failed, 0), "check")),
                     "hardware_source");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(json_array_get(failed, 0), "message")), "X7?-2"));
    json_decref(failed);
    free(r);
    esxml_free(doc);
}
END_TEST

static const struct {
    const char *text;
    int keys;
    long free_mb;
    int liveupdate;
    const char *model;
} infos[] = {
    {"Model: X9M-2\nSockets: 2\nFabric: RoCE\nVersion: 25.1.0\nCores: 48\nMemoryMB: 100\n"
     "FreeMemoryMB: 40\nUsedVcpus: 3\nLiveUpdatePending: yes\nNodeType: KVMHOST\n",
     10, 40, 1, "X9M-2"},
    {"Model: \nFreeMemoryMB: 12\nLiveUpdatePending: no\nOther: 1\n", 2, 12, 0, ""},
    {"garbage\n\n", 0, -1, -1, ""},
};

UNIT_LOOP(test_parse_info, infos)
{
    preflight_facts f;

    preflight_facts_init(&f, PREFLIGHT_FACTS_OK);
    ck_assert_int_eq(preflight_facts_parse_info(&f, infos[_i].text), infos[_i].keys);
    ck_assert_int_eq(f.free_memory_mb, infos[_i].free_mb);
    ck_assert_int_eq(f.liveupdate, infos[_i].liveupdate);
    ck_assert_str_eq(f.model, infos[_i].model);
}
END_TEST

int main(void)
{
    return unit_main("preflight");
}
